"""Checks of the values pages and profiles hold, shared by every block:
one-line text within a length, a web address, a picture's name, and the
``key: value`` lines of a block whose lines are named. Each refusal is an
:class:`InvalidInput` that says what to write."""

from __future__ import annotations

import urllib.parse

from storage.errors import InvalidInput

from . import images

#: Longest title (of a page, a block, a post) and line (alt text, caption...).
MAX_TITLE = 120
MAX_LINE = 300


def plain(value: str, what: str, limit: int, *, required: bool = False) -> str:
    """``value`` on one line (whitespace folded), at most ``limit`` characters."""
    value = " ".join(value.split())
    if required and not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > limit:
        raise InvalidInput(f"{what} is {len(value)} characters; at most {limit}")
    return value


def https_url(value: str, what: str) -> str:
    """An absolute ``https://`` (or ``http://``) link with a host, as typed."""
    value = value.strip()
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname or len(value) > 500 or any(
        c.isspace() or ord(c) < 32 for c in value
    ):
        raise InvalidInput(f"{what} must be a web address starting with https://")
    return value


def image_name(value: str, where: str) -> str:
    """A stored picture's name (``sitegen.images.name``), refused with ``where`` first."""
    try:
        return images.name(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None


def named_fields(body: list[str], line: int, where: str, keys: tuple[str, ...]) -> dict[str, str]:
    """The ``key: value`` lines of a block whose lines are named."""
    values: dict[str, str] = {}
    for offset, text in enumerate(body, start=1):
        if not text.strip():
            continue
        key, sep, value = text.partition(":")
        key = key.strip().lower()
        if not sep or key not in keys:
            expected = ", ".join(f"'{k}:'" for k in keys[:-1]) + f" or '{keys[-1]}:'"
            raise InvalidInput(f"{where}: line {line + offset}: expected {expected}")
        values[key] = value.strip()
    return values
