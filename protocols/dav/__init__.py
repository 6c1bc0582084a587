"""Calendars, task lists and contacts: Radicale 3.9 as a WSGI app under
``/dav/``, with our auth, rights and storage plugins (see ``backend`` for the
path scheme), on a bounded thread pool.

``start(app)`` returns the service, whose :attr:`DavService.mount`
(``(b"/dav/", resource)``) the start order (``appliance.startup``) hands to
the web service, which serves it on the box host name and on every business
domain and redirects ``/.well-known/caldav|carddav`` (RFC 6764) there.

Stopping never waits on a request for long: the service's ``stopping``
flag ends every request's recurrence work (``budget``), the pool is given
:data:`STOP_SECONDS` to finish, and its threads are daemon threads, so one
stuck anywhere else cannot keep the process alive after SIGTERM.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import TYPE_CHECKING, Any

from . import budget
from .app import build
from .auth import LoginGate
from .backend import DavBackend
from .wsgi import CLIENT_GONE, DavWsgi

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

MOUNT = b"/dav/"
#: Seconds ``stop`` waits for the requests in flight.
STOP_SECONDS = 10


class DavService:
    def __init__(self, pool: Any, resource: Any):
        self.pool = pool
        self.resource = resource

    @property
    def mount(self) -> tuple[bytes, Any]:
        """(path prefix, twisted.web resource) for the web service."""
        return MOUNT, self.resource

    async def stop(self) -> None:
        self.resource.wsgi.stopping.set()
        # ThreadPool.stop joins the workers; a worker may be waiting on the
        # loop (login throttle), so join from a thread, not from the loop -
        # a daemon thread of our own: asyncio's executor threads are joined
        # at exit, which would wait for a stuck worker after all.
        done = asyncio.get_running_loop().create_future()

        def join() -> None:
            self.pool.stop()
            done.get_loop().call_soon_threadsafe(lambda: done.done() or done.set_result(None))

        threading.Thread(target=join, name="dav-stop", daemon=True).start()
        try:
            await asyncio.wait_for(done, STOP_SECONDS)
        except asyncio.TimeoutError:
            log.warning("DAV requests still running after %d s; leaving them behind", STOP_SECONDS)


def _resource_class() -> type:
    from twisted.web.server import NOT_DONE_YET
    from twisted.web.wsgi import WSGIResource, _WSGIResponse

    class DavResource(WSGIResource):
        """WSGIResource that tells the application when the client goes:
        ``environ[CLIENT_GONE]`` is set when the connection is lost before
        the answer was sent, so the request's work can stop."""

        def __init__(self, reactor: Any, pool: Any, application: Any, wsgi: DavWsgi):
            super().__init__(reactor, pool, application)
            #: The DAV application behind ``application`` (its login gate).
            self.wsgi = wsgi

        def render(self, request: Any) -> Any:
            # As WSGIResource.render, with the event put in the environ
            # (the environ is built by the private _WSGIResponse).
            response = _WSGIResponse(self._reactor, self._threadpool, self._application, request)
            gone = threading.Event()
            request.notifyFinish().addErrback(lambda _reason: gone.set())
            response.environ[CLIENT_GONE] = gone
            response.start()
            return NOT_DONE_YET

    return DavResource


def make_resource(app: App) -> tuple[Any, Any]:
    """The twisted.web resource for ``/dav/`` and its (not yet started) pool."""
    from twisted.internet import reactor
    from twisted.python.threadpool import ThreadPool

    budget.install()
    backend = DavBackend(app)
    wsgi = DavWsgi(build(backend), backend, app.settings.dav.max_request_bytes)
    pool = ThreadPool(minthreads=1, maxthreads=app.settings.dav.threads, name="dav")
    # Daemon threads: a request stuck past STOP_SECONDS does not keep the
    # process from exiting.
    pool.threadFactory = functools.partial(threading.Thread, daemon=True)
    return _resource_class()(reactor, pool, LoginGate(wsgi, backend, app.settings.dav.plain_http_logins), wsgi), pool


def start(app: App) -> DavService:
    resource, pool = make_resource(app)
    pool.start()
    log.info("DAV at %s with %d threads", MOUNT.decode(), app.settings.dav.threads)
    return DavService(pool, resource)
