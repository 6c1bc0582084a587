"""The daemon's start order, written down once, with what each service is
handed.

This is the composition root's other half (:mod:`appliance.app` builds the
stores and services; this module starts the listeners): the one place that
names the protocol packages. Each package has ``start(app, ...)`` which
binds its listeners and returns an object with ``stop()`` (plain or async);
what one service needs of another is passed to it here, as an argument,
never looked up by name:

===========  ================================================================
backup       Litestream, a supervised child process, when ``[backup] url`` is
             set: first, so every change is shipped; last to stop, so it
             ships what the others wrote (``appliance.litestream``)
metrics      Prometheus text and health on loopback
dns          authoritative DNS; the certificates publish DNS-01 answers through it
smtp         MX, submission, the outbound queue
imap         mailbox access
managesieve  mail rules from mail clients (RFC 5804)
dav          CalDAV/CardDAV; hands the web service its ``/dav/`` mount
web          HTTP(S): sites, client set-up, the mounts it is given, HTTP-01
certs        ACME certificates, after dns and web (it uses both)
===========  ================================================================

The daemon starts them in this order and stops them in reverse. Protocol
packages are imported only when started, so the CLI, which builds an App
but starts nothing, never loads them; the daemon imports them all with
:func:`preload` before its event loop runs.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from protocols.dav import DavService
    from protocols.dns import DnsService
    from protocols.imap import ImapService
    from protocols.managesieve import ManageSieveService
    from protocols.metrics import MetricsService
    from protocols.smtp import SmtpService
    from protocols.web import WebService

    from .app import App
    from .certs import CertificateService
    from .litestream import Replicator

#: Every service, in start order.
STEPS: tuple[str, ...] = ("backup", "metrics", "dns", "smtp", "imap", "managesieve", "dav", "web", "certs")

#: What starting the services imports (the panel's pages are added from
#: its routes).
MODULES: tuple[str, ...] = (
    "appliance.litestream", "protocols.metrics", "protocols.dns", "protocols.smtp", "protocols.imap",
    "protocols.managesieve", "protocols.dav", "protocols.web", "appliance.certs", "appliance.certs.sni",
)


def preload(app: App) -> None:
    """Do the slow parts of starting that need no event loop, before it
    runs: import every service's modules (about a second: the ACME client,
    the panel's pages and catalogs) and make the box's self-signed
    certificate when there is none (a key generation). On the loop they
    would stall the listeners already bound."""
    for name in MODULES:
        importlib.import_module(name)
    from .panel import rights

    for route in rights.ROUTES:
        importlib.import_module(f"{__package__}.panel.{route.handler.partition('.')[0]}")
    app.certificate_files()


@dataclass
class Running:
    """The services started so far (None: not started)."""

    backup: Replicator | None = None
    metrics: MetricsService | None = None
    dns: DnsService | None = None
    smtp: SmtpService | None = None
    imap: ImapService | None = None
    managesieve: ManageSieveService | None = None
    dav: DavService | None = None
    web: WebService | None = None
    certs: CertificateService | None = None

    def started(self) -> list[tuple[str, Any]]:
        """(name, service) of every started service, in start order."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None]

    def clear(self) -> None:
        for f in fields(self):
            setattr(self, f.name, None)


async def start_step(app: App, running: Running, name: str) -> Any:
    """Start service ``name`` (one of :data:`STEPS`) with what it needs from
    the services ``running`` already holds; record it there and return it.
    Raises ValueError for an unknown name, and whatever binding raises."""
    if name == "backup":
        from . import litestream

        if not litestream.enabled(app.settings):
            return None
        service: Any = litestream.start(app.settings, app.state_dir)
    elif name == "metrics":
        from protocols import metrics

        service = metrics.start(app)
    elif name == "dns":
        from protocols import dns

        service = dns.start(app)
    elif name == "smtp":
        from protocols import smtp

        service = smtp.start(app)
    elif name == "imap":
        from protocols import imap

        service = imap.start(app)
    elif name == "managesieve":
        from protocols import managesieve

        service = managesieve.start(app)
    elif name == "dav":
        from protocols import dav

        service = dav.start(app)
    elif name == "web":
        from protocols import web

        mounts = [running.dav.mount] if running.dav is not None else []
        service = web.start(app, mounts)
    elif name == "certs":
        from . import certs

        service = certs.start(app, dns=running.dns, web=running.web)
    else:
        raise ValueError(f"no service named {name!r} (have: {', '.join(STEPS)})")
    if inspect.isawaitable(service):
        service = await service
    setattr(running, name, service)
    return service
