"""Running a validated script against one message: what should happen to it.

:func:`evaluate` walks the commands (RFC 5228 section 2.10) and returns an
:class:`Outcome`: where copies go and with which flags, what to redirect,
whether to reply (vacation) or refuse (reject). It changes nothing itself;
:mod:`.delivery` carries the outcome out inside the delivery's transaction.

Limits: a script runs at most ``max_actions`` actions (RFC 5228 section
2.10.4 leaves the number to the site) and ``max_redirects`` redirects; past
either, :class:`SieveRuntimeError` - and the caller keeps the message in
INBOX. Variables hold at most :data:`MAX_VARIABLE` characters, so ``set``
cannot build an unbounded string.
"""

from __future__ import annotations

import email.header
import email.utils
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Iterable

from .parser import Command, Test

#: Longest value a variable holds (RFC 5229 section 6 lets us truncate).
MAX_VARIABLE = 4096
#: Steps all :matches tests of one run may take together; past it the
#: script fails (and the message is kept).
MATCH_BUDGET = 200_000
#: Match variables ${0}..${9} (RFC 5229 section 3.2 asks for at least 9).
MAX_MATCH_VARS = 10


class SieveRuntimeError(Exception):
    """The script cannot finish (a limit, a conflict of actions); the
    message is then kept as if there were no script."""


@dataclass
class Vacation:
    reason: str
    days: int
    subject: str | None
    from_: str | None
    addresses: tuple[str, ...]
    mime: bool
    handle: str


@dataclass
class Outcome:
    #: (mailbox, flags, create) of every copy filed; INBOX for keep.
    copies: list[tuple[str, tuple[str, ...], bool]] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)
    vacation: Vacation | None = None
    reject: str | None = None
    discarded: bool = False


@dataclass
class Envelope:
    """The SMTP envelope as the envelope test sees it ("" for the null sender)."""

    mail_from: str
    to: str


@dataclass
class Context:
    """What a script may ask about: the message, its envelope and size,
    and the names of the user's mailboxes (``mailboxexists``)."""

    message: Message
    envelope: Envelope
    size: int
    mailboxes: frozenset[str] = frozenset()


def _casemap(text: str) -> str:
    # i;ascii-casemap (RFC 4790 section 9.2): only A-Z fold.
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _glob_tokens(pattern: str) -> list[str]:
    """A :matches pattern as tokens: each character to match, and the
    wildcards as :data:`_STAR` and :data:`_ONE` (two characters, so no
    escaped "*" or "?" can be mistaken for one); backslash escapes undone
    (RFC 5228 section 2.7.1)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append(_STAR if c == "*" else _ONE if c == "?" else c)
        i += 1
    return out


_STAR = "\0*"
_ONE = "\0?"


def glob(pattern: str, text: str, casefold: bool, budget: list[int]) -> list[str] | None:
    """Match ``text`` against a :matches pattern; the strings each wildcard
    took (RFC 5229 section 3.2: every "*" as short as a match allows), or
    None. Linear in the usual case and O(len(text) x len(pattern)) at
    worst - never exponential like a backtracking regex - and every step
    is taken from ``budget[0]``; SieveRuntimeError when it runs out."""
    tokens = _glob_tokens(pattern)
    fold = _casemap if casefold else (lambda x: x)
    folded = fold(text)
    p = t = 0
    star_p = -1
    star_t = 0
    spans: dict[int, tuple[int, int]] = {}
    while t < len(text):
        budget[0] -= 1
        if budget[0] < 0:
            raise SieveRuntimeError("matching takes too long")
        tok = tokens[p] if p < len(tokens) else None
        if tok == _STAR:
            star_p, star_t = p, t
            spans[p] = (t, t)
            p += 1
        elif tok is not None and (tok == _ONE or fold(tok) == folded[t]):
            if tok == _ONE:
                spans[p] = (t, t + 1)
            p += 1
            t += 1
        elif star_p >= 0:
            # The last "*" takes one more character and the rest is tried again.
            star_t += 1
            spans[star_p] = (spans[star_p][0], star_t)
            for later in [k for k in spans if k > star_p]:
                del spans[later]
            t = star_t
            p = star_p + 1
        else:
            return None
    while p < len(tokens) and tokens[p] == _STAR:
        spans[p] = (t, t)
        p += 1
    if p != len(tokens):
        return None
    return [text[a:b] for _k, (a, b) in sorted(spans.items())]


class _Run:
    def __init__(self, ctx: Context, required: set[str], max_actions: int, max_redirects: int):
        self.ctx = ctx
        self.variables_on = "variables" in required
        self.vars: dict[str, str] = {}
        self.match_vars: list[str] = []
        self.flags: list[str] = []
        self.out = Outcome()
        self.implicit_keep = True
        self.actions = 0
        self.max_actions = max_actions
        self.max_redirects = max_redirects
        self.stopped = False
        #: Characters :matches may look at for this message (see :func:`glob`).
        self.budget = [MATCH_BUDGET]

    # -- strings -------------------------------------------------------------

    _VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+)\}")

    def expand(self, text: str) -> str:
        """RFC 5229 section 3: ${name} and ${n}; unknown names are empty."""
        if not self.variables_on or "${" not in text:
            return text

        def one(m: re.Match) -> str:
            name = m.group(1)
            if name.isdigit():
                n = int(name)
                return self.match_vars[n] if n < len(self.match_vars) else ""
            return self.vars.get(name.lower(), "")

        return self._VAR.sub(one, text)[:MAX_VARIABLE]

    def strings(self, items: Iterable[str]) -> list[str]:
        return [self.expand(s) for s in items]

    # -- matching ------------------------------------------------------------

    def match(self, tags: dict, values: list[str], keys: list[str]) -> bool:
        """Any value against any key with the tags' match type and
        comparator (RFC 5228 section 2.7); :matches sets ${0}..${n}."""
        casefold = tags.get("comparator", "i;ascii-casemap") == "i;ascii-casemap"
        keys = self.strings(keys)
        for value in values:
            for key in keys:
                if tags.get("matches"):
                    groups = glob(key, value, casefold, self.budget)
                    if groups is not None:
                        if self.variables_on:
                            self.match_vars = [value, *groups][:MAX_MATCH_VARS]
                        return True
                elif tags.get("contains"):
                    if (_casemap(key) in _casemap(value)) if casefold else (key in value):
                        return True
                else:
                    if (_casemap(key) == _casemap(value)) if casefold else (key == value):
                        return True
        return False

    # -- message access ------------------------------------------------------

    def header_values(self, names: Iterable[str]) -> list[str]:
        out = []
        for name in names:
            for raw in self.ctx.message.get_all(name) or []:
                out.append(_decode(str(raw)))
        return out

    def address_values(self, tags: dict, names: Iterable[str]) -> list[str]:
        fields = []
        for name in names:
            if name.lower() not in _ADDRESS_HEADERS:
                continue
            fields.extend(str(v) for v in self.ctx.message.get_all(name) or [])
        return [_part(addr, tags) for _display, addr in email.utils.getaddresses(fields) if addr]

    def envelope_values(self, tags: dict, parts: Iterable[str]) -> list[str]:
        out = []
        for part in parts:
            part = part.lower()
            if part == "from":
                # The null reverse-path matches only "" (RFC 5228 section 5.4).
                sender = self.ctx.envelope.mail_from
                out.append(_part(sender, tags) if sender else "")
            elif part == "to":
                out.append(_part(self.ctx.envelope.to, tags))
        return out

    # -- tests ---------------------------------------------------------------

    def test(self, t: Test) -> bool:
        tags, pos = t.spec["tags"], t.spec["pos"]
        name = t.name
        if name == "true":
            return True
        if name == "false":
            return False
        if name == "not":
            return not self.test(t.tests[0])
        if name == "allof":
            return all(self.test(x) for x in t.tests)
        if name == "anyof":
            return any(self.test(x) for x in t.tests)
        if name == "header":
            return self.match(tags, self.header_values(self.strings(pos[0])), pos[1])
        if name == "address":
            return self.match(tags, self.address_values(tags, self.strings(pos[0])), pos[1])
        if name == "envelope":
            return self.match(tags, self.envelope_values(tags, self.strings(pos[0])), pos[1])
        if name == "exists":
            return all(self.ctx.message.get(h) is not None for h in self.strings(pos[0]))
        if name == "size":
            limit = pos[0]
            return self.ctx.size > limit if tags.get("over") else self.ctx.size < limit
        if name == "string":
            return self.match(tags, self.strings(pos[0]), pos[1])
        if name == "hasflag":
            if len(pos) == 2:
                flags = [f for v in pos[0] for f in self.vars.get(v.lower(), "").split()]
            else:
                flags = list(self.flags)
            return self.match(tags, flags, pos[-1])
        if name == "mailboxexists":
            return all(_mailbox_name(m) in self.ctx.mailboxes for m in self.strings(pos[0]))
        raise SieveRuntimeError(f"unknown test {name}")

    # -- commands ------------------------------------------------------------

    def count(self) -> None:
        self.actions += 1
        if self.actions > self.max_actions:
            raise SieveRuntimeError(f"more than {self.max_actions} actions")

    def run(self, commands: list[Command]) -> None:
        branch_taken = False
        for cmd in commands:
            if self.stopped:
                return
            name = cmd.name
            if name == "if":
                branch_taken = self.test(cmd.tests[0])
                if branch_taken:
                    self.run(cmd.block or [])
                continue
            if name == "elsif":
                if not branch_taken:
                    branch_taken = self.test(cmd.tests[0])
                    if branch_taken:
                        self.run(cmd.block or [])
                continue
            if name == "else":
                if not branch_taken:
                    self.run(cmd.block or [])
                continue
            self.command(cmd)

    def flag_list(self, items: Iterable[str]) -> list[str]:
        out: list[str] = []
        for item in self.strings(items):
            for flag in item.split():
                if flag.lower() not in (f.lower() for f in out):
                    out.append(flag)
        return out

    def command(self, cmd: Command) -> None:
        tags, pos = cmd.spec["tags"], cmd.spec["pos"]
        name = cmd.name
        if name == "require":
            return
        if name == "stop":
            self.stopped = True
            return
        if name == "keep":
            self.count()
            flags = self.flag_list(tags["flags"]) if "flags" in tags else list(self.flags)
            self.file("INBOX", flags, False)
            self.implicit_keep = False
        elif name == "discard":
            self.count()
            self.implicit_keep = False
            self.out.discarded = True
        elif name == "fileinto":
            self.count()
            flags = self.flag_list(tags["flags"]) if "flags" in tags else list(self.flags)
            self.file(_mailbox_name(self.expand(pos[0])), flags, bool(tags.get("create")))
            if not tags.get("copy"):
                self.implicit_keep = False
        elif name == "redirect":
            self.count()
            if len(self.out.redirects) >= self.max_redirects:
                raise SieveRuntimeError(f"more than {self.max_redirects} redirects")
            target = self.expand(pos[0]).strip()
            _display, address = email.utils.parseaddr(target)
            if not address or "@" not in address:
                raise SieveRuntimeError(f"redirect to an invalid address {target!r}")
            if address.lower() not in (r.lower() for r in self.out.redirects):
                self.out.redirects.append(address)
            if not tags.get("copy"):
                self.implicit_keep = False
        elif name in ("reject", "ereject"):
            self.count()
            if self.out.copies or self.out.redirects or self.out.vacation:
                # RFC 5429 section 2.1: reject cannot go with keep, fileinto,
                # redirect or vacation.
                raise SieveRuntimeError("reject together with another action")
            self.out.reject = self.expand(pos[0])
            self.implicit_keep = False
        elif name == "vacation":
            self.count()
            if self.out.reject is not None:
                raise SieveRuntimeError("vacation together with reject")
            self.out.vacation = self.vacation(tags, pos)
        elif name == "set":
            self.set(tags, pos)
        elif name in ("setflag", "addflag", "removeflag"):
            self.flag_command(name, pos)
        else:
            raise SieveRuntimeError(f"unknown command {name}")

    def file(self, mailbox: str, flags: list[str], create: bool) -> None:
        for i, (box, _f, _c) in enumerate(self.out.copies):
            if box == mailbox:
                # RFC 5228 section 2.10.3: one copy per mailbox; the last
                # flags win (RFC 5232 section 5).
                self.out.copies[i] = (box, tuple(flags), create or _c)
                return
        self.out.copies.append((mailbox, tuple(flags), create))

    def vacation(self, tags: dict, pos: list) -> Vacation:
        reason = self.expand(pos[0])
        subject = self.expand(tags["subject"]) if "subject" in tags else None
        from_ = self.expand(tags["from"]) if "from" in tags else None
        # RFC 5230 section 4.2: without :handle, the same arguments are the same reply.
        handle = self.expand(tags["handle"]) if "handle" in tags else f"{reason}\0{subject}\0{from_}\0{bool(tags.get('mime'))}"
        return Vacation(
            reason=reason, days=int(tags.get("days", 7)), subject=subject, from_=from_,
            addresses=tuple(self.strings(tags.get("addresses", ()))), mime=bool(tags.get("mime")), handle=handle,
        )

    def set(self, tags: dict, pos: list) -> None:
        name, value = pos[0].lower(), self.expand(pos[1])
        # RFC 5229 section 4.1: modifiers apply by precedence, highest first.
        if tags.get("lower"):
            value = value.lower()
        if tags.get("upper"):
            value = value.upper()
        if tags.get("lowerfirst"):
            value = value[:1].lower() + value[1:]
        if tags.get("upperfirst"):
            value = value[:1].upper() + value[1:]
        if tags.get("quotewildcard"):
            value = re.sub(r"([*?\\])", r"\\\1", value)
        if tags.get("length"):
            value = str(len(value))
        self.vars[name] = value[:MAX_VARIABLE]

    def flag_command(self, name: str, pos: list) -> None:
        flags = self.flag_list(pos[-1])
        if len(pos) == 2:
            var = pos[0].lower()
            current = self.vars.get(var, "").split()
        else:
            var = None
            current = list(self.flags)
        if name == "setflag":
            current = flags
        elif name == "addflag":
            current += [f for f in flags if f.lower() not in (c.lower() for c in current)]
        else:
            drop = {f.lower() for f in flags}
            current = [c for c in current if c.lower() not in drop]
        if var is None:
            self.flags = current
        else:
            self.vars[var] = " ".join(current)[:MAX_VARIABLE]


_ADDRESS_HEADERS = {
    "from", "to", "cc", "bcc", "sender", "resent-from", "resent-to", "resent-cc", "resent-bcc", "resent-sender",
    "reply-to", "return-path", "delivered-to", "envelope-to", "x-original-to", "disposition-notification-to",
}


def _part(address: str, tags: dict) -> str:
    local, _at, domain = address.rpartition("@")
    if not _at:
        local, domain = address, ""
    if tags.get("localpart"):
        return local
    if tags.get("domain"):
        return domain
    return address


def _decode(value: str) -> str:
    """A header value with RFC 2047 encoded words decoded (RFC 5228 section 5.7)."""
    value = re.sub(r"\r?\n[ \t]", " ", value)
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _mailbox_name(name: str) -> str:
    return "INBOX" if name.upper() == "INBOX" else name


def evaluate(commands: list[Command], ctx: Context, *, max_actions: int = 32, max_redirects: int = 4) -> Outcome:
    """What the script says to do with the message (see module doc)."""
    required = {ext for cmd in commands if cmd.name == "require" for ext in cmd.spec["pos"][0]}
    run = _Run(ctx, required, max_actions, max_redirects)
    run.run(commands)
    out = run.out
    if run.implicit_keep:
        # RFC 5232 section 3: the implicit keep takes the current flags.
        run.file("INBOX", list(run.flags), False)
    return out
