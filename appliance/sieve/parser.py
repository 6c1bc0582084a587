"""A recursive-descent parser for the Sieve grammar (RFC 5228 section 8).

:func:`parse` turns a script's text into a list of :class:`Command`; a
script that does not parse raises :class:`SieveError` with the line and the
reason. The grammar is generic (commands, tests, arguments); which commands
exist and what arguments they take is checked by :mod:`.validate`.

Limits: the text's size is the caller's; nesting of blocks and tests is
bounded by ``max_depth``, and a string list by :data:`MAX_LIST`, so no
script can make the parser recurse or allocate without bound.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

#: Items in one string list or test list.
MAX_LIST = 1024
#: A number larger than this is refused (RFC 5228 section 2.4.1 asks for 2^31 at least).
MAX_NUMBER = 2**63 - 1


class SieveError(Exception):
    """A script that does not parse or validate; ``line`` is 1-based."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Tag:
    """A tagged argument such as ``:contains``; ``name`` is lower case, without the colon."""

    name: str


@dataclass(frozen=True)
class StringList:
    """One string or a bracketed list; ``single`` tells which was written."""

    items: tuple[str, ...]
    single: bool


Argument = Union[Tag, StringList, int]


@dataclass
class Test:
    name: str
    args: list[Argument]
    tests: list["Test"]
    line: int
    #: Filled by the validator: tags and positional arguments by meaning.
    spec: dict = field(default_factory=dict)


@dataclass
class Command:
    name: str
    args: list[Argument]
    tests: list[Test]
    block: list["Command"] | None
    line: int
    #: Filled by the validator: tags and positional arguments by meaning.
    spec: dict = field(default_factory=dict)


_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<hash>\#[^\n]*)
  | (?P<bracket>/\*.*?\*/)
  | (?P<multi>text:[ \t]*(?:\#[^\n]*)?\r?\n)
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<number>[0-9]+[KkMmGg]?)
  | (?P<tag>:[A-Za-z_][A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<special>[\[\](),;{}])
    """,
    re.VERBOSE | re.DOTALL,
)

_MULTIPLIERS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _tokens(text: str) -> list[tuple[str, object, int]]:
    out: list[tuple[str, object, int]] = []
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            if text.startswith("/*", pos):
                raise SieveError(line, "unterminated comment")
            if text.startswith('"', pos):
                raise SieveError(line, "unterminated string")
            raise SieveError(line, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup
        value: object = m.group()
        start_line = line
        if kind == "multi":
            # RFC 5228 section 2.4.2: up to a line holding only ".", with
            # dot-stuffing undone.
            end = re.compile(r"^\.\r?$", re.MULTILINE).search(text, m.end())
            if end is None:
                raise SieveError(line, "unterminated multi-line string")
            body = text[m.end() : end.start()]
            lines = [ln[1:] if ln.startswith("..") else ln for ln in body.split("\n")]
            value = "\n".join(lines)
            if value.endswith("\r"):
                value = value[:-1]
            value = value.replace("\r\n", "\n").replace("\n", "\r\n")
            consumed = text[pos : end.end()]
            line += consumed.count("\n")
            pos = end.end()
            out.append(("string", value, start_line))
            continue
        line += m.group().count("\n")
        pos = m.end()
        if kind in ("ws", "hash", "bracket"):
            continue
        if kind == "quoted":
            # Only \" and \\ mean something; any other escaped character
            # stands for itself (RFC 5228 section 2.4.2).
            value = re.sub(r"\\(.)", r"\1", m.group()[1:-1], flags=re.DOTALL)
            out.append(("string", value, start_line))
        elif kind == "number":
            raw = m.group()
            number = int(raw[:-1]) * _MULTIPLIERS[raw[-1].lower()] if raw[-1].isalpha() else int(raw)
            if number > MAX_NUMBER:
                raise SieveError(line, "number too large")
            out.append(("number", number, start_line))
        elif kind == "tag":
            out.append(("tag", m.group()[1:].lower(), start_line))
        elif kind == "ident":
            out.append(("ident", m.group().lower(), start_line))
        else:
            out.append((m.group(), m.group(), start_line))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, object, int]], max_depth: int):
        self.tokens = tokens
        self.pos = 0
        self.max_depth = max_depth

    def peek(self) -> tuple[str, object, int]:
        if self.pos < len(self.tokens):
            return self.tokens[self.pos]
        last = self.tokens[-1][2] if self.tokens else 1
        return ("eof", None, last)

    def take(self, kind: str) -> tuple[str, object, int]:
        tok = self.peek()
        if tok[0] != kind:
            raise SieveError(tok[2], f"expected {_show(kind)}, found {_show(tok[0], tok[1])}")
        self.pos += 1
        return tok

    def commands(self, depth: int) -> list[Command]:
        out = []
        while self.peek()[0] not in ("eof", "}"):
            out.append(self.command(depth))
        return out

    def command(self, depth: int) -> Command:
        _kind, name, line = self.take("ident")
        args, tests = self.arguments(0)
        kind = self.peek()[0]
        if kind == ";":
            self.pos += 1
            return Command(str(name), args, tests, None, line)
        if kind == "{":
            if depth + 1 > self.max_depth:
                raise SieveError(line, f"blocks nested deeper than {self.max_depth}")
            self.pos += 1
            block = self.commands(depth + 1)
            self.take("}")
            return Command(str(name), args, tests, block, line)
        tok = self.peek()
        raise SieveError(tok[2], f"expected ';' or a block after {name}, found {_show(tok[0], tok[1])}")

    def arguments(self, depth: int) -> tuple[list[Argument], list[Test]]:
        """Arguments, then a test or test list; ``depth`` is how deep in
        tests we are (blocks and tests are bounded separately)."""
        args: list[Argument] = []
        while True:
            kind, value, _line = self.peek()
            if kind == "tag":
                self.pos += 1
                args.append(Tag(str(value)))
            elif kind == "number":
                self.pos += 1
                args.append(int(value))  # type: ignore[arg-type]
            elif kind == "string":
                self.pos += 1
                args.append(StringList((str(value),), True))
            elif kind == "[":
                args.append(self.string_list())
            else:
                break
        tests: list[Test] = []
        kind, _value, line = self.peek()
        if kind == "ident":
            tests = [self.test(depth + 1)]
        elif kind == "(":
            tests = self.test_list(depth + 1)
        return args, tests

    def string_list(self) -> StringList:
        _k, _v, line = self.take("[")
        items = [str(self.take("string")[1])]
        while self.peek()[0] == ",":
            self.pos += 1
            items.append(str(self.take("string")[1]))
            if len(items) > MAX_LIST:
                raise SieveError(line, f"a string list may hold at most {MAX_LIST} strings")
        self.take("]")
        return StringList(tuple(items), False)

    def test(self, depth: int) -> Test:
        _kind, name, line = self.take("ident")
        if depth > self.max_depth:
            raise SieveError(line, f"tests nested deeper than {self.max_depth}")
        args, tests = self.arguments(depth)
        return Test(str(name), args, tests, line)

    def test_list(self, depth: int) -> list[Test]:
        _k, _v, line = self.take("(")
        tests = [self.test(depth)]
        while self.peek()[0] == ",":
            self.pos += 1
            tests.append(self.test(depth))
            if len(tests) > MAX_LIST:
                raise SieveError(line, f"a test list may hold at most {MAX_LIST} tests")
        self.take(")")
        return tests


def _show(kind: str, value: object = None) -> str:
    if kind == "eof":
        return "the end of the script"
    if kind in ("string", "number", "tag", "ident") and value is not None:
        return f"{kind} {value!r}" if kind != "tag" else f"tag :{value}"
    if kind in ("string", "number", "tag", "ident"):
        return {"ident": "an identifier"}.get(kind, f"a {kind}")
    return repr(kind)


def parse(text: str, max_depth: int = 16) -> list[Command]:
    """The commands of a script, or SieveError(line, reason)."""
    parser = _Parser(_tokens(text), max_depth)
    commands = parser.commands(0)
    tok = parser.peek()
    if tok[0] != "eof":
        raise SieveError(tok[2], f"unexpected {_show(tok[0], tok[1])}")
    return commands
