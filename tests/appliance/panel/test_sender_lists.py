"""Allow and block lists of senders in the panel: a user's own on the Mail
rules page, the business's on the owners' Senders page; what they hold is
what the MX then refuses (over real SMTP), and another business neither
sees nor changes them."""

from __future__ import annotations

import smtplib
import uuid

import pytest

from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD

BLOCKED = (550, b"5.7.1 The recipient does not accept mail from this sender")


def _new_user(env) -> str:
    address = f"senders-{uuid.uuid4().hex[:8]}@acme.example"
    env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    return address


def _rcpt(env, sender: str, rcpt: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", env.daemon.port("smtp"), timeout=30) as client:
        client.ehlo("mx.remote.example")
        client.mail(sender)
        return client.rcpt(rcpt)


def _entries(env, *args) -> list[tuple[str, str]]:
    return [(e["list"], e["entry"]) for e in env.cli.json("senders", "list", "acme", *args)]


def test_a_user_blocks_a_sender_then_unblocks_it(env):
    """A user adds an address to their block list: it is stored with who
    added it, the MX refuses that sender for them (not for bob), and after
    removing it the sender is accepted again."""
    address = _new_user(env)
    client = env.signed_in(address)
    client.get("/rules")
    sender = f"pest-{uuid.uuid4().hex[:6]}@remote.example"
    reply = client.post("/rules/senders/add", {"senders-list": "block", "senders-entry": sender.upper()})
    assert reply.status_code == 303 and reply.headers["Location"].endswith("/rules")
    [stored] = env.cli.json("senders", "list", "acme", "--user", address)
    assert (stored["list"], stored["entry"], stored["added_by"]) == ("block", sender, address)
    assert sender in client.get("/rules").text
    assert _rcpt(env, sender, address) == BLOCKED
    assert _rcpt(env, sender, "bob@acme.example")[0] == 250
    assert client.post("/rules/senders/remove", {"list": "block", "entry": sender}).status_code == 303
    assert env.cli.json("senders", "list", "acme", "--user", address) == []
    assert _rcpt(env, sender, address)[0] == 250


def test_bad_entries_are_shown_beside_the_field_and_change_nothing(env):
    """An entry that is no address or domain, and one already listed, are
    answered 400 with the error beside the field."""
    address = _new_user(env)
    client = env.signed_in(address)
    client.get("/rules")
    reply = client.post("/rules/senders/add", {"senders-list": "block", "senders-entry": "not a domain"})
    assert reply.status_code == 400 and 'id="senders-entry-error"' in reply.text
    assert "Enter an address (someone@example.com) or a domain (example.com)." in reply.text
    assert client.post("/rules/senders/add", {"senders-list": "allow", "senders-entry": "ok.example"}).status_code == 303
    reply = client.post("/rules/senders/add", {"senders-list": "allow", "senders-entry": "OK.example"})
    assert reply.status_code == 400 and "It is already on that list." in reply.text
    reply = client.post("/rules/senders/add", {"senders-list": "maybe", "senders-entry": "x.example"})
    assert reply.status_code == 400
    assert env.cli.json("senders", "list", "acme", "--user", address)[0]["entry"] == "ok.example"
    assert len(env.cli.json("senders", "list", "acme", "--user", address)) == 1


def test_the_owner_blocks_a_domain_for_the_whole_business(env):
    """ann (owner) blocks a domain on the Senders page: mail from it and its
    subdomains to bob is refused; bob (staff) cannot open the page (403)."""
    domain = f"spam-{uuid.uuid4().hex[:6]}.example"
    owner = env.signed_in("ann@acme.example")
    assert owner.get("/senders").status_code == 200
    try:
        assert owner.post("/senders/add", {"senders-list": "block", "senders-entry": domain}).status_code == 303
        assert domain in owner.get("/senders").text
        assert _rcpt(env, f"x@mail.{domain}", "bob@acme.example") == BLOCKED
        assert env.signed_in("bob@acme.example").get("/senders").status_code == 403
    finally:
        env.cli("senders", "remove", "acme", "--block", domain)
    assert _rcpt(env, f"x@{domain}", "bob@acme.example")[0] == 250


def test_another_business_neither_sees_nor_changes_the_lists(env):
    """olga, owner of the other business, does not see acme's entry on her
    Senders page, and her remove of it leaves it in place; her own entry
    goes to her business only."""
    domain = f"kept-{uuid.uuid4().hex[:6]}.example"
    env.cli("senders", "add", "acme", "--block", domain)
    try:
        olga = env.signed_in("olga@other.example")
        assert domain not in olga.get("/senders").text
        assert olga.post("/senders/remove", {"list": "block", "entry": domain}).status_code == 303
        assert ("block", domain) in _entries(env)
        assert olga.post("/senders/add", {"senders-list": "allow", "senders-entry": "olgas.example"}).status_code == 303
        assert ("allow", "olgas.example") not in _entries(env)
        assert [e["entry"] for e in env.cli.json("senders", "list", "other")] == ["olgas.example"]
    finally:
        env.cli("senders", "remove", "acme", "--block", domain)
        env.cli("senders", "remove", "other", "--allow", "olgas.example")


@pytest.fixture(scope="module")
def browser(env, tmp_path_factory):
    if CHROMIUM is None or not AXE.is_file():
        pytest.skip("chromium or axe-core is not installed")
    chromium = Browser(tmp_path_factory.mktemp("chromium-senders"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en",
    ))
    yield chromium
    chromium.close()


def test_a_user_blocks_an_address_in_mail_rules_and_its_mail_is_refused(env, browser):
    """At phone width a user opens Mail rules, types an address into
    "Address or domain" and presses "Add to the list" (Block is the
    default); the page lists it and passes axe; mail from that address to
    them is then refused at RCPT."""
    address = _new_user(env)
    sender = f"nuisance-{uuid.uuid4().hex[:6]}@remote.example"
    browser.viewport(390, 844, mobile=True)
    browser.clear_cookies()
    browser.visit(f"https://box.appliance.test:{env.daemon.port('https')}/")
    browser.fill("E-mail address", address)
    browser.fill("Password", PASSWORD)
    assert browser.press("Sign in").h1 == "Overview"
    visit = browser.press("Mail rules")
    assert visit.h1 == "Mail rules" and visit.errors == []
    browser.fill("Address or domain", sender)
    visit = browser.press("Add to the list")
    assert visit.h1 == "Mail rules" and visit.errors == []
    assert visit.scroll_width <= visit.inner_width
    assert browser.accessibility() == []
    assert sender in browser.evaluate("document.querySelector('ul.senders').textContent")
    assert _rcpt(env, sender, address) == BLOCKED
