"""DMARC aggregate reports (RFC 7489 section 7.2) the business received,
as summaries its owner reads in the panel.

``dmarc_reports``
    one report: who sent it (``org_name``, ``org_email``), its
    ``report_id``, the period it covers (``date_begin``, ``date_end``, Unix
    seconds as the report gives them), the policy domain and the policy
    published for it (``p``, ``sp``, ``pct``, ``adkim``, ``aspf``), when it
    arrived (``received``, Unix seconds: periods and retention count from
    it, not from dates a reporter wrote), and how many records it has. One report is stored once per
    (``org_name``, ``report_id``): a reporter that sends it again (a retry,
    a second address) changes nothing.
``dmarc_records``
    one row of a report: a sending ``source_ip``, how many messages
    (``count``), what the receiver did (``disposition``), the DKIM and SPF
    results as DMARC evaluated them (``dkim``, ``spf``: pass or fail), the
    ``header_from`` domain, and the raw authentication results as JSON
    (``{"dkim": [[domain, result], ...], "spf": [[domain, result], ...]}``).

The file keeps at most :data:`KEEP_DAYS` days, :data:`MAX_REPORTS` reports
and :data:`MAX_STORED_RECORDS` records: :func:`store` drops the oldest
reports beyond that in the transaction that adds one. Reports are parsed
and validated by :mod:`appliance.dmarcreports`; functions here take a
connection and run inside a transaction of :class:`storage.database.Database`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Sequence

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("dmarcreports")

#: Reports received more than this long ago are dropped.
KEEP_DAYS = 180
#: At most this many reports in one business file (the oldest go first).
MAX_REPORTS = 5000
#: At most this many records across the business's reports.
MAX_STORED_RECORDS = 200_000


@MIGRATIONS(name="0001_dmarc_reports")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE dmarc_reports (
            id INTEGER PRIMARY KEY,
            org_name TEXT NOT NULL,
            org_email TEXT NOT NULL,
            report_id TEXT NOT NULL,
            date_begin INTEGER NOT NULL,
            date_end INTEGER NOT NULL,
            domain TEXT NOT NULL,
            p TEXT NOT NULL,
            sp TEXT NOT NULL,
            pct INTEGER NOT NULL,
            adkim TEXT NOT NULL,
            aspf TEXT NOT NULL,
            received INTEGER NOT NULL,
            records INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX dmarc_reports_unique ON dmarc_reports(org_name, report_id);
        CREATE INDEX dmarc_reports_received ON dmarc_reports(received);
        CREATE TABLE dmarc_records (
            id INTEGER PRIMARY KEY,
            report INTEGER NOT NULL REFERENCES dmarc_reports(id) ON DELETE CASCADE,
            source_ip TEXT NOT NULL,
            count INTEGER NOT NULL,
            disposition TEXT NOT NULL,
            dkim TEXT NOT NULL,
            spf TEXT NOT NULL,
            header_from TEXT NOT NULL,
            auth TEXT NOT NULL
        );
        CREATE INDEX dmarc_records_report ON dmarc_records(report);
        """
    )


@dataclass(frozen=True)
class RecordRow:
    """One row of a report. ``auth`` is ``{"dkim": [[domain, result]],
    "spf": [[domain, result]]}``."""

    source_ip: str
    count: int
    disposition: str
    dkim: str
    spf: str
    header_from: str
    auth: dict


@dataclass(frozen=True)
class ReportRow:
    """One report as stored (``records`` rows; ``messages`` their counts summed)."""

    id: int
    org_name: str
    org_email: str
    report_id: str
    date_begin: int
    date_end: int
    domain: str
    p: str
    sp: str
    pct: int
    adkim: str
    aspf: str
    received: int
    records: int
    messages: int = 0
    #: Of ``messages``, those that passed DMARC (DKIM or SPF passing as evaluated).
    passed: int = 0


def store(conn: sqlite3.Connection, report: ReportRow, records: Sequence[RecordRow], *,
          clock: float | None = None) -> int | None:
    """Add ``report`` (its ``id``, ``received``, ``records`` and
    ``messages`` are ignored) with its ``records``; returns the new id, or
    None when a report of that org and id is stored already (nothing
    changed). Then drops what is past the limits (module doc)."""
    received = int(time.time() if clock is None else clock)
    cur = conn.execute(
        "INSERT OR IGNORE INTO dmarc_reports (org_name, org_email, report_id, date_begin, date_end, domain,"
        " p, sp, pct, adkim, aspf, received, records) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (report.org_name, report.org_email, report.report_id, report.date_begin, report.date_end, report.domain,
         report.p, report.sp, report.pct, report.adkim, report.aspf, received, len(records)),
    )
    if cur.rowcount != 1:
        return None
    new_id = int(cur.lastrowid)
    conn.executemany(
        "INSERT INTO dmarc_records (report, source_ip, count, disposition, dkim, spf, header_from, auth)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(new_id, r.source_ip, r.count, r.disposition, r.dkim, r.spf, r.header_from,
          json.dumps(r.auth, separators=(",", ":"))) for r in records],
    )
    prune(conn, clock=received)
    return new_id


def prune(conn: sqlite3.Connection, *, clock: float | None = None) -> int:
    """Drop the reports past :data:`KEEP_DAYS`, then the oldest beyond
    :data:`MAX_REPORTS` reports or :data:`MAX_STORED_RECORDS` records;
    returns how many reports went."""
    cutoff = int((time.time() if clock is None else clock) - KEEP_DAYS * 86400)
    gone = conn.execute("DELETE FROM dmarc_reports WHERE received < ?", (cutoff,)).rowcount
    # Newest first; a report goes once the running count of reports or of
    # records before and with it is over a limit.
    gone += conn.execute(
        "DELETE FROM dmarc_reports WHERE id IN (SELECT id FROM ("
        " SELECT id, row_number() OVER w AS n, sum(records) OVER w AS total FROM dmarc_reports"
        " WINDOW w AS (ORDER BY received DESC, id DESC)) WHERE n > ? OR total > ?)",
        (MAX_REPORTS, MAX_STORED_RECORDS),
    ).rowcount
    return gone


_REPORT_COLUMNS = ("r.id, r.org_name, r.org_email, r.report_id, r.date_begin, r.date_end, r.domain, r.p, r.sp,"
                   " r.pct, r.adkim, r.aspf, r.received, r.records")


def _report(row: sqlite3.Row, messages: int = 0, passed: int = 0) -> ReportRow:
    return ReportRow(*tuple(row)[:14], messages=messages, passed=passed)


def reports_since(conn: sqlite3.Connection, since: int, limit: int = 500) -> list[ReportRow]:
    """The reports received at or after ``since`` (Unix seconds), newest first, at most ``limit``, each with its messages counted."""
    rows = conn.execute(
        f"SELECT {_REPORT_COLUMNS}, (SELECT ifnull(sum(count), 0) FROM dmarc_records WHERE report = r.id)"
        " FROM dmarc_reports r WHERE r.received >= ? ORDER BY r.received DESC, r.id DESC LIMIT ?",
        (since, limit),
    ).fetchall()
    return [_report(r, r[14]) for r in rows]


@dataclass(frozen=True)
class SourceTotal:
    """Messages of one domain from one source with one outcome, summed over reports."""

    domain: str
    source_ip: str
    disposition: str
    dkim: str
    spf: str
    count: int


def totals_since(conn: sqlite3.Connection, since: int) -> list[SourceTotal]:
    """Every (domain, source, disposition, DKIM, SPF) of the reports
    received at or after ``since``, with its messages summed."""
    rows = conn.execute(
        "SELECT r.domain, c.source_ip, c.disposition, c.dkim, c.spf, sum(c.count) FROM dmarc_records c"
        " JOIN dmarc_reports r ON r.id = c.report WHERE r.received >= ?"
        " GROUP BY r.domain, c.source_ip, c.disposition, c.dkim, c.spf",
        (since,),
    ).fetchall()
    return [SourceTotal(*r) for r in rows]


def report(conn: sqlite3.Connection, report_id: int, limit: int = 1000) -> tuple[ReportRow, list[RecordRow]] | None:
    """One report (its messages and those that passed counted over all its
    records) and its first ``limit`` records (largest counts first), or None."""
    row = conn.execute(f"SELECT {_REPORT_COLUMNS} FROM dmarc_reports r WHERE r.id = ?", (report_id,)).fetchone()
    if row is None:
        return None
    records = conn.execute(
        "SELECT source_ip, count, disposition, dkim, spf, header_from, auth FROM dmarc_records WHERE report = ?"
        " ORDER BY count DESC, id LIMIT ?",
        (report_id, limit),
    ).fetchall()
    messages, passed = conn.execute(
        "SELECT ifnull(sum(count), 0), ifnull(sum(CASE WHEN dkim = 'pass' OR spf = 'pass' THEN count END), 0)"
        " FROM dmarc_records WHERE report = ?", (report_id,)).fetchone()
    return _report(row, messages, passed), [RecordRow(*tuple(r)[:6], auth=json.loads(r[6])) for r in records]


def count(conn: sqlite3.Connection) -> int:
    """How many reports the business keeps."""
    return conn.execute("SELECT count(*) FROM dmarc_reports").fetchone()[0]
