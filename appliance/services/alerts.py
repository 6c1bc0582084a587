"""What an operator should look at for each business: a limit of its plan
near or reached, the business suspended, a domain whose last check found
problems, a domain of its own without a certificate, outgoing mail stuck.

Each alert is computed from what the box already holds, changing nothing
and asking nobody outside: the domain alert uses the last live check of
the domain (:meth:`DomainChecks.last`, made when someone pressed "Check
now"), not a new one; the certificate alert is raised only when ACME is on
(without it every name is served the box certificate of ``[tls]``).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import asdict, dataclass

from appliance.errors import NotFound

from .base import Stores
from .certificates import Certificates
from .domaincheck import DomainChecks
from .planuse import Meter, PlanUsage
from .queue import Queue

log = logging.getLogger(__name__)

#: Outgoing mail still waiting after this long, or this many attempts, is stuck.
STUCK_AFTER = datetime.timedelta(hours=1)
STUCK_ATTEMPTS = 3
#: Certificate states that mean the name is served as it should be.
CERTIFIED = frozenset({"valid", "renew"})


@dataclass(frozen=True)
class Alert:
    """``kind``: ``limit`` (``subject`` the limit: people, mailbox, web,
    messages; ``detail`` ``near`` or ``at``), ``suspended``, ``domain``
    (``subject`` the domain, ``detail`` how many problems its last check
    found), ``certificate`` (``subject`` the domain), ``queue``
    (``detail`` how many messages are stuck)."""

    kind: str
    subject: str = ""
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Standing:
    """A business at a glance: its use against each limit, and its alerts."""

    meters: list[Meter]
    alerts: list[Alert]


class Alerts:
    def __init__(self, stores: Stores, plan_usage: PlanUsage, domain_checks: DomainChecks,
                 certificates: Certificates, queue: Queue):
        self.stores = stores
        self.plan_usage = plan_usage
        self.domain_checks = domain_checks
        self.certificates = certificates
        self.queue = queue

    def for_business(self, slug: str, state: str, domains: list[str]) -> Standing:
        """The meters and alerts of business ``slug`` (in ``state``, with
        ``domains``, as the catalog lists them), the most pressing alert
        first. Raises NotFound when the business is gone."""
        found: list[Alert] = []
        if state != "active":
            found.append(Alert("suspended"))
        use = self.plan_usage.show(slug)
        found += [Alert("limit", m.name, m.level) for m in sorted(use.warnings, key=lambda m: m.level != "at")]
        found += self._stuck(slug)
        free = self.stores.free_domain(slug)
        own = [d for d in domains if d != free]
        for domain in own:
            report = self.domain_checks.last(slug, domain)
            if report is not None and not report.ok:
                found.append(Alert("domain", domain, str(report.problems)))
        if self.stores.settings.acme.directory and own:
            certified = {name for c in self.certificates.for_business(slug) if c.status in CERTIFIED
                         for name in c.names}
            found += [Alert("certificate", d) for d in own if d not in certified]
        return Standing(use.meters, found)

    def _stuck(self, slug: str) -> list[Alert]:
        now = datetime.datetime.now(datetime.timezone.utc)
        stuck = 0
        for message in self.queue.list(slug):
            created = _parsed(message.created)
            if message.attempts >= STUCK_ATTEMPTS or (created is not None and now - created >= STUCK_AFTER):
                stuck += 1
        return [Alert("queue", "", str(stuck))] if stuck else []

    def for_businesses(self, businesses: list[tuple[str, str, list[str]]]) -> dict[str, Standing]:
        """:meth:`for_business` of each (slug, state, domains); a business
        removed meanwhile is left out."""
        out = {}
        for slug, state, domains in businesses:
            try:
                out[slug] = self.for_business(slug, state, domains)
            except NotFound:
                continue
        return out


def _parsed(when: str | None) -> datetime.datetime | None:
    if not when:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)
