"""Paid extras on top of a business's plan, and its effective limits.

An extra is an amount of one kind (``people``; ``mailbox_mb``, added to
each mailbox's default storage; ``web_mb``) that a reseller adds to one
business and may take back. The effective limits are the plan's plus the
extras' sum, computed in one place (:func:`storage.directory.limits`), which
every check reads inside its own transaction: an extra counts for SMTP,
IMAP, the panel, the API and site uploads at their next write, without a
restart. Taking an extra back deletes nothing; writes past the lower limit
are refused.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import asdict, dataclass

from storage import directory

from ..errors import InvalidInput
from .base import Stores

log = logging.getLogger(__name__)

#: The most one extra may add, by kind (the bounds of the plan's figures).
MAX_AMOUNT = {"people": 100_000, "mailbox_mb": 10_000_000, "web_mb": 1_000_000}
KINDS = directory.EXTRA_KINDS


@dataclass(frozen=True)
class ExtrasView:
    """A business's plan, its extras, and the limits they make together."""

    slug: str
    plan: directory.Plan
    extras: list[directory.Extra]
    limits: directory.Plan

    def as_dict(self) -> dict:
        return {"slug": self.slug, "plan": asdict(self.plan), "extras": [asdict(e) for e in self.extras],
                "limits": asdict(self.limits)}


def _view(slug: str, conn: sqlite3.Connection) -> ExtrasView:
    return ExtrasView(slug, directory.get_tenant(conn).plan, directory.list_extras(conn), directory.limits(conn))


class Extras:
    """Extras per business. Expected failures raise ApplianceError
    subclasses and change nothing."""

    def __init__(self, stores: Stores):
        self.stores = stores

    def limits(self, slug: str) -> directory.Plan:
        """The business's effective limits (plan plus extras). Raises
        InvalidInput, NotFound."""
        return self.stores.handle(slug).read_sync("limits", directory.limits)

    def list(self, slug: str) -> ExtrasView:
        """The business's plan, extras and effective limits. Raises
        InvalidInput, NotFound."""
        handle = self.stores.handle(slug)
        return handle.read_sync("extras", lambda c: _view(handle.slug, c))

    def add(self, slug: str, kind: str, amount: int, *, actor: str) -> directory.Extra:
        """Add ``amount`` of ``kind`` on top of the plan, in the audit log
        as ``extra.add``. Checks: the kind is one of :data:`KINDS`, the
        amount a whole number from 1 to :data:`MAX_AMOUNT` of its kind, the
        business has fewer than ``directory.MAX_EXTRAS``. Raises
        InvalidInput, NotFound, LimitExceeded."""
        if kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= MAX_AMOUNT[kind]:
            raise InvalidInput(f"amount must be a whole number from 1 to {MAX_AMOUNT[kind]}", field="amount")
        handle = self.stores.handle(slug)

        def write(conn: sqlite3.Connection) -> directory.Extra:
            extra = directory.add_extra(conn, kind, amount)
            directory.audit(conn, actor, "extra.add", f"{extra.id} {kind} {amount}")
            return extra

        extra = handle.write_sync("extra add", write)
        log.info("business %s: extra %d (%s %d) added by %s", handle.slug, extra.id, kind, amount, actor)
        return extra

    def remove(self, slug: str, extra_id: int, *, actor: str) -> directory.Extra:
        """Take back extra ``extra_id``, in the audit log as
        ``extra.remove``; nothing the business stored is deleted. Raises
        InvalidInput, NotFound."""
        if isinstance(extra_id, bool) or not isinstance(extra_id, int) or extra_id < 1:
            raise InvalidInput("an extra is named by its number", field="id")
        handle = self.stores.handle(slug)

        def write(conn: sqlite3.Connection) -> directory.Extra:
            extra = directory.remove_extra(conn, extra_id)
            directory.audit(conn, actor, "extra.remove", f"{extra.id} {extra.kind} {extra.amount}")
            return extra

        extra = handle.write_sync("extra remove", write)
        log.info("business %s: extra %d (%s %d) removed by %s", handle.slug, extra.id, extra.kind, extra.amount, actor)
        return extra


__all__ = ["Extras", "ExtrasView", "KINDS", "MAX_AMOUNT"]
