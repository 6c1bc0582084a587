"""``appliance completion bash|zsh``: a shell completion script generated
from the command line's own parser, by shtab (PyPI), so that it names the
commands, subcommands and options this version has and never drifts.

Commands and options complete; option values complete as files where the
value is a file or directory (``--config FILE``, ``--state DIR``, and
every argument whose metavar says so) and as nothing otherwise: business slugs
and user addresses live in the state, which a completion must not open.
images/install installs the bash script with each release.
"""

from __future__ import annotations

import argparse
import sys

import shtab

SHELLS = ("bash", "zsh")
#: Metavars whose values are files (shtab's file completion offers
#: directories too, so DIR|ZIP is one) and those that are directories.
_FILE_METAVARS = {"FILE", "ZIP", "DIR|ZIP"}
_DIR_METAVARS = {"DIR", "SOURCE"}


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("completion", help="print a completion script for a shell (bash or zsh)")
    a.add_argument("shell", choices=SHELLS, help="the shell the script is for")
    # It reads no state: it must not switch to the state's owner either.
    a.set_defaults(handler=_completion, keeps_root=True)


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell`` of ``parser`` (marked by :func:`mark_paths`)."""
    mark_paths(parser)
    return shtab.complete(parser, shell=shell)


def mark_paths(parser: argparse.ArgumentParser) -> None:
    """Make options and arguments whose metavar names a file or directory
    complete as one, in ``parser`` and every subparser."""
    for action in parser._actions:
        metavar = action.metavar if isinstance(action.metavar, str) else ""
        if metavar in _FILE_METAVARS:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        elif metavar in _DIR_METAVARS:
            action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                mark_paths(child)


def _completion(ctx) -> None:
    from . import build_parser  # the whole parser, which imports this module

    sys.stdout.write(script(build_parser(), ctx.args.shell))
