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

from .auth import Auth
from .backend import DavBackend
from .rights import Rights
from .storage import Storage

SCRIPT_NAME = "/dav"


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
            },
            "web": {"type": "none"},
            "encoding": {"request": "utf-8", "stock": "utf-8"},
        },
        "appliance",
    )
    # Radicale logs every request at INFO; our log has room for its warnings.
    logging.getLogger("radicale").setLevel(logging.WARNING)
    return radicale.Application(configuration)
