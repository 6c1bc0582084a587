"""Built drafts kept between the files one page asks for
(``appliance.services.draftcache``), on real business files: built once
per draft, built again after any edit, never shared between businesses,
bounded in entries and bytes."""

from __future__ import annotations

import pytest

from appliance import settings
from appliance.app import App
from appliance.services.draftcache import DraftCache


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({}), tmp_path / "state")
    yield a
    a.close()


def _site(app, slug: str, text: str) -> None:
    core = app.core
    core.businesses.create(slug, slug.capitalize(), f"{slug}.example", actor="cli")
    core.site_builder.start(slug, "clean", actor="cli")
    core.site_builder.put_block(slug, "home", 1, "text", {"markdown": text}, actor="cli")


def test_the_files_of_one_draft_are_built_once(app):
    """Three previews of the same draft, and two of it in another theme,
    run two builds; each theme's answer is its own."""
    _site(app, "shop", "Fresh bread.")
    builder = app.core.site_builder
    before = builder.drafts.builds
    own = [builder.preview("shop") for _ in range(3)]
    bold = [builder.preview("shop", "bold") for _ in range(2)]
    assert builder.drafts.builds - before == 2
    assert own[0] is own[2] and bold[0] is bold[1]
    assert own[0]["style.css"] != bold[0]["style.css"]


def test_every_kind_of_draft_edit_builds_again(app):
    """A block edited, the theme, the profile, a page added and the menu
    each change the draft's stamp: the next preview is built again and
    shows the change."""
    _site(app, "shop", "Fresh bread.")
    builder = app.core.site_builder
    assert b"Fresh bread." in builder.preview("shop")["index.html"]
    builder.put_block("shop", "home", 1, "text", {"markdown": "Warm croissants."}, actor="cli")
    assert b"Warm croissants." in builder.preview("shop")["index.html"]
    edits = (
        lambda: builder.set_theme("shop", "bold", actor="cli"),
        lambda: builder.change_profile("shop", {"phone": "+33 1 23 45 67 89"}, actor="cli"),
        lambda: builder.add_page("shop", "prices", "Prices", actor="cli"),
        lambda: builder.set_menu("shop", ["home"], actor="cli"),
    )
    for edit in edits:
        builder.preview("shop")
        builds = builder.drafts.builds
        builder.preview("shop")
        assert builder.drafts.builds == builds
        edit()
        builder.preview("shop")
        assert builder.drafts.builds == builds + 1
    assert "prices/index.html" in builder.preview("shop")


def test_another_business_never_gets_the_first_ones_draft(app):
    """Two businesses with the same theme and page names but other words
    each see their own home page, however the previews interleave."""
    _site(app, "north", "Northern bakery.")
    _site(app, "south", "Southern bakery.")
    builder = app.core.site_builder
    for _ in range(2):
        north, south = builder.preview("north")["index.html"], builder.preview("south")["index.html"]
        assert b"Northern bakery." in north and b"Southern" not in north
        assert b"Southern bakery." in south and b"Northern" not in south


def test_the_cache_is_bounded_in_entries_and_bytes():
    """The least recently used build goes first when there are too many or
    they weigh too much; a build over the byte bound is given, not kept."""
    cache = DraftCache(max_entries=2, max_bytes=100)
    made = []

    def build(key, size=10):
        made.append(key)
        return {"index.html": b"x" * size}

    cache.get("a", lambda: build("a"))
    cache.get("b", lambda: build("b"))
    cache.get("a", lambda: build("a"))
    cache.get("c", lambda: build("c"))  # b is the least recently used
    cache.get("a", lambda: build("a"))
    cache.get("b", lambda: build("b"))
    assert made == ["a", "b", "c", "b"]
    cache.get("big", lambda: build("big", 200))
    cache.get("big", lambda: build("big", 200))
    assert made[-2:] == ["big", "big"]
    cache.get("d", lambda: build("d", 60))
    cache.get("e", lambda: build("e", 60))  # together over 100 bytes: d goes
    cache.get("e", lambda: build("e", 60))
    cache.get("d", lambda: build("d", 60))
    assert made[-3:] == ["d", "e", "d"]
