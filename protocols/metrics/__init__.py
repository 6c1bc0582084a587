"""Prometheus metrics and a health check, on 127.0.0.1 only.

``GET /metrics`` gives the text exposition format; ``GET /healthz`` answers
``ok`` while the daemon is serving. Bound only to loopback: the figures are
for the operator's own scraper, never for the Internet.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

from twisted.web import resource, server

from appliance.twisted_glue import listen_tcp, stop_ports

if TYPE_CHECKING:
    from appliance.app import App


class Metrics(resource.Resource):
    isLeaf = True

    def __init__(self, app: App):
        super().__init__()
        self.app = app
        self.started = time.time()

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")
        return render(self.app, self.started).encode()


class Health(resource.Resource):
    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"ok\n"


def render(app: App, started: float) -> str:
    """The metrics as Prometheus text."""
    lag = app.loop_lag
    box_stats = app.box.stats
    # statvfs is one system call: cheap enough for the loop at scrape time.
    disk = shutil.disk_usage(app.state_dir)
    rows = [
        ("appliance_uptime_seconds", "gauge", "Seconds since the daemon started.", time.time() - started),
        ("appliance_loop_lag_seconds", "gauge", "Last measured event loop lag.", lag.last),
        ("appliance_loop_lag_max_seconds", "gauge", "Largest event loop lag since start.", lag.max),
        ("appliance_loop_lag_mean_seconds", "gauge", "Mean event loop lag since start.", lag.mean),
        ("appliance_tenant_files_open", "gauge", "Business databases open now.", app.tenants.open_count),
        ("appliance_box_transactions_total", "counter", "Write transactions on the box database.", box_stats.transactions),
        ("appliance_box_writes_total", "counter", "Writes grouped into those transactions.", box_stats.writes),
        ("appliance_state_disk_free_bytes", "gauge", "Free bytes on the file system of the state directory.", disk.free),
        ("appliance_state_disk_size_bytes", "gauge", "Size of the file system of the state directory.", disk.total),
    ]
    out = []
    for name, kind, doc, value in rows:
        out += [f"# HELP {name} {doc}", f"# TYPE {name} {kind}", f"{name} {value:.6g}" if isinstance(value, float) else f"{name} {value}"]
    return "\n".join(out) + "\n"


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
    ports = listen_tcp(app, "metrics", site, app.settings.listen.metrics, ["127.0.0.1"])
    return MetricsService(ports)
