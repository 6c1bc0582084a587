"""Reading IMAP commands: arguments, sequence sets and mailbox names.

Twisted's argument parsers are replaced here because they are unbounded
(``parseIdList`` is quadratic, ``parseNestedParens`` recurses as deep as the
client nests) and do not understand escapes in quoted strings or LITERAL+.
Everything here is linear in the input and bounded:

* a command is a list of *parts*: line text and the literals between it
  (collected by the server, see ``server.ImapServer.lineReceived``);
* :func:`tokens` turns those parts into atoms (``str``), strings (``bytes``)
  and lists (``list``), at most :data:`MAX_DEPTH` deep and
  :data:`MAX_TOKENS` long;
* :class:`SequenceSet` keeps ranges, never expands them into every number.
"""

from __future__ import annotations

import bisect
import re
from typing import Iterable, Union

import twisted.mail.imap4  # noqa: F401 - registers the "imap4-utf-7" codec

MAX_DEPTH = 8
MAX_TOKENS = 10_000
MAX_RANGES = 5_000

Token = Union[str, bytes, list]
SYSTEM_FLAGS = frozenset({"\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft"})
_KEYWORD = re.compile(r"^[!#$&'+\-./0-9:;<=>?@A-Z^_`a-z|~]{1,100}$")


class Bad(Exception):
    """The command cannot be parsed: the tagged reply is ``BAD``."""


class Literal(bytes):
    """Literal octets inside a command (kept apart from the line text)."""


_ATOM_END = frozenset(b' ()"{\r\n')


def tokens(parts: Iterable[bytes]) -> list[Token]:
    """Tokenise a whole command (after tag and command name).

    An atom may carry a bracketed section with spaces and parentheses
    (``BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.512>``): text from ``[`` to the
    matching ``]`` stays part of the atom.
    """
    root: list[Token] = []
    stack = [root]
    count = 0
    for part in parts:
        if isinstance(part, Literal):
            stack[-1].append(bytes(part))
            count += 1
            continue
        i, n = 0, len(part)
        while i < n:
            c = part[i]
            if c == 0x20:
                i += 1
            elif c == 0x28:  # (
                if len(stack) > MAX_DEPTH:
                    raise Bad("lists nested too deeply")
                new: list[Token] = []
                stack[-1].append(new)
                stack.append(new)
                i += 1
            elif c == 0x29:  # )
                if len(stack) == 1:
                    raise Bad("unbalanced parenthesis")
                stack.pop()
                i += 1
            elif c == 0x22:  # "
                out = bytearray()
                i += 1
                while True:
                    if i >= n:
                        raise Bad("unterminated quoted string")
                    ch = part[i]
                    if ch == 0x5C and i + 1 < n:  # backslash escape
                        out.append(part[i + 1])
                        i += 2
                    elif ch == 0x22:
                        i += 1
                        break
                    else:
                        out.append(ch)
                        i += 1
                stack[-1].append(bytes(out))
            else:
                start = i
                depth = 0
                while i < n:
                    ch = part[i]
                    if ch == 0x5B:  # [
                        depth += 1
                    elif ch == 0x5D and depth:  # ]
                        depth -= 1
                    elif depth == 0 and ch in _ATOM_END:
                        break
                    i += 1
                if depth:
                    raise Bad("unbalanced bracket")
                atom = part[start:i]
                if not atom:
                    raise Bad(f"unexpected character {chr(c)!r}")
                stack[-1].append(atom.decode("ascii", "replace"))
            count += 1
            if count > MAX_TOKENS:
                raise Bad("too many arguments")
    if len(stack) != 1:
        raise Bad("unbalanced parenthesis")
    return root


def text(token: Token, what: str = "argument") -> bytes:
    """An astring argument as bytes."""
    if isinstance(token, list):
        raise Bad(f"{what} expected, got a list")
    return token.encode("ascii") if isinstance(token, str) else token


def atom(token: Token, what: str = "argument") -> str:
    if not isinstance(token, str):
        raise Bad(f"{what} expected")
    return token


def number(token: Token, what: str = "number") -> int:
    value = text(token, what)
    if not value.isdigit() or len(value) > 20:
        raise Bad(f"{what} expected")
    return int(value)


def mailbox_name(token: Token) -> str:
    """A mailbox name from the wire: modified UTF-7 (RFC 3501 5.1.3), or
    UTF-8 from clients that send it raw; NUL and line breaks refused."""
    raw = text(token, "mailbox name")
    if len(raw) > 1000:
        raise Bad("mailbox name too long")
    try:
        if any(b >= 0x80 for b in raw):
            name = raw.decode("utf-8")
        else:
            name = raw.decode("imap4-utf-7")
    except (UnicodeDecodeError, ValueError):
        raise Bad("invalid mailbox name encoding") from None
    if any(ord(c) < 0x20 for c in name):
        raise Bad("invalid character in mailbox name")
    return name


def encode_name(name: str) -> bytes:
    return name.encode("imap4-utf-7")


class SequenceSet:
    """A parsed sequence set: ranges with ``*`` as None, resolved against a
    mailbox's sorted UID list without ever listing every number."""

    _PART = re.compile(r"^(\d+|\*)(?::(\d+|\*))?$")

    def __init__(self, spec: str):
        if not spec or len(spec) > 100_000:
            raise Bad("invalid sequence set")
        self.ranges: list[tuple[int | None, int | None]] = []
        for item in spec.split(","):
            m = self._PART.match(item)
            if not m:
                raise Bad("invalid sequence set")
            lo = None if m.group(1) == "*" else int(m.group(1))
            hi = lo if m.group(2) is None else None if m.group(2) == "*" else int(m.group(2))
            if lo == 0 or hi == 0:
                raise Bad("invalid sequence set")
            self.ranges.append((lo, hi))
            if len(self.ranges) > MAX_RANGES:
                raise Bad("sequence set too long")
        self.spec = spec

    def spans(self, star: int) -> list[tuple[int, int]]:
        """Inclusive (low, high) of every range, ``*`` standing for ``star``."""
        return [self._bounds(lo, hi, star) for lo, hi in self.ranges]

    @staticmethod
    def _bounds(lo: int | None, hi: int | None, star: int) -> tuple[int, int]:
        a = star if lo is None else lo
        b = star if hi is None else hi
        return (a, b) if a <= b else (b, a)

    def sequence_numbers(self, uids: list[int]) -> list[int]:
        """Message sequence numbers (1-based) present in a mailbox of ``len(uids)`` messages.

        Raises :class:`Bad` when a number is beyond the last message.
        """
        count = len(uids)
        spans = []
        for lo, hi in self.ranges:
            a, b = self._bounds(lo, hi, count)
            if count == 0 or b > count:
                raise Bad("no such message")
            spans.append((a, b + 1))
        return _expand(spans)

    def uid_indexes(self, uids: list[int]) -> list[int]:
        """0-based positions in ``uids`` (sorted) of the UIDs in the set.

        ``*`` is the highest UID; ``n:*`` always includes the last message
        (RFC 3501 6.4.8), and UIDs that do not exist are skipped.
        """
        if not uids:
            return []
        star = uids[-1]
        spans = []
        for lo, hi in self.ranges:
            a, b = self._bounds(lo, hi, star)
            spans.append((bisect.bisect_left(uids, a), bisect.bisect_right(uids, b)))
        return _expand(spans)

    def contains_uid(self, uid: int, star: int) -> bool:
        for lo, hi in self.ranges:
            a, b = self._bounds(lo, hi, star)
            if a <= uid <= b:
                return True
        return False


def _expand(spans: list[tuple[int, int]]) -> list[int]:
    """Half-open spans merged and listed once each: linear in the result,
    however many overlapping ranges the client sent."""
    out: list[int] = []
    end = None
    for a, b in sorted(spans):
        if end is not None and a < end:
            a = end
        if a < b:
            out.extend(range(a, b))
            end = b
    return out


def flag_list(values: list) -> list[str]:
    """Flags to set: system flags but \\Recent, and keywords that are atoms."""
    out = []
    if len(values) > 100:
        raise Bad("too many flags")
    for value in values:
        flag = atom(value, "flag")
        if flag.startswith("\\"):
            if flag.lower() not in SYSTEM_FLAGS:
                raise Bad(f"{flag[:40]} cannot be set")
        elif not _KEYWORD.match(flag):
            raise Bad("invalid keyword")
        out.append(flag)
    return out


def compress(numbers: Iterable[int]) -> str:
    """``1,2,3,5`` as ``1:3,5`` (for COPYUID, MODIFIED and the like)."""
    out: list[str] = []
    start = prev = None
    for n in numbers:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append(str(start) if start == prev else f"{start}:{prev}")
            start = prev = n
    if start is not None:
        out.append(str(start) if start == prev else f"{start}:{prev}")
    return ",".join(out)
