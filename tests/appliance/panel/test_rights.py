"""The rights matrix, walked over real HTTPS against the daemon: every panel
route and method, as someone signed out, as staff (bob), as the owner
(ann), and as the owner of another business (olga). Another business gets
the same 404 as a page that does not exist; a POST without the CSRF token
or from another origin changes nothing; another business's session cookie
does nothing here."""

from __future__ import annotations

import itertools

import pytest
import requests

from appliance.panel import rights

from .conftest import PASSWORD

OUT, STAFF, OWNER = "signed-out", "staff", "owner"
ALL = {OUT, STAFF, OWNER}
IN = {STAFF, OWNER}
OWNERS = {OWNER}

#: The specification: who may use each route. The panel's table must be
#: exactly this (a route added or loosened fails here first).
SPEC = {
    ("/", "GET"): ALL,
    ("/", "POST"): ALL,
    ("/static/panel.css", "GET"): ALL,
    ("/static/favicon.svg", "GET"): ALL,
    ("/language", "POST"): ALL,
    ("/home", "GET"): IN,
    ("/password", "GET"): IN,
    ("/password", "POST"): IN,
    ("/sessions", "GET"): IN,
    ("/sessions/end", "POST"): IN,
    ("/signout", "POST"): IN,
    ("/signout/everywhere", "POST"): IN,
    ("/people", "GET"): OWNERS,
    ("/people/add", "GET"): OWNERS,
    ("/people/add", "POST"): OWNERS,
    ("/people/{address}", "GET"): OWNERS,
    ("/people/{address}/password", "POST"): OWNERS,
    ("/people/{address}/remove", "POST"): OWNERS,
    # Your devices
    ("/devices", "GET"): IN,
    ("/devices/thunderbird", "GET"): IN,
    ("/devices/outlook", "GET"): IN,
    ("/devices/new-outlook", "GET"): IN,
    ("/devices/iphone", "GET"): IN,
    ("/devices/android", "GET"): IN,
    # Contacts and the mini-CRM
    ("/contacts", "GET"): IN,
    ("/contacts/add", "GET"): IN,
    ("/contacts/add", "POST"): IN,
    ("/contacts/import", "GET"): IN,
    ("/contacts/import", "POST"): IN,
    ("/contacts/export.vcf", "GET"): IN,
    ("/contacts/export.csv", "GET"): IN,
    ("/contacts/{uid}", "GET"): IN,
    ("/contacts/{uid}/edit", "GET"): IN,
    ("/contacts/{uid}/edit", "POST"): IN,
    ("/contacts/{uid}/stage", "POST"): IN,
    ("/contacts/{uid}/activity", "POST"): IN,
    ("/contacts/{uid}/do-not-contact", "POST"): IN,
    ("/contacts/{uid}/followups", "POST"): IN,
    ("/contacts/{uid}/followups/done", "POST"): IN,
    ("/contacts/{uid}/delete", "POST"): OWNERS,
}
VIEWERS = {"signed-out": None, "staff": "bob@acme.example", "owner": "ann@acme.example", "other-owner": "olga@other.example"}
_victims = itertools.count(1)


def test_the_panel_table_is_the_specification():
    """Every route of the panel, with its method and who may use it, is exactly SPEC."""
    table = {(r.pattern, r.method): set(r.who) for r in rights.ROUTES}
    assert table == SPEC
    assert len(table) == 40


def _request_for(env, pattern: str, method: str, viewer: str) -> tuple[str, dict]:
    """The path and form of one cell of the walk. The owner acts on a user
    made for the purpose; everyone else aims at bob, who must survive."""
    address = "bob@acme.example"
    if viewer == "owner" and "{address}" in pattern:
        address = f"victim{next(_victims)}@acme.example"
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    path = pattern.replace("{address}", address)
    if "{uid}" in pattern:
        # A contact of acme's, made for this cell (the owner may delete it).
        path = pattern.replace("{uid}", _acme_contact(env))
    form = {
        "/": {"address": "", "password": ""},
        "/language": {"language": "fr", "next": "/home"},
        "/password": {},
        "/sessions/end": {"ref": "0000"},
        "/people/add": {"local": f"walk-{viewer}-{next(_victims)}", "domain": "acme.example"},
        "/contacts/add": {"kind": "person", "given": "Walk", "family": viewer},
        "/contacts/import": {"text": "First Name,E-mail Address\r\nWalk,walk@import.example\r\n"},
        "/contacts/{uid}/edit": {"given": "Walk", "family": viewer},
        "/contacts/{uid}/stage": {"stage": "lead"},
        "/contacts/{uid}/activity": {"kind": "note", "text": f"walked by {viewer}"},
        "/contacts/{uid}/do-not-contact": {"do_not_contact": "on"},
        "/contacts/{uid}/followups": {"summary": f"Call back ({viewer})", "due": "2026-12-31"},
        "/contacts/{uid}/followups/done": {"todo": "no-such-task"},
    }.get(pattern, {})
    return path, form


def _acme_contact(env) -> str:
    """The UID of a new card in acme's shared address book (PUT over CardDAV)."""
    uid = f"walk-{next(_victims)}"
    card = f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Walk Card\r\nN:Card;Walk;;;\r\nEND:VCARD\r\n"
    reply = requests.put(f"{env.base}/dav/acme/customers/{uid}.vcf", data=card.encode(), auth=("ann@acme.example", PASSWORD),
                         headers={"Content-Type": "text/vcard"}, verify=False, timeout=30)
    assert reply.status_code == 201, reply.text
    return uid


@pytest.mark.parametrize("route", sorted(SPEC), ids=lambda r: f"{r[1]} {r[0]}")
def test_every_route_answers_each_viewer_as_the_matrix_says(env, route):
    """Allowed: an answer that is neither 403 nor 404 nor the sign-in
    redirect. Signed out where a user is needed: 303 to /. Staff on an
    owner's route: 403. Another business's owner on a route naming one of
    acme's people: the 404 of a page that does not exist, and nothing done."""
    pattern, method = route
    allowed = SPEC[route]
    before = env.users()
    for viewer, address in VIEWERS.items():
        client = env.client() if address is None else env.signed_in(address)
        missing = client.get("/no/such/page")
        assert missing.status_code == 404
        path, form = _request_for(env, pattern, method, viewer)
        reply = client.get(path) if method == "GET" else client.post(path, form)
        cell = f"{method} {path} as {viewer}: {reply.status_code}"
        role = {"other-owner": "owner"}.get(viewer, viewer)
        if viewer == "other-owner" and ("{address}" in pattern or "{uid}" in pattern):
            assert reply.status_code == 404, cell
            assert reply.content == missing.content, cell
        elif role in allowed:
            assert reply.status_code not in (403, 404), cell
            assert not (reply.status_code == 303 and reply.headers["location"] == "/" and "signout" not in path
                        and path != "/sessions/end"), cell
        elif role == OUT:
            assert (reply.status_code, reply.headers.get("location")) == (303, "/"), cell
        else:
            assert reply.status_code == 403, cell
    after = env.users()
    assert "bob@acme.example" in after
    assert not [a for a in set(after) - set(before) if not a.startswith(("walk-owner", "victim"))], after


def test_a_post_without_the_csrf_token_or_from_another_origin_changes_nothing(env):
    """Adding a person without the token, with a wrong token, with another
    Origin or none: 403 each time and nobody is added; signing out without
    the token leaves the session working."""
    ann = env.signed_in("ann@acme.example")
    form = {"local": "csrf-victim", "domain": "acme.example"}
    attempts = [
        ann.post("/people/add", form, csrf=False),
        ann.post("/people/add", {**form, "csrf": "forged"}),
        ann.post("/people/add", form, origin="https://evil.example"),
        ann.post("/people/add", form, origin=None),
    ]
    assert [r.status_code for r in attempts] == [403, 403, 403, 403]
    assert "csrf-victim@acme.example" not in env.users()
    assert ann.post("/signout", csrf=False).status_code == 403
    assert ann.get("/home").status_code == 200


def test_signing_in_without_the_csrf_token_is_refused(env):
    """A sign-in form posted without the token of the browser's CSRF cookie
    (login CSRF) gets 403 and no session."""
    client = env.client()
    reply = client.post("/", {"address": "ann@acme.example", "password": PASSWORD}, csrf=False)
    assert reply.status_code == 403
    assert client.session_cookie() is None


def test_another_business_session_cookie_does_nothing_here(env):
    """olga's session cookie and its valid CSRF token, used against acme's
    people: 404 like a missing page, bob stays, acme's people are not listed."""
    olga = env.signed_in("olga@other.example")
    missing = olga.get("/no/such/page").content
    thief = env.client()
    thief.http.cookies.set("__Host-session", olga.session_cookie(), domain="127.0.0.1", path="/")
    thief.get("/home")
    for path in ("/people/bob@acme.example/remove", "/people/bob@acme.example/password"):
        reply = thief.post(path)
        assert reply.status_code == 404 and reply.content == missing
    assert thief.get("/people/bob@acme.example").content == missing
    listing = thief.get("/people").text
    assert "olga@other.example" in listing and "acme.example" not in listing
    assert "bob@acme.example" in env.users()
