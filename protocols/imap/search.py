"""SEARCH (RFC 3501 6.4.4, plus MODSEQ from RFC 7162).

:func:`compile` turns the argument tokens into a predicate once;
:func:`run` evaluates it over the indexed fields of every message of the
mailbox (one query), reading a message's bytes only for the keys that need
them (BODY, TEXT, BCC, HEADER of a field that is not indexed). It runs in a
reader thread, never on the event loop.
"""

from __future__ import annotations

import datetime
import email.utils
import sqlite3
from email.header import decode_header, make_header
from typing import Any, Callable

from storage import mail as maildb

from .syntax import Bad, SequenceSet, Token, atom, number, text

Pred = Callable[["Message"], bool]

_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_INDEXED = {"subject": "subject", "from": "from_", "to": "to_", "cc": "cc"}
_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True), "UNANSWERED": ("\\Answered", False),
    "DELETED": ("\\Deleted", True), "UNDELETED": ("\\Deleted", False),
    "DRAFT": ("\\Draft", True), "UNDRAFT": ("\\Draft", False),
    "FLAGGED": ("\\Flagged", True), "UNFLAGGED": ("\\Flagged", False),
    "SEEN": ("\\Seen", True), "UNSEEN": ("\\Seen", False),
}


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


def _decoded(value: str) -> str:
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _contains(haystack: str | None, needle: str) -> bool:
    if not haystack:
        return needle == ""
    low = haystack.lower()
    return needle in low or needle in _decoded(haystack).lower()


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
    return datetime.datetime.fromisoformat(msg.row["internal_date"]).date()


def _sent(msg: Message) -> datetime.date | None:
    value = msg.row["date"]
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).date()
    except (TypeError, ValueError, IndexError):
        return None


class Compiler:
    """Turns search keys into a predicate; records what the result needs."""

    def __init__(self, charset: str = "utf-8"):
        self.charset = charset
        self.modseq = False  # RFC 7162: the reply carries (MODSEQ n)

    def string(self, token: Token) -> str:
        try:
            return text(token, "search string").decode(self.charset).lower()
        except UnicodeDecodeError:
            raise Bad("search string is not valid in its charset") from None

    def all(self, args: list[Token]) -> Pred:
        preds = []
        pos = 0
        while pos < len(args):
            pred, pos = self.key(args, pos)
            preds.append(pred)
        if not preds:
            raise Bad("missing search key")
        if len(preds) == 1:
            return preds[0]
        return lambda m: all(p(m) for p in preds)

    def key(self, args: list[Token], pos: int) -> tuple[Pred, int]:
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
            return (lambda m: True), pos + 1
        if name in _FLAG_KEYS:
            flag, want = _FLAG_KEYS[name]
            return (lambda m: (flag in m.flags) == want), pos + 1
        if name in ("NEW", "RECENT"):
            return (lambda m: False), pos + 1  # no session sees \Recent messages
        if name == "OLD":
            return (lambda m: True), pos + 1
        if name in ("KEYWORD", "UNKEYWORD"):
            keyword = atom(arg(), "keyword")
            want = name == "KEYWORD"
            return (lambda m: (keyword in m.flags) == want), pos + 2
        if name in ("LARGER", "SMALLER"):
            n = number(arg(), "size")
            if name == "LARGER":
                return (lambda m: m.row["size"] > n), pos + 2
            return (lambda m: m.row["size"] < n), pos + 2
        if name in ("BEFORE", "ON", "SINCE"):
            day = search_date(arg())
            cmp = {"BEFORE": lambda d: d < day, "ON": lambda d: d == day, "SINCE": lambda d: d >= day}[name]
            return (lambda m: cmp(_internal(m))), pos + 2
        if name in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            day = search_date(arg())
            cmp = {"SENTBEFORE": lambda d: d < day, "SENTON": lambda d: d == day, "SENTSINCE": lambda d: d >= day}[name]

            def sent(m: Message) -> bool:
                d = _sent(m)
                return d is not None and cmp(d)

            return sent, pos + 2
        if name.lower() in _INDEXED:
            column = _INDEXED[name.lower()]
            needle = self.string(arg())
            return (lambda m: _contains(m.row[column], needle)), pos + 2
        if name == "BCC":
            needle = self.string(arg())
            return (lambda m: any(_contains(v, needle) for v in _header_values(m, "bcc"))), pos + 2
        if name == "HEADER":
            field = text(arg(), "header name").decode("ascii", "replace").lower()
            needle = self.string(arg(2))
            return (lambda m: any(_contains(v, needle) for v in _header_values(m, field))), pos + 3
        if name in ("BODY", "TEXT"):
            needle = self.string(arg()).encode("utf-8")
            if name == "TEXT":
                return (lambda m: needle in m.raw.lower()), pos + 2

            def body(m: Message) -> bool:
                raw = m.raw
                end = raw.find(b"\r\n\r\n")
                return needle in (raw if end < 0 else raw[end + 4 :]).lower()

            return body, pos + 2
        if name == "NOT":
            inner, nxt = self.key(args, pos + 1) if pos + 1 < len(args) else (None, 0)
            if inner is None:
                raise Bad("NOT needs a key")
            return (lambda m: not inner(m)), nxt
        if name == "OR":
            if pos + 2 >= len(args):
                raise Bad("OR needs two keys")
            left, nxt = self.key(args, pos + 1)
            if nxt >= len(args):
                raise Bad("OR needs two keys")
            right, nxt = self.key(args, nxt)
            return (lambda m: left(m) or right(m)), nxt
        if name == "UID":
            uids = SequenceSet(atom(arg(), "UID set"))
            return (lambda m: uids.contains_uid(m.row["uid"], m.conn.star)), pos + 2  # type: ignore[attr-defined]
        if name == "MODSEQ":
            k = 1
            if isinstance(arg(1), bytes) or (isinstance(arg(1), str) and not arg(1).isdigit()):
                k = 3  # entry name and type (ignored: one modseq per message)
            n = number(arg(k), "modseq")
            self.modseq = True
            return (lambda m: m.row["modseq"] >= n), pos + k + 1
        if name[:1].isdigit() or name[:1] == "*":
            seqs = SequenceSet(name)
            return (lambda m: seqs.contains_uid(m.seq, m.conn.count)), pos + 1  # type: ignore[attr-defined]
        raise Bad(f"unknown search key {name[:40]}")


class _Conn:
    """A connection wrapper carrying what ``*`` means in this mailbox."""

    def __init__(self, conn: sqlite3.Connection, star: int, count: int):
        self._conn, self.star, self.count = conn, star, count

    def execute(self, *args: Any) -> Any:
        return self._conn.execute(*args)


def run(conn: sqlite3.Connection, box: int, uids: list[int], pred: Pred) -> list[tuple[int, int, int]]:
    """(sequence number, UID, MODSEQ) of the session's messages that match.

    Only messages the session knows (``uids``) are searched, so sequence
    numbers agree with what the client was told.
    """
    known = {uid: i + 1 for i, uid in enumerate(uids)}
    wrapped = _Conn(conn, uids[-1] if uids else 0, len(uids))
    out = []
    for row in maildb.search_rows(conn, box):
        seq = known.get(row["uid"])
        if seq is None:
            continue
        if pred(Message(row, seq, wrapped)):  # type: ignore[arg-type]
            out.append((seq, row["uid"], row["modseq"]))
    return out

