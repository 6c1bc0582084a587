"""The website editor's theme picker, page removal with its undo, and a
ready-made site uploaded as a zip archive, in a real browser: each flow as
an owner goes through it, every panel page clean (heading, no console
error, no sideways scrolling, no accessibility violation axe-core finds);
the published site fetched by its own host name."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import PHONE, _clean
from .test_devices import _curl
from .test_website import _business, _pages

pytestmark = pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")


def _browser(tmp_path, domain: str) -> Browser:
    return Browser(tmp_path / "chromium", args=(
        "--ignore-certificate-errors", "--accept-lang=en",
        f"--host-resolver-rules=MAP box.appliance.test 127.0.0.1, MAP {domain} 127.0.0.1"))


def _sign_in(browser: Browser, https: int, address: str) -> None:
    browser.visit(f"https://box.appliance.test:{https}/")
    browser.fill("E-mail address", address)
    browser.fill("Password", PASSWORD)
    _clean(browser.press("Sign in"), "Overview")


def _status(browser: Browser) -> str:
    return browser.evaluate("(document.querySelector('[role=status]') || {textContent: ''}).textContent")


def test_the_theme_picker_shows_the_home_page_in_each_theme_and_picks_one(env, tmp_path):
    """tom, owner of a new tearoom, starts with Clean and writes his home
    page. The website page shows a titled frame for each of the three
    themes, each holding his own draft home page built in that theme (its
    heading, the theme's own stylesheet, different looks). He presses "Use
    the Bold theme": Bold is in use, its button gone, and his text is kept."""
    _business(env, "tearoom", "tom@tearoom.example")
    https = env.daemon.port("https")
    browser = _browser(tmp_path, "tearoom.example")
    try:
        browser.viewport(1280, 900, mobile=False)
        _sign_in(browser, https, "tom@tearoom.example")
        _clean(browser.press("Website"), "Your website")
        browser.fill("Theme", "Clean")
        _clean(browser.press("Start my website"), "Your website")
        _clean(browser.press("Home"), "Home")
        browser.fill("Content", "Twenty teas, brewed to order.")
        _clean(browser.press("Save the page"), "Home")
        _clean(browser.press("Back to your website"), "Your website", browser)
        frames = browser.evaluate(
            "[...document.querySelectorAll('.theme-thumbs iframe')].map(f => ({title: f.title,"
            " src: f.getAttribute('src'), h1: f.contentDocument.querySelector('h1').textContent.trim(),"
            " text: f.contentDocument.querySelector('main').innerText,"
            " css: f.contentDocument.querySelector('link[rel=stylesheet]').getAttribute('href'),"
            " background: getComputedStyle(f.contentDocument.body).backgroundColor,"
            " shown: f.getBoundingClientRect().width}))")
        assert [f["title"] for f in frames] == ["Your home page in the Bold theme", "Your home page in the Clean theme",
                                                "Your home page in the Warm theme"]
        for frame, name in zip(frames, ("bold", "clean", "warm")):
            assert frame["src"] == f"/website/themes/{name}/" and frame["h1"] == "Tearoom"
            assert "Twenty teas, brewed to order." in frame["text"]
            assert frame["css"].startswith(f"/website/themes/{name}/style.css")
            assert frame["shown"] == 256  # scaled down to a quarter
        assert len({f["background"] for f in frames}) == 3
        _clean(browser.press("Use the Bold theme"), "Your website", browser)
        assert _status(browser).startswith("The theme is changed.")
        assert browser.evaluate("[...document.querySelectorAll('.theme-thumbs button')].map(b => b.textContent.trim())") == [
            "Use the Clean theme", "Use the Warm theme"]
        assert env.cli("site", "page", "show", "tearoom", "home").stdout.endswith("Twenty teas, brewed to order.\n")
        _clean(browser.press("Publish"), "Your website")
        status, _, body = _curl(f"https://tearoom.example:{https}/", tmp_path)
        assert status == 200 and "Twenty teas, brewed to order." in body.decode()
    finally:
        browser.close()


def test_a_removed_page_is_restored_then_removed_for_good_by_publishing(env, tmp_path):
    """At phone width, rose removes her "Prices" page (after its
    confirmation), finds it under "Removed pages" and restores it; she
    removes it again and publishes: "Removed pages" is gone, so is the
    page from her draft, and rosebud.example answers 404 for it."""
    _business(env, "rosebud", "rose@rosebud.example")
    https = env.daemon.port("https")
    browser = _browser(tmp_path, "rosebud.example")
    try:
        browser.viewport(*PHONE, mobile=True)
        _sign_in(browser, https, "rose@rosebud.example")
        _clean(browser.press("Website"), "Your website")
        browser.fill("Theme", "Warm")
        _clean(browser.press("Start my website"), "Your website")
        _clean(browser.press("Add a page"), "Add a page")
        browser.fill("Title", "Prices")
        browser.fill("Address of the page", "prices")
        _clean(browser.press("Add this page"), "Prices")
        browser.fill("Content", "Roses: 3 EUR each.")
        _clean(browser.press("Save the page"), "Prices")
        _clean(browser.press("Back to your website"), "Your website")
        _clean(browser.press("Publish"), "Your website")
        assert _curl(f"https://rosebud.example:{https}/prices/", tmp_path)[0] == 200

        _clean(browser.press("Remove Prices"), "Remove the page Prices?", browser)
        _clean(browser.press("Remove this page"), "Your website", browser)
        assert browser.evaluate("[...document.querySelectorAll('.site-removed li p')].map(p => p.textContent.trim())") == [
            "Prices /prices/"]
        _clean(browser.press("Restore Prices"), "Your website", browser)
        assert _status(browser) == "The page prices is back in your draft."
        assert browser.evaluate("document.querySelector('.site-removed')") is None
        assert "prices" in dict(_pages(env, "rosebud"))
        assert "Roses: 3 EUR each." in env.cli("site", "page", "show", "rosebud", "prices").stdout

        _clean(browser.press("Remove Prices"), "Remove the page Prices?")
        _clean(browser.press("Remove this page"), "Your website")
        _clean(browser.press("Publish"), "Your website", browser)
        assert browser.evaluate("document.querySelector('.site-removed')") is None
        assert not browser.evaluate("[...document.querySelectorAll('button')].some(b => b.textContent.includes('Restore'))")
        assert "prices" not in dict(_pages(env, "rosebud"))
        assert _curl(f"https://rosebud.example:{https}/prices/", tmp_path)[0] == 404
    finally:
        browser.close()


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


SITE_HTML = (b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Zip Shop</title>'
             b'<link rel="stylesheet" href="/style.css"><link rel="icon" href="data:,"></head><body><main><h1>Made elsewhere</h1>'
             b'<p>Our own site, uploaded in one zip.</p></main></body></html>')


def test_an_owner_uploads_a_ready_made_site_and_switches_back_to_the_builder(env, tmp_path):
    """zoe's business has the tiny plan (1 MB of web space). From Website
    she opens "Upload a ready-made site": a broken zip is refused with the
    reason beside the field, a zip of 2 MB is refused as not fitting the
    plan's space, and neither stores anything. Her own small zip is
    published at once and zipshop.example serves it. She then starts the
    builder with a theme and publishes it: the site is the builder's again."""
    env.cli("tenant", "add", "zipshop", "--name", "Zip Shop", "--domain", "zipshop.example", "--plan", "tiny")
    env.cli("user", "add", "zoe@zipshop.example", "--password-stdin", input=PASSWORD + "\n")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not really an archive")
    (tmp_path / "big.zip").write_bytes(_zip({"index.html": SITE_HTML, "video.bin": os.urandom(2 * 1024 * 1024)}))
    (tmp_path / "site.zip").write_bytes(_zip({"index.html": SITE_HTML, "style.css": b"h1 { color: #123456; }\n"}))
    https = env.daemon.port("https")
    browser = _browser(tmp_path, "zipshop.example")
    try:
        browser.viewport(*PHONE, mobile=True)
        _sign_in(browser, https, "zoe@zipshop.example")
        _clean(browser.press("Website"), "Your website")
        _clean(browser.press("Upload a ready-made site"), "Upload a ready-made site", browser)
        assert browser.evaluate("document.querySelector('form[enctype=\"multipart/form-data\"]').hasAttribute('data-upload-progress')")
        for archive, reason in (("broken.zip", "broken.zip is not a zip archive of a website we can publish. Nothing is stored."),
                                ("big.zip", "The site in this archive does not fit in the 1.0\u00a0MB of web space in your plan,"
                                            " or has too many files. Nothing is stored.")):
            browser.choose_files("Zip archive", [tmp_path / archive])
            refused = browser.press("Upload and publish")
            # The page is answered 400 (the one console line: that status).
            assert refused.h1 == "Upload a ready-made site" and refused.scroll_width <= refused.inner_width
            assert [e for e in refused.errors if "status of 400" not in e] == [] and browser.accessibility() == []
            errors = browser.evaluate("[...document.querySelectorAll('#site-error li')].map(l => l.textContent.trim())")
            assert errors[0] == reason, errors
            assert browser.evaluate("document.getElementById('site').getAttribute('aria-invalid')") == "true"
            assert env.cli.json("site", "show", "zipshop")["version"] == 0
        browser.choose_files("Zip archive", [tmp_path / "site.zip"])
        _clean(browser.press("Upload and publish"), "Upload a ready-made site", browser)
        assert _status(browser) == "Published: version 1 is on your site now."
        status, _, body = _curl(f"https://zipshop.example:{https}/", tmp_path)
        assert status == 200 and body == SITE_HTML
        live = browser.visit(f"https://zipshop.example:{https}/")
        assert live.h1 == "Made elsewhere" and live.errors == []
        assert browser.evaluate("getComputedStyle(document.querySelector('h1')).color") == "rgb(18, 52, 86)"

        browser.visit(f"https://box.appliance.test:{https}/website/upload")
        _clean(browser.press("Start with a theme"), "Your website")
        browser.fill("Theme", "Clean")
        _clean(browser.press("Start my website"), "Your website")
        _clean(browser.press("Publish"), "Your website")
        status, _, body = _curl(f"https://zipshop.example:{https}/", tmp_path)
        assert status == 200 and "Made elsewhere" not in body.decode() and "Zip Shop" in body.decode()
    finally:
        browser.close()


def test_an_archive_over_the_panels_limit_is_refused_with_the_reason_beside_the_field(env, tmp_path):
    """max chooses a zip of 101 MB, over the 100 MB the upload form
    accepts. The upload page comes back (413), the reason beside the field
    where the other refusals are, without a console error besides that
    status, sideways scrolling or an axe violation, and nothing is stored."""
    _business(env, "hugezip", "max@hugezip.example")
    huge = tmp_path / "huge.zip"
    with huge.open("wb") as fh:
        fh.truncate(101 * 1024 * 1024)
    https = env.daemon.port("https")
    browser = _browser(tmp_path, "hugezip.example")
    try:
        _sign_in(browser, https, "max@hugezip.example")
        browser.visit(f"https://box.appliance.test:{https}/website/upload")
        browser.choose_files("Zip archive", [huge])
        refused = browser.press("Upload and publish")
        assert refused.h1 == "Upload a ready-made site" and refused.scroll_width <= refused.inner_width
        assert [e for e in refused.errors if "status of 413" not in e] == [] and browser.accessibility() == []
        errors = browser.evaluate("[...document.querySelectorAll('#site-error li')].map(l => l.textContent.trim())")
        assert errors == ["The file is larger than the 100\u00a0MB the panel accepts. Nothing is stored."], errors
        assert browser.evaluate("document.getElementById('site').getAttribute('aria-invalid')") == "true"
        assert env.cli.json("site", "show", "hugezip")["version"] == 0
    finally:
        browser.close()
