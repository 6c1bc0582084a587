"""The image library in a real browser: an owner's whole flow, from
photos on a phone to the published site serving them to phones."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import PHONE, _clean
from .test_devices import _curl
from .test_website_images import GPS, photo


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_an_owner_puts_two_phone_photos_on_the_site(env, tmp_path):
    """At phone width, fay, owner of a new greengrocer with no site, starts the
    site, opens Pictures, chooses two photos straight from her phone (with
    their GPS position) in the file picker, describes them and adds them;
    on the home page she adds a picture block and a gallery block that
    choose from the library, previews and publishes. Every panel page is
    clean (no console error, no sideways scrolling, no accessibility
    violation). greengrocer.example then serves the pictures with srcset, the
    phone variant chosen by the phone, width, height and the alt text, and
    the files served carry no EXIF."""
    env.cli("tenant", "add", "greengrocer", "--name", "Greengrocer", "--domain", "greengrocer.example")
    env.cli("user", "add", "fay@greengrocer.example", "--password-stdin", input=PASSWORD + "\n")
    shots = tmp_path / "phone"
    shots.mkdir()
    (shots / "IMG_2001.jpg").write_bytes(photo(4032, 3024))
    (shots / "IMG_2002.jpg").write_bytes(photo(3024, 4032))
    https = env.daemon.port("https")
    browser = Browser(tmp_path / "chromium", args=(
        "--ignore-certificate-errors", "--accept-lang=en",
        "--host-resolver-rules=MAP box.appliance.test 127.0.0.1, MAP greengrocer.example 127.0.0.1"))
    try:
        browser.viewport(*PHONE, mobile=True)
        browser.visit(f"https://box.appliance.test:{https}/")
        browser.fill("E-mail address", "fay@greengrocer.example")
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.press("Website"), "Your website")
        browser.fill("Theme", "Clean")
        _clean(browser.press("Start my website"), "Your website")
        _clean(browser.press("Pictures"), "Pictures of your website", browser)
        browser.choose_files("Pictures", [shots / "IMG_2001.jpg", shots / "IMG_2002.jpg"])
        browser.fill("What each picture shows", "Red roses in the shop window\nA bride's bouquet of peonies")
        _clean(browser.press("Add the pictures"), "Pictures of your website", browser)
        status = browser.evaluate("document.querySelector('[role=status]').textContent")
        assert status == "Added to your library: img_2001.jpg, img_2002.jpg."
        assert browser.evaluate("[...document.querySelectorAll('.site-images img')].every(i => i.naturalWidth > 0)")

        _clean(browser.press("Back to your website"), "Your website")
        _clean(browser.press("Home"), "Home")
        _clean(browser.press("Picture"), "Add a block: Picture", browser)
        browser.fill("Picture", "img_2001.jpg")
        browser.fill("Caption", "Our window this week")
        _clean(browser.press("Save the block"), "Home")
        _clean(browser.press("Gallery"), "Add a block: Gallery", browser)
        browser.check("img_2001.jpg: Red roses in the shop window")
        browser.check("img_2002.jpg: A bride's bouquet of peonies")
        _clean(browser.press("Save the block"), "Home", browser)

        _clean(browser.press("Back to your website"), "Your website")
        preview = browser.press("Preview the site as it would be published now")
        _clean(preview, "Greengrocer")
        assert preview.broken_images == []
        srcsets = browser.evaluate("[...document.querySelectorAll('main img')].map(i => i.getAttribute('srcset'))")
        assert len(srcsets) == 3 and all(s.startswith("/website/preview/images/phone/") for s in srcsets), srcsets
        _clean(browser.visit(f"https://box.appliance.test:{https}/website"), "Your website")
        _clean(browser.press("Publish"), "Your website", browser)
        assert browser.evaluate("document.querySelector('[role=status]').textContent").startswith("Published: version")

        site = f"https://greengrocer.example:{https}"
        home = browser.visit(site + "/", full_page=True)
        assert home.h1 == "Greengrocer" and home.errors == [] and home.scroll_width <= home.inner_width
        pictures = browser.evaluate(
            "[...document.querySelectorAll('main img')].map(i => ({alt: i.alt, srcset: i.getAttribute('srcset'),"
            " sizes: i.getAttribute('sizes'), width: i.getAttribute('width'), height: i.getAttribute('height'),"
            " current: i.currentSrc}))")
        assert [p["alt"] for p in pictures] == ["Red roses in the shop window", "Red roses in the shop window",
                                               "A bride's bouquet of peonies"]
        first = pictures[0]
        assert first["srcset"] == "/images/phone/img_2001.jpg 800w, /images/img_2001.jpg 1600w" and first["sizes"]
        assert (first["width"], first["height"]) == ("1600", "1200")
        assert first["current"] == site + "/images/phone/img_2001.jpg"  # the phone is given the small file
        assert browser.accessibility() == []
        for path in ("/images/img_2001.jpg", "/images/phone/img_2001.jpg", "/images/phone/img_2002.jpg"):
            status, headers, data = _curl(site + path, tmp_path)
            assert status == 200 and headers["content-type"] == "image/jpeg", path
            served = Image.open(io.BytesIO(data))
            assert len(served.getexif()) == 0 and not served.getexif().get_ifd(GPS), path
    finally:
        browser.close()
