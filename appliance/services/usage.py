"""Usage records for billing, and the monthly usage report resellers bill from.

Each business's file keeps one row per UTC day (:mod:`storage.usage`):
sizes sampled (people, mailbox, web space and DAV bytes) and events counted
(messages received and sent, web requests and bytes served). Every change
here also sums the months it touched into the box database, so the report
reads one table however many businesses there are.

The report has one line per business: its plan, the days it was active,
its peaks and its totals for the month (:data:`COLUMNS`). Its JSON and CSV
are the same bytes for the same records: lines by slug, fixed key order
and number formats, nothing about when or where it was made.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import logging
import re
import sqlite3
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping

from storage import box as boxdb
from storage import dav, directory, mail
from storage import usage as usagedb
from storage.errors import Frozen, TenantNotFound

from ..errors import InvalidInput
from .base import Stores
from .planuse import web_space

log = logging.getLogger(__name__)

#: The report's columns, in order (CSV header, JSON keys of each line).
COLUMNS = ("month", "business", "plan", "days_active", "peak_people", "peak_storage_bytes", "messages_sent",
           "messages_received", "web_requests", "web_bytes")
#: The largest figure one record may add or set (a petabyte, or that many events).
MAX_FIGURE = 10**15
#: The earliest year a report or record may name.
FIRST_YEAR = 2000
#: A report of the current month samples every business again only after
#: this many seconds (a page viewed twice writes every file once).
REPORT_SAMPLE_SECONDS = 300.0

_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def today() -> str:
    """The current UTC day, ``YYYY-MM-DD``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def check_month(month: str) -> str:
    """``month`` if it is ``YYYY-MM`` (from year 2000 on), else InvalidInput
    naming the field ``month``."""
    if not isinstance(month, str) or not _MONTH.fullmatch(month) or not (
            int(month[:4]) >= FIRST_YEAR and 1 <= int(month[5:]) <= 12):
        raise InvalidInput(f"invalid month {str(month)[:20]!r}: give YYYY-MM, e.g. 2026-11", field="month")
    return month


def check_day(day: str) -> str:
    """``day`` if it is a real ``YYYY-MM-DD`` from year 2000 up to today
    (UTC), else InvalidInput naming the field ``day``."""
    try:
        if not isinstance(day, str) or not _DAY.fullmatch(day):
            raise ValueError(day)
        parsed = datetime.date.fromisoformat(day)
    except ValueError:
        raise InvalidInput(f"invalid day {str(day)[:20]!r}: give YYYY-MM-DD", field="day") from None
    if parsed.year < FIRST_YEAR or day > today():
        raise InvalidInput(f"day {day} is not between {FIRST_YEAR}-01-01 and today", field="day")
    return day


def _figure(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FIGURE:
        raise InvalidInput(f"{name} must be a whole number from 0 to {MAX_FIGURE}", field=name)
    return value


@dataclass(frozen=True)
class Report:
    """The usage report of one month: a line per business, by slug."""

    month: str
    lines: tuple[usagedb.Month, ...]

    def rows(self) -> list[dict]:
        """Each line as a dict with the keys of :data:`COLUMNS`, in order."""
        out = []
        for line in self.lines:
            values = asdict(line)
            out.append({"month": self.month, "business": values.pop("slug"), **values})
        return out

    def as_dict(self) -> dict:
        return {"month": self.month, "businesses": [{k: v for k, v in r.items() if k != "month"}
                                                    for r in self.rows()]}

    def json_bytes(self) -> bytes:
        """The report as JSON (UTF-8, two-space indent, a final newline)."""
        return (json.dumps(self.as_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")

    def csv_bytes(self) -> bytes:
        """The report as CSV (RFC 4180: a header line, CRLF line ends, UTF-8)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for row in self.rows():
            writer.writerow([row[c] for c in COLUMNS])
        return out.getvalue().encode("utf-8")


class UsageRecords:
    """Usage records and the monthly report. See module doc."""

    def __init__(self, stores: Stores):
        self.stores = stores
        #: When (monotonic) a report last sampled every business.
        self._report_sampled = float("-inf")

    # -- recording -----------------------------------------------------------

    def add_events(self, batch: Mapping[tuple[str, str], Mapping[str, int]]) -> list[tuple[str, str]]:
        """Add counted events: ``{(slug, day): {counter: amount}}`` with
        counters of :data:`storage.usage.EVENTS`; one transaction per
        business, then its months are summed into the box.

        A business no longer on the box is skipped (its counts are dropped);
        a business whose write fails is returned in the list of keys not
        written, for the caller to keep and try again. Checks nothing else:
        the counts come from the daemon, not from a person.
        """
        by_slug: dict[str, dict[str, Mapping[str, int]]] = defaultdict(dict)
        for (slug, day), counts in batch.items():
            by_slug[slug][day] = counts
        failed: list[tuple[str, str]] = []
        touched: set[tuple[str, str]] = set()
        for slug, days in sorted(by_slug.items()):
            def write(conn: sqlite3.Connection, days: dict = days) -> None:
                for day, counts in sorted(days.items()):
                    usagedb.add_events(conn, day, dict(counts))

            try:
                self.stores.tenants.handle(slug).write_sync("usage events", write)
            except TenantNotFound:
                log.info("usage: business %s is gone; %d days of events dropped", slug, len(days))
                continue
            except Frozen as exc:
                if exc.moved:
                    # Counted by the box it moved to from now on.
                    log.info("usage: business %s moved away; %d days of events dropped", slug, len(days))
                    continue
                log.info("usage: business %s is frozen for a move; its events wait for the next flush", slug)
                failed.extend((slug, day) for day in days)
                continue
            except Exception:  # noqa: BLE001 - one business must not lose the others' counts
                log.exception("usage: cannot record events of %s; kept for the next flush", slug)
                failed.extend((slug, day) for day in days)
                continue
            touched.update((slug, day[:7]) for day in days)
        self._sum_into_box(touched)
        return failed

    def sample(self, slug: str | None = None) -> int:
        """Sample the sizes of one business (or every business in the
        catalog) into today's row: people, mailbox, web space and DAV bytes,
        its plan and whether it is active; days missing since its last row
        are filled when it was and is active (:func:`storage.usage.fill_gap`).
        Then its month is summed into the box. Returns how many businesses
        were sampled. Raises InvalidInput, NotFound (a named business only).
        """
        day = today()
        if slug is not None:
            slugs = [self.stores.handle(slug).slug]
        else:
            slugs = [e["slug"] for e in self.stores.box.read_sync("usage businesses", boxdb.list_tenants)]
        touched: set[tuple[str, str]] = set()
        for name in slugs:
            def write(conn: sqlite3.Connection) -> list[str]:
                tenant = directory.get_tenant(conn)
                active = tenant.state == "active"
                filled = usagedb.fill_gap(conn, day, active)
                usagedb.record_sizes(conn, day, tenant.plan.name, active, measure(conn))
                end = datetime.date.fromisoformat(day)
                return sorted({(end - datetime.timedelta(days=n)).strftime("%Y-%m") for n in range(filled + 1)})

            try:
                months = self.stores.tenants.handle(name).write_sync("usage sample", write)
            except TenantNotFound:
                if slug is not None:
                    raise
                continue
            except Frozen:
                if slug is not None:
                    raise
                continue  # moving: sampled on the box that serves it
            except Exception:  # noqa: BLE001 - one unreadable file must not stop the others' samples
                if slug is not None:
                    raise
                log.exception("usage: cannot sample business %s", name)
                continue
            touched.update((name, m) for m in months)
        self._sum_into_box(touched)
        return len(slugs)

    def record(self, slug: str, day: str, *, plan: str | None = None, active: bool | None = None,
               sizes: Mapping[str, int] | None = None, events: Mapping[str, int] | None = None) -> None:
        """Record figures of one business for ``day`` (a past day, or today):
        what a sample and counted events would have written then, for
        figures kept elsewhere (another box, a migration) and for tests.

        ``sizes`` (names of :data:`storage.usage.SIZES`) keep the larger of
        the day's and these; ``events`` (:data:`storage.usage.EVENTS`) are
        added; ``active`` True counts the day active; ``plan`` defaults to
        the business's plan now. Checks: the day, every figure (0 to
        :data:`MAX_FIGURE`), the names. Changes: the day's row, then the
        month in the box. Raises InvalidInput, NotFound.
        """
        day = check_day(day)
        handle = self.stores.handle(slug)
        sizes = {n: _figure(n, v) for n, v in (sizes or {}).items()}
        events = {n: _figure(n, v) for n, v in (events or {}).items()}
        for name in sizes:
            if name not in usagedb.SIZES:
                raise InvalidInput(f"unknown size {name!r} (have: {', '.join(usagedb.SIZES)})", field=name)
        for name in events:
            if name not in usagedb.EVENTS:
                raise InvalidInput(f"unknown event counter {name!r} (have: {', '.join(usagedb.EVENTS)})", field=name)
        if plan is not None and plan not in self.stores.settings.plans:
            raise InvalidInput(f"no plan named {plan!r}", field="plan")

        def write(conn: sqlite3.Connection) -> None:
            the_plan = plan or directory.get_tenant(conn).plan.name
            if sizes or active is not None or plan is not None:
                usagedb.record_sizes(conn, day, the_plan, bool(active), sizes)
            usagedb.add_events(conn, day, events)

        handle.write_sync("usage record", write)
        self._sum_into_box({(handle.slug, day[:7])})

    def resum(self, slug: str) -> int:
        """Sum every month of one business's file into the box again (after
        it was imported or restored here). Returns the months. Raises
        InvalidInput, NotFound."""
        return resum_business(self.stores, self.stores.handle(slug).slug)

    def _sum_into_box(self, touched: Iterable[tuple[str, str]]) -> None:
        sum_into_box(self.stores, touched)

    # -- reading -------------------------------------------------------------

    def report(self, month: str) -> Report:
        """The usage report of ``month`` (``YYYY-MM``, UTC): one line per
        business that has a record in it, removed businesses included, by
        slug. For the current month every business is sampled first, so
        its sizes are as of now (within :data:`REPORT_SAMPLE_SECONDS`:
        reports made one after the other sample once); events the daemon
        has counted but not yet written (up to ``[usage] flush_seconds``)
        are not in it. Changes: that sample only. Raises InvalidInput
        (field ``month``).
        """
        month = check_month(month)
        if month == today()[:7] and time.monotonic() - self._report_sampled >= REPORT_SAMPLE_SECONDS:
            self.sample()
            self._report_sampled = time.monotonic()
        return Report(month, tuple(self.stores.box.read_sync("usage report", lambda c: usagedb.months(c, month))))

    def days(self, slug: str, month: str) -> list[dict]:
        """One business's day rows of ``month``, by day. Raises InvalidInput, NotFound."""
        month = check_month(month)
        return self.stores.handle(slug).read_sync("usage days", lambda c: usagedb.days(c, month))


def sum_into_box(stores: Stores, touched: Iterable[tuple[str, str]]) -> None:
    """Sum each (business, month) of ``touched`` from the business's file
    into the box's monthly lines, in one box transaction (a business no
    longer on the box is left out)."""
    lines: dict[str, list[usagedb.Month]] = defaultdict(list)
    for slug, month in sorted(set(touched)):
        try:
            line = stores.tenants.handle(slug).read_sync(
                "usage month", lambda c, s=slug, m=month: usagedb.summarise(c, s, m))
        except TenantNotFound:
            continue
        if line is not None:
            lines[month].append(line)
    if not lines:
        return

    def put(conn: sqlite3.Connection) -> None:
        for month, month_lines in lines.items():
            usagedb.put_months(conn, month, month_lines)

    stores.box.write_sync("usage months", put)


def resum_business(stores: Stores, slug: str) -> int:
    """Sum every month recorded in business ``slug``'s file into the box
    (after an import, a restore or a catalog rebuild); returns how many."""
    months = stores.tenants.handle(slug).read_sync("usage months", usagedb.months_recorded)
    sum_into_box(stores, {(slug, m) for m in months})
    return len(months)


def measure(conn: sqlite3.Connection) -> dict[str, int]:
    """The sizes of the business now (names of :data:`storage.usage.SIZES`)."""
    return {
        "people": directory.count_users(conn),
        "mailbox_bytes": mail.business_usage(conn)[0],
        "web_space_bytes": web_space(conn),
        "dav_bytes": dav.usage(conn)["dav_bytes"],
    }


__all__ = ["COLUMNS", "Report", "UsageRecords", "check_day", "check_month", "measure", "today"]
