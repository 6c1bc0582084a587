"""Each theme in headless Chromium at phone and desktop widths: every page
loads from a real HTTP server with no console error, shows its content, does
not scroll sideways, and paints a real picture."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from sitegen import build, render

from . import sample
from .browser import CHROMIUM, Browser, StaticServer

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

VIEWPORTS = {"phone": (390, 844, True), "desktop": (1366, 900, False)}
#: (URL path, the <h1> it must show)
PAGES = (("/", "Müller's Bakery"), ("/prices/", "Prices"), ("/contact/", "Visit us"), ("/404.html", "Page not found"))


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sites")
    for theme in render.themes():
        for path, body in build.build(sample.sources(theme), base_url="https://bakery.example", year=2026).items():
            target = root / theme / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
    return root


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.mark.parametrize("width_name", sorted(VIEWPORTS))
@pytest.mark.parametrize("theme", sorted(render.themes()))
def test_theme_renders_cleanly_in_chromium(sites, browser, shots, theme, width_name):
    """Every page: loads without console errors or broken images, shows its title,
    fits the viewport's width, and its screenshot is not blank."""
    width, height, mobile = VIEWPORTS[width_name]
    browser.viewport(width, height, mobile=mobile)
    with StaticServer(sites / theme) as server:
        for path, heading in PAGES:
            visit = browser.visit(server.base + path)
            assert visit.errors == [], (path, visit.errors)
            assert visit.broken_images == [], path
            assert visit.h1 == heading
            assert visit.inner_width == width
            assert visit.scroll_width <= visit.inner_width, f"{path} overflows sideways at {width}px"
            shot = shots / f"{theme}-{width_name}-{path.strip('/').replace('/', '-') or 'home'}.png"
            shot.write_bytes(visit.screenshot)
            picture = Image.open(io.BytesIO(visit.screenshot)).convert("RGB")
            assert picture.size == (width, height)
            # A blank or single-colour page has (almost) no variance.
            assert max(ImageStat.Stat(picture).stddev) > 20, f"{shot.name} looks blank"


def test_the_harness_sees_console_errors_broken_images_and_overflow(tmp_path, browser):
    """A page that logs an error, shows a missing image and is too wide is reported as such
    (so the checks above can fail)."""
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        "<title>x</title></head><body><h1>Bad</h1><img src=\"/missing.png\" alt=\"gone\">"
        '<div style="width:2000px">wide</div><script>console.error("boom")</script></body></html>'
    )
    browser.viewport(390, 844, mobile=True)
    with StaticServer(tmp_path) as server:
        visit = browser.visit(server.base + "/")
    assert any("boom" in e for e in visit.errors)
    assert any("404" in e or "missing.png" in e for e in visit.errors)
    assert visit.broken_images == [f"{server.base}/missing.png"]
    assert visit.scroll_width > visit.inner_width
