"""Themes and the Jinja2 environment pages are rendered with.

A theme is a folder ``sitegen/themes/NAME/`` with ``theme.toml`` (title,
description, the page's ``background``, ``text`` and panel ``surface``
colours, and the default ``colour`` and ``accent``), ``page.html`` (which
extends the shared ``base.html``) and ``theme.css``. Templates a theme does
not have come from ``themes/_shared/``. Every environment autoescapes and
uses :class:`jinja2.StrictUndefined`, so a misspelt variable is an error at
build time, not an empty spot on a page.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jinja2

from storage.errors import InvalidInput

from . import palette

THEMES_DIR = Path(__file__).resolve().parent / "themes"
SHARED_DIR = THEMES_DIR / "_shared"

_THEME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


@dataclass(frozen=True)
class Theme:
    name: str
    title: str
    description: str
    background: str
    text: str
    surface: str
    colour: str
    accent: str
    path: Path

    def css(self) -> str:
        """The theme's stylesheet: the shared layout, then the theme's own rules."""
        return (SHARED_DIR / "base.css").read_text() + "\n" + (self.path / "theme.css").read_text()


def _load(path: Path) -> Theme:
    meta = tomllib.loads((path / "theme.toml").read_text())
    return Theme(
        name=path.name,
        title=str(meta["title"]),
        description=str(meta["description"]),
        background=palette.parse(meta["background"]),
        text=palette.parse(meta["text"]),
        surface=palette.parse(meta["surface"]),
        colour=palette.parse(meta["colour"]),
        accent=palette.parse(meta["accent"]),
        path=path,
    )


def themes() -> dict[str, Theme]:
    """Every installed theme by name."""
    found = {}
    for path in sorted(THEMES_DIR.iterdir()):
        if path.is_dir() and _THEME_RE.match(path.name) and (path / "theme.toml").is_file():
            found[path.name] = _load(path)
    return found


def theme(name: str) -> Theme:
    """The theme called ``name``, or :class:`InvalidInput` listing those there are."""
    available = themes()
    if name not in available:
        raise InvalidInput(f"unknown theme {name!r} (available: {', '.join(available)})")
    return available[name]


def environment(chosen: Theme) -> jinja2.Environment:
    """A Jinja2 environment over ``chosen``'s folder, then the shared templates."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(chosen.path), str(SHARED_DIR)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )
