"""The panel's own script (static/panel.js) in a real browser, on the
website editor: the Markdown toolbar of a text block, the progress of a
picture upload, blocks dragged into a new order; and the same pages with
JavaScript turned off, where the plain forms do the same work."""

from __future__ import annotations

import pytest

from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import _clean
from .test_website_images import photo

needs_browser = pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")

BOX = "box.appliance.test"


def _owner(env, slug: str) -> str:
    """A new business ``slug`` with a site and its owner's address."""
    owner = f"owner@{slug}.example"
    env.cli("tenant", "add", slug, "--name", slug.capitalize(), "--domain", f"{slug}.example")
    env.cli("user", "add", owner, "--password-stdin", input=PASSWORD + "\n")
    env.cli("site", "init", slug, "--theme", "clean")
    return owner


def _browser(tmp_path, env, address: str, javascript: bool = True) -> tuple[Browser, str]:
    """A desktop browser (running the pages' scripts or, as when a person
    turned JavaScript off, not) signed in as ``address``, and the panel's
    address."""
    browser = Browser(tmp_path / "chromium", args=(
        "--ignore-certificate-errors", "--accept-lang=en", f"--host-resolver-rules=MAP {BOX} 127.0.0.1",
        *(() if javascript else ("--blink-settings=scriptEnabled=false",))))
    panel = f"https://{BOX}:{env.daemon.port('https')}"
    try:
        browser.visit(panel + "/")
        browser.fill("E-mail address", address)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
    except BaseException:
        browser.close()
        raise
    return browser, panel


def _click(browser: Browser, text: str) -> None:
    """Press the button ``text`` from the keyboard: focus it, then Enter."""
    found = browser.evaluate(f"(() => {{ const b = [...document.querySelectorAll('button')]"
                             f".find(b => b.textContent.trim() === {text!r}); if (!b) return false;"
                             " b.focus(); return true; })()")
    assert found, f"no button {text!r}"
    browser.key("Enter")


def _blocks(browser: Browser) -> list[str]:
    return browser.evaluate("[...document.querySelectorAll('.site-blocks > li > p strong')].map(s => s.textContent)")


@needs_browser
def test_the_toolbar_makes_bold_text_the_preview_shows_strong(env, tmp_path):
    """An owner writes a text block, chooses two words and presses Bold text
    (from the keyboard), then Bulleted list on the last line: the text gets
    the Markdown marks, and the preview of the site shows the words in
    <strong> and the line as a list item. The form's page has a labelled
    toolbar, no console error and no accessibility violation."""
    owner = _owner(env, "jsflorist")
    browser, panel = _browser(tmp_path, env, owner)
    try:
        _clean(browser.visit(panel + "/website/pages/home/add/text"), "Add a block: Text", browser)
        assert browser.evaluate("[...document.querySelectorAll('.md-toolbar button')].map(b => b.textContent)") == [
            "Bold text", "Italic text", "Link", "Bulleted list", "Numbered list", "Heading"]
        assert browser.evaluate("document.querySelector('.md-toolbar').getAttribute('aria-label')") == "Formatting"
        browser.fill("Text", "Fresh flowers every morning\nRoses from the valley")
        browser.evaluate("document.querySelector('textarea').setSelectionRange(0, 13)")
        _click(browser, "Bold text")
        text = browser.evaluate("document.querySelector('textarea').value")
        assert text == "**Fresh flowers** every morning\nRoses from the valley"
        end = len(text)
        browser.evaluate(f"document.querySelector('textarea').setSelectionRange({end - 5}, {end})")
        _click(browser, "Bulleted list")
        assert browser.evaluate("document.querySelector('textarea').value") == (
            "**Fresh flowers** every morning\n\n- Roses from the valley")
        _clean(browser.press("Save the block"), "Home", browser)
        _clean(browser.press("Back to your website"), "Your website")
        _clean(browser.press("Preview the site as it would be published now"), "Jsflorist")
        assert "Fresh flowers" in browser.evaluate("[...document.querySelectorAll('main strong')].map(s => s.textContent)")
        assert "Roses from the valley" in browser.evaluate("[...document.querySelectorAll('main li')].map(s => s.textContent)")
    finally:
        browser.close()


@needs_browser
def test_two_pictures_go_up_with_a_progress_bar_and_land_in_the_library(env, tmp_path):
    """An owner chooses two photos and adds them: a progress bar with its
    percentage (in a live region) shows while they go up, then the page the
    server returns replaces the form - both in the library, no console
    error, no accessibility violation. Sent again without descriptions, the
    returned page shows the error beside the field as a plain submit does."""
    owner = _owner(env, "jsframer")
    for name in ("IMG_3001.jpg", "IMG_3002.jpg"):
        (tmp_path / name).write_bytes(photo(1200, 900, noise=True))
    browser, panel = _browser(tmp_path, env, owner)
    try:
        _clean(browser.visit(panel + "/website/images"), "Pictures of your website", browser)
        browser.choose_files("Pictures", [tmp_path / "IMG_3001.jpg", tmp_path / "IMG_3002.jpg"])
        browser.fill("What each picture shows", "A gilded frame\nAn oak frame")
        # Every value the bar takes is noted (the window outlives the page
        # the script writes in it).
        shown = browser.then_load(
            "(() => { window.seen = []; const form = document.querySelector('form[data-upload-progress]');"
            " new MutationObserver(() => { const p = form.querySelector('.upload-progress');"
            "  if (p) window.seen.push([p.getAttribute('aria-live'), p.querySelector('progress').value,"
            "   p.textContent.trim()]); }).observe(form, {subtree: true, childList: true, characterData: true});"
            " [...form.querySelectorAll('button')].find(b => b.textContent.trim() === 'Add the pictures').click();"
            " })()")
        _clean(shown, "Pictures of your website", browser)
        assert browser.evaluate("document.querySelector('[role=status]').textContent") == (
            "Added to your library: img_3001.jpg, img_3002.jpg.")
        seen = browser.evaluate("window.seen")
        assert seen and seen[0][0] == "polite" and seen[-1][2].endswith("%"), seen
        assert [e["name"] for e in env.cli.json("site", "image", "list", "jsframer")] == ["img_3001.jpg", "img_3002.jpg"]

        browser.choose_files("Pictures", [tmp_path / "IMG_3001.jpg"])
        refused = browser.then_load(
            "[...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Add the pictures').click()")
        # The one error logged is the status of the page returned, as with a plain submit.
        assert refused.h1 == "Pictures of your website" and refused.errors == [
            f"log: Failed to load resource: the server responded with a status of 400 (Bad Request) {panel}/website/images"]
        assert browser.accessibility() == []
        assert browser.evaluate("document.getElementById('alts-error').textContent.trim()") == (
            "Describe each picture, one line for each.")
    finally:
        browser.close()


@needs_browser
def test_a_dragged_block_moves_through_the_up_and_down_forms(env, tmp_path):
    """On a page of three blocks, an owner drags the third onto the first:
    the page comes back with it first (the drag posted the blocks' own Up
    forms), and the stored page has the new order; dragged down again, it
    goes back to the end. No console error, no accessibility violation."""
    owner = _owner(env, "jsbaker")
    client = env.signed_in(owner)
    for kind, fields in (("heading", {"title": "Bread", "lead": ""}), ("text", {"markdown": "Baked at dawn."}),
                         ("services", {"items": "Baguette | 1 EUR"})):
        assert client.post(f"/website/pages/home/add/{kind}", fields).status_code == 303
    browser, panel = _browser(tmp_path, env, owner)
    drag = ("(() => { const items = document.querySelectorAll('.site-blocks > li'); const data = new DataTransfer();"
            " const fire = (el, type) => el.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,"
            " dataTransfer: data})); fire(items[%d], 'dragstart'); fire(items[%d], 'dragover');"
            " fire(items[%d], 'drop'); fire(items[%d], 'dragend'); })()")
    try:
        _clean(browser.visit(panel + "/website/pages/home"), "Home", browser)
        before = _blocks(browser)
        assert before[-3:] == ["Heading", "Text", "Services"]
        last, first = len(before) - 1, len(before) - 3
        _clean(browser.then_load(drag % (last, first, first, last)), "Home", browser)
        assert _blocks(browser)[-3:] == ["Services", "Heading", "Text"]
        assert env.cli("site", "page", "show", "jsbaker", "home").stdout.endswith(
            "::: services\n- Baguette | 1 EUR\n:::\n\n::: heading\nBread\n:::\n\n::: text\nBaked at dawn.\n:::\n")
        _clean(browser.then_load(drag % (first, last, last, first)), "Home", browser)
        assert _blocks(browser)[-3:] == ["Heading", "Text", "Services"]
    finally:
        browser.close()


@needs_browser
def test_without_javascript_the_same_pages_work_with_plain_forms(env, tmp_path):
    """With JavaScript turned off: the text block has no toolbar and saves
    the Markdown typed; two pictures go up with the plain form and both land
    in the library; a block moves up with its Up button. (axe-core, a
    script, cannot run on these pages; the tests above check them.)"""
    owner = _owner(env, "jsnoscript")
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(photo(800, 600))
    browser, panel = _browser(tmp_path, env, owner, javascript=False)
    try:
        _clean(browser.visit(panel + "/website/pages/home/add/text"), "Add a block: Text")
        assert browser.evaluate("document.querySelectorAll('.md-toolbar').length") == 0
        browser.fill("Text", "**Open** on Sundays")
        _clean(browser.press("Save the block"), "Home")
        _clean(browser.visit(panel + "/website/images"), "Pictures of your website")
        browser.choose_files("Pictures", [tmp_path / "a.jpg", tmp_path / "b.jpg"])
        browser.fill("What each picture shows", "A\nB")
        _clean(browser.press("Add the pictures"), "Pictures of your website")
        assert browser.evaluate("document.querySelectorAll('.upload-progress').length") == 0
        assert [e["name"] for e in env.cli.json("site", "image", "list", "jsnoscript")] == ["a.jpg", "b.jpg"]
        _clean(browser.visit(panel + "/website/pages/home"), "Home")
        before = _blocks(browser)
        _clean(browser.press(f"Up block {len(before)}"), "Home")
        assert _blocks(browser) == before[:-2] + [before[-1], before[-2]]
    finally:
        browser.close()


def test_the_toolbar_labels_and_the_script_come_with_the_page(env):
    """The text block's form carries the toolbar's labels in the page's
    language (French here, from the browser), the picture upload form its
    progress label, and every page loads the script, which is served as
    JavaScript from the panel itself."""
    owner = _owner(env, "jslabels")
    client = env.signed_in(owner, language="fr")
    page = client.get("/website/pages/home/add/text").text
    for attribute in ('data-markdown="Mise en forme"', 'data-md-bold="Gras"', 'data-md-italic="Italique"',
                      'data-md-link="Lien"', 'data-md-bullets="Liste à puces"',
                      'data-md-numbers="Liste numérotée"', 'data-md-heading="Titre de section"'):
        assert attribute in page
    assert '<script src="/static/panel.js" defer></script>' in page
    assert 'data-upload-progress="Images envoyées"' in client.get("/website/images").text
    script = client.get("/static/panel.js")
    assert script.status_code == 200 and script.headers["content-type"] == "text/javascript; charset=utf-8"
