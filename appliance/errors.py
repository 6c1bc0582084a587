"""The error family.

Every expected failure is an :class:`ApplianceError`. Its ``str()`` is safe to
show a client or an operator: one line, no internals. Protocol adapters map
these classes to wire replies in one place each (``550 5.1.1``, ``NO``, 404,
REFUSED); anything that is not an ``ApplianceError`` is a bug, logged with a
traceback and answered generically.
"""

from __future__ import annotations


class ApplianceError(Exception):
    """Base class: an expected failure with a message fit for the user."""


class ConfigError(ApplianceError):
    """The configuration file is unreadable or has a bad key or value.

    The message names the file, the section and the key.
    """


class InvalidInput(ApplianceError):
    """A request or command argument is malformed or out of bounds."""


class NotFound(ApplianceError):
    """The thing named does not exist (or must look as if it did not)."""


class Conflict(ApplianceError):
    """The request clashes with existing state (a name already taken)."""


class LimitExceeded(ApplianceError):
    """A plan limit or a size/count bound would be exceeded."""


class AuthFailed(ApplianceError):
    """Wrong address or password, or the account may not log in now."""


class Suspended(ApplianceError):
    """The business is suspended: temporary refusal."""
