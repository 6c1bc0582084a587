"""SEARCH (RFC 3501 6.4.4, plus MODSEQ from RFC 7162).

:class:`Compiler` turns the argument tokens into a :class:`Term` once: an
SQL clause (``storage.mailsearch``) for what SQLite can answer from indexed
columns, and a Python predicate for the rest. :func:`run` lets SQLite
filter the mailbox and evaluates the Python part only over the rows that
remain, reading a message's bytes only for the keys that need them (BODY,
TEXT, BCC, HEADER of a field that is not copied out). It runs in a reader
thread, never on the event loop.
"""

from __future__ import annotations

import datetime
import email.utils
import sqlite3
from typing import Any, Callable

from storage import mail as maildb
from storage import mailsearch as sq
from storage.mailsearch import Clause

from .syntax import Bad, SequenceSet, Token, atom, number, text

Pred = Callable[["Message"], bool]

_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_FIELD_KEYS = {"SUBJECT": "subject", "FROM": "from", "TO": "to", "CC": "cc"}
_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False),
    "FLAGGED": ("\\Flagged", True), "UNFLAGGED": ("\\Flagged", False),
    "SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False),
}


class Term:
    """One search key (or a combination): ``pred`` always decides alone;
    ``sql``, when set, decides the same in SQLite. ``where`` and
    ``residual`` split a conjunction: the SQL part and what Python must
    still check (None: nothing)."""

    __slots__ = ("pred", "sql", "where", "residual")

    def __init__(self, pred: Pred, sql: Clause | None = None):
        self.pred, self.sql = pred, sql
        self.where: Clause = sql if sql is not None else sq.TRUE
        self.residual: Pred | None = None if sql is not None else pred


def _flag(flag: str, want: bool) -> Term:
    clause = sq.has_flag(flag)
    return Term(lambda m: (flag in m.flags) == want, clause if want else sq.negate(clause))


class Message:
    """One row being searched; the bytes are read on first use."""

    __slots__ = ("row", "seq", "conn", "_flags", "_raw")

    def __init__(self, row: dict, seq: int, conn: sqlite3.Connection):
        self.row, self.seq, self.conn = row, seq, conn
        self._flags: set[str] | None = None
        self._raw: bytes | None = None

    @property
    def flags(self) -> set[str]:
        if self._flags is None:
            self._flags = set(self.row["flags"].split(" ")) if self.row["flags"] else set()
        return self._flags

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = maildb.body_raw(self.conn, self.row["body_id"])
        return self._raw

    def header_block(self) -> bytes:
        raw = self.raw
        end = raw.find(b"\r\n\r\n")
        return raw if end < 0 else raw[: end + 2]


def search_date(token: Token) -> datetime.date:
    value = text(token, "date").decode("ascii", "replace")
    try:
        day, month, year = value.split("-")
        return datetime.date(int(year), _MONTHS[month.lower()], int(day))
    except (ValueError, KeyError):
        raise Bad(f"invalid date {value!r}") from None


def _header_values(msg: Message, field: str) -> list[str]:
    block = msg.header_block().decode("utf-8", "replace")
    values, current = [], None
    for line in block.split("\n"):
        if line[:1] in (" ", "\t") and current is not None:
            values[-1] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        current = name.strip().lower() == field if colon else None
        if current:
            values.append(value.strip())
        else:
            current = None
    return values


def _internal(msg: Message) -> datetime.date:
    return datetime.date.fromisoformat(msg.row["internal_date"][:10])


def _sent(msg: Message) -> datetime.date | None:
    value = msg.row["date"]
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError, IndexError):
        return None


class Compiler:
    """Turns search keys into a :class:`Term`; records what the result needs.

    ``uids`` are the session's UIDs in order: sequence numbers and ``*``
    mean what the client was told.
    """

    def __init__(self, uids: list[int], charset: str = "utf-8"):
        self.uids = uids
        self.charset = charset
        self.modseq = False  # RFC 7162: the reply carries (MODSEQ n)

    def string(self, token: Token) -> str:
        try:
            return text(token, "search string").decode(self.charset).lower()
        except UnicodeDecodeError:
            raise Bad("search string is not valid in its charset") from None

    def all(self, args: list[Token]) -> Term:
        terms = []
        pos = 0
        while pos < len(args):
            term, pos = self.key(args, pos)
            terms.append(term)
        if not terms:
            raise Bad("missing search key")
        if len(terms) == 1:
            return terms[0]
        preds = [t.pred for t in terms]
        pushed = [t.sql for t in terms if t.sql is not None]
        term = Term(lambda m: all(p(m) for p in preds), sq.both(pushed) if len(pushed) == len(terms) else None)
        rest = [t.pred for t in terms if t.sql is None]
        term.where = sq.both(pushed)
        term.residual = None if not rest else rest[0] if len(rest) == 1 else (lambda m: all(p(m) for p in rest))
        return term

    def key(self, args: list[Token], pos: int) -> tuple[Term, int]:
        token = args[pos]
        if isinstance(token, list):
            return self.all(token), pos + 1
        if isinstance(token, bytes):
            raise Bad("search key expected")
        name = token.upper()

        def arg(k: int = 1) -> Token:
            if pos + k >= len(args):
                raise Bad(f"{name} needs an argument")
            return args[pos + k]

        if name == "ALL":
            return Term(lambda m: True, sq.TRUE), pos + 1
        if name in _FLAG_KEYS:
            return _flag(*_FLAG_KEYS[name]), pos + 1
        if name in ("NEW", "RECENT"):
            return Term(lambda m: False, sq.FALSE), pos + 1  # no session sees \Recent messages
        if name == "OLD":
            return Term(lambda m: True, sq.TRUE), pos + 1
        if name in ("KEYWORD", "UNKEYWORD"):
            return _flag(atom(arg(), "keyword"), name == "KEYWORD"), pos + 2
        if name in ("LARGER", "SMALLER"):
            n = number(arg(), "size")
            if name == "LARGER":
                return Term(lambda m: m.row["size"] > n, sq.size_above(n)), pos + 2
            return Term(lambda m: m.row["size"] < n, sq.size_below(n)), pos + 2
        if name in ("BEFORE", "ON", "SINCE"):
            day = search_date(arg())
            op = {"BEFORE": "<", "ON": "=", "SINCE": ">="}[name]
            cmp = {"<": lambda d: d < day, "=": lambda d: d == day, ">=": lambda d: d >= day}[op]
            return Term(lambda m: cmp(_internal(m)), sq.internal_date(op, day)), pos + 2
        if name in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            day = search_date(arg())
            cmp = {"SENTBEFORE": lambda d: d < day, "SENTON": lambda d: d == day, "SENTSINCE": lambda d: d >= day}[name]

            def sent(m: Message) -> bool:
                d = _sent(m)
                return d is not None and cmp(d)

            return Term(sent), pos + 2
        if name in _FIELD_KEYS:
            return self._field(_FIELD_KEYS[name], self.string(arg())), pos + 2
        if name == "BCC":
            return self._field("bcc", self.string(arg())), pos + 2
        if name == "HEADER":
            field = text(arg(), "header name").decode("ascii", "replace").lower()
            return self._field(field, self.string(arg(2))), pos + 3
        if name in ("BODY", "TEXT"):
            needle = self.string(arg()).encode("utf-8")
            if name == "TEXT":
                return Term(lambda m: needle in m.raw.lower()), pos + 2

            def body(m: Message) -> bool:
                raw = m.raw
                end = raw.find(b"\r\n\r\n")
                return needle in (raw if end < 0 else raw[end + 4 :]).lower()

            return Term(body), pos + 2
        if name == "NOT":
            if pos + 1 >= len(args):
                raise Bad("NOT needs a key")
            inner, nxt = self.key(args, pos + 1)
            return Term(lambda m: not inner.pred(m), None if inner.sql is None else sq.negate(inner.sql)), nxt
        if name == "OR":
            if pos + 2 >= len(args):
                raise Bad("OR needs two keys")
            left, nxt = self.key(args, pos + 1)
            if nxt >= len(args):
                raise Bad("OR needs two keys")
            right, nxt = self.key(args, nxt)
            sql = None if left.sql is None or right.sql is None else sq.either(left.sql, right.sql)
            return Term(lambda m: left.pred(m) or right.pred(m), sql), nxt
        if name == "UID":
            return self._uids(SequenceSet(atom(arg(), "UID set")), by_uid=True), pos + 2
        if name == "MODSEQ":
            k = 1
            if isinstance(arg(1), bytes) or (isinstance(arg(1), str) and not arg(1).isdigit()):
                k = 3  # entry name and type (ignored: one modseq per message)
            n = number(arg(k), "modseq")
            self.modseq = True
            return Term(lambda m: m.row["modseq"] >= n, sq.modseq_at_least(n)), pos + k + 1
        if name[:1].isdigit() or name[:1] == "*":
            return self._uids(SequenceSet(name), by_uid=False), pos + 1
        raise Bad(f"unknown search key {name[:40]}")

    def _field(self, field: str, needle: str) -> Term:
        """A header field contains ``needle``: in SQL for the fields copied
        out at delivery, else by reading the header block."""
        sql = sq.header_contains(field, needle)
        if sql is not None:
            column = sq.HEADER_COLUMNS[field]
            return Term(lambda m: sq.contains(m.row[column], needle), sql)
        return Term(lambda m: any(sq.contains(v, needle) for v in _header_values(m, field)))

    def _uids(self, seqset: SequenceSet, *, by_uid: bool) -> Term:
        """A UID set, or a sequence set turned into the UID ranges it names
        in the session's view."""
        uids = self.uids
        if by_uid:
            star = uids[-1] if uids else 0
            ranges = seqset.spans(star)
            pred: Pred = lambda m: seqset.contains_uid(m.row["uid"], star)  # noqa: E731
        else:
            count = len(uids)
            ranges = [
                (uids[max(a, 1) - 1], uids[min(b, count) - 1]) for a, b in seqset.spans(count) if count and a <= count and b >= 1
            ]
            pred = lambda m: seqset.contains_uid(m.seq, count)  # noqa: E731
        return Term(pred, sq.uid_ranges(ranges))


def run(conn: sqlite3.Connection, box: int, uids: list[int], term: Term) -> list[tuple[int, int, int]]:
    """(sequence number, UID, MODSEQ) of the session's messages that match.

    Only messages the session knows (``uids``) are searched, so sequence
    numbers agree with what the client was told.
    """
    known = {uid: i + 1 for i, uid in enumerate(uids)}
    out = []
    residual = term.residual
    if residual is None:
        for uid, modseq in sq.matching(conn, box, term.where, rows=False):
            seq = known.get(uid)
            if seq is not None:
                out.append((seq, uid, modseq))
        return out
    for row in sq.matching(conn, box, term.where, rows=True):
        seq = known.get(row["uid"])
        if seq is not None and residual(Message(row, seq, conn)):
            out.append((seq, row["uid"], row["modseq"]))
    return out
