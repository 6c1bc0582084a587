"""Colour parsing, WCAG contrast, and the palettes themes are drawn with."""

from __future__ import annotations

import pytest

from appliance.errors import InvalidInput
from sitegen import palette, render


def test_contrast_matches_the_wcag_reference_values():
    """Black on white is 21:1, a colour on itself 1:1, and #767676 on white just passes AA."""
    assert palette.contrast("#000000", "#ffffff") == pytest.approx(21)
    assert palette.contrast("#1a5fb4", "#1a5fb4") == pytest.approx(1)
    assert palette.contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


def test_colours_are_normalised_and_bad_ones_refused():
    """#RGB and #RRGGBB (with or without #) become lower-case #rrggbb; anything else is InvalidInput."""
    assert palette.parse("#ABC") == "#aabbcc"
    assert palette.parse("1A5FB4") == "#1a5fb4"
    for bad in ("red", "#12345", "#ggg000", "rgb(0,0,0)", ""):
        with pytest.raises(InvalidInput, match="invalid colour"):
            palette.parse(bad)


def test_light_brand_colour_is_darkened_for_links_on_a_light_page():
    """A pale yellow brand colour is kept for bands but links get a darker shade reaching 4.5:1."""
    link = palette.readable("#ffe066", "#ffffff")
    assert link != "#ffe066"
    assert palette.contrast(link, "#ffffff") >= palette.AA_TEXT


@pytest.mark.parametrize("theme_name", sorted(render.themes()))
@pytest.mark.parametrize("brand", ["", "#ffffff", "#000000", "#808080", "#ffff00", "#0000ff", "#ff0000", "#777777"])
def test_every_text_pair_of_every_theme_reaches_aa_whatever_colours_the_owner_picks(theme_name, brand):
    """With any brand and accent colour, every text/background pair of the palette is at least 4.5:1."""
    theme = render.theme(theme_name)
    chosen = brand or theme.colour
    colours = palette.palette(theme.background, theme.text, theme.surface, chosen, brand or theme.accent)
    for what, fg, bg in colours.pairs():
        assert palette.contrast(fg, bg) >= palette.AA_TEXT, (theme_name, what, fg, bg)


def test_a_theme_whose_own_text_is_unreadable_is_refused():
    """A palette whose base text colour is below 4.5:1 on its background is an error, not a page."""
    with pytest.raises(InvalidInput, match="below"):
        palette.palette("#ffffff", "#aaaaaa", "#ffffff", "#1a5fb4", "#1a5fb4")
