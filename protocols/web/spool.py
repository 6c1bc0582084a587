"""Request bodies that go to a file of the state filesystem instead of
memory or ``/tmp``: a business file sent by another box
(``PUT /api/v1/moves/<slug>``, up to ``[fleet] max_move_bytes``).

twisted.web reads a whole body before any resource runs, into a temporary
file of its own. For a move it is spooled into the businesses' directory
instead, so that the import is a rename on the same filesystem and a full
disk shows where the data lives. The spool is removed when the request
ends, unless the import moved it into place. Only a request that carries
``Authorization`` is spooled (the key is checked before the file is used);
any other is read into twisted's usual temporary file and refused.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from twisted.web import server

#: The one path whose body is spooled (with PUT).
MOVE_PATH = re.compile(rb"^/api/v1/moves/[a-z0-9-]{1,63}$")
#: The mode of a spool: it holds a whole business (password hashes).
SPOOL_MODE = 0o640


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
            return
        super().gotLength(length)

    def _drop_spool(self, result: Any) -> None:
        if self.spool is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.spool}{suffix}").unlink(missing_ok=True)
        return None
