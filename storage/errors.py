"""The error family, at the bottom of the layers so every layer can raise it.

Every expected failure is an :class:`ApplianceError`. Its ``str()`` is safe to
show a client or an operator: one line, no internals. Protocol adapters and
front ends map these classes to wire replies in one place each (``550
5.1.1``, ``NO``, 404, REFUSED, a message beside a form field); anything that
is not an ``ApplianceError`` is a bug, logged with a traceback and answered
generically. The services' own errors (configuration, logins) are in
:mod:`appliance.errors`, which re-exports these.
"""

from __future__ import annotations


class ApplianceError(Exception):
    """Base class: an expected failure with a message fit for the user."""


class InvalidInput(ApplianceError):
    """A request or command argument is malformed or out of bounds.

    ``field`` names the argument when the raiser knows it (``slug``,
    ``plan``, ``address``...), so a front end can put the message beside
    the right input; None otherwise."""

    def __init__(self, *args: object, field: str | None = None):
        super().__init__(*args)
        self.field = field


class NotFound(ApplianceError):
    """The thing named does not exist (or must look as if it did not)."""


class Conflict(ApplianceError):
    """The request clashes with existing state (a name already taken)."""


class LimitExceeded(ApplianceError):
    """A plan limit or a size/count bound would be exceeded."""


class StorageError(ApplianceError):
    """Base of storage failures that are not the caller's fault."""


class DatabaseClosed(StorageError):
    """The database was closed (idle eviction or shutdown); open it again."""


class StorageFull(StorageError):
    """The file system holding the data is full (SQLITE_FULL): the write
    was rolled back, nothing changed; it may succeed once space is freed."""

    message = "the disk holding the data is full"

    def __init__(self, message: str = message):
        super().__init__(message)


class IntegrityFailed(StorageError):
    """A file failed ``PRAGMA integrity_check`` or is not one of ours."""


class TenantNotFound(NotFound):
    """No business with that slug or domain lives on this box."""


class Frozen(ApplianceError):
    """The business is being moved to another box (:mod:`storage.freeze`):
    nothing of it can change here. A temporary refusal: every protocol
    answers it so the client tries again (SMTP ``451 4.3.2``, IMAP ``NO
    [UNAVAILABLE]``, HTTP ``503`` with ``Retry-After``), by which time the
    business is served by ``target`` (a host name)."""

    def __init__(self, target: str = "", moved: bool = False):
        super().__init__("this business is moving to another server, try again in a minute")
        self.target = target
        self.moved = moved
