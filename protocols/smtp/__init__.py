"""SMTP: the MX (``[listen] smtp``), submission with STARTTLS
(``[listen] submission``) and submission over TLS (``[listen] submissions``),
plus the outbound queue runner.

:func:`start` binds every listener on the daemon's loop with
``loop.create_server`` (never aiosmtpd's Controller, which runs its own
thread and loop) and returns an :class:`SmtpService`. Its ``stop()`` stops
accepting, lets transactions that are committing finish, answers ``421`` to
the idle sessions and closes them, then stops the queue runner.

The three listeners share one count of connections per source address
(``[smtp] max_connections_per_source``) and bound every TLS handshake
(``[tls] handshake_seconds``): :mod:`.guard`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from appliance import dnsdata
from appliance.connlimit import SourceLimit
from appliance.delivery import Router
from appliance.mailauth import Verifier
from appliance.outbound import QueueRunner
from appliance.sieve.actions import Filter, Limits as RuleLimits
from appliance.srs import Srs
from appliance.submission import Submission
from appliance.zones import build_zones

from . import client, replies
from .guard import GuardedServer
from .handler import Handler
from .server import Limits, Server

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: How long a shutdown waits for transactions that are being committed.
DRAIN_SECONDS = 10.0

KINDS = ("smtp", "submission", "submissions")


class SmtpService:
    def __init__(self, servers: list[asyncio.base_events.Server], connections: set, runner: QueueRunner, verifier: Verifier):
        self.servers = servers
        self.connections = connections
        self.runner = runner
        self.verifier = verifier

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        deadline = time.monotonic() + DRAIN_SECONDS
        while any(c.busy for c in list(self.connections)) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.close(replies.SHUTTING_DOWN)
        for server in self.servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2)
            except asyncio.TimeoutError:
                pass
        await self.runner.stop()
        self.verifier.close()


class _QuietEngine(logging.Filter):
    """Drop aiosmtpd's per-command INFO lines and two warnings about
    choices made on purpose (see ``server`` module doc); keep the rest."""

    NOISE = ("login_data is deprecated", "auth_required == True but auth_require_tls == False")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        message = record.getMessage()
        return not any(n in message for n in self.NOISE)


def _publisher(app: App) -> Any:
    def publish(slug: str, user_id: int, mailbox_id: int) -> None:
        events = getattr(app, "mail_events", None)
        if events is not None:
            events.publish(slug, user_id, mailbox_id)

    return publish


async def start(app: App) -> SmtpService:
    settings = app.settings.smtp
    engine_log = logging.getLogger("mail.log")
    # aiosmtpd logs several INFO lines per command; not creating them at all
    # is measurably cheaper under load than filtering them.
    engine_log.setLevel(logging.WARNING)
    if not any(isinstance(f, _QuietEngine) for f in engine_log.filters):
        engine_log.addFilter(_QuietEngine())
    limits = Limits.from_settings(settings)
    hostname = app.settings.box.hostname
    publish = _publisher(app)
    srs = Srs(app.box, app.settings.srs)
    await srs.load()
    # A rotation by the CLI bumps the box generation.
    app.on_change(srs.load)
    rules = Filter(RuleLimits.from_settings(app.settings), hostname, srs, brand=lambda: app.core.brand.current().name,
                   metrics=app.metrics)
    router = Router(app.catalog, app.tenants, publish=publish, sieve=rules, srs=srs)
    router.meter = app.usage_meter
    router.reports_local_part = app.settings.dns.reports_local_part
    await router.refresh()
    app.on_change(router.refresh)
    verifier = Verifier(hostname, settings.resolver, float(settings.dns_timeout), settings.dmarc_reject)

    async def own_zones() -> None:
        # Mail claiming a hosted domain is judged by the records we publish.
        box = dnsdata.box_dns(app.settings)
        data = await dnsdata.businesses(app)
        verifier.set_zones(await asyncio.to_thread(build_zones, box, data), box)

    await own_zones()
    app.on_change(own_zones)
    runner = QueueRunner(app, client.send, publish=publish, srs=srs)
    # Redirects and vacation replies are queued during delivery.
    router.wake = runner.wake
    # Webmail sends through the same rules as submission on 587/465.
    app.submission = Submission(app, router, verifier, runner)
    # Another process (the CLI's ``queue retry``) changes queues: look again.
    app.on_change(lambda: runner.wake(None))
    loop = asyncio.get_running_loop()
    tls = app.tls_context()
    connections: set[Server] = set()
    sources = SourceLimit("smtp", settings.max_connections_per_source)
    handshake_seconds = float(app.settings.tls.handshake_seconds)
    servers = []
    try:
        for kind in KINDS:
            handler = Handler(app, kind, router, verifier, runner, limits)
            port = getattr(app.settings.listen, kind)
            for host in app.settings.listen.addresses:

                def factory(kind: str = kind, handler: Handler = handler) -> Server:
                    return GuardedServer(
                        handler, kind=kind, limits=limits, hostname=hostname,
                        tls_context=tls, connections=connections, loop=loop,
                        sources=sources, handshake_seconds=handshake_seconds,
                        implicit_tls=tls if kind == "submissions" else None,
                    )

                # Plain TCP on 465 too: the guard starts TLS on each connection.
                server = await loop.create_server(factory, host, port, reuse_address=True)
                servers.append(server)
                app.add_listener(kind, host, server.sockets[0].getsockname()[1])
    except BaseException:
        for server in servers:
            server.close()
        verifier.close()
        raise
    runner.start()
    return SmtpService(servers, connections, runner, verifier)
