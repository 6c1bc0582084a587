"""The owner's pages in headless Chromium at phone width, as an owner uses
them: controls found by their labels, every page checked for console
errors, sideways scrolling and WCAG 2.1 AA (axe-core)."""

from __future__ import annotations

import json

import pytest

from tests.browser import AXE, CHROMIUM, Browser

from .test_browser import PHONE, _clean

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
    pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)"),
]


@pytest.fixture(scope="module")
def browser(env, tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-owner"), args=(
        "--ignore-certificate-errors",
        "--host-resolver-rules=MAP box.appliance.test 127.0.0.1",
        "--accept-lang=en",
    ))
    yield chromium
    chromium.close()


def _choose(browser, label: str) -> None:
    """Tick the radio button whose label reads ``label``."""
    done = browser.evaluate(
        "(() => { const l = [...document.querySelectorAll('label')]"
        f".find(l => l.textContent.trim() === {json.dumps(label)});"
        " if (!l || !l.control) return 'none'; l.control.click(); return l.control.checked ? 'ok' : 'unchecked'; })()"
    )
    assert done == "ok", label


def test_an_owner_adds_addresses_and_invites_a_colleague_who_chooses_a_password(env, browser):
    """At phone width ann adds hello@ for herself and a shared contact@ for
    her and bob, sees both listed, looks at her plan and the audit log, and
    invites Lea Lind; signed out, the invitation link lets Lea choose her
    password, with which she logs in over IMAP. ann then reads the same
    pages in French."""
    browser.viewport(*PHONE, mobile=True)
    browser.clear_cookies()
    base = f"https://box.appliance.test:{env.daemon.port('https')}"
    _clean(browser.visit(base + "/"), "Sign in")
    browser.fill("E-mail address", "ann@acme.example")
    browser.fill("Password", "a long secret")
    _clean(browser.press("Sign in"), "Overview")
    _clean(browser.press("Addresses"), "Addresses", browser)
    _clean(browser.press("Add an address"), "Add an address", browser)
    browser.fill("Address (before the @)", "owner-hello")
    browser.fill("Domain", "@acme.example")
    browser.fill("Deliver to", "ann@acme.example")
    _clean(browser.press("Add this address"), "Addresses", browser)
    _clean(browser.press("Add an address"), "Add an address")
    browser.fill("Address (before the @)", "owner-contact")
    browser.fill("Domain", "@acme.example")
    browser.fill("Deliver to", "ann@acme.example, bob@acme.example")
    _clean(browser.press("Add this address"), "Addresses", browser)
    shared = browser.evaluate("document.getElementById('shared').parentElement.textContent")
    assert "owner-contact@acme.example" in shared and "ann@acme.example, bob@acme.example" in shared
    assert "owner-hello@acme.example" in browser.evaluate("document.getElementById('aliases').parentElement.textContent")
    _clean(browser.press("Plan"), "Plan", browser)
    _clean(browser.press("Audit log"), "Audit log", browser)
    assert "Made owner-contact@acme.example deliver to ann@acme.example, bob@acme.example" in browser.evaluate(
        "document.querySelector('main').textContent")
    _clean(browser.press("People"), "People")
    _clean(browser.press("Add a person"), "Add a person", browser)
    browser.fill("Full name", "Lea Lind")
    browser.fill("Address (before the @)", "owner-lea")
    browser.fill("Domain", "@acme.example")
    _choose(browser, "They choose it through a link that I send them")
    _clean(browser.press("Add this person"), "owner-lea@acme.example is invited", browser)
    link = browser.evaluate("document.getElementById('invitation-link').textContent.trim()")
    _clean(browser.press("Back to the people"), "People")
    _clean(browser.visit(base + "/people/owner-lea@acme.example"), "Lea Lind", browser)
    _clean(browser.press("Sign out"), "Sign in")
    _clean(browser.visit(link.replace("https://127.0.0.1:", "https://box.appliance.test:")), "Choose your password", browser)
    browser.fill("Your password", "lea's chosen secret")
    browser.fill("Your password again", "lea's chosen secret")
    _clean(browser.press("Save my password"), "Your password is saved", browser)
    assert env.imap_login("owner-lea@acme.example", "lea's chosen secret")
    _clean(browser.press("Sign in"), "Sign in")
    used = browser.visit(link.replace("https://127.0.0.1:", "https://box.appliance.test:"))
    # The one console line of a used link is its own status, as for a 404.
    assert used.h1 == "This link cannot be used" and used.errors == [
        f"log: Failed to load resource: the server responded with a status of 410 (Gone) {used.url}"]
    assert used.scroll_width <= used.inner_width and browser.accessibility() == []
    _clean(browser.visit(base + "/"), "Sign in")
    browser.fill("E-mail address", "ann@acme.example")
    browser.fill("Password", "a long secret")
    _clean(browser.press("Sign in"), "Overview")
    browser.fill("Language", "Français")
    _clean(browser.press("Change language"), "Vue d’ensemble")
    french = {"/addresses": "Adresses", "/addresses/add": "Ajouter une adresse", "/plan": "Offre",
              "/audit": "Journal d’audit", "/people/owner-lea@acme.example": "Lea Lind"}
    for path, heading in french.items():
        _clean(browser.visit(base + path), heading, browser)
    browser.fill("Langue", "English")
    _clean(browser.press("Changer de langue"), "Lea Lind")
    _clean(browser.press("Sign out"), "Sign in")
