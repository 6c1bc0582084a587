"""Prometheus metrics and a health check on ``[metrics] addresses``.

``GET /metrics`` gives the text exposition format of ``app.metrics``;
``GET /healthz`` answers ``ok``. Loopback by default; settings refuse any
other address unless ``[metrics] token`` is set, and then ``/metrics``
wants ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
import logging
from typing import TYPE_CHECKING

from twisted.web import resource, server

from appliance.metrics import CONTENT_TYPE
from appliance.twisted_glue import listen_tcp, stop_ports

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)


class Metrics(resource.Resource):
    isLeaf = True

    def __init__(self, app: App):
        super().__init__()
        self.app = app
        token = app.settings.metrics.token
        self.expected = f"Bearer {token}".encode() if token else None

    def render_GET(self, request: server.Request) -> bytes:
        if self.expected is not None:
            given = request.getHeader(b"authorization") or b""
            if not hmac.compare_digest(given.encode() if isinstance(given, str) else given, self.expected):
                log.info("%s: /metrics without the right bearer token", request.getClientAddress().host)
                request.setResponseCode(401)
                request.setHeader(b"www-authenticate", b'Bearer realm="metrics"')
                request.setHeader(b"content-type", b"text/plain; charset=utf-8")
                return b"a bearer token is required\n"
        request.setHeader(b"content-type", CONTENT_TYPE.encode())
        return self.app.metrics.render()


class Health(resource.Resource):
    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"ok\n"


class MetricsService:
    def __init__(self, ports: list):
        self.ports = ports

    async def stop(self) -> None:
        await stop_ports(self.ports)


def start(app: App) -> MetricsService:
    if not app.settings.listen.metrics_enabled:
        return MetricsService([])
    root = resource.Resource()
    root.putChild(b"metrics", Metrics(app))
    root.putChild(b"healthz", Health())
    site = server.Site(root)
    site.displayTracebacks = False
    addresses = list(app.settings.metrics.addresses)
    ports = listen_tcp(app, "metrics", site, app.settings.listen.metrics, addresses)
    return MetricsService(ports)
