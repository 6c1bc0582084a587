"""Prometheus metrics and a health check on ``[metrics] addresses``.

``GET /metrics`` gives the text exposition format of ``app.metrics``;
``GET /healthz`` runs the checks of :mod:`appliance.health` and answers
200 or 503 with them as JSON. Loopback by default; settings refuse any
other address unless ``[metrics] token`` is set, and then ``/metrics``
wants ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from twisted.web import resource, server

from appliance import health
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
    """``/healthz``: 200 and the checks as JSON when all pass, 503 and the
    failing ones named otherwise (:mod:`appliance.health`)."""

    isLeaf = True

    def __init__(self, app: App):
        super().__init__()
        self.app = app

    def render_GET(self, request: server.Request) -> Any:
        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        task = asyncio.ensure_future(health.run(self.app))

        def answer(done: asyncio.Future) -> None:
            if gone:
                return
            try:
                result = done.result()
            except Exception:  # noqa: BLE001 - health.run does not raise; a bug answers 500
                log.exception("health check crashed")
                request.setResponseCode(500)
                request.finish()
                return
            if not result.ok:
                log.warning("health check failing: %s", ", ".join(c.name for c in result.checks if not c.ok))
            request.setResponseCode(200 if result.ok else 503)
            request.setHeader(b"content-type", b"application/json")
            request.setHeader(b"cache-control", b"no-store")
            request.write(json.dumps(result.as_dict()).encode() + b"\n")
            request.finish()

        task.add_done_callback(answer)
        return server.NOT_DONE_YET


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
    root.putChild(b"healthz", Health(app))
    site = server.Site(root)
    site.displayTracebacks = False
    addresses = list(app.settings.metrics.addresses)
    ports = listen_tcp(app, "metrics", site, app.settings.listen.metrics, addresses)
    return MetricsService(ports)
