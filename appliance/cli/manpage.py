"""``appliance manpage``: the man page (roff, section 1) generated from the
command line's own parser, so it lists every command, subcommand and
argument of this version with its help text.

The generator is these hundred lines rather than a library: argparse-manpage
(PyPI) is built for setup.py build steps and adds a dependency for what is a
walk over the parser plus roff escaping, which :func:`roff` does (backslash,
hyphen, and a leading dot or apostrophe that would start a request).
images/install installs the page with each release.
"""

from __future__ import annotations

import argparse
import sys
from typing import Iterator

from .common import DEFAULT_CONFIG, DEFAULT_STATE

SEE_ALSO = ("systemctl(1)", "journalctl(1)", "systemd.service(5)")


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("manpage", help="print the man page (roff, section 1)")
    # It reads no state: it must not switch to the state's owner either.
    a.set_defaults(handler=_manpage, keeps_root=True)


def roff(text: str) -> str:
    """``text`` escaped for roff: backslashes, hyphens as ``\\-``, and each
    line starting with a dot or apostrophe guarded by ``\\&``."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in text.splitlines())


def render(parser: argparse.ArgumentParser, version: str) -> str:
    """The whole page for ``parser`` (the ``appliance`` parser)."""
    prog = parser.prog
    lines = [
        f'.TH {prog.upper()} 1 "" "{roff(prog)} {roff(version)}" "User Commands"',
        ".SH NAME",
        f"{roff(prog)} \\- {roff(_lower_first(parser.description or ''))}",
        ".SH SYNOPSIS",
        f".B {roff(prog)}",
        _synopsis(parser),
        ".SH DESCRIPTION",
        roff(
            f"{prog} is the operator's command line of the appliance: it runs the daemon and manages the box, "
            "its businesses, domains, users and addresses. Every listing takes --json for scripts. "
            "An error is one line on standard error and a non-zero exit status, and changes nothing."
        ),
        ".SH OPTIONS",
        *_arguments(parser),
        ".SH COMMANDS",
    ]
    for path, sub, help_text in _commands(parser, [prog]):
        lines += [f'.SS "{roff(" ".join(path))}"', f".B {roff(' '.join(path))}"]
        lines += [_synopsis(sub)] if _synopsis(sub) else []
        lines += [".PP", roff(help_text)] if help_text else []
        lines += _arguments(sub)
    lines += [
        ".SH FILES",
        f".TP\n.I {roff(DEFAULT_CONFIG)}",
        roff("The config file (TOML), read if present; --config or APPLIANCE_CONFIG names another. "
             "Without one the demo defaults apply."),
        f".TP\n.I {roff(DEFAULT_STATE)}",
        roff("The state directory: the box database and one file per business; --state or APPLIANCE_STATE names another."),
        ".SH ENVIRONMENT",
        ".TP\n.B APPLIANCE_CONFIG\n" + roff("The config file, when --config is not given."),
        ".TP\n.B APPLIANCE_STATE\n" + roff("The state directory, when --state is not given."),
        ".SH EXIT STATUS",
        roff("0 on success, 1 on an error, 78 (EX_CONFIG) on a config error, 2 on a usage error."),
        ".SH SEE ALSO",
        ",\n".join(f".BR {roff(name.split('(')[0])} ({name.split('(')[1]}" for name in SEE_ALSO),
    ]
    return "\n".join(lines) + "\n"


def _commands(parser: argparse.ArgumentParser, path: list[str]) -> Iterator[tuple[list[str], argparse.ArgumentParser, str]]:
    """(words, parser, help) for every command below ``parser``, depth first;
    a command with subcommands is listed before them."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
        for name, sub in action.choices.items():
            yield [*path, name], sub, helps.get(name, "")
            yield from _commands(sub, [*path, name])


def _synopsis(parser: argparse.ArgumentParser) -> str:
    parts = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        if isinstance(action, argparse._SubParsersAction):
            parts.append(f"\\fI{roff(_metavar(action))}\\fR ...")
        elif action.option_strings:
            flag = f"\\fB{roff(action.option_strings[-1])}\\fR"
            if action.nargs != 0:
                flag += f" \\fI{roff(_metavar(action))}\\fR"
            parts.append(flag if action.required else f"[{flag}]")
        else:
            word = f"\\fI{roff(_metavar(action))}\\fR"
            parts.append(f"[{word} ...]" if action.nargs in ("*", "?") else f"{word} ..." if action.nargs == "+" else word)
    return " ".join(parts)


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    lines = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            head = ", ".join(f"\\fB{roff(o)}\\fR" for o in action.option_strings)
            if action.nargs != 0:
                head += f" \\fI{roff(_metavar(action))}\\fR"
        else:
            head = f"\\fI{roff(_metavar(action))}\\fR"
        lines += [".TP", head]
        lines += [roff(_help(action, parser.prog))] if action.help else []
    return lines


def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.dest.upper() if action.option_strings else action.dest


def _help(action: argparse.Action, prog: str) -> str:
    text = action.help or ""
    if "%" in text:  # argparse's own expansion: %(default)s, %(prog)s
        params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
        text = text % dict(params, prog=prog)
    return text


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:].rstrip(".")


def _manpage(ctx) -> None:
    from . import _version, build_parser  # the whole parser, which imports this module

    sys.stdout.write(render(build_parser(), _version()))
