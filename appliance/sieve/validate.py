"""What each command and test accepts, checked once when a script is
stored (and again, cheaply, when a cached script is first used).

:func:`compile_script` parses and validates; the commands it returns carry
their arguments sorted by meaning in ``Command.spec`` / ``Test.spec``
(``{"tags": {...}, "pos": [...]}``), which the evaluator reads without
checking again. Every extension a command or test belongs to must have
been named in a ``require`` at the top of the script (RFC 5228 section
3.2); an unknown command, test, tag or extension is an error with its line.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass

from .parser import Command, SieveError, StringList, Tag, Test, parse

#: The extensions we implement, as CAPABILITY's "SIEVE" lists them.
EXTENSIONS = (
    "fileinto", "reject", "ereject", "envelope", "variables", "vacation",
    "imap4flags", "mailbox", "copy", "comparator-i;ascii-casemap", "comparator-i;octet",
)

# Argument kinds: "s" one string, "l" string list, "n" number, "f" a flag (no value).
MATCH = {"is": "f", "contains": "f", "matches": "f", "comparator": "s"}
ADDRESS_PART = {"all": "f", "localpart": "f", "domain": "f"}
MODIFIERS = {m: "f" for m in ("lower", "upper", "lowerfirst", "upperfirst", "quotewildcard", "length")}


@dataclass(frozen=True)
class Spec:
    """One command or test: its extension, tags, positional kinds (``?``
    marks optional leading ones), tests it takes and whether it has a block."""

    ext: str | None
    tags: dict
    pos: tuple[str, ...]
    tests: str = "none"  # "none", "one", "list"
    block: bool = False
    #: Which tag needs which extension, beyond the command's own.
    tag_ext: tuple[tuple[str, str], ...] = ()


COMMANDS = {
    "require": Spec(None, {}, ("l",)),
    "if": Spec(None, {}, (), "one", True),
    "elsif": Spec(None, {}, (), "one", True),
    "else": Spec(None, {}, (), "none", True),
    "stop": Spec(None, {}, ()),
    "keep": Spec(None, {"flags": "l"}, (), tag_ext=(("flags", "imap4flags"),)),
    "discard": Spec(None, {}, ()),
    "redirect": Spec(None, {"copy": "f"}, ("s",), tag_ext=(("copy", "copy"),)),
    "fileinto": Spec("fileinto", {"copy": "f", "create": "f", "flags": "l"}, ("s",),
                     tag_ext=(("copy", "copy"), ("create", "mailbox"), ("flags", "imap4flags"))),
    "reject": Spec("reject", {}, ("s",)),
    "ereject": Spec("ereject", {}, ("s",)),
    "set": Spec("variables", dict(MODIFIERS), ("s", "s")),
    "vacation": Spec("vacation", {"days": "n", "subject": "s", "from": "s", "addresses": "l", "mime": "f",
                                  "handle": "s"}, ("s",)),
    "setflag": Spec("imap4flags", {}, ("?s", "l")),
    "addflag": Spec("imap4flags", {}, ("?s", "l")),
    "removeflag": Spec("imap4flags", {}, ("?s", "l")),
}

TESTS = {
    "header": Spec(None, dict(MATCH), ("l", "l")),
    "address": Spec(None, {**MATCH, **ADDRESS_PART}, ("l", "l")),
    "envelope": Spec("envelope", {**MATCH, **ADDRESS_PART}, ("l", "l")),
    "exists": Spec(None, {}, ("l",)),
    "size": Spec(None, {"over": "f", "under": "f"}, ("n",)),
    "allof": Spec(None, {}, (), "list"),
    "anyof": Spec(None, {}, (), "list"),
    "not": Spec(None, {}, (), "one"),
    "true": Spec(None, {}, ()),
    "false": Spec(None, {}, ()),
    "string": Spec("variables", dict(MATCH), ("l", "l")),
    "hasflag": Spec("imap4flags", dict(MATCH), ("?l", "l")),
    "mailboxexists": Spec("mailbox", {}, ("l",)),
}

COMPARATORS = ("i;ascii-casemap", "i;octet")
_EXCLUSIVE = (
    ("is", "contains", "matches"), ("all", "localpart", "domain"), ("over", "under"),
    # RFC 5229 section 4.1: one modifier of each precedence.
    ("lower", "upper"), ("lowerfirst", "upperfirst"),
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def compile_script(text: str, max_depth: int = 16) -> list[Command]:
    """Parse and validate ``text``; SieveError(line, reason) if it is not a
    script we can run."""
    commands = parse(text, max_depth)
    required: set[str] = set()
    started = False
    for cmd in commands:
        if cmd.name == "require":
            if started:
                # RFC 5228 section 3.2: require only at the top.
                raise SieveError(cmd.line, "require must come before any other command")
            _check(cmd, COMMANDS["require"], required, "command")
            for ext in cmd.spec["pos"][0]:
                if ext not in EXTENSIONS:
                    raise SieveError(cmd.line, f"unsupported extension {ext!r}")
                required.add(ext)
        else:
            started = True
    _block(commands, required, top=True)
    return commands


def _block(commands: list[Command], required: set[str], top: bool = False) -> None:
    previous = ""
    for cmd in commands:
        if cmd.name == "require":
            if not top:
                raise SieveError(cmd.line, "require must come before any other command")
            previous = cmd.name
            continue
        spec = COMMANDS.get(cmd.name)
        if spec is None:
            raise SieveError(cmd.line, f"unknown command {cmd.name!r}")
        if cmd.name in ("elsif", "else") and previous not in ("if", "elsif"):
            raise SieveError(cmd.line, f"{cmd.name} without if")
        _check(cmd, spec, required, "command")
        if spec.block and cmd.block is None:
            raise SieveError(cmd.line, f"{cmd.name} needs a block")
        if not spec.block and cmd.block is not None:
            raise SieveError(cmd.line, f"{cmd.name} takes no block")
        if cmd.block is not None:
            _block(cmd.block, required)
        previous = cmd.name


def _check(node: Command | Test, spec: Spec, required: set[str], what: str) -> None:
    if spec.ext is not None and spec.ext not in required:
        raise SieveError(node.line, f'{node.name} needs require "{spec.ext}"')
    tags: dict[str, object] = {}
    positional: list[object] = []
    args = list(node.args)
    i = 0
    while i < len(args):
        arg = args[i]
        if isinstance(arg, Tag):
            if positional:
                # RFC 5228 section 2.6.2: tagged arguments come first.
                raise SieveError(node.line, f"tag :{arg.name} after positional arguments of {node.name}")
            kind = spec.tags.get(arg.name)
            if kind is None:
                raise SieveError(node.line, f"{node.name} does not take :{arg.name}")
            for tag, ext in spec.tag_ext:
                if tag == arg.name and ext not in required:
                    raise SieveError(node.line, f':{tag} needs require "{ext}"')
            if arg.name in tags:
                raise SieveError(node.line, f":{arg.name} given twice")
            if kind == "f":
                tags[arg.name] = True
            else:
                if i + 1 >= len(args) or isinstance(args[i + 1], Tag):
                    raise SieveError(node.line, f":{arg.name} needs a value")
                tags[arg.name] = _value(node, args[i + 1], kind, f":{arg.name}")
                i += 1
        else:
            positional.append(arg)
        i += 1
    for group in _EXCLUSIVE:
        if sum(1 for t in group if t in tags) > 1:
            raise SieveError(node.line, f"{node.name}: only one of " + ", ".join(":" + t for t in group))
    if "comparator" in tags and tags["comparator"] not in COMPARATORS:
        raise SieveError(node.line, f"unsupported comparator {tags['comparator']!r}")
    if node.name == "size" and not ("over" in tags or "under" in tags):
        raise SieveError(node.line, "size needs :over or :under")
    kinds = list(spec.pos)
    optional = [k for k in kinds if k.startswith("?")]
    if len(positional) == len(kinds) - len(optional):
        kinds = [k for k in kinds if not k.startswith("?")]
    kinds = [k.lstrip("?") for k in kinds]
    if len(positional) != len(kinds):
        raise SieveError(node.line, f"{node.name} takes {len(kinds)} positional arguments, got {len(positional)}")
    values = [_value(node, arg, kind, f"argument {n + 1}") for n, (arg, kind) in enumerate(zip(positional, kinds))]
    if spec.tests == "none" and node.tests:
        raise SieveError(node.line, f"{node.name} takes no test")
    if spec.tests == "one" and len(node.tests) != 1:
        raise SieveError(node.line, f"{node.name} needs one test")
    if spec.tests == "list" and (not node.tests or node.args):
        raise SieveError(node.line, f"{node.name} needs a list of tests in parentheses")
    node.spec = {"tags": tags, "pos": values}
    _check_values(node)
    for test in node.tests:
        tspec = TESTS.get(test.name)
        if tspec is None:
            raise SieveError(test.line, f"unknown test {test.name!r}")
        _check(test, tspec, required, "test")


def _value(node: Command | Test, arg: object, kind: str, where: str) -> object:
    if kind == "n":
        if not isinstance(arg, int):
            raise SieveError(node.line, f"{node.name} {where}: expected a number")
        return arg
    if not isinstance(arg, StringList):
        raise SieveError(node.line, f"{node.name} {where}: expected a string")
    if kind == "s":
        if not arg.single:
            raise SieveError(node.line, f"{node.name} {where}: expected one string, not a list")
        return arg.items[0]
    return arg.items



def _check_values(node: Command | Test) -> None:
    """What can be checked of the values before the script runs (strings
    holding variables are checked when they are expanded)."""
    pos = node.spec["pos"]
    if node.name == "set" and not _IDENTIFIER.match(pos[0]):
        # RFC 5229 section 4: the name is an identifier.
        raise SieveError(node.line, f"invalid variable name {pos[0]!r}")
    if node.name == "redirect" and "${" not in pos[0]:
        # RFC 5228 section 4.2: a syntax error, found at compile time.
        _name, address = email.utils.parseaddr(pos[0])
        if not address or "@" not in address:
            raise SieveError(node.line, f"redirect to an invalid address {pos[0]!r}")
    if node.name == "vacation" and "days" in node.spec["tags"] and node.spec["tags"]["days"] < 0:
        raise SieveError(node.line, "vacation :days must not be negative")
