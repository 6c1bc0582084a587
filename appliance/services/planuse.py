"""A business's use against each limit of its plan, and how close it is.

One figure per limit: people, mailbox storage (every mailbox together,
against the sum of their quotas), web space (the live website and the
image library), messages
sent today. The front ends show them; the thresholds live here, once.
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import asdict, dataclass

from storage import directory, mail, sites
from storage import sitegen

from .base import Stores

#: From this share of a limit on, a figure is ``near`` its limit.
NEAR = 0.8
#: The order the limits are shown in.
LIMITS = ("people", "mailbox", "web", "messages")


@dataclass(frozen=True)
class Meter:
    """One limit: ``used`` of ``limit`` (``unit``: ``count`` or ``bytes``);
    ``level`` is ``ok``, ``near`` (at least :data:`NEAR` of it) or ``at``
    (the limit is reached)."""

    name: str
    used: int
    limit: int
    unit: str
    level: str
    percent: int
    left: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PlanUse:
    slug: str
    plan: str
    #: The most one mailbox may hold (bytes): the largest quota an owner can give.
    mailbox_bytes: int
    meters: list[Meter]

    @property
    def warnings(self) -> list[Meter]:
        """The meters near or at their limit."""
        return [m for m in self.meters if m.level != "ok"]

    def as_dict(self) -> dict:
        return asdict(self)


def meter(name: str, used: int, limit: int, unit: str) -> Meter:
    """The :class:`Meter` of ``used`` against ``limit``."""
    if limit <= 0 or used >= limit:
        level = "at"
    elif used >= NEAR * limit:
        level = "near"
    else:
        level = "ok"
    percent = 100 if limit <= 0 else min(100, round(100 * used / limit))
    return Meter(name, used, limit, unit, level, percent, max(0, limit - used))


def web_space(conn: sqlite3.Connection) -> int:
    """Bytes of web space in use: the live website and the image library."""
    return sites.summary(conn)["bytes"] + sitegen.image_bytes(conn)


class PlanUsage:
    def __init__(self, stores: Stores):
        self.stores = stores

    def show(self, slug: str) -> PlanUse:
        """The business's use of each limit of its plan. Checks nothing,
        changes nothing. Raises InvalidInput, NotFound."""
        today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")

        def read(conn: sqlite3.Connection) -> PlanUse:
            tenant = directory.get_tenant(conn)
            plan = directory.limits(conn)
            mail_used, mail_allotted = mail.business_usage(conn)
            sent = directory.usage_on(conn, today, ["messages_sent"]).get("messages_sent", 0)
            meters = [
                meter("people", directory.count_users(conn), plan.max_users, "count"),
                meter("mailbox", mail_used, mail_allotted, "bytes"),
                meter("web", web_space(conn), plan.web_bytes, "bytes"),
                meter("messages", sent, plan.messages_per_day, "count"),
            ]
            if mail_allotted == 0:
                # No mailbox yet: nothing is used of nothing, which is no warning.
                meters[1] = meter("mailbox", 0, plan.mailbox_bytes, "bytes")
            return PlanUse(tenant.slug, plan.name, plan.mailbox_bytes, meters)

        return self.stores.handle(slug).read_sync("plan use", read)
