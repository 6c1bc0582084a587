"""Plans at run time: the operator lists, adds, changes and removes them.

The box database holds the plans (``storage.plans``); the settings'
``[plans.NAME]`` tables seed the names it lacks when the box starts
(:meth:`Plans.seed`), so a plan changed here keeps its change across
restarts. Each business file keeps a copy of its plan's limits, so a change
of plan is written into every business on it, and every protocol sees it at
its next check (they read the business file, :func:`storage.directory.limits`).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from storage import box as boxdb
from storage import directory
from storage import plans as plandb

from ..errors import Conflict, InvalidInput, NotFound
from ..settings import MIB, PLAN_KEYS
from .base import Stores

log = logging.getLogger(__name__)

_NAME = re.compile(r"[a-z0-9-]{1,32}")
#: The figures of a plan, as the operator gives them (the settings' keys).
FIELDS = tuple(k.name for k in PLAN_KEYS)


@dataclass(frozen=True)
class PlanDetail:
    """A plan and the businesses on it."""

    plan: directory.Plan
    businesses: list[str]

    def as_dict(self) -> dict:
        return {"plan": asdict(self.plan), "businesses": self.businesses}


def plan_name(value: Any) -> str:
    """A valid plan name (1-32 of a-z, 0-9, -); InvalidInput otherwise."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput("plan names are 1-32 of a-z, 0-9, -", field="name")
    return value


def _figures(given: Mapping[str, Any]) -> dict[str, int]:
    """``given`` checked against the settings' plan keys (same bounds)."""
    keys = {k.name: k for k in PLAN_KEYS}
    out: dict[str, int] = {}
    for name, value in given.items():
        if name not in keys:
            raise InvalidInput(f"unknown plan figure {name!r} (have: {', '.join(FIELDS)})", field=name)
        try:
            out[name] = keys[name].parse(value)
        except ValueError as exc:
            raise InvalidInput(f"{name}: {exc}", field=name) from None
    return out


def _plan(name: str, figures: Mapping[str, int]) -> directory.Plan:
    return directory.Plan(name, figures["max_users"], figures["mailbox_mb"] * MIB, figures["web_mb"] * MIB,
                          figures["messages_per_day"])


def _as_figures(plan: directory.Plan) -> dict[str, int]:
    return {"max_users": plan.max_users, "mailbox_mb": plan.mailbox_bytes // MIB, "web_mb": plan.web_bytes // MIB,
            "messages_per_day": plan.messages_per_day}


class Plans:
    """The box's plans. Expected failures raise ApplianceError subclasses
    and change nothing."""

    def __init__(self, stores: Stores):
        self.stores = stores

    def seed(self) -> list[str]:
        """Add the settings' plans the box database lacks; a plan already
        there keeps its limits. Returns the names added."""
        wanted = [directory.Plan(p.name, p.max_users, p.mailbox_bytes, p.web_bytes, p.messages_per_day)
                  for p in self.stores.settings.plans.values()]
        added = self.stores.box.write_sync("plans seed", lambda c: plandb.seed(c, wanted))
        if added:
            log.info("plans seeded from the settings: %s", " ".join(added))
        return added

    def list(self) -> list[directory.Plan]:
        """Every plan, by name. Changes nothing."""
        return self.stores.box.read_sync("plan list", plandb.list_plans)

    def get(self, name: str) -> directory.Plan:
        """Plan ``name``. Raises InvalidInput (a malformed name), NotFound."""
        name = plan_name(name)
        found = self.stores.box.read_sync("plan get", lambda c: plandb.get_plan(c, name))
        if found is None:
            raise NotFound(f"no plan named {name}")
        return found

    def show(self, name: str) -> PlanDetail:
        """One plan and the businesses on it. Raises InvalidInput, NotFound."""
        return PlanDetail(self.get(name), self._users_of(name))

    def add(self, name: str, figures: Mapping[str, Any], *, actor: str) -> directory.Plan:
        """Add plan ``name``; figures not given are those of the settings'
        key defaults. Checks: the name and figures (the bounds of
        ``[plans.NAME]``). Raises InvalidInput, Conflict, LimitExceeded."""
        name = plan_name(name)
        values = {**{k.name: k.default for k in PLAN_KEYS}, **_figures(figures)}
        plan = _plan(name, values)
        self.stores.box.write_sync("plan add", lambda c: plandb.add_plan(c, plan))
        log.info("plan %s added by %s: %s", name, actor, values)
        return plan

    def change(self, name: str, figures: Mapping[str, Any], *, actor: str) -> directory.Plan:
        """Change some figures of plan ``name``, then write its new limits
        into every business on it (each in its audit log as
        ``tenant.plan``). Lowering a limit below what a business uses deletes
        nothing: new writes past it are refused. Raises InvalidInput,
        NotFound."""
        current = self.get(name)
        if not figures:
            raise InvalidInput(f"nothing to change: give one of {', '.join(FIELDS)}")
        plan = _plan(name, {**_as_figures(current), **_figures(figures)})
        self.stores.box.write_sync("plan change", lambda c: plandb.update_plan(c, plan))
        moved = 0
        for slug in self._users_of(name):
            def write(conn: sqlite3.Connection) -> bool:
                # Read again in the write: the business may have moved since.
                if directory.get_tenant(conn).plan.name != name:
                    return False
                directory.set_plan(conn, plan)
                directory.audit(conn, actor, "tenant.plan", f"{name} changed")
                return True

            moved += self.stores.tenants.handle(slug).write_sync("plan change", write)
        self.stores.changed("plan change")
        log.info("plan %s changed by %s: %s; %d businesses updated", name, actor, _as_figures(plan), moved)
        return plan

    def remove(self, name: str, *, actor: str) -> None:
        """Remove plan ``name``. Checks: it is not ``[box] default_plan``
        and no business is on it. Raises InvalidInput, NotFound, Conflict."""
        name = self.get(name).name
        if name == self.stores.settings.box.default_plan:
            raise Conflict(f"plan {name} is the default plan for new businesses ([box] default_plan)")
        users = self._users_of(name)
        if users:
            shown = ", ".join(users[:5]) + (" ..." if len(users) > 5 else "")
            raise Conflict(f"plan {name} is in use by {len(users)} business(es): {shown}; move them first")
        self.stores.box.write_sync("plan remove", lambda c: plandb.remove_plan(c, name))
        log.info("plan %s removed by %s", name, actor)

    def _users_of(self, name: str) -> list[str]:
        """The businesses on plan ``name``, read from their files (the truth)."""
        users = []
        for entry in [r["slug"] for r in self.stores.box.read_sync("plan users", boxdb.list_tenants)]:
            try:
                row = self.stores.tenants.handle(entry).read_sync("plan of", directory.get_tenant)
            except NotFound:
                continue
            if row.plan.name == name:
                users.append(entry)
        return users


__all__ = ["FIELDS", "PlanDetail", "Plans", "plan_name"]
