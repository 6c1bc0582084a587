"""Colours: parsing, WCAG 2.x contrast, and the palette a site is drawn with.

Owners choose a brand colour and an accent colour; a theme says what its page
background and text colours are. Any text drawn in a chosen colour, or on a
chosen colour, must reach WCAG 2.2 AA contrast for normal text (4.5:1,
success criterion 1.4.3). Rather than refusing colours an owner likes, the
palette adjusts what is drawn with them: text on a brand-coloured band is
white or near-black, whichever contrasts more (one of the two always reaches
4.5:1), and links in the brand colour are darkened (on light pages) or
lightened (on dark pages) step by step until they reach the ratio.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storage.errors import InvalidInput

#: WCAG 2.2 SC 1.4.3 minimum contrast for normal-size text.
AA_TEXT = 4.5

_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")

WHITE = "#ffffff"
INK = "#111111"


def parse(value: str) -> str:
    """``#rgb`` or ``#rrggbb`` (the ``#`` optional) as lower-case ``#rrggbb``."""
    match = _HEX.match(value.strip())
    if not match:
        raise InvalidInput(f"invalid colour {value!r}: use #rrggbb, e.g. #1a5fb4")
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return "#" + digits


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in rgb)


def luminance(colour: str) -> float:
    """Relative luminance as WCAG 2.2 defines it (sRGB, 0 black .. 1 white)."""

    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """Contrast ratio of two colours, 1 .. 21."""
    la, lb = luminance(a), luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def text_on(background: str) -> str:
    """White or near-black text, whichever reads better on ``background``;
    pure black where neither reaches AA (mid greys: if white is below 4.5:1
    the background's luminance is over 0.18, so black gives at least 4.66:1)."""
    best = WHITE if contrast(WHITE, background) >= contrast(INK, background) else INK
    return best if contrast(best, background) >= AA_TEXT else "#000000"


def readable(colour: str, *backgrounds: str, ratio: float = AA_TEXT) -> str:
    """``colour``, mixed toward black or white until it reaches ``ratio`` on every one of ``backgrounds``.

    Mixing goes toward black on light backgrounds and toward white on dark
    ones (judged by the first background), in 5% steps, so the hue stays
    recognisable.
    """

    def ok(candidate: str) -> bool:
        return all(contrast(candidate, bg) >= ratio for bg in backgrounds)

    if ok(colour):
        return colour
    target = (0, 0, 0) if luminance(backgrounds[0]) > 0.18 else (255, 255, 255)
    r, g, b = _rgb(colour)
    for step in range(1, 21):
        t = step / 20
        mixed = _hex((r + (target[0] - r) * t, g + (target[1] - g) * t, b + (target[2] - b) * t))
        if ok(mixed):
            return mixed
    return _hex(target)


@dataclass(frozen=True)
class Palette:
    """Every colour a theme's stylesheet may use, each text pair at AA or better."""

    background: str
    text: str
    surface: str
    brand: str
    on_brand: str
    link: str
    accent: str
    on_accent: str
    accent_text: str

    def css(self) -> str:
        """CSS custom properties for ``:root``."""
        names = ("background", "text", "surface", "brand", "on_brand", "link", "accent", "on_accent", "accent_text")
        return ":root{" + ";".join(f"--{n.replace('_', '-')}:{getattr(self, n)}" for n in names) + "}"

    def pairs(self) -> list[tuple[str, str, str]]:
        """(what, foreground, background) of every text drawn in these colours."""
        return [
            ("text", self.text, self.background),
            ("text on panels", self.text, self.surface),
            ("text on brand", self.on_brand, self.brand),
            ("links", self.link, self.background),
            ("links on panels", self.link, self.surface),
            ("text on accent", self.on_accent, self.accent),
            ("accent text", self.accent_text, self.background),
            ("accent text on panels", self.accent_text, self.surface),
        ]


def palette(background: str, text: str, surface: str, brand: str, accent: str) -> Palette:
    """The palette for a theme's ``background``, ``text`` and ``surface`` (the
    colour of panels and cards) and an owner's ``brand`` and ``accent``."""
    for ground in (background, surface):
        if contrast(text, ground) < AA_TEXT:
            raise InvalidInput(f"theme text {text} on {ground} is below {AA_TEXT}:1")
    return Palette(
        background=background,
        text=text,
        surface=surface,
        brand=brand,
        on_brand=text_on(brand),
        link=readable(brand, background, surface),
        accent=accent,
        on_accent=text_on(accent),
        accent_text=readable(accent, background, surface),
    )
