"""The rights matrix, walked over real HTTPS against the daemon: every panel
route and method, as someone signed out, as staff (bob), as the owner
(ann), and as the owner of another business (olga). Another business gets
the same 404 as a page that does not exist; a POST without the CSRF token
or from another origin changes nothing; another business's session cookie
does nothing here."""

from __future__ import annotations

import itertools

import pytest

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
    # The website editor
    ("/website", "GET"): OWNERS,
    ("/website/start", "POST"): OWNERS,
    ("/website/theme", "POST"): OWNERS,
    ("/website/publish", "POST"): OWNERS,
    ("/website/profile", "GET"): OWNERS,
    ("/website/profile", "POST"): OWNERS,
    ("/website/new-page", "GET"): OWNERS,
    ("/website/new-page", "POST"): OWNERS,
    ("/website/pages/{page}", "GET"): OWNERS,
    ("/website/pages/{page}", "POST"): OWNERS,
    ("/website/pages/{page}/move", "POST"): OWNERS,
    ("/website/pages/{page}/menu", "POST"): OWNERS,
    ("/website/pages/{page}/remove", "GET"): OWNERS,
    ("/website/pages/{page}/remove", "POST"): OWNERS,
    ("/website/preview/", "GET"): OWNERS,
    ("/website/preview/{file}", "GET"): OWNERS,
    ("/website/roll-back", "POST"): OWNERS,
    ("/website/pages/{page}/add/{kind}", "GET"): OWNERS,
    ("/website/pages/{page}/add/{kind}", "POST"): OWNERS,
    ("/website/pages/{page}/blocks/{block}", "GET"): OWNERS,
    ("/website/pages/{page}/blocks/{block}", "POST"): OWNERS,
    ("/website/pages/{page}/blocks/{block}/change", "POST"): OWNERS,
}
VIEWERS = {"signed-out": None, "staff": "bob@acme.example", "owner": "ann@acme.example", "other-owner": "olga@other.example"}
_victims = itertools.count(1)
#: Set once the walk has made the sites it needs.
_sites: list[str] = []


def test_the_panel_table_is_the_specification():
    """Every route of the panel, with its method and who may use it, is exactly SPEC."""
    table = {(r.pattern, r.method): set(r.who) for r in rights.ROUTES}
    assert table == SPEC
    assert len(table) == 46


def _request_for(env, pattern: str, method: str, viewer: str) -> tuple[str, dict]:
    """The path and form of one cell of the walk. The owner acts on a user
    made for the purpose; everyone else aims at bob, who must survive."""
    address = "bob@acme.example"
    if viewer == "owner" and "{address}" in pattern:
        address = f"victim{next(_victims)}@acme.example"
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    # acme's site has a page "kept" that must survive; the owner acts on a
    # page made for the purpose (and previews "kept").
    page = "kept"
    if ("{page}" in pattern or "{file}" in pattern) and not _sites:
        env.cli("site", "init", "acme", "--theme", "clean", check=False)
        env.cli("site", "page", "add", "acme", "kept", input="Kept.\n", check=False)
        # The other business has a site too: what it misses is acme's page.
        env.cli("site", "init", "other", "--theme", "warm", check=False)
        _sites.append("acme")
    if viewer == "owner" and "{page}" in pattern:
        page = f"walk-page-{next(_victims)}"
        env.cli("site", "page", "add", "acme", page, input="Walk.\n")
    path = pattern.replace("{address}", address).replace("{page}", page).replace("{file}", f"{page}/")
    path = path.replace("{kind}", "text").replace("{block}", "1")
    form = {
        "/": {"address": "", "password": ""},
        "/language": {"language": "fr", "next": "/home"},
        "/password": {},
        "/sessions/end": {"ref": "0000"},
        "/people/add": {"local": f"walk-{viewer}-{next(_victims)}", "domain": "acme.example"},
        "/website/start": {"theme": "clean"},
        "/website/theme": {"theme": "clean"},
        "/website/profile": {"name": "Acme Bakery"},
        "/website/new-page": {"name": f"walk-new-{next(_victims)}", "title": "Walk"},
        "/website/pages/{page}": {"title": "Walk", "body": "Walked."},
        "/website/pages/{page}/move": {"direction": "up"},
        "/website/pages/{page}/menu": {"shown": "no"},
        "/website/roll-back": {"version": "1"},
        "/website/pages/{page}/add/{kind}": {"markdown": "More."},
        "/website/pages/{page}/blocks/{block}": {"markdown": "Edited."},
        "/website/pages/{page}/blocks/{block}/change": {"action": "duplicate"},
    }.get(pattern, {})
    return path, form


@pytest.mark.parametrize("route", sorted(SPEC), ids=lambda r: f"{r[1]} {r[0]}")
def test_every_route_answers_each_viewer_as_the_matrix_says(env, route):
    """Allowed: an answer that is neither 403 nor 404 nor the sign-in
    redirect. Signed out where a user is needed: 303 to /. Staff on an
    owner's route: 403. Another business's owner on a route naming one of
    acme's people or one of the pages of its site (or their preview): the
    404 of a page that does not exist, and nothing done."""
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
        if viewer == "other-owner" and any(p in pattern for p in ("{address}", "{page}", "{file}")):
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
    if "{page}" in pattern or "{file}" in pattern:
        assert env.cli("site", "page", "show", "acme", "kept").stdout == "Kept.\n"


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
