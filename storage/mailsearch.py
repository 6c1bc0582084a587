"""Search criteria over one mailbox, evaluated by SQLite.

A :class:`Clause` is an SQL condition over ``messages m JOIN bodies b`` with
its parameters. The IMAP SEARCH compiler (``protocols.imap.search``) builds
clauses for the keys SQLite can answer from indexed columns (flags, sizes,
dates, MODSEQ, UIDs, the copied-out header fields) and evaluates the rest
(message text, header fields that are not copied out, Date: header
comparisons) in Python over the rows that survive: a search over 20,000
messages then reads two columns of each row instead of building a Python
object per message.

Every clause is NULL-free (true or false, never NULL), so ``NOT`` behaves.
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import dataclass
from email.header import decode_header, make_header
from typing import Iterable

#: Header fields copied into ``bodies`` at delivery, by their field name.
HEADER_COLUMNS = {"subject": "subject", "from": "from_", "to": "to_", "cc": "cc", "message-id": "message_id"}

#: More UID ranges than this are matched in Python instead (each range is
#: one ``BETWEEN`` in the statement).
MAX_SQL_RANGES = 64


@dataclass(frozen=True)
class Clause:
    sql: str
    params: tuple = ()


TRUE = Clause("1")
FALSE = Clause("0")


def has_flag(flag: str) -> Clause:
    """The message carries ``flag`` (flags are stored space-separated)."""
    return Clause("(instr(' ' || m.flags || ' ', ?) > 0)", (f" {flag} ",))


def size_above(n: int) -> Clause:
    return Clause("(m.size > ?)", (n,))


def size_below(n: int) -> Clause:
    return Clause("(m.size < ?)", (n,))


def internal_date(op: str, day: datetime.date) -> Clause:
    """Compare the internal date's calendar day (in the offset it was stored
    with, as RFC 3501 6.4.4 asks: time and timezone disregarded)."""
    if op not in ("<", "=", ">="):
        raise ValueError(op)
    return Clause(f"(substr(m.internal_date, 1, 10) {op} ?)", (day.isoformat(),))


def modseq_at_least(n: int) -> Clause:
    return Clause("(m.modseq >= ?)", (n,))


def uid_ranges(ranges: Iterable[tuple[int, int]]) -> Clause | None:
    """UIDs within any of the inclusive ``ranges``; None when there are too
    many for one statement."""
    ranges = list(ranges)
    if len(ranges) > MAX_SQL_RANGES:
        return None
    if not ranges:
        return FALSE
    params: tuple = ()
    for lo, hi in ranges:
        params += (lo, hi)
    return Clause("(" + " OR ".join(["m.uid BETWEEN ? AND ?"] * len(ranges)) + ")", params)


def header_contains(field: str, needle: str) -> Clause | None:
    """A copied-out header field contains ``needle`` (already lower-cased),
    case-insensitively, encoded words (RFC 2047) decoded; None for a field
    that is not copied out. An empty needle matches messages that have the
    field."""
    column = HEADER_COLUMNS.get(field)
    if column is None:
        return None
    col = f"b.{column}"
    if needle.isascii():
        # SQLite's lower() folds ASCII only, which is enough for an ASCII
        # needle; the Python function runs only for encoded words.
        sql = (
            f"({col} IS NOT NULL AND (instr(lower({col}), ?) > 0"
            f" OR (instr({col}, '=?') > 0 AND imap_contains({col}, ?))))"
        )
        return Clause(sql, (needle, needle))
    return Clause(f"({col} IS NOT NULL AND imap_contains({col}, ?))", (needle,))


def both(clauses: Iterable[Clause]) -> Clause:
    clauses = list(clauses)
    if not clauses:
        return TRUE
    if len(clauses) == 1:
        return clauses[0]
    return Clause("(" + " AND ".join(c.sql for c in clauses) + ")", sum((c.params for c in clauses), ()))


def either(left: Clause, right: Clause) -> Clause:
    return Clause(f"({left.sql} OR {right.sql})", left.params + right.params)


def negate(clause: Clause) -> Clause:
    return Clause(f"(NOT {clause.sql})", clause.params)


def decoded(value: str) -> str:
    """A header value with its RFC 2047 encoded words decoded (the value
    itself when they do not decode)."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def contains(haystack: str | None, needle: str) -> bool:
    """What :func:`header_contains` means, for values read into Python."""
    if haystack is None:
        return False
    return needle in haystack.lower() or needle in decoded(haystack).lower()


def matching(conn: sqlite3.Connection, box: int, where: Clause, *, rows: bool) -> list:
    """Messages of a mailbox satisfying ``where``, in UID order: (uid,
    modseq) tuples, or with ``rows`` dicts of every searchable column for
    Python to look at further."""
    if rows:
        columns = (
            "m.uid, m.flags, m.internal_date, m.size, m.modseq, m.body_id,"
            " b.subject, b.from_, b.to_, b.cc, b.date, b.message_id"
        )
    else:
        columns = "m.uid, m.modseq"
    # Flags, dates and sizes live in ``messages``; the bodies' pages are
    # read only when a header field is searched or returned.
    join = " JOIN bodies b ON b.id = m.body_id" if rows or "b." in where.sql else ""
    conn.create_function("imap_contains", 2, contains, deterministic=True)
    cursor = conn.cursor()
    if not rows:
        cursor.row_factory = None  # plain tuples straight from SQLite
    cursor.execute(
        f"SELECT {columns} FROM messages m{join} WHERE m.mailbox_id = ? AND {where.sql} ORDER BY m.uid",
        (box, *where.params),
    )
    if rows:
        return [dict(r) for r in cursor]
    return cursor.fetchall()
