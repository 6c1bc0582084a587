"""The error family as the services and front ends see it.

The family itself (:class:`ApplianceError`, :class:`InvalidInput`,
:class:`NotFound`, :class:`Conflict`, :class:`LimitExceeded`) lives in
:mod:`storage.errors`, the bottom layer, so storage can raise it without
importing upward; it is re-exported here beside the errors only the services
raise. See :mod:`storage.errors` for the contract every adapter follows.
"""

from __future__ import annotations

from storage.errors import ApplianceError, Conflict, InvalidInput, LimitExceeded, NotFound

__all__ = [
    "ApplianceError", "AuthFailed", "ConfigError", "Conflict", "InvalidInput", "LimitExceeded", "NotFound", "Suspended",
]


class ConfigError(ApplianceError):
    """The configuration file is unreadable or has a bad key or value.

    The message names the file, the section and the key.
    """


class AuthFailed(ApplianceError):
    """Wrong address or password, or the account may not log in now."""


class Suspended(ApplianceError):
    """The business is suspended: temporary refusal."""
