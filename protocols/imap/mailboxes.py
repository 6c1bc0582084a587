"""Commands on mailboxes (RFC 3501 6.3, RFC 2087/9208 QUOTA): SELECT,
EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, LIST, LSUB, STATUS, APPEND and
the quota commands, as a mixin of :class:`.server.ImapServer`.

Names arrive in modified UTF-7 (:func:`.syntax.mailbox_name`) and are checked
by :func:`storage.mail.check_name`; every lookup is by the logged-in user's
id, so no name, however encoded, reaches another user's mailboxes.
"""

from __future__ import annotations

import asyncio
import bisect
import datetime
import re
from dataclasses import dataclass
from typing import Any

from appliance import mime
from appliance.errors import NotFound
from storage import mail as maildb

from .replies import No
from .syntax import Bad, atom, encode_name, flag_list, mailbox_name, text

_PERMANENT = "\\Answered \\Flagged \\Deleted \\Seen \\Draft"
_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_DATE_TIME = re.compile(r"^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")


@dataclass
class Selected:
    """The selected mailbox as this session last told the client about it."""

    id: int
    name: str
    writable: bool
    uidvalidity: int
    uids: list[int]
    modseq: int
    dirty: bool = False


class MailboxCommands:
    async def cmd_select(self, tag: bytes, args: list, uid: bool, writable: bool = True) -> bytes:
        if not args:
            raise Bad("mailbox name expected")
        name = mailbox_name(args[0])
        for option in args[1:]:
            if isinstance(option, list) and [atom(o).upper() for o in option] == ["CONDSTORE"]:
                self.condstore = True
            else:
                raise Bad("unknown SELECT parameter")
        self.selected = None
        self.state = "auth"
        uid_ = self.principal.user_id

        def load(conn: Any) -> dict:
            box = maildb.mailbox(conn, uid_, name)
            return {**maildb.snapshot(conn, box["id"]), "name": box["name"]}

        snap = await self._read("select", load)
        uids = snap["uids"]
        keywords = " ".join(snap["keywords"])
        flags = _PERMANENT + (" " + keywords if keywords else "")
        lines = [
            b"* FLAGS (" + flags.encode() + b")",
            b"* OK [PERMANENTFLAGS (" + (flags.encode() + b" \\*" if writable else b"") + b")] flags permitted",
            b"* %d EXISTS" % len(uids),
            b"* 0 RECENT",
        ]
        if snap["first_unseen"] is not None:
            lines.append(b"* OK [UNSEEN %d] first unseen" % (bisect.bisect_left(uids, snap["first_unseen"]) + 1))
        lines += [
            b"* OK [UIDVALIDITY %d] UIDs valid" % snap["uidvalidity"],
            b"* OK [UIDNEXT %d] predicted next UID" % snap["uidnext"],
            b"* OK [HIGHESTMODSEQ %d] highest" % snap["highestmodseq"],
        ]
        self._write(b"\r\n".join(lines) + b"\r\n")
        self.selected = Selected(snap["id"], snap["name"], writable, snap["uidvalidity"], uids, snap["highestmodseq"])
        self.state = "selected"
        return b"[READ-WRITE] SELECT completed" if writable else b"[READ-ONLY] EXAMINE completed"

    async def cmd_examine(self, tag: bytes, args: list, uid: bool) -> bytes:
        return await self.cmd_select(tag, args, uid, writable=False)

    async def cmd_create(self, tag: bytes, args: list, uid: bool) -> bytes:
        if len(args) != 1:
            raise Bad("CREATE takes a mailbox name")
        name = mailbox_name(args[0]).rstrip("/")
        user = self.principal.user_id
        await self._write_db("create", lambda c: maildb.create(c, user, name))
        return b"CREATE completed"

    async def cmd_delete(self, tag: bytes, args: list, uid: bool) -> bytes:
        if len(args) != 1:
            raise Bad("DELETE takes a mailbox name")
        name = mailbox_name(args[0])
        user = self.principal.user_id

        def delete(conn: Any) -> int:
            box = maildb.mailbox(conn, user, name)
            maildb.delete(conn, user, name)
            return box["id"]

        box = await self._write_db("delete", delete)
        self._publish(box)
        return b"DELETE completed"

    async def cmd_rename(self, tag: bytes, args: list, uid: bool) -> bytes:
        if len(args) != 2:
            raise Bad("RENAME takes two mailbox names")
        old, new = mailbox_name(args[0]), mailbox_name(args[1]).rstrip("/")
        user = self.principal.user_id
        await self._write_db("rename", lambda c: maildb.rename(c, user, old, new))
        return b"RENAME completed"

    async def cmd_subscribe(self, tag: bytes, args: list, uid: bool, on: bool = True) -> bytes:
        if len(args) != 1:
            raise Bad("a mailbox name is expected")
        name = mailbox_name(args[0])
        user = self.principal.user_id
        await self._write_db("subscribe", lambda c: maildb.subscribe(c, user, name, on))
        return b"SUBSCRIBE completed" if on else b"UNSUBSCRIBE completed"

    async def cmd_unsubscribe(self, tag: bytes, args: list, uid: bool) -> bytes:
        return await self.cmd_subscribe(tag, args, uid, on=False)

    async def cmd_list(self, tag: bytes, args: list, uid: bool, lsub: bool = False) -> bytes:
        special_only = False
        if args and isinstance(args[0], list):  # LIST (SPECIAL-USE) ... (RFC 6154, 5258)
            options = {atom(o).upper() for o in args[0]}
            special_only = "SPECIAL-USE" in options
            lsub = lsub or "SUBSCRIBED" in options
            args = args[1:]
        if len(args) >= 4 and isinstance(args[2], str) and args[2].upper() == "RETURN":
            args = args[:2]
        if len(args) != 2:
            raise Bad("LIST takes a reference and a pattern")
        reference = mailbox_name(args[0])
        patterns = args[1] if isinstance(args[1], list) else [args[1]]
        if len(patterns) > 20:
            raise Bad("too many patterns")
        verb = b"LSUB" if lsub and not special_only else b"LIST"
        if len(patterns) == 1 and text(patterns[0]) == b"":
            self._send(b"* " + verb + b' (\\Noselect) "/" ""')
            return verb + b" completed"
        matchers = [_pattern(reference, mailbox_name(p)) for p in patterns]
        user = self.principal.user_id

        def load(conn: Any) -> tuple[list[dict], set[str]]:
            # Matching runs here, in the read thread: up to 20 patterns over
            # up to 1,000 names is linear but not free, and not loop work.
            rows = maildb.mailbox_rows(conn, user)
            matching = [r for r in rows if any(m.match(r["name"]) for m in matchers)]
            parents = set()
            for r in rows:
                parts = r["name"].split(maildb.HIERARCHY)
                parents.update(maildb.HIERARCHY.join(parts[:i]) for i in range(1, len(parts)))
            return matching, parents

        rows, parents = await self._read("list", load)
        lines = []
        for row in sorted(rows, key=lambda r: (r["name"] != "INBOX", r["name"])):
            name = row["name"]
            if lsub and not row["subscribed"]:
                continue
            if special_only and not row["special_use"]:
                continue
            attrs = []
            if not lsub:
                attrs.append("\\HasChildren" if name in parents else "\\HasNoChildren")
            if row["special_use"]:
                attrs.append(row["special_use"])
            if lsub and verb == b"LIST":
                attrs.append("\\Subscribed")
            lines.append(b"* " + verb + b" (" + " ".join(attrs).encode() + b') "/" ' + _name(name))
        if lines:
            self._write(b"\r\n".join(lines) + b"\r\n")
        return verb + b" completed"

    async def cmd_lsub(self, tag: bytes, args: list, uid: bool) -> bytes:
        return await self.cmd_list(tag, args, uid, lsub=True)

    async def cmd_status(self, tag: bytes, args: list, uid: bool) -> bytes:
        if len(args) != 2 or not isinstance(args[1], list):
            raise Bad("STATUS takes a mailbox name and a list of items")
        name = mailbox_name(args[0])
        items = [atom(i).upper() for i in args[1]]
        known = {"MESSAGES": "messages", "UIDNEXT": "uidnext", "UIDVALIDITY": "uidvalidity", "UNSEEN": "unseen",
                 "HIGHESTMODSEQ": "highestmodseq", "SIZE": "size", "RECENT": None}
        if not items or any(i not in known for i in items):
            raise Bad("unknown STATUS item")
        user = self.principal.user_id
        status = await self._read("status", lambda c: maildb.status(c, maildb.mailbox(c, user, name)["id"]))
        values = b" ".join(b"%s %d" % (i.encode(), status[known[i]] if known[i] else 0) for i in items)
        self._send(b"* STATUS " + _name(name) + b" (" + values + b")")
        return b"STATUS completed"

    async def cmd_append(self, tag: bytes, args: list, uid: bool) -> bytes:
        if len(args) < 2 or not isinstance(args[-1], bytes):
            raise Bad("APPEND takes a mailbox, optional flags and date, and a literal")
        name = mailbox_name(args[0])
        message = args[-1]
        flags: list[str] = []
        date = None
        for extra in args[1:-1]:
            if isinstance(extra, list):
                flags = flag_list(extra)
            elif isinstance(extra, bytes):
                date = _append_date(extra)
            else:
                raise Bad("unexpected APPEND argument")
        if not message:
            raise No("an empty message cannot be stored", "CANNOT")
        if len(message) > self.append_limit:
            raise No("message larger than APPENDLIMIT", "TOOBIG")
        user = self.principal.user_id
        # Parsed here, in a worker thread: not on the loop (a 50 MB message
        # takes a while) and not on the business's single writer thread.
        parsed = await asyncio.to_thread(mime.for_storage, message)
        try:
            box, validity, new_uid = await self._write_db(
                "append", lambda c: maildb.append(c, user, name, message, parsed, flags, date)
            )
        except NotFound:
            raise No("no such mailbox", "TRYCREATE") from None
        self._publish(box)
        return b"[APPENDUID %d %d] APPEND completed" % (validity, new_uid)

    async def cmd_getquotaroot(self, tag: bytes, args: list, uid: bool) -> bytes:
        if len(args) != 1:
            raise Bad("GETQUOTAROOT takes a mailbox name")
        name = mailbox_name(args[0])
        user = self.principal.user_id

        def quota(conn: Any) -> tuple[int, int]:
            maildb.mailbox(conn, user, name)
            return maildb.quota_usage(conn, user)

        used, limit = await self._read("quota", quota)
        self._send(b"* QUOTAROOT " + _name(name) + b' ""')
        self._send(b'* QUOTA "" (STORAGE %d %d)' % (used // 1024, limit // 1024))
        return b"GETQUOTAROOT completed"

    async def cmd_getquota(self, tag: bytes, args: list, uid: bool) -> bytes:
        if len(args) != 1 or text(args[0]) != b"":
            raise No("no such quota root", "NONEXISTENT")
        user = self.principal.user_id
        used, limit = await self._read("quota", lambda c: maildb.quota_usage(c, user))
        self._send(b'* QUOTA "" (STORAGE %d %d)' % (used // 1024, limit // 1024))
        return b"GETQUOTA completed"

    async def cmd_setquota(self, tag: bytes, args: list, uid: bool) -> bytes:
        raise No("quotas are set by the business's plan", "NOPERM")


def _name(name: str) -> bytes:
    return mime.string(encode_name(name))


#: Longest LIST pattern (reference included) that is matched; names are at
#: most 200 characters (:func:`storage.mail.check_name`).
MAX_PATTERN = 300


class Pattern:
    """A LIST pattern (RFC 3501 6.3.8): ``*`` matches anything, ``%``
    anything but the hierarchy delimiter ``/``.

    Matched as a set of states, one bit per pattern position (shift-and),
    so a name costs one step per character however many wildcards the
    pattern holds. A regular expression made of ``.*`` and ``[^/]*`` backtracks:
    ``*%*%*%*%x`` against one 34-character name held the loop 1.4 s (#24).
    """

    def __init__(self, pattern: str):
        # A run of wildcards matches what its widest member matches, and
        # runs then alternate with literals: the epsilon closure is one shift.
        tokens: list[str] = []
        for c in pattern[:MAX_PATTERN]:
            if c in "*%" and tokens and tokens[-1] in "*%":
                tokens[-1] = "*" if "*" in (c, tokens[-1]) else "%"
            else:
                tokens.append(c)
        self.accept = 1 << len(tokens)
        self.stars = self.percents = 0
        self.literals: dict[str, int] = {}
        for position, c in enumerate(tokens, 1):
            bit = 1 << position
            if c == "*":
                self.stars |= bit
            elif c == "%":
                self.percents |= bit
            else:
                self.literals[c] = self.literals.get(c, 0) | bit
        self.wild = self.stars | self.percents

    def _close(self, states: int) -> int:
        # A wildcard also matches nothing.
        return states | ((states << 1) & self.wild)

    def match(self, name: str) -> bool:
        states = self._close(1)
        for c in name:
            loops = self.stars if c == maildb.HIERARCHY else self.wild
            states = self._close(((states << 1) & (self.literals.get(c, 0) | loops)) | (states & loops))
            if not states:
                return False
        return bool(states & self.accept)


def match_pattern(pattern: str, name: str) -> bool:
    """Whether a mailbox name matches a LIST pattern (see :class:`Pattern`)."""
    return Pattern(pattern).match(name)


def _pattern(reference: str, pattern: str) -> Pattern:
    """The pattern LIST matches: the reference prepended (unless the
    pattern is absolute), INBOX in any letter case."""
    full = pattern if pattern.startswith("/") or not reference else reference + pattern
    if full[:5].upper() == "INBOX":
        full = "INBOX" + full[5:]
    return Pattern(full)


def _append_date(value: bytes) -> str:
    """An APPEND date-time (``"25-Nov-2026 06:30:00 +0100"``) as ISO 8601."""
    m = _DATE_TIME.match(value.decode("ascii", "replace"))
    try:
        if m is None:
            raise ValueError(value)
        day, month, year, hour, minute, second, sign, zh, zm = m.groups()
        offset = datetime.timedelta(hours=int(zh), minutes=int(zm)) * (1 if sign == "+" else -1)
        when = datetime.datetime(
            int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second),
            tzinfo=datetime.timezone(offset),
        )
    except (ValueError, KeyError):
        raise Bad("invalid date-time") from None
    return when.astimezone(datetime.timezone.utc).isoformat()
