"""What every command shares: the context (state, settings, app) and output."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from appliance import settings
from appliance.app import App
from appliance.errors import ApplianceError
from appliance.services import Services

DEFAULT_STATE = "/var/lib/appliance"
DEFAULT_CONFIG = "/etc/appliance/appliance.toml"
#: Who the audit log says made a change through the CLI.
ACTOR = "cli"

class Context:
    """What a command handler gets: parsed arguments, settings, and the app."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self._settings: settings.Settings | None = None
        self._app: App | None = None

    @property
    def state_dir(self) -> Path:
        return Path(self.args.state or os.environ.get("APPLIANCE_STATE") or DEFAULT_STATE)

    def become_state_owner(self) -> None:
        """Run as the owner of the state directory when started as root.

        Files the CLI creates (a new business's file, say) must belong to the
        user the daemon runs as, or the daemon could not write them.
        """
        if os.geteuid() != 0 or not self.state_dir.exists():
            return
        st = self.state_dir.stat()
        if st.st_uid == 0:
            return
        os.setgid(st.st_gid)
        os.setgroups([st.st_gid])
        os.setuid(st.st_uid)

    @property
    def settings(self) -> settings.Settings:
        if self._settings is None:
            path = self.args.config or os.environ.get("APPLIANCE_CONFIG")
            if path is None and Path(DEFAULT_CONFIG).exists():
                path = DEFAULT_CONFIG
            self._settings = settings.load(path)
        return self._settings

    @property
    def app(self) -> App:
        if self._app is None:
            self._app = App(self.settings, self.state_dir)
        return self._app

    @property
    def core(self) -> Services:
        """The services (``appliance.services``) a command calls."""
        return self.app.core

    @property
    def actor(self) -> str:
        return ACTOR

    def close(self) -> None:
        if self._app is not None:
            self._app.close()

    def emit(self, data: Any, plain: Callable[[Any], str] | None = None) -> None:
        """Print ``data`` as JSON with ``--json``, else as ``plain(data)``.

        ``data`` may be a service's result: dataclasses (and lists of them)
        are turned into dicts first (their ``as_dict()`` when they have one).
        """
        data = plain_data(data)
        if getattr(self.args, "json", False):
            print(json.dumps(data, indent=2, sort_keys=True))
        elif plain is not None:
            text = plain(data)
            if text:
                print(text)


def plain_data(value: Any) -> Any:
    """Service results as JSON-ready values: dataclasses become dicts."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, list):
        return [plain_data(v) for v in value]
    return value


def table(rows: list[dict], columns: Sequence[str]) -> str:
    """Rows as aligned columns for people (scripts use --json)."""
    if not rows:
        return "(none)"
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def read_password_stdin() -> str:
    """One line from stdin, without its line end."""
    line = sys.stdin.readline(4096)
    if not line:
        raise ApplianceError("no password on standard input")
    return line.rstrip("\r\n")
