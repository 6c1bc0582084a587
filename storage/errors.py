"""Errors raised by the storage layer.

They subclass :class:`appliance.errors.ApplianceError` so protocol adapters map
them to wire replies in one place.
"""

from appliance.errors import ApplianceError, NotFound


class StorageError(ApplianceError):
    """Base of storage failures that are not the caller's fault."""


class DatabaseClosed(StorageError):
    """The database was closed (idle eviction or shutdown); open it again."""


class IntegrityFailed(StorageError):
    """A file failed ``PRAGMA integrity_check`` or is not one of ours."""


class TenantNotFound(NotFound):
    """No business with that slug or domain lives on this box."""
