"""Operators: added with the CLI, signed in with a password and a TOTP
code over real HTTPS (the codes computed here from the secret the CLI
printed), their pages in headless Chromium, and the support sessions they
open in a business's panel, recorded in that business's audit log under
the operator's name."""

from __future__ import annotations

import json
import re
import sqlite3
import time

import pyotp
import pytest

from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .operator_client import STEP, add_operator, operator_cookie, password_step, sign_in, support_cookie

PHONE = (390, 844)


@pytest.fixture(scope="module")
def opal(env):
    """An operator who has set up the second factor (and kept the recovery codes)."""
    operator = add_operator(env, "opal")
    sign_in(env, operator)
    assert len(operator.recovery) == 10
    return operator


@pytest.fixture(scope="module")
def opal_signed_in(env, opal):
    """A browser where opal is signed in (codes are scarce: one per 30 seconds)."""
    return sign_in(env, opal)


def _audit(env, slug: str) -> list[tuple[str, str, str]]:
    """The business's audit log (actor, action, detail), read from its file."""
    conn = sqlite3.connect(env.state / "tenants" / f"{slug}.sqlite3", timeout=10)
    try:
        return conn.execute("SELECT actor, action, detail FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()


def _wrong_code(operator) -> str:
    """Six digits that are none of the codes the box would accept now."""
    totp, now = pyotp.TOTP(operator.secret), time.time()
    valid = {totp.at(now + d * STEP) for d in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def test_operator_add_shows_the_password_and_the_secret_once(env):
    """``operator add`` prints a generated password, the TOTP secret and its
    otpauth link; ``operator list --json`` shows the operator, unconfirmed,
    and neither secret."""
    shown = env.cli("operator", "add", "printed").stdout
    fields = dict(line.split(":", 1) for line in shown.splitlines() if line.startswith(("password", "totp")))
    secret = fields["totp secret"].strip()
    assert len(fields["password"].strip()) >= 16 and len(secret) == 32
    assert fields["totp link"].strip().startswith(f"otpauth://totp/box.appliance.test:printed?secret={secret}")
    listed = {o["name"]: o for o in env.cli.json("operator", "list")}
    assert listed["printed"]["totp_confirmed"] is False
    assert secret not in json.dumps(listed)


def test_a_new_operator_must_set_up_the_second_factor_first(env):
    """After the password, an operator without a confirmed TOTP is sent to
    the set-up page (QR code and secret) and gets no business page until a
    first code confirms it."""
    operator = add_operator(env, "novice")
    client = password_step(env, operator)
    assert client.last.headers["location"] == "/operator/setup"
    setup = client.get("/operator/setup")
    assert "<svg" in setup.text and operator.secret in setup.text
    assert (client.get("/operator/businesses").status_code, client.last.headers.get("location")) == (303, "/operator")
    assert client.get("/operator/code").headers.get("location") == "/operator"
    client.get("/operator/setup")
    assert client.post("/operator/setup", {"code": operator.next_code()}).status_code == 200
    assert client.get("/operator/businesses").status_code == 200


def test_resetting_the_second_factor_or_removing_an_operator_ends_their_sessions(env):
    """``operator reset-2fa`` signs the operator out and the next sign-in
    must set up the new secret (the old one's codes no longer count);
    ``operator remove`` signs them out for good."""
    operator = add_operator(env, "fickle")
    client = sign_in(env, operator)
    shown = json.loads(env.cli("operator", "reset-2fa", "fickle", "--json").stdout)
    assert shown["totp_secret"] != operator.secret and shown["password"] is None
    assert client.get("/operator/businesses").headers.get("location") == "/operator"
    again = password_step(env, operator)
    assert again.last.headers["location"] == "/operator/setup"
    again.get("/operator/setup")
    assert again.post("/operator/setup", {"code": operator.next_code()}).status_code == 401
    operator.secret, operator.last_step = shown["totp_secret"], -1
    assert again.post("/operator/setup", {"code": operator.next_code()}).status_code == 200
    env.cli("operator", "remove", "fickle")
    assert again.get("/operator/businesses").headers.get("location") == "/operator"
    assert "fickle" not in {o["name"] for o in env.cli.json("operator", "list")}


def test_a_wrong_code_is_refused_and_five_end_the_sign_in(env, opal):
    """Four wrong codes are each refused beside the field; the fifth ends
    the half-done sign-in, so even the right code is then refused; each
    failure writes the fail2ban line."""
    client = password_step(env, opal)
    pending = operator_cookie(client)
    client.get("/operator/code")
    for _ in range(4):
        reply = client.post("/operator/code", {"code": _wrong_code(opal)})
        assert reply.status_code == 401 and "This code is wrong or was used already" in reply.text
    reply = client.post("/operator/code", {"code": _wrong_code(opal)})
    assert reply.status_code == 401 and "Too many wrong codes" in reply.text
    assert operator_cookie(client) is None
    client.http.cookies.set("__Host-operator", pending, domain="127.0.0.1", path="/")
    reply = client.post("/operator/code", {"code": opal.code(int(time.time()) // STEP)}, csrf=False)
    assert (reply.status_code, reply.headers.get("location")) == (303, "/operator")
    assert env.daemon.log().count("auth failed: protocol=operator user=opal source=127.0.0.1") >= 5


def test_a_code_is_never_accepted_twice(env, opal):
    """The code that signed the operator in is refused at the next sign-in,
    though still within its 30 seconds; a later one is accepted."""
    client = sign_in(env, opal)
    used = opal.code(opal.last_step)
    client.post("/operator/signout")
    again = password_step(env, opal)
    again.get("/operator/code")
    reply = again.post("/operator/code", {"code": used})
    assert reply.status_code == 401 and "This code is wrong or was used already" in reply.text
    reply = again.post("/operator/code", {"code": opal.next_code()})
    assert reply.headers.get("location") == "/operator/businesses"


def test_a_recovery_code_signs_in_once(env, opal):
    """A recovery code stands in for the TOTP code once; used again, it is refused."""
    code = opal.recovery.pop()
    client = password_step(env, opal)
    client.get("/operator/code")
    assert client.post("/operator/code", {"code": code}).headers.get("location") == "/operator/businesses"
    client.get("/operator/businesses")
    client.post("/operator/signout")
    again = password_step(env, opal)
    again.get("/operator/code")
    assert again.post("/operator/code", {"code": code}).status_code == 401


def test_a_business_owners_session_gets_the_404_from_every_operator_page(env):
    """ann, acme's owner, signed in to the panel, asks for every operators'
    page and action: each is the panel's one 404, and acme stays active."""
    ann = env.signed_in("ann@acme.example")
    missing = ann.get("/no/such/page").content
    gets = ["/operator", "/operator/code", "/operator/setup", "/operator/businesses", "/operator/businesses/new",
            "/operator/businesses/acme"]
    posts = ["/operator", "/operator/signout", "/operator/businesses/new", "/operator/businesses/acme/suspend",
             "/operator/businesses/acme/plan", "/operator/businesses/acme/support"]
    for path in gets:
        assert (ann.get(path).status_code, ann.last.content) == (404, missing), path
    for path in posts:
        ann.get("/home")
        assert (ann.post(path, {"plan": "roomy"}).status_code, ann.last.content) == (404, missing), path
    business = env.cli.json("tenant", "show", "acme")
    assert (business["state"], business["plan"]["name"]) == ("active", "roomy")


def test_an_operator_without_a_support_session_gets_nothing_of_a_business(env, opal_signed_in):
    """The operator's own cookie opens no business page: acme's people, and
    removing bob, send it to the business sign-in page; bob stays."""
    operator = opal_signed_in
    thief = env.client()
    thief.http.cookies.set("__Host-operator", operator_cookie(operator), domain="127.0.0.1", path="/")
    thief.get("/")
    for path in ("/home", "/people", "/people/bob@acme.example"):
        assert (thief.get(path).status_code, thief.last.headers.get("location")) == (303, "/"), path
    assert thief.post("/people/bob@acme.example/remove").headers.get("location") == "/"
    assert "bob@acme.example" in env.users()


def test_a_support_session_ends_with_the_operators_session(env):
    """A support session in acme works until its operator signs out; then
    its cookie opens nothing."""
    operator = sign_in(env, add_operator(env, "sam"))
    support = env.client()
    support.http.cookies.set("__Host-session", support_cookie(operator, "acme"), domain="127.0.0.1", path="/")
    page = support.get("/people")
    assert page.status_code == 200 and "Support session by operator sam" in page.text
    operator.get("/operator/businesses")
    operator.post("/operator/signout")
    assert (support.get("/people").status_code, support.last.headers.get("location")) == (303, "/")


def test_bad_input_for_a_new_business_is_refused_beside_the_field(env, opal_signed_in):
    """An owner at another business's domain, a short name already taken,
    an unknown plan: each is a 400 with the error beside its field, and no
    business is created or changed."""
    operator = opal_signed_in
    before = env.cli.json("tenant", "list")
    cases = [
        ({"slug": "strayco", "owner": "boss@acme.example"}, "owner", "the address must be at"),
        ({"slug": "acme", "owner": "boss@acme.appliance.test"}, "slug", "taken already"),
        ({"slug": "planless", "owner": "boss@planless.appliance.test", "plan": "gold"}, "plan", "Choose one of the plans."),
    ]
    for fields, field, message in cases:
        operator.get("/operator/businesses/new")
        reply = operator.post("/operator/businesses/new", {"name": "Stray", "plan": "standard", "domain": "", **fields})
        assert reply.status_code == 400, fields
        errors = re.search(rf'<ul class="errors" id="{field}-error">(.*?)</ul>', reply.text, re.S)
        assert errors and message in errors.group(1), (fields, reply.text[:2000])
    operator.get("/operator/businesses/acme")
    assert operator.post("/operator/businesses/acme/plan", {"plan": "gold"}).status_code == 400
    assert env.cli.json("tenant", "list") == before
    assert env.cli.json("tenant", "show", "acme")["plan"]["name"] == "roomy"


def test_the_list_shows_each_business_use_and_what_to_look_at(env, opal_signed_in):
    """A business on a plan of one person, with its one person and then
    suspended, shows the people meter full and "People: the plan's limit
    is reached" and "Suspended" on the operators' list; a quiet business
    on a large plan shows its meters and "Nothing"; the search keeps each
    business's line its own."""
    env.cli("plan", "add", "oneperson", "--max-users", "1")
    env.cli("tenant", "add", "alertco", "--name", "Alert Co", "--plan", "oneperson")
    env.cli("user", "add", "al@alertco.appliance.test", "--password-stdin", input=PASSWORD + "\n")
    env.cli("tenant", "suspend", "alertco")
    env.cli("tenant", "add", "calmco", "--name", "Calm Co", "--plan", "roomy")
    operator = opal_signed_in

    def row(slug: str) -> str:
        page = operator.get(f"/operator/businesses?q={slug}").text
        found = re.search(rf'<tr>\s*<td data-label="Short name"><a href="/operator/businesses/{slug}">.*?</tr>', page, re.S)
        assert found, page[:3000]
        return found.group(0)

    alert = row("alertco")
    assert re.search(r'<meter[^>]*value="100"[^>]*aria-labelledby="m-alertco-people"', alert), alert
    assert "People: the plan&#39;s limit is reached" in alert or "People: the plan's limit is reached" in alert, alert
    assert "Suspended" in alert
    calm = row("calmco")
    assert 'aria-labelledby="m-calmco-mailbox"' in calm and "Nothing" in calm and "Suspended" not in calm
    env.cli("tenant", "resume", "alertco")


def test_an_operator_session_ends_when_idle_too_long(env):
    """An operator's session unused for longer than ``[panel] idle_seconds``
    is over: the next page is the operators' sign-in."""
    client = sign_in(env, add_operator(env, "idler"))
    env.box_sql("UPDATE operator_sessions SET seen = seen - 1801 WHERE name = 'idler'")
    assert client.get("/operator/businesses").headers.get("location") == "/operator"
    assert env.box_sql("SELECT count(*) FROM operator_sessions WHERE name = 'idler'") == [(0,)]


def test_a_support_session_lasts_an_hour_at_most(env, opal_signed_in):
    """A support session older than an hour is over, though its operator's
    session goes on."""
    support = env.client()
    support.http.cookies.set("__Host-session", support_cookie(opal_signed_in, "acme"), domain="127.0.0.1", path="/")
    assert support.get("/people").status_code == 200
    env.box_sql("UPDATE panel_sessions SET created = created - 3601 WHERE address = 'operator:opal'")
    assert (support.get("/people").status_code, support.last.headers.get("location")) == (303, "/")
    assert opal_signed_in.get("/operator/businesses").status_code == 200


@pytest.fixture(scope="module")
def browser(env, tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-operators"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en",
    ))
    yield chromium
    chromium.close()


def _clean(visit, heading: str, browser=None) -> None:
    """The page shows ``heading``, logged no console error, does not scroll
    sideways and, given the ``browser``, has no WCAG 2.1 AA violation axe-core finds."""
    assert visit.h1 == heading, (visit.url, visit.h1)
    assert visit.errors == [], (visit.url, visit.errors)
    assert visit.scroll_width <= visit.inner_width, f"{visit.url} overflows sideways"
    if browser is not None:
        assert browser.accessibility() == [], visit.url


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)")
def test_an_operator_runs_businesses_and_supports_one(env, browser):
    """At phone width, oscar (added with the CLI) signs in, sets up his
    second factor from the secret, keeps his recovery codes, finds a
    business with the search, creates freshco with its owner (whose first
    password then works over IMAP), suspends and resumes corner, opens
    acme's panel for support, adds Lee there, leaves and signs out. acme's
    audit log names operator:oscar for the support session and for Lee;
    corner's and freshco's name him too."""
    oscar = add_operator(env, "oscar")
    env.cli("tenant", "add", "corner", "--name", "Corner Shop")
    browser.viewport(*PHONE, mobile=True)
    browser.clear_cookies()
    base = f"https://box.appliance.test:{env.daemon.port('https')}"
    _clean(browser.visit(base + "/operator"), "Operators: sign in", browser)
    browser.fill("Operator name", "oscar")
    browser.fill("Password", oscar.password)
    _clean(browser.press("Continue"), "Set up your second factor", browser)
    assert browser.evaluate("document.getElementById('totp-secret').textContent") == oscar.secret
    browser.fill("Code", oscar.next_code())
    _clean(browser.press("Confirm"), "Your recovery codes", browser)
    assert browser.evaluate("document.querySelectorAll('#recovery-codes li').length") == 10
    _clean(browser.press("Go to the businesses"), "Businesses", browser)
    browser.fill("Search", "corn")
    _clean(browser.press("Search"), "Businesses")
    listed = browser.evaluate("[...document.querySelectorAll('tbody tr td:first-child')].map(td => td.textContent.trim())")
    assert listed == ["corner"]
    _clean(browser.press("New business"), "New business", browser)
    browser.fill("Short name", "freshco")
    browser.fill("Business name", "Fresh Co")
    browser.fill("Plan", "standard")
    browser.fill("Owner's e-mail address", "boss@freshco.appliance.test")
    _clean(browser.press("Create this business"), "freshco is created", browser)
    password = browser.evaluate("document.getElementById('new-password').textContent.trim()")
    _clean(browser.visit(base + "/operator/businesses/corner"), "Corner Shop", browser)
    _clean(browser.press("Suspend"), "Corner Shop")
    assert browser.evaluate("document.getElementById('state').textContent") == "Suspended"
    assert env.cli.json("tenant", "show", "corner")["state"] == "suspended"
    _clean(browser.press("Resume"), "Corner Shop")
    assert browser.evaluate("document.getElementById('state').textContent") == "Active"
    _clean(browser.visit(base + "/operator/businesses/acme"), "Acme Bakery", browser)
    _clean(browser.press("Open this business's panel"), "People", browser)
    assert "Support session by operator oscar" in browser.evaluate("document.querySelector('.support').textContent")
    _clean(browser.press("Add a person"), "Add a person", browser)
    browser.fill("Full name", "Lee Lang")
    browser.fill("Address (before the @)", "lee")
    browser.fill("Domain", "@acme.example")
    _clean(browser.press("Add this person"), "lee@acme.example is added", browser)
    _clean(browser.press("Leave"), "Acme Bakery")
    _clean(browser.press("Sign out"), "Operators: sign in")
    assert env.imap_login("boss@freshco.appliance.test", password)
    acme = _audit(env, "acme")
    assert ("operator:oscar", "support.open", "") in acme
    assert ("operator:oscar", "user.add", "lee@acme.example") in acme
    assert ("operator:oscar", "support.close", "") in acme
    assert [a for a in _audit(env, "corner") if a[0] == "operator:oscar"] == [
        ("operator:oscar", "tenant.suspend", ""), ("operator:oscar", "tenant.resume", "")]
    assert ("operator:oscar", "user.add", "boss@freshco.appliance.test") in _audit(env, "freshco")
