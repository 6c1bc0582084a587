"""Two-step sign-in and app passwords in headless Chromium, as a person
uses them: real HTTPS against the daemon, controls found by their labels,
each page checked like the other panel pages (heading, no console error,
no sideways scrolling at phone width, no accessibility violation)."""

from __future__ import annotations

import time

import pyotp
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
    chromium = Browser(tmp_path_factory.mktemp("chromium-security"), args=(
        "--ignore-certificate-errors",
        "--host-resolver-rules=MAP box.appliance.test 127.0.0.1",
        "--accept-lang=en",
    ))
    yield chromium
    chromium.close()


def _sign_in(browser, address: str) -> None:
    browser.fill("E-mail address", address)
    browser.fill("Password", PASSWORD)


def test_a_user_turns_on_two_step_sign_in_then_signs_in_with_a_code_or_a_recovery_code(env, browser):
    """At phone width, sec-kay turns on two-step sign-in by scanning the QR
    code (here: reading the key shown beside it, as a phone would read the
    code), keeps her recovery codes, signs out, and signs in again with her
    password and a code. Later a recovery code signs her in once, and only
    once. She makes an app password for her phone, which IMAP takes until
    she revokes it."""
    address = "sec-kay@acme.example"
    env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    browser.viewport(*PHONE, mobile=True)
    browser.clear_cookies()
    base = f"https://box.appliance.test:{env.daemon.port('https')}"
    _clean(browser.visit(base + "/"), "Sign in")
    _sign_in(browser, address)
    _clean(browser.press("Sign in"), "Overview")
    _clean(browser.press("Security"), "Two-step sign-in", browser)
    _clean(browser.press("Turn on two-step sign-in"), "Turn on two-step sign-in", browser)
    assert browser.evaluate("document.querySelector('.qr svg title').textContent") == \
        "QR code for your authenticator app"
    key = browser.evaluate("document.getElementById('totp-secret').textContent").replace(" ", "")
    totp = pyotp.TOTP(key)
    step = totp.timecode(time.time())
    browser.fill("Code from your app", totp.generate_otp(step))
    _clean(browser.press("Turn on"), "Two-step sign-in is on", browser)
    codes = browser.evaluate("[...document.querySelectorAll('#recovery-codes code')].map(c => c.textContent)")
    assert len(codes) == 10
    _clean(browser.press("I have kept them"), "Two-step sign-in")
    _clean(browser.press("Sign out"), "Sign in")

    _sign_in(browser, address)
    _clean(browser.press("Sign in"), "Enter a code", browser)
    browser.fill("Code from your app, or a recovery code", totp.generate_otp(step + 1))
    _clean(browser.press("Continue"), "Overview")
    _clean(browser.press("Sign out"), "Sign in")
    for attempt in ("Overview", "Enter a code"):
        _sign_in(browser, address)
        _clean(browser.press("Sign in"), "Enter a code")
        browser.fill("Code from your app, or a recovery code", codes[0])
        visit = browser.press("Continue")
        if attempt == "Overview":
            _clean(visit, "Overview")
            _clean(browser.press("Sign out"), "Sign in")
    # Refused: the page again, answered 401 (the one error the console shows).
    assert visit.h1 == "Enter a code"
    assert [e for e in visit.errors if "status of 401" not in e] == [] and len(visit.errors) == 1
    assert "This code is not right" in browser.evaluate("document.querySelector('.errors').textContent")

    browser.fill("Code from your app, or a recovery code", codes[1])
    _clean(browser.press("Continue"), "Overview")
    _clean(browser.press("Security"), "Two-step sign-in", browser)
    _clean(browser.press("Manage your app passwords"), "App passwords", browser)
    browser.fill("Name of the app or device", "Phone")
    _clean(browser.press("Make an app password"), "App password for Phone", browser)
    app = browser.evaluate("document.getElementById('app-password').textContent")
    assert env.imap_login(address, app) and not env.imap_login(address, PASSWORD)
    _clean(browser.press("Back to the app passwords"), "App passwords", browser)
    _clean(browser.press("Revoke Phone"), "App passwords")
    assert not env.imap_login(address, app)
    _clean(browser.press("Sign out"), "Sign in")
