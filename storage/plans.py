"""The box's plans: named sets of limits a business is on.

The rows here are the truth at run time; the settings' ``[plans.NAME]``
tables only seed names this table does not have yet (:func:`seed`). A
business file keeps a copy of its plan's limits (``storage.directory``),
so a plan's change is written into each business on it by the caller.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from .directory import Plan, now
from .errors import Conflict, LimitExceeded, NotFound

MIGRATIONS = sqlite_utils.Migrations("plans")

#: Plans a box may have.
MAX_PLANS = 200


@MIGRATIONS(name="0001_plans")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE plans (
            name TEXT PRIMARY KEY,
            max_users INTEGER NOT NULL,
            mailbox_bytes INTEGER NOT NULL,
            web_bytes INTEGER NOT NULL,
            messages_per_day INTEGER NOT NULL,
            created TEXT NOT NULL
        );
        """
    )


def _plan(row: sqlite3.Row) -> Plan:
    return Plan(row["name"], row["max_users"], row["mailbox_bytes"], row["web_bytes"], row["messages_per_day"])


def list_plans(conn: sqlite3.Connection) -> list[Plan]:
    """Every plan, by name."""
    return [_plan(r) for r in conn.execute("SELECT * FROM plans ORDER BY name")]


def get_plan(conn: sqlite3.Connection, name: str) -> Plan | None:
    row = conn.execute("SELECT * FROM plans WHERE name = ?", (name,)).fetchone()
    return None if row is None else _plan(row)


def seed(conn: sqlite3.Connection, plans: list[Plan]) -> list[str]:
    """Add each of ``plans`` whose name the table lacks; a plan already here
    (perhaps changed at run time) stays as it is. Returns the names added."""
    added = []
    for plan in plans:
        cur = conn.execute(
            "INSERT OR IGNORE INTO plans (name, max_users, mailbox_bytes, web_bytes, messages_per_day, created)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (plan.name, plan.max_users, plan.mailbox_bytes, plan.web_bytes, plan.messages_per_day, now()),
        )
        if cur.rowcount:
            added.append(plan.name)
    return added


def add_plan(conn: sqlite3.Connection, plan: Plan) -> None:
    """Add a new plan; Conflict when the name is taken, LimitExceeded past
    :data:`MAX_PLANS`."""
    if get_plan(conn, plan.name) is not None:
        raise Conflict(f"plan {plan.name} already exists")
    if conn.execute("SELECT count(*) FROM plans").fetchone()[0] >= MAX_PLANS:
        raise LimitExceeded(f"a box has at most {MAX_PLANS} plans")
    seed(conn, [plan])


def update_plan(conn: sqlite3.Connection, plan: Plan) -> None:
    """Replace the limits of plan ``plan.name``; NotFound when there is none."""
    cur = conn.execute(
        "UPDATE plans SET max_users = ?, mailbox_bytes = ?, web_bytes = ?, messages_per_day = ? WHERE name = ?",
        (plan.max_users, plan.mailbox_bytes, plan.web_bytes, plan.messages_per_day, plan.name),
    )
    if cur.rowcount == 0:
        raise NotFound(f"no plan named {plan.name}")


def remove_plan(conn: sqlite3.Connection, name: str) -> None:
    if conn.execute("DELETE FROM plans WHERE name = ?", (name,)).rowcount == 0:
        raise NotFound(f"no plan named {name}")
