"""Tagged replies for failures, mapped from exceptions in one place.

Commands raise :class:`syntax.Bad` (``BAD``), :class:`No` (``NO`` with an
RFC 5530 response code) or the appliance's own errors; :func:`for_error`
turns any of them into the line the client gets.
"""

from __future__ import annotations

import errno
import logging
import sqlite3

from appliance.errors import AuthFailed, Conflict, InvalidInput, LimitExceeded, NotFound, Suspended
from storage.errors import Frozen, StorageFull

from .syntax import Bad

log = logging.getLogger(__name__)


class No(Exception):
    """A tagged ``NO`` with an optional response code (RFC 5530)."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


def disk_full(error: BaseException) -> bool:
    """SQLite's SQLITE_FULL ("database or disk is full") or ENOSPC: the
    state filesystem has no room, nothing was stored. Storage's writer
    raises :class:`storage.errors.StorageFull` for it; the raw errors come
    from reads and from code that writes outside the writer."""
    if isinstance(error, StorageFull):
        return True
    if isinstance(error, sqlite3.Error):
        return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(error)
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


def for_error(tag: bytes, error: Exception, *, who: str = "?", command: str = "") -> bytes | None:
    """The tagged reply for an expected failure; None for anything else.

    ``who`` (the user or the peer) and ``command`` name the session in the
    one log line written for a full disk.
    """
    if disk_full(error):
        # RFC 5530: LIMIT, the operation "exceeds some limit on the server"
        # (not OVERQUOTA: the user's own quota is not what ran out).
        log.warning("imap %s: %s refused: the state filesystem is full (%s)", who, command, error)
        return tag + b" NO [LIMIT] the server is out of storage space, try again later"
    if isinstance(error, Frozen):
        # RFC 5530: UNAVAILABLE, "temporary failure because a subsystem is
        # down"; the client tries again and reaches the new box by then.
        return tag + b" NO [UNAVAILABLE] " + _ascii(str(error))
    if isinstance(error, Bad):
        return tag + b" BAD " + _ascii(str(error))
    if isinstance(error, No):
        code = b"[" + error.code.encode() + b"] " if error.code else b""
        return tag + b" NO " + code + _ascii(str(error))
    if isinstance(error, AuthFailed):
        return tag + b" NO [AUTHENTICATIONFAILED] authentication failed"
    if isinstance(error, Suspended):
        return tag + b" NO [CONTACTADMIN] this business is suspended"
    if isinstance(error, LimitExceeded):
        return tag + (b" NO [OVERQUOTA] " if "full" in str(error) else b" NO [LIMIT] ") + _ascii(str(error))
    if isinstance(error, NotFound):
        return tag + b" NO [NONEXISTENT] " + _ascii(str(error))
    if isinstance(error, Conflict):
        return tag + (b" NO [ALREADYEXISTS] " if "exists" in str(error) else b" NO [INUSE] ") + _ascii(str(error))
    if isinstance(error, InvalidInput):
        return tag + b" NO [CANNOT] " + _ascii(str(error))
    return None


def _ascii(message: str) -> bytes:
    return message.encode("ascii", "replace").replace(b"\r", b" ").replace(b"\n", b" ")[:300]
