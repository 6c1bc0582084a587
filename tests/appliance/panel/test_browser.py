"""The panel in headless Chromium, as a person uses it: real HTTPS against
the daemon (the box's self-signed certificate accepted), the box host name
resolved to 127.0.0.1, controls found by their labels."""

from __future__ import annotations

import time

import pytest

from tests.browser import AXE, CHROMIUM, Browser

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
    pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)"),
]

PHONE = (390, 844)


@pytest.fixture(scope="module")
def browser(env, tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-panel"), args=(
        "--ignore-certificate-errors",
        "--host-resolver-rules=MAP box.appliance.test 127.0.0.1, MAP acme.example 127.0.0.1",
        "--accept-lang=en",
    ))
    yield chromium
    chromium.close()


def _clean(visit, heading: str, browser=None) -> None:
    """The page shows ``heading``, logged no console error (CSP violations
    included), does not scroll sideways and, given the ``browser``, has no
    WCAG 2.1 AA violation axe-core can find. The one error a 404 page logs
    is its own status."""
    assert visit.h1 == heading, (visit.url, visit.h1)
    errors = [e for e in visit.errors if not (heading in ("Page not found", "Page introuvable")
                                              and e.endswith(f"status of 404 (Not Found) {visit.url}"))]
    assert errors == [], (visit.url, visit.errors)
    assert visit.scroll_width <= visit.inner_width, f"{visit.url} overflows sideways"
    if browser is not None:
        assert browser.accessibility() == [], visit.url


def test_an_owner_adds_a_colleague_who_then_uses_mail_and_the_panel(env, browser):
    """At phone width, ann goes to her business's /admin, lands on the sign-in
    page, signs in, adds Kim Keller; the panel shows Kim's first password
    once; Kim logs in with it over IMAP and SMTP submission, then signs in to
    the panel in the same browser and sees no owner's pages."""
    browser.viewport(*PHONE, mobile=True)
    browser.clear_cookies()
    https = env.daemon.port("https")
    _clean(browser.visit(f"https://acme.example:{https}/admin"), "Sign in")
    browser.key("Tab")
    assert browser.evaluate("document.activeElement.textContent.trim()") == "Skip to the content"
    browser.fill("E-mail address", "ann@acme.example")
    browser.fill("Password", "a long secret")
    _clean(browser.press("Sign in"), "Overview")
    _clean(browser.press("People"), "People")
    _clean(browser.press("Add a person"), "Add a person")
    browser.fill("Full name", "Kim Keller")
    browser.fill("Address (before the @)", "kim")
    browser.fill("Domain", "@acme.example")
    _clean(browser.press("Add this person"), "kim@acme.example is added", browser)
    password = browser.evaluate("document.getElementById('new-password').textContent.trim()")
    assert len(password) >= 16
    assert env.imap_login("kim@acme.example", password)
    assert env.smtp_login("kim@acme.example", password)
    _clean(browser.press("Back to the people"), "People")
    assert "kim@acme.example" in browser.evaluate("document.querySelector('table').textContent")
    _clean(browser.press("Sign out"), "Sign in")
    browser.fill("E-mail address", "kim@acme.example")
    browser.fill("Password", password)
    _clean(browser.press("Sign in"), "Overview")
    menu = browser.evaluate("[...document.querySelectorAll('nav a')].map(a => a.textContent.trim())")
    assert menu == ["Overview", "Mail", "Contacts", "Pipeline", "My day", "Agenda", "Tasks", "Your devices", "Calendar feeds", "Password", "Sessions", "Security", "Mail rules"]
    _clean(browser.press("Sign out"), "Sign in")


@pytest.mark.parametrize("width", [PHONE, (1366, 900)], ids=["phone", "desktop"])
def test_every_page_is_clean_in_english_and_french(env, browser, width):
    """ann visits each page, switches to French with the language form, and
    visits each again: every page in both languages has its heading, no
    console error and no sideways scrolling."""
    browser.viewport(*width, mobile=width == PHONE)
    browser.clear_cookies()
    base = f"https://box.appliance.test:{env.daemon.port('https')}"
    headings = {
        "en": {"/home": "Overview", "/password": "Change your password", "/sessions": "Your sessions",
               "/people": "People", "/people/add": "Add a person", "/people/bob@acme.example": "bob@acme.example",
               "/agenda/week/2026-W50": "Agenda: week of Monday 7 December", "/mail/dmarc": "DMARC reports",
               "/no/such/page": "Page not found"},
        "fr": {"/home": "Vue d’ensemble", "/password": "Changer votre mot de passe", "/sessions": "Vos sessions",
               "/people": "Personnes", "/people/add": "Ajouter une personne",
               "/people/bob@acme.example": "bob@acme.example", "/agenda/week/2026-W50": "Agenda : semaine du lundi 7 décembre",
               "/mail/dmarc": "Rapports DMARC", "/no/such/page": "Page introuvable"},
    }
    _clean(browser.visit(base + "/"), "Sign in", browser)
    browser.fill("E-mail address", "ann@acme.example")
    browser.fill("Password", "a long secret")
    _clean(browser.press("Sign in"), "Overview")
    for path, heading in headings["en"].items():
        _clean(browser.visit(base + path), heading, browser)
    browser.visit(base + "/home")
    browser.fill("Language", "Français")
    _clean(browser.press("Change language"), "Vue d’ensemble")
    for path, heading in headings["fr"].items():
        _clean(browser.visit(base + path), heading, browser)
    # The choice stays with ann, not only with this browser.
    browser.fill("Langue", "English")
    _clean(browser.press("Changer de langue"), "Overview")
    _clean(browser.press("Sign out"), "Sign in")


def test_the_accessibility_check_can_fail(browser):
    """axe-core reports an unlabelled field and text too pale to read (so the
    checks above can fail)."""
    browser.visit("data:text/html,<!DOCTYPE html><html lang=en><title>x</title><main><h1>x</h1>"
                  "<input id=q><p style='color:%23ccc;background:%23fff'>faint</p></main></html>")
    found = browser.accessibility()
    assert any(v.startswith("label:") for v in found), found
    assert any(v.startswith("color-contrast:") for v in found), found


def test_an_owner_attaches_a_domain_reads_what_to_set_and_checks_it(env, browser):
    """At phone width, ann opens Domains, attaches shop-phone.example and
    lands on its page: our name servers and the records to copy, long DKIM
    key wrapped on screen. "Check now" lists every line missing; once the
    registrar delegates the domain, the same button says everything is in
    place. Its DNS records page shows the generated records; the French
    pages are as clean."""
    browser.viewport(*PHONE, mobile=True)
    browser.clear_cookies()
    base = f"https://box.appliance.test:{env.daemon.port('https')}"
    _clean(browser.visit(base + "/"), "Sign in")
    browser.fill("E-mail address", "ann@acme.example")
    browser.fill("Password", "a long secret")
    _clean(browser.press("Sign in"), "Overview")
    _clean(browser.press("Domains"), "Domains", browser)
    _clean(browser.press("Attach a domain"), "Attach a domain", browser)
    browser.fill("Your domain", "Shop-Phone.example")
    _clean(browser.press("Attach this domain"), "shop-phone.example", browser)
    text = browser.evaluate("document.querySelector('main').textContent")
    assert "ns1.appliance.test" in text and "._domainkey.shop-phone.example." in text
    checked = browser.press("Check now")
    _clean(checked, "shop-phone.example", browser)
    statuses = browser.evaluate("[...document.querySelectorAll('.check .status')].map(s => s.textContent.trim())")
    assert statuses and set(statuses) == {"Missing"}, statuses
    env.public_dns.delegate("shop-phone.example")
    time.sleep(2.2)  # the test config's check_cache_seconds, and a little
    _clean(browser.press("Check now"), "shop-phone.example")
    statuses = browser.evaluate("[...document.querySelectorAll('.check .status')].map(s => s.textContent.trim())")
    assert statuses and set(statuses) == {"OK"}, statuses
    _clean(browser.press("DNS records of shop-phone.example"), "DNS records of shop-phone.example", browser)
    browser.fill("Name", "www")
    browser.fill("Type", "TXT")
    browser.fill("Value", "v=verify " + "x" * 200)
    _clean(browser.press("Add this record"), "DNS records of shop-phone.example", browser)
    assert "www.shop-phone.example. 3600 IN TXT v=verify" in browser.evaluate("document.querySelector('main').textContent")
    browser.fill("Language", "Français")
    _clean(browser.press("Change language"), "Enregistrements DNS de shop-phone.example", browser)
    _clean(browser.visit(base + "/domains/shop-phone.example"), "shop-phone.example", browser)
    _clean(browser.visit(base + "/domains"), "Domaines", browser)
    _clean(browser.visit(base + "/domains/add"), "Rattacher un domaine", browser)
    browser.fill("Langue", "English")
    _clean(browser.press("Changer de langue"), "Attach a domain")
    _clean(browser.press("Sign out"), "Sign in")
