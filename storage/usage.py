"""Usage records for billing: one row per business and UTC day in the
business's own file (so they move with it), and one row per business and
month in the box database, summed from those days for fast listing.

A day row holds two kinds of figures:

* sizes (people, mailbox, web space and DAV bytes), sampled: a day keeps
  the largest sample taken that day, so its figures are that day's peak as
  far as the box looked;
* events (messages received and sent, web requests and bytes served),
  added to as they are counted.

``active`` says the business was seen active (not suspended) on that day:
when it was created or resumed, or by a sample. ``plan`` is the plan the
last sample of the day saw.
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import dataclass

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("usage")
BOX_MIGRATIONS = sqlite_utils.Migrations("box_usage")

#: The event counters, in the order of their columns.
EVENTS = ("messages_received", "messages_sent", "web_requests", "web_bytes")
#: The sampled sizes, in the order of their columns.
SIZES = ("people", "mailbox_bytes", "web_space_bytes", "dav_bytes")
#: Days a gap left by a stopped daemon is filled across at most.
MAX_GAP_DAYS = 62


@MIGRATIONS(name="0001_usage_days")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE usage_days (
            day TEXT PRIMARY KEY CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
            plan TEXT NOT NULL DEFAULT '',
            active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
            people INTEGER NOT NULL DEFAULT 0 CHECK (people >= 0),
            mailbox_bytes INTEGER NOT NULL DEFAULT 0 CHECK (mailbox_bytes >= 0),
            web_space_bytes INTEGER NOT NULL DEFAULT 0 CHECK (web_space_bytes >= 0),
            dav_bytes INTEGER NOT NULL DEFAULT 0 CHECK (dav_bytes >= 0),
            messages_received INTEGER NOT NULL DEFAULT 0 CHECK (messages_received >= 0),
            messages_sent INTEGER NOT NULL DEFAULT 0 CHECK (messages_sent >= 0),
            web_requests INTEGER NOT NULL DEFAULT 0 CHECK (web_requests >= 0),
            web_bytes INTEGER NOT NULL DEFAULT 0 CHECK (web_bytes >= 0)
        ) WITHOUT ROWID;
        """
    )


@BOX_MIGRATIONS(name="0001_usage_months")
def _b0001(db: sqlite_utils.Database) -> None:
    # Kept when a business is removed: the month it left is still billed.
    db.executescript(
        """
        CREATE TABLE usage_months (
            month TEXT NOT NULL,
            slug TEXT NOT NULL,
            plan TEXT NOT NULL,
            days_active INTEGER NOT NULL,
            peak_people INTEGER NOT NULL,
            peak_storage_bytes INTEGER NOT NULL,
            messages_sent INTEGER NOT NULL,
            messages_received INTEGER NOT NULL,
            web_requests INTEGER NOT NULL,
            web_bytes INTEGER NOT NULL,
            PRIMARY KEY (month, slug)
        ) WITHOUT ROWID;
        """
    )


@dataclass(frozen=True)
class Month:
    """One business's month, summed from its days (the report's line)."""

    slug: str
    plan: str
    days_active: int
    peak_people: int
    peak_storage_bytes: int
    messages_sent: int
    messages_received: int
    web_requests: int
    web_bytes: int


#: The columns of :class:`Month` after ``slug``, as stored in the box.
MONTH_FIELDS = ("plan", "days_active", "peak_people", "peak_storage_bytes", "messages_sent", "messages_received",
                "web_requests", "web_bytes")


def add_events(conn: sqlite3.Connection, day: str, counts: dict[str, int]) -> None:
    """Add ``counts`` (names of :data:`EVENTS`) to the row of ``day``."""
    names = [n for n in EVENTS if counts.get(n)]
    if not names:
        return
    columns = ", ".join(names)
    marks = ", ".join("?" * len(names))
    updates = ", ".join(f"{n} = {n} + excluded.{n}" for n in names)
    conn.execute(
        f"INSERT INTO usage_days (day, {columns}) VALUES (?, {marks}) ON CONFLICT (day) DO UPDATE SET {updates}",
        (day, *(counts[n] for n in names)),
    )


def record_sizes(conn: sqlite3.Connection, day: str, plan: str, active: bool, sizes: dict[str, int]) -> None:
    """One sample of ``day``: each size keeps the larger of what the day had
    and ``sizes``; the plan is the sample's; ``active`` can only turn the
    day active, never back (a day the business was active in counts)."""
    values = [int(sizes.get(n, 0)) for n in SIZES]
    updates = ", ".join(f"{n} = max({n}, excluded.{n})" for n in SIZES)
    conn.execute(
        f"INSERT INTO usage_days (day, plan, active, {', '.join(SIZES)}) VALUES (?, ?, ?, ?, ?, ?, ?)"
        f" ON CONFLICT (day) DO UPDATE SET plan = excluded.plan, active = max(active, excluded.active), {updates}",
        (day, plan, int(active), *values),
    )


def mark_active(conn: sqlite3.Connection, day: str, plan: str) -> None:
    """The business is active on ``day`` (created or resumed then)."""
    conn.execute(
        "INSERT INTO usage_days (day, plan, active) VALUES (?, ?, 1)"
        " ON CONFLICT (day) DO UPDATE SET active = 1, plan = CASE plan WHEN '' THEN excluded.plan ELSE plan END",
        (day, plan),
    )


def fill_gap(conn: sqlite3.Connection, today: str, active: bool) -> int:
    """Days before ``today`` with no row since the last row (the daemon did
    not run): when the last row and ``active`` (the state now) both say
    active, each is counted active with the last row's plan and sizes, at
    most :data:`MAX_GAP_DAYS` of them. A suspension and resumption both
    within the gap are not seen. Returns the days filled."""
    last = conn.execute(
        "SELECT * FROM usage_days WHERE day < ? ORDER BY day DESC LIMIT 1", (today,)
    ).fetchone()
    if last is None or not last["active"] or not active:
        return 0
    first = datetime.date.fromisoformat(last["day"]) + datetime.timedelta(days=1)
    end = datetime.date.fromisoformat(today)
    first = max(first, end - datetime.timedelta(days=MAX_GAP_DAYS))
    filled = 0
    day = first
    while day < end:
        conn.execute(
            f"INSERT OR IGNORE INTO usage_days (day, plan, active, {', '.join(SIZES)}) VALUES (?, ?, 1, ?, ?, ?, ?)",
            (day.isoformat(), last["plan"], *(last[n] for n in SIZES)),
        )
        filled += 1
        day += datetime.timedelta(days=1)
    return filled


def days(conn: sqlite3.Connection, month: str) -> list[dict]:
    """The rows of ``month`` (``YYYY-MM``), by day."""
    rows = conn.execute("SELECT * FROM usage_days WHERE day >= ? AND day < ? ORDER BY day",
                        (f"{month}-01", f"{month}-99"))
    return [dict(r) for r in rows]


def months_recorded(conn: sqlite3.Connection) -> list[str]:
    """The months (``YYYY-MM``) with at least one day row, in order."""
    return [r[0] for r in conn.execute("SELECT DISTINCT substr(day, 1, 7) FROM usage_days ORDER BY 1")]


def summarise(conn: sqlite3.Connection, slug: str, month: str) -> Month | None:
    """The month of this business's file (None: no day of it recorded):
    the last plan seen, the days active, the peaks of people and of mailbox
    + web space + DAV bytes on one day, and the sums of the events."""
    row = conn.execute(
        "SELECT count(*) AS n, coalesce(sum(active), 0) AS days_active, coalesce(max(people), 0) AS peak_people,"
        " coalesce(max(mailbox_bytes + web_space_bytes + dav_bytes), 0) AS peak_storage_bytes,"
        " coalesce(sum(messages_sent), 0) AS messages_sent, coalesce(sum(messages_received), 0) AS messages_received,"
        " coalesce(sum(web_requests), 0) AS web_requests, coalesce(sum(web_bytes), 0) AS web_bytes"
        " FROM usage_days WHERE day >= ? AND day < ?",
        (f"{month}-01", f"{month}-99"),
    ).fetchone()
    if not row["n"]:
        return None
    plan = conn.execute(
        "SELECT plan FROM usage_days WHERE day >= ? AND day < ? AND plan != '' ORDER BY day DESC LIMIT 1",
        (f"{month}-01", f"{month}-99"),
    ).fetchone()
    return Month(slug, plan["plan"] if plan else "", *(row[n] for n in MONTH_FIELDS[1:]))


# -- the box's monthly lines ---------------------------------------------------


def put_months(conn: sqlite3.Connection, month: str, lines: list[Month]) -> None:
    """Store (replace) these businesses' lines of ``month`` in the box."""
    columns = ", ".join(MONTH_FIELDS)
    marks = ", ".join("?" * len(MONTH_FIELDS))
    conn.executemany(
        f"INSERT OR REPLACE INTO usage_months (month, slug, {columns}) VALUES (?, ?, {marks})",
        [(month, m.slug, *(getattr(m, n) for n in MONTH_FIELDS)) for m in lines],
    )


def months(conn: sqlite3.Connection, month: str) -> list[Month]:
    """Every business's line of ``month`` in the box, by slug."""
    rows = conn.execute(
        f"SELECT slug, {', '.join(MONTH_FIELDS)} FROM usage_months WHERE month = ? ORDER BY slug", (month,)
    )
    return [Month(*r) for r in rows]
