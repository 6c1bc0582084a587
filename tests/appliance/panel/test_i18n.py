"""The panel's catalogs: every message the code and templates use is in the
French catalog with a translation, the placeholders agree, and the
language of a request is chosen as documented."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from appliance.panel import i18n

PANEL = Path(i18n.__file__).parent
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]


def _used() -> set[str]:
    found = extract_from_dir(str(PANEL), METHODS, keywords={"_": None},
                             options_map={"templates/**.html": {"extensions": "jinja2.ext.i18n"}})
    return {message for _, _, message, _, _ in found}


def _catalog(lang: str):
    with open(i18n.catalog_path(lang), "rb") as fh:
        return read_po(fh, locale=lang)


def test_every_message_has_a_french_translation():
    """Each message extracted from the panel's code and templates is in the
    French catalog, translated, not fuzzy, with the same placeholders."""
    used = _used()
    assert len(used) > 50
    french = _catalog("fr")
    missing = [m for m in used if m not in french or not french[m].string or french[m].fuzzy]
    assert missing == []
    for message in used:
        placeholders = sorted(re.findall(r"%\(\w+\)[sd]", message))
        assert sorted(re.findall(r"%\(\w+\)[sd]", french[message].string)) == placeholders, message


def test_the_catalogs_hold_no_message_the_panel_does_not_use():
    """No stale entries: the English and French catalogs list exactly the messages in use."""
    used = _used()
    for lang in i18n.LANGUAGES:
        assert {m.id for m in _catalog(lang) if m.id} == used, lang


def test_the_language_is_the_choice_then_the_browser_then_english():
    """A user's choice wins; then the first language of Accept-Language we
    have (regional variants included, q=0 left out); then English."""
    assert i18n.negotiate("fr", "en") == "fr"
    assert i18n.negotiate(None, "de-DE, fr-BE;q=0.8, en;q=0.5") == "fr"
    assert i18n.negotiate(None, "fr;q=0, en") == "en"
    assert i18n.negotiate("xx", "de") == "en"
    assert i18n.negotiate(None, "x" * 10_000) == "en"
