"""Sign-up in headless Chromium at phone width, as a visitor does it:
controls found by their labels, the question read from the page, every
page checked for console errors, sideways scrolling and WCAG 2.1 AA."""

from __future__ import annotations

import re

import pytest

from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import PHONE, _clean

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
    pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)"),
]


@pytest.fixture(scope="module")
def browser(env, tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-signup"), args=(
        "--ignore-certificate-errors",
        "--host-resolver-rules=MAP box.appliance.test 127.0.0.1",
        "--accept-lang=en",
    ))
    yield chromium
    chromium.close()


def test_a_visitor_signs_up_from_the_sign_in_page_and_then_reads_mail(env, browser):
    """At phone width a visitor follows the sign-in page's sign-up link,
    fills the form, answers the question it shows, accepts the terms and
    lands, signed in, on their panel's overview; IMAP then accepts the
    address and password they chose, and the business is in the
    operator's list."""
    browser.viewport(*PHONE, mobile=True)
    browser.clear_cookies()
    base = f"https://box.appliance.test:{env.daemon.port('https')}"
    _clean(browser.visit(base + "/"), "Sign in")
    _clean(browser.press("New here? Sign up your business"), "Sign up your business", browser)
    browser.fill("Business name", "Flora's Flowers")
    browser.fill("Short name of your business", "flora")
    browser.fill("Your name in your address", "flora")
    browser.fill("Your password", PASSWORD)
    browser.fill("Your password again", PASSWORD)
    question = browser.evaluate("[...document.querySelectorAll('label')].map(l => l.textContent.trim())"
                                ".find(t => t.startsWith('What is'))")
    a, b = re.fullmatch(r"What is (\d+) plus (\d+)\?", question).groups()
    browser.fill(question, str(int(a) + int(b)))
    browser.check("I accept the terms of service")
    _clean(browser.press("Sign up"), "Overview", browser)
    assert env.imap_login("flora@flora.appliance.test", PASSWORD)
    business = [b for b in env.cli.json("tenant", "list") if b["slug"] == "flora"]
    assert business and business[0]["name"] == "Flora's Flowers"
