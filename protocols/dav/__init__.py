"""Calendars, task lists and contacts: Radicale 3.9 as a WSGI app under
``/dav/``, with our auth, rights and storage plugins (see ``backend`` for the
path scheme), on a bounded thread pool.

``start(app)`` registers ``(b"/dav/", resource)`` in ``app.http_mounts``; the
web service serves it on the box host name and on every business domain and
redirects ``/.well-known/caldav|carddav`` (RFC 6764) there.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .app import build
from .auth import LoginGate
from .backend import DavBackend
from .wsgi import DavWsgi

log = logging.getLogger(__name__)

MOUNT = b"/dav/"


class DavService:
    def __init__(self, app: Any, pool: Any, resource: Any):
        self.app = app
        self.pool = pool
        self.resource = resource

    async def stop(self) -> None:
        self.app.http_mounts[:] = [m for m in self.app.http_mounts if m[1] is not self.resource]
        # ThreadPool.stop joins the workers; a worker may be waiting on the
        # loop (a login), so join from a thread, not from the loop.
        await asyncio.to_thread(self.pool.stop)


def make_resource(app: Any) -> tuple[Any, Any]:
    """The twisted.web resource for ``/dav/`` and its (not yet started) pool."""
    from twisted.internet import reactor
    from twisted.python.threadpool import ThreadPool
    from twisted.web.wsgi import WSGIResource

    backend = DavBackend(app)
    wsgi = LoginGate(DavWsgi(build(backend), backend, app.settings.dav.max_request_bytes), backend)
    pool = ThreadPool(minthreads=1, maxthreads=app.settings.dav.threads, name="dav")
    return WSGIResource(reactor, pool, wsgi), pool


def start(app: Any) -> DavService:
    resource, pool = make_resource(app)
    pool.start()
    app.http_mounts.append((MOUNT, resource))
    log.info("DAV mounted at %s with %d threads", MOUNT.decode(), app.settings.dav.threads)
    return DavService(app, pool, resource)
