"""The panel's languages: gettext catalogs read with Babel, and the choice
of language for a request.

The catalogs are the ``.po`` files in ``translations/<lang>/LC_MESSAGES/``
(the source, committed); they are compiled in memory when this module is
loaded (``babel.messages.pofile`` then ``mofile``), so there is no build
step and no compiled file to keep in step with its source. English is the
source language: its catalog maps each message to itself, and a message
missing from a catalog shows in English.

The language of a request is the user's own choice when they made one
(stored with the user, or in a cookie while signed out), else the first of
the browser's ``Accept-Language`` that we have, else English.
"""

from __future__ import annotations

import gettext
import io
from pathlib import Path

from babel.core import Locale, UnknownLocaleError, negotiate_locale
from babel.messages import mofile, pofile

#: The languages the panel speaks, the default first.
LANGUAGES = ("en", "fr")
DEFAULT = LANGUAGES[0]
#: Each language's name in itself, for the language switch.
NAMES = {"en": "English", "fr": "Français"}
TRANSLATIONS_DIR = Path(__file__).with_name("translations")
#: Longest Accept-Language header looked at, and most entries read from it.
MAX_ACCEPT = 512
MAX_ENTRIES = 16


def catalog_path(language: str) -> Path:
    return TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"


def load(language: str) -> gettext.GNUTranslations:
    """The compiled catalog of ``language`` (from its ``.po`` file)."""
    with open(catalog_path(language), "rb") as fh:
        catalog = pofile.read_po(fh, locale=language)
    buf = io.BytesIO()
    mofile.write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


CATALOGS: dict[str, gettext.GNUTranslations] = {lang: load(lang) for lang in LANGUAGES}


def accepted(header: str) -> list[str]:
    """The language tags of an ``Accept-Language`` header, best first
    (RFC 9110 section 12.5.4); entries with q=0 are left out."""
    entries = []
    for i, part in enumerate(header[:MAX_ACCEPT].split(",")[:MAX_ENTRIES]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            entries.append((-q, i, tag.strip()))
    return [tag for _, _, tag in sorted(entries)]


def negotiate(chosen: str | None, accept_language: str) -> str:
    """The language to answer in: ``chosen`` when we have it, else the
    browser's preference, else :data:`DEFAULT`."""
    if chosen in LANGUAGES:
        return chosen
    preferred = []
    for tag in accepted(accept_language):
        try:
            preferred.append(str(Locale.parse(tag, sep="-")) if tag != "*" else DEFAULT)
        except (ValueError, UnknownLocaleError):
            continue
    for tag in preferred:
        # fr_CA, fr_BE... are French; negotiate_locale also matches on the language alone.
        found = negotiate_locale([tag, tag.split("_")[0]], LANGUAGES)
        if found:
            return found
    return DEFAULT
