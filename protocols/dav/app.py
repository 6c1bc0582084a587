"""The Radicale application, configured in code.

Radicale loads its plugins from its configuration. Each plugin ``type`` may
be a callable taking the configuration (``radicale.utils.load_plugin``), so
we give it small factories (``functools.partial``) that bind our classes to
this App's :class:`DavBackend`. That avoids a module-level registry: two Apps
in one process (tests) each get their own plugins.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import radicale
from radicale import config as radicale_config

from storage.errors import StorageFull

from .auth import Auth
from .backend import DavBackend
from .rights import Rights
from .storage import Storage

SCRIPT_NAME = "/dav"
#: What a full disk says in Radicale's log lines (see ``storage._refuse``).
DISK_FULL = StorageFull.message


def build(backend: DavBackend) -> radicale.Application:
    settings = backend.app.settings.dav
    configuration = radicale_config.load([])
    configuration.update(
        {
            "auth": {
                "type": functools.partial(Auth, backend=backend),
                # Our own cache and throttle; Radicale's sleeps in the thread.
                "delay": "0",
                "cache_logins": "False",
                "lc_username": "True",
                "realm": "Calendars and contacts",
            },
            "rights": {
                "type": functools.partial(Rights, backend=backend),
                "permit_delete_collection": "True",
                "permit_overwrite_collection": "True",
            },
            "storage": {
                "type": functools.partial(Storage, backend=backend, script_name=SCRIPT_NAME),
                "predefined_collections": "{}",
            },
            "server": {
                "max_content_length": str(settings.max_request_bytes),
                "max_resource_size": str(min(settings.max_item_bytes, int(settings.max_request_bytes * 0.8))),
                "delay_on_error": "0",
                # Recurrences are bounded by our own max_instances (answered
                # 403 CALDAV:max-instances, see bounds), not Radicale's COUNT
                # check (a bare 400).
                "max_vevent_rrule_occurrence": "0",
            },
            # Free-busy work is bounded by the request's budget (answered
            # 507 with the precondition), not by Radicale's count (a bare 400).
            "reporting": {"max_freebusy_occurrence": "0"},
            "web": {"type": "none"},
            "encoding": {"request": "utf-8", "stock": "utf-8"},
        },
        "appliance",
    )
    # Radicale logs every request at INFO; our log has room for its warnings.
    radicale_log = logging.getLogger("radicale")
    radicale_log.setLevel(logging.WARNING)
    if not any(isinstance(f, _Expected) for f in radicale_log.filters):
        radicale_log.addFilter(_Expected())
    return radicale.Application(configuration)


class _Expected(logging.Filter):
    """Drops Radicale's lines about what we have logged once already: a
    full disk (the database writer's line) and the 507 status line that
    Radicale logs as CRITICAL for every 5xx, though 507 is an answer, not a
    failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (DISK_FULL in message or message.endswith("507 Insufficient Storage"))
