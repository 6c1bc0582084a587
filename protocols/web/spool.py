"""Request bodies that go to a file of the state filesystem instead of
memory or ``/tmp``: a business file sent by another box
(``PUT /api/v1/moves/<slug>``, up to ``[fleet] max_move_bytes``).

twisted.web reads a whole body before any resource runs, into a temporary
file of its own. For a move it is spooled into the businesses' directory
instead, so that the import is a rename on the same filesystem and a full
disk shows where the data lives. The spool is removed when the request
ends, unless the import moved it into place.

Only a request whose ``Authorization`` names a ``write`` API key is kept:
reading stops while the key is checked (in a thread, off the loop), and a
body sent with a wrong key is read and dropped as it comes, so nobody
without a key can fill the disk; the API then answers 401. A request
without ``Authorization`` is read into twisted's usual temporary file and
refused the same way.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

from twisted.web import server

#: The one path whose body is spooled (with PUT).
MOVE_PATH = re.compile(rb"^/api/v1/moves/[a-z0-9-]{1,63}$")
#: The mode of a spool: it holds a whole business (password hashes).
SPOOL_MODE = 0o640

log = logging.getLogger(__name__)


class _Drop:
    """A body's destination that keeps nothing (a body sent with a wrong key)."""

    def write(self, data: bytes) -> int:
        return len(data)

    def tell(self) -> int:
        return 0

    def seek(self, *args: Any) -> int:
        return 0

    def read(self, *args: Any) -> bytes:
        return b""

    def close(self) -> None:
        pass


class Request(server.Request):
    """twisted.web's Request, spooling the body of a move (see module doc).
    ``spool`` is the file's path, or None."""

    spool: Path | None = None

    def gotLength(self, length: int | None) -> None:  # noqa: N802 - Twisted's interface
        channel = self.channel
        spool_dir = getattr(getattr(channel, "site", None), "spool_dir", None)
        if (spool_dir is not None and getattr(channel, "_command", b"") == b"PUT"
                and MOVE_PATH.match(getattr(channel, "_path", b"").partition(b"?")[0])
                and self.requestHeaders.hasHeader(b"authorization")):
            fd, name = tempfile.mkstemp(dir=spool_dir, prefix=".incoming-", suffix=".sqlite3")
            os.fchmod(fd, SPOOL_MODE)
            self.content = os.fdopen(fd, "w+b")
            self.spool = Path(name)
            self.notifyFinish().addBoth(self._drop_spool)
            check: Callable[[str], bool] | None = getattr(channel.site, "spool_key_check", None)
            if check is not None:
                scheme, _, token = (self.getHeader(b"authorization") or b"").decode("latin-1").partition(" ")
                channel.transport.pauseProducing()  # reading, until the key is known
                future = asyncio.ensure_future(asyncio.to_thread(check, token.strip() if scheme.lower() == "bearer" else ""))
                future.add_done_callback(self._key_checked)
            return
        super().gotLength(length)

    def _key_checked(self, future: asyncio.Future) -> None:
        ok = not future.cancelled() and future.exception() is None and bool(future.result())
        if not ok and self.spool is not None:
            log.info("move: a business file sent without a write key is dropped as it comes")
            self.content.close()
            self._drop_spool(None)
            self.content = _Drop()
        if self.channel is not None:
            self.channel.transport.resumeProducing()

    def _drop_spool(self, result: Any) -> None:
        if self.spool is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.spool}{suffix}").unlink(missing_ok=True)
        return None
