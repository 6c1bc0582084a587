"""Certificates for every name the box serves: ACME (RFC 8555) with
DNS-01 through our own DNS server and HTTP-01 through our own web server,
renewal, storage beside the data they belong to, and selection by server
name on every TLS listener.

* :mod:`.names` - which certificates, for which names, validated how;
* :mod:`.account` - the ACME account and client session;
* :mod:`.order` - one order, from key and CSR to the issued chain;
* :mod:`.renew` - when to request and renew, with backoff;
* :mod:`.sni` - the certificate for the server name a client asks.

Storage is :mod:`storage.certs`. This package is a service of the daemon
(``appliance.startup``): it starts after the DNS and web services, whose
challenge hooks it uses. With ``[acme] directory`` empty it only serves the
certificates already stored.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .order import DnsChallenges, HttpChallenges, Publishers
from .renew import Renewer

if TYPE_CHECKING:
    from ..app import App

log = logging.getLogger(__name__)


class CertificateService:
    """The running certificate task (see :class:`.renew.Renewer`)."""

    def __init__(self, renewer: Renewer):
        self.renewer = renewer

    async def stop(self) -> None:
        await self.renewer.stop()


async def start(app: App, *, dns: DnsChallenges | None = None, web: HttpChallenges | None = None) -> CertificateService:
    """Serve the stored certificates and start renewing; DNS-01 answers go
    through ``dns`` and HTTP-01 answers through ``web`` (the running DNS and
    web services; None: that challenge cannot be used)."""
    renewer = Renewer(app, app.certificates(), Publishers(dns, web))
    # Serve what is stored before anything else happens (a restart keeps
    # every certificate without asking the CA).
    await renewer.load()
    app.on_change(renewer.changed)
    renewer.start()
    if renewer.active:
        log.info("ACME: certificates from %s", app.settings.acme.directory)
    return CertificateService(renewer)
