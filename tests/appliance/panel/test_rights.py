"""The rights matrix, walked over real HTTPS against the daemon: every panel
route and method, as someone signed out, as staff (bob), as the owner
(ann), as the owner of another business (olga), as an operator's support
session in acme (its cookie alone), as an operator, and as an operator who
has given the password but not the code yet. Another business gets the
same 404 as a page that does not exist (for a person, a domain or an app
password of acme's alike), and so does a business's user on an operators'
page; a POST without the CSRF token or from another origin changes
nothing; another business's session cookie does nothing here."""

from __future__ import annotations

import base64
import email.message
import html
import itertools
import re
import sqlite3
from pathlib import Path

import pytest
import requests

from appliance.panel import rights

from .conftest import PASSWORD
from .operator_client import add_operator, operator_cookie, password_step, sign_in, support_cookie
from .rights_spec import OPERATOR, OPERATOR_CODE, OUT, OWNER, SPEC, STAFF

VIEWERS = {"signed-out": None, "staff": "bob@acme.example", "owner": "ann@acme.example", "other-owner": "olga@other.example",
           "support": None, "operator": None, "operator-code": None}
#: The business the operators' routes act on in the walk (suspended, re-planned...).
WALK_SLUG = "walkco"
_victims = itertools.count(1)
#: Set once the walk has made the sites it needs.
_sites: list[str] = []
#: Set once the walk has given acme's site its picture.
_images: list[str] = []
#: Set once the walk has made a shared task list of acme's.
_lists: list[str] = []
#: Set once the walk has made the plan its operators change.
_plans: list[str] = []


def _add_acme_image(env, name: str) -> None:
    """A small PNG stored in acme's image library as ``name``."""
    png = env.state.parent / name
    png.write_bytes(base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="))
    env.cli("site", "image", "add", "acme", str(png), "--name", name)


def test_the_panel_table_is_the_specification():
    """Every route of the panel, with its method and who may use it, is exactly SPEC."""
    table = {(r.pattern, r.method): set(r.who) for r in rights.ROUTES}
    assert table == SPEC
    assert len(table) == 230


@pytest.fixture(scope="module")
def before_the_walk(env, operators):
    """acme's people and domains and the box's businesses before the walk
    (after the operators' fixture has made the business they act on)."""
    return set(env.users()), set(_domains(env)), [b["slug"] for b in env.cli.json("tenant", "list")]


@pytest.fixture(scope="module")
def operators(env):
    """Two operators for the walk: one stays signed in throughout, the
    other is there to be signed out; and the business they act on."""
    env.cli("tenant", "add", WALK_SLUG, "--name", "Walk Co")
    staying, leaving = add_operator(env, "walker"), add_operator(env, "walker2")
    return {"staying": staying, "client": sign_in(env, staying), "leaving": leaving}


def _client_for(env, operators, viewer: str, pattern: str):
    """A browser as ``viewer``: a user signed in, a support session's
    cookie alone, an operator's cookie alone, or an operator owing the code."""
    client = env.client()
    if viewer == "support":
        client.http.cookies.set("__Host-session", support_cookie(operators["client"], "acme"), domain="127.0.0.1", path="/")
    elif viewer == "operator" and pattern == "/operator/signout":
        return sign_in(env, operators["leaving"])
    elif viewer == "operator":
        client.http.cookies.set("__Host-operator", operator_cookie(operators["client"]), domain="127.0.0.1", path="/")
    elif viewer == "operator-code":
        return password_step(env, operators["staying"])
    elif VIEWERS[viewer] is not None:
        return _signed_in(env, VIEWERS[viewer])
    return client


_signed: dict[str, object] = {}


def _signed_in(env, address: str):
    """A browser signed in as ``address``: the one of an earlier cell while
    its session lasts (a cell may sign it out), else a new sign-in."""
    client = _signed.get(address)
    if client is None or client.get("/home").status_code != 200:
        client = _signed[address] = env.signed_in(address)
    return client


def _request_for(env, pattern: str, method: str, viewer: str) -> tuple[str, dict]:
    """The path and form of one cell of the walk. The owner (and an
    operator's support session) acts on a user made for the purpose;
    everyone else aims at bob, who must survive."""
    address = "bob@acme.example"
    if viewer in ("owner", "support") and "{address}" in pattern:
        address = f"victim{next(_victims)}@acme.example"
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    domain = "acme.example"
    if viewer in ("owner", "support") and pattern == "/domains/{domain}/remove":
        domain = f"victim{next(_victims)}.example"
        env.cli("domain", "add", "acme", domain)
    path = pattern.replace("{address}", address).replace("{domain}", domain)
    if "{app}" in pattern:
        # Signed in, one's own app password; another business aims at bob's.
        path = path.replace("{app}", _app_ref(env, VIEWERS[viewer] if viewer in (STAFF, OWNER) else "bob@acme.example"))
    if "{calendar}" in pattern:
        # One's own calendar; another business aims at bob's.
        owner = VIEWERS[viewer] if viewer in (STAFF, OWNER) else "bob@acme.example"
        path = path.replace("{calendar}", _calendar_ref(env, owner))
        if "{event}" in pattern:
            # An event of that calendar, made for this cell (one may delete it).
            path = path.replace("{event}", _own_event(env, owner))
    if "{list}" in pattern:
        # A task list: one's own (a task in it made for this cell, which
        # one may delete); another business aims at bob's. The list routes
        # aim at a shared list made for the cell (the owner may delete it).
        owner = VIEWERS[viewer] if viewer in (STAFF, OWNER) else "bob@acme.example"
        if pattern.startswith("/tasks/lists/"):
            path = path.replace("{list}", _shared_list(env, viewer, pattern))
        elif pattern.startswith("/tasks/own/"):
            # A list of the person's own, made for this cell (they may delete it).
            path = path.replace("{list}", _own_list(env, owner))
        else:
            path = path.replace("{list}", _task_list_ref(env, owner)).replace("{task}", _own_task(env, owner))
    # An invitation link nobody was given: its page says it cannot be used.
    path = path.replace("{invitee}", "bob@acme.example").replace("{token}", "A" * 43).replace("{number}", "1")
    if "{plan}" in pattern:
        # A plan no business is on; the operator removes one made for the cell.
        if not _plans:
            env.cli("plan", "add", "walk-plan")
            _plans.append("walk-plan")
        plan = "walk-plan"
        if viewer == OPERATOR and pattern.endswith("/remove"):
            plan = f"walk-plan-{next(_victims)}"
            env.cli("plan", "add", plan)
        path = path.replace("{plan}", plan)
    if "{extra}" in pattern:
        # The operator takes back an extra of walkco's made for the cell.
        extra = env.cli.json("tenant", "extra", "add", WALK_SLUG, "people", "1")["id"] if viewer == OPERATOR else 1
        path = path.replace("{extra}", str(extra))
    path = path.replace("{slug}", WALK_SLUG).replace("{week}", "2026-W50").replace("{month}", "2026-12")
    if "{uid}" in pattern or "{deal}" in pattern:
        # A contact of acme's, made for this cell (the owner may delete it),
        # and a deal of it.
        uid = _acme_contact(env)
        path = path.replace("{uid}", uid).replace("{other}", _acme_contact(env) if "{other}" in pattern else "")
        if "{deal}" in pattern:
            path = path.replace("{deal}", _acme_deal(env, uid))
    # acme's site has a page "kept" that must survive; the owner acts on a
    # page made for the purpose (and previews "kept").
    page = "kept"
    if ("{page}" in pattern or "{file}" in pattern) and not _sites:
        env.cli("site", "init", "acme", "--theme", "clean", check=False)
        env.cli("site", "page", "add", "acme", "kept", input="Kept.\n", check=False)
        # The other business has a site too: what it misses is acme's page.
        env.cli("site", "init", "other", "--theme", "warm", check=False)
        _sites.append("acme")
    if viewer in ("owner", "support") and "{page}" in pattern:
        page = f"walk-page-{next(_victims)}"
        env.cli("site", "page", "add", "acme", page, input="Walk.\n")
        if pattern.endswith("/restore"):
            # A page removed since the last publish, which the owner restores.
            env.cli("site", "page", "remove", "acme", page)
    path = path.replace("{page}", page).replace("{file}", f"{page}/")
    path = path.replace("{kind}", "text").replace("{block}", "1").replace("{theme}", "bold")
    if "{image}" in pattern:
        # acme's picture "kept.png" must survive; the owner removes one made
        # for the purpose (and looks at and describes "kept.png").
        image = "kept.png"
        if not _images:
            env.cli("site", "init", "acme", "--theme", "clean", check=False)
            _add_acme_image(env, image)
            _images.append(image)
        if viewer in ("owner", "support") and pattern.endswith("/remove"):
            image = f"walk-{next(_victims)}.png"
            _add_acme_image(env, image)
        path = path.replace("{image}", image)
    if "{report}" in pattern:
        # A DMARC report of acme's; another business aims at it too.
        path = path.replace("{report}", _acme_report(env))
    if "{folder}" in pattern:
        # One's own message; another business aims at bob's.
        path = _own_mail(env, pattern, path, VIEWERS[viewer] if viewer in (STAFF, OWNER) else "bob@acme.example")
    form = {
        "/": {"address": "", "password": ""},
        "/language": {"language": "fr", "next": "/home"},
        "/password": {},
        "/sessions/end": {"ref": "0000"},
        "/people/add": {"local": f"walk-{viewer}-{next(_victims)}", "domain": "acme.example"},
        "/signin/code": {"code": "000000"},
        "/security/on": {"code": "000000"},
        "/security/off": {"off-password": "", "off-code": ""},
        "/security/recovery": {"renew-code": ""},
        # "off", which it is already: the walk shares nobody's mail.
        "/security/mail-history": {"share": "off"},
        "/security/apps": {"name": f"walk {viewer}"},
        "/domains/add": {"domain": f"walk-{viewer}-{next(_victims)}.example"},
        "/domains/{domain}/remove": {"confirm": domain},
        "/domains/{domain}/dns/add": {"name": f"walk-{viewer}-{next(_victims)}", "type": "TXT", "value": "walk", "ttl": "3600"},
        "/domains/{domain}/dns/remove": {"name": "walk-nothing", "type": "TXT", "value": "walk"},
        "/people/{address}/role": {"role": "owner"},
        "/people/{address}/quota": {"megabytes": "10"},
        "/invitation/{invitee}/{token}": {"new": "a walking secret", "confirm": "a walking secret"},
        "/addresses/add": {"local": f"walk-{viewer}-{next(_victims)}", "domain": "acme.example",
                           "targets": "ann@acme.example"},
        "/addresses/remove": {"address": "nothing@acme.example"},
        "/operator": {"name": "", "password": ""},
        "/operator/businesses/{slug}/plan": {"plan": "standard"},
        # No name: refused beside the field, the brand unchanged for the other tests.
        "/operator/brand": {"name": "", "colour": "#0b5cad"},
        "/operator/plans": {"name": f"walk-{next(_victims)}", "max_users": "2", "mailbox_mb": "10", "web_mb": "10",
                            "messages_per_day": "10"},
        "/operator/plans/{plan}": {"max_users": "2", "mailbox_mb": "10", "web_mb": "10", "messages_per_day": "10"},
        "/operator/businesses/{slug}/extras": {"kind": "people", "amount": "1"},
        "/contacts/add": {"kind": "person", "given": "Walk", "family": viewer},
        "/contacts/import": {"text": "First Name,E-mail Address\r\nWalk,walk@import.example\r\n"},
        "/contacts/{uid}/edit": {"given": "Walk", "family": viewer},
        "/contacts/{uid}/stage": {"stage": "lead"},
        "/contacts/{uid}/activity": {"kind": "note", "text": f"walked by {viewer}"},
        "/contacts/{uid}/do-not-contact": {"do_not_contact": "on"},
        "/contacts/{uid}/followups": {"summary": f"Call back ({viewer})", "due": "2026-12-31"},
        "/contacts/{uid}/followups/done": {"todo": "no-such-task"},
        # No calendar chosen: the form refused, nothing written.
        # No list chosen: the form refused, nothing written.
        "/tasks/new": {"title": f"Walk {viewer}", "list": "", "status": "NEEDS-ACTION", "priority": "0"},
        # No name: the form refused, no list made.
        "/tasks/lists": {"name": "", "colour": ""},
        "/tasks/lists/{list}/rename": {"name": f"Walked by {viewer}"},
        "/tasks/own": {"own-name": "", "own-colour": ""},
        "/tasks/own/{list}/rename": {"name": f"Walked by {viewer}"},
        "/agenda/new": {"title": f"Walk {viewer}", "calendar": "", "start_date": "2026-12-09", "start_time": "09:00",
                        "end_date": "2026-12-09", "end_time": "10:00"},
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
        "/website/images": {"alts": "A walk"},
        "/website/images/{image}/alt": {"alt": f"Walked by {viewer}"},
        "/rules/vacation": {"vacation-subject": "Away", "vacation-text": "Back soon"},
        "/rules/forward": {"forward-to": ""},
        "/rules/add": {"rule-sender": "walk@example.com", "rule-folder": "Walk"},
        "/rules/delete": {"rule": "1"},
        # A domain no test sends from, so these entries change nobody's mail.
        "/rules/senders/add": {"senders-list": "block", "senders-entry": "walk-blocked.example"},
        "/rules/senders/remove": {"list": "block", "entry": "walk-blocked.example"},
        "/senders/add": {"senders-list": "block", "senders-entry": "walk-blocked.example"},
        "/senders/remove": {"list": "block", "entry": "walk-blocked.example"},
        "/mail/compose": {"sender": VIEWERS.get(viewer) or "bob@acme.example", "to": "ann@acme.example",
                          "subject": f"walk {viewer}", "body": "walk", "draft": "1"},
        "/mail/{folder}/act": {"action": "read", "m": "1"},
        # Not an answer: refused (400) for the user, the 404 for another business.
        "/mail/{folder}/{message}/invitation": {"answer": "walk"},
        # Every message, as the walk's people have it.
        "/mail/{folder}/conversations": {"conversations": "off"},
        # The walk's {folder} is the viewer's INBOX, which stays: renaming,
        # deleting or emptying it is refused; unsubscribing it changes nothing.
        # Folder ids count per business: the other business makes none, so
        # none of its ids reaches those of acme's folders the walk aims at.
        "/mail/folders": {"name": "" if viewer == "other-owner" else f"Walk {viewer} {next(_victims)}", "parent": ""},
        "/mail/{folder}/rename": {"name": f"Walk {viewer} {next(_victims)}", "parent": ""},
        "/mail/{folder}/subscribe": {"subscribed": "on"},
        # An empty signature for the viewer's own address: nothing to remove.
        "/mail/signatures": {"address": VIEWERS.get(viewer) or "bob@acme.example", "s0-text": ""},
        # Not the message's sender: refused (400) for the user, the 404 for another business.
        "/mail/{folder}/{message}/pictures": {"address": "walk@walk-blocked.example"},
        # An address nobody keeps: nothing to remove.
        "/mail/pictures/remove": {"address": "walk@walk-blocked.example"},
    }.get(pattern, {})
    if method == "POST" and pattern in ("/contacts/{uid}/deals/add", "/deals/{deal}"):
        form = _deal_form(env, f"Walk deal ({viewer})")
    elif method == "POST" and pattern == "/agenda/events/{calendar}/{event}":
        form = {"title": f"Walked by {viewer}", "calendar": path.split("/")[3], "start_date": "2026-12-09",
                "start_time": "09:00", "end_date": "2026-12-09", "end_time": "10:00"}
    elif method == "POST" and pattern == "/tasks/{list}/{task}":
        form = {"title": f"Walked by {viewer}", "list": path.split("/")[2], "status": "IN-PROCESS", "priority": "0"}
    elif method == "POST" and pattern == "/deals/{deal}/stage":
        form = {"stage": str(_walk_stages(env)["Won"])}
    elif method == "POST" and pattern == "/pipeline/stages":
        # The stages as they are: saving them changes nothing.
        form = _walk_stage_form(env)
    return path, form


def _kind(viewer: str, pattern: str) -> str:
    """Who the panel takes ``viewer`` for on ``pattern``: an operator's
    cookie counts only on the operators' pages."""
    kind = {"other-owner": OWNER}.get(viewer, viewer)
    if kind in (OPERATOR, OPERATOR_CODE) and not rights.is_operator_route(_route(pattern)):
        return OUT
    return kind


def _route(pattern: str):
    return next(r for r in rights.ROUTES if r.pattern == pattern)


def _acme_contact(env) -> str:
    """The UID of a new card in acme's shared address book (PUT over CardDAV)."""
    uid = f"walk-{next(_victims)}"
    card = f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Walk Card\r\nN:Card;Walk;;;\r\nEND:VCARD\r\n"
    reply = requests.put(f"{env.base}/dav/acme/customers/{uid}.vcf", data=card.encode(), auth=("ann@acme.example", PASSWORD),
                         headers={"Content-Type": "text/vcard"}, verify=False, timeout=30)
    assert reply.status_code == 201, reply.text
    return uid


def _walk_stages(env) -> dict[str, int]:
    """acme's pipeline, name -> id (ann's stages page makes the default one)."""
    page = _signed_in(env, "ann@acme.example").get("/pipeline/stages").text
    return {html.unescape(re.search(r'value="([^"]*)"', tag).group(1)): int(re.search(r'name="name_([0-9]+)"', tag).group(1))
            for tag in re.findall(r'<input[^>]*name="name_[0-9]+"[^>]*>', page)}


def _walk_stage_form(env) -> dict[str, str]:
    page = _signed_in(env, "ann@acme.example").get("/pipeline/stages").text
    return {re.search(r'name="([^"]+)"', tag).group(1): html.unescape(re.search(r'value="([^"]*)"', tag).group(1))
            for tag in re.findall(r'<input[^>]*name="(?:name|order)_[0-9]+"[^>]*>', page)}


def _deal_form(env, title: str) -> dict[str, str]:
    return {"title": title, "amount": "10", "currency": "EUR", "stage": str(_walk_stages(env)["New"]),
            "probability": "10", "owner": "ann@acme.example"}


def _acme_deal(env, uid: str) -> str:
    """The id of a new deal of acme's contact ``uid``, added by ann."""
    ann = _signed_in(env, "ann@acme.example")
    assert ann.post(f"/contacts/{uid}/deals/add", _deal_form(env, "Walk deal")).status_code == 303
    (deal,) = re.findall(r'href="/deals/([0-9a-f]{16})"', ann.get(f"/contacts/{uid}").text)[:1]
    return deal


@pytest.mark.parametrize("route", sorted(SPEC), ids=lambda r: f"{r[1]} {r[0]}")
def test_every_route_answers_each_viewer_as_the_matrix_says(env, before_the_walk, operators, route):
    """Allowed: an answer that is neither 403 nor 404 nor the sign-in
    redirect. Signed out where a user is needed: 303 to /. Staff (or a
    support session) on an owner's own route: 403. Another business's owner
    on a route naming one of acme's people, domains, app passwords,
    contacts, calendars, the pages of its site (or their preview) or its pictures: the 404 of a page
    that does not exist, and nothing done. On the operators' pages: signed
    out or owing the code, 303 to /operator; a business's user or a support
    session's cookie, the 404, and nothing done."""
    pattern, method = route
    allowed = SPEC[route]
    operator_route = rights.is_operator_route(_route(pattern))
    for viewer in VIEWERS:
        client = _client_for(env, operators, viewer, pattern)
        missing = client.get("/no/such/page")
        assert missing.status_code == 404
        path, form = _request_for(env, pattern, method, viewer)
        if operator_route and viewer in (OPERATOR, OPERATOR_CODE):
            # Its forms carry the operator session's own CSRF token.
            client.get("/operator/businesses" if viewer == OPERATOR else "/operator/code")
        reply = client.get(path) if method == "GET" else client.post(path, form)
        cell = f"{method} {path} as {viewer}: {reply.status_code}"
        role = _kind(viewer, pattern)
        sign_in_page = "/operator" if operator_route else "/"
        if viewer == "other-owner" and any(p in pattern for p in ("{address}", "{app}", "{domain}", "{uid}", "{page}", "{file}",
                                                                  "{folder}", "{image}", "{deal}", "{calendar}", "{list}",
                                                                  "{report}")):
            assert reply.status_code == 404, cell
            assert reply.content == missing.content, cell
        elif role in allowed:
            assert reply.status_code not in (403, 404), cell
            assert not (reply.status_code == 303 and reply.headers["location"] == sign_in_page
                        and "signout" not in path and path not in ("/sessions/end", "/signin/code")), cell
        elif role in (OUT, OPERATOR_CODE):
            assert (reply.status_code, reply.headers.get("location")) == (303, sign_in_page), cell
        elif operator_route:
            assert reply.status_code == 404, cell
            assert reply.content == missing.content, cell
        else:
            assert reply.status_code == 403, cell
    if pattern == "/language":
        # The choice is stored for the people signed in; the tests after the
        # walk expect them to read what their browser asks for.
        _forget_languages(env, "acme", [a for a in VIEWERS.values() if a and a.endswith("@acme.example")])
        _forget_languages(env, "other", [a for a in VIEWERS.values() if a and not a.endswith("@acme.example")])
    if "{app}" in pattern:  # olga's try left bob's app password in place
        assert path.split("/")[3] in _app_refs(env, "bob@acme.example")


def test_the_walk_changed_only_what_owners_and_support_may_change(env, before_the_walk):
    """After every cell of the walk above (one CLI look at the end, not one
    per route, which would cost minutes): bob is still there; the people,
    domains and DNS records it added are only those made by acme's owner or
    an operator's support session (``walk-owner-*``, ``walk-support-*``,
    the victims); no business came or went; acme's site still has its page
    "kept" as it was."""
    users, domains, businesses = before_the_walk
    after = env.users()
    assert "bob@acme.example" in after
    assert not [a for a in set(after) - users if not a.startswith(("walk-owner", "walk-support", "victim"))], after
    assert [b["slug"] for b in env.cli.json("tenant", "list")] == businesses
    domains_after = _domains(env)
    assert "acme.example" in domains_after
    assert not [d for d in set(domains_after) - domains if not d.startswith(("walk-owner", "walk-support", "victim"))], domains_after
    records = [r["name"] for r in env.cli.json("dns", "records", "acme.example")]
    assert not [r for r in records if r.startswith("walk-") and not r.startswith(("walk-owner", "walk-support"))], records
    if _sites:
        assert env.cli("site", "page", "show", "acme", "kept").stdout == "Kept.\n"
    if _images:
        assert "kept.png" in [i["name"] for i in env.cli.json("site", "image", "list", "acme")]


def _own_mail(env, pattern: str, path: str, address: str) -> str:
    """``path`` with the folder, message and part of a message just
    delivered to ``address``'s INBOX (a multipart one, so part 1 exists)."""
    from .webmail_client import deliver, inbox, message

    subject = f"Walk {next(_victims)}"
    calendar = ""
    if pattern.endswith("/invitation/remove"):
        # A cancellation of an event nobody has: removing it changes nothing.
        calendar = ("--b\r\nContent-Type: text/calendar; method=CANCEL\r\n\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
                    "METHOD:CANCEL\r\nBEGIN:VEVENT\r\nUID:walk-nothing\r\nDTSTART:20270101T100000Z\r\n"
                    "ORGANIZER:mailto:carol@elsewhere.example\r\nSEQUENCE:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    if pattern.endswith("/invitation/record"):
        # carol's answer to an event of the reader's that nobody has: recording it changes nothing.
        calendar = ("--b\r\nContent-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
                    "METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:walk-nothing\r\nDTSTART:20270101T100000Z\r\n"
                    f"ORGANIZER:mailto:{address}\r\nATTENDEE;PARTSTAT=ACCEPTED:mailto:carol@elsewhere.example\r\n"
                    "SEQUENCE:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    first = "--b\r\nContent-Type: text/plain\r\n\r\nwalk\r\n"
    if "/part/{part}/" in pattern:
        # Part 1 is an attached message, to open.
        first = ("--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: dan@elsewhere.example\r\nSubject: Inside\r\n\r\n"
                 "inside\r\n" + first)
    raw = (f"From: carol@elsewhere.example\r\nTo: {address}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: multipart/mixed; boundary=b\r\n\r\n{first}{calendar}--b--\r\n")
    deliver(env, address, subject, raw=raw.encode())
    # The walk's own browser: each new sign-in would end the oldest of the
    # person's sessions past the panel's limit, the walk's among them.
    client = _signed_in(env, address)
    box = inbox(client)
    uid = message(client, box, subject)
    path = path.replace("{folder}", str(box)).replace("{message}", str(uid)).replace("{part}", "1")
    if "{thread}" in pattern:
        # The conversation the message began (storage.mailthreads).
        slug = "acme" if address.endswith("@acme.example") else "other"
        conn = sqlite3.connect(env.state / "tenants" / f"{slug}.sqlite3", timeout=10)
        try:
            (thread,) = conn.execute("SELECT thread FROM messages WHERE mailbox_id = ? AND uid = ?", (box, uid)).fetchone()
        finally:
            conn.close()
        path = path.replace("{thread}", str(thread))
    return path


_reports: list[str] = []


def _acme_report(env) -> str:
    """The id of a DMARC aggregate report about acme.example, delivered
    once over the MX port to acme's reports address (its owner's INBOX)."""
    if not _reports:
        from .webmail_client import deliver

        fixture = Path(__file__).resolve().parents[2] / "fixtures" / "dmarc" / "yahoo.com!reportco.example!1764979200!1765065599.xml"
        xml = fixture.read_bytes().replace(b"reportco.example", b"acme.example").replace(
            b"1765065599.738124", b"walk-acme-report")
        msg = email.message.EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "dmarchelp@yahooinc.com", "postmaster@acme.example", "Report domain: acme.example"
        msg.set_content("Aggregate report.\n")
        msg.add_attachment(xml, maintype="application", subtype="xml", filename="yahoo.com!acme.example!1!2.xml")
        deliver(env, "postmaster@acme.example", "", raw=msg.as_bytes(), sender="dmarchelp@yahooinc.com")
        conn = sqlite3.connect(env.state / "tenants" / "acme.sqlite3", timeout=10)
        try:
            (found,) = conn.execute("SELECT id FROM dmarc_reports WHERE report_id = 'walk-acme-report'").fetchone()
        finally:
            conn.close()
        _reports.append(str(found))
    return _reports[0]


def _forget_languages(env, slug: str, addresses: list[str]) -> None:
    """No stored panel language for ``addresses`` of business ``slug``."""
    conn = sqlite3.connect(env.state / "tenants" / f"{slug}.sqlite3", timeout=10)
    try:
        with conn:
            conn.executemany("UPDATE users SET language = '' WHERE address = ?", [(a,) for a in addresses])
    finally:
        conn.close()


def _domains(env) -> list[str]:
    return [d["name"] for d in env.cli.json("domain", "list", "acme")]


def _calendar_ref(env, address: str) -> str:
    """The reference of ``address``'s own calendar, from their feeds page."""
    page = _signed_in(env, address).get("/calendars").text
    own = page[page.index('id="own-heading"'):]
    return re.search(r'action="/calendars/([0-9a-f]{16})/', own).group(1)


def _own_event(env, address: str) -> str:
    """The UID of a new event in ``address``'s own calendar (PUT over CalDAV)."""
    uid = f"walk-event-{next(_victims)}"
    text = (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//walk//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            "DTSTAMP:20261201T000000Z\r\nDTSTART:20261209T090000Z\r\nDTEND:20261209T100000Z\r\nSUMMARY:Walk\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    reply = requests.put(f"{env.base}/dav/{address}/calendar/{uid}.ics", data=text.encode(), auth=(address, PASSWORD),
                         headers={"Content-Type": "text/calendar"}, verify=False, timeout=30)
    assert reply.status_code == 201, reply.text
    return uid


def _task_list_ref(env, address: str) -> str:
    """The reference of ``address``'s own task list, from the new task form."""
    page = _signed_in(env, address).get("/tasks/new").text
    select = page[page.index('name="list"'):page.index("</select>", page.index('name="list"'))]
    return re.search(r'value="([0-9a-f]{16})"[^>]*>Tasks<', select).group(1)


def _own_task(env, address: str) -> str:
    """The UID of a new task in ``address``'s own task list (PUT over CalDAV)."""
    uid = f"walk-task-{next(_victims)}"
    text = (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//walk//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\n"
            "DTSTAMP:20261201T000000Z\r\nSUMMARY:Walk\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    reply = requests.put(f"{env.base}/dav/{address}/tasks/{uid}.ics", data=text.encode(), auth=(address, PASSWORD),
                         headers={"Content-Type": "text/calendar"}, verify=False, timeout=30)
    assert reply.status_code == 201, reply.text
    return uid


def _shared_list(env, viewer: str, pattern: str) -> str:
    """A shared task list of acme's, made by its owner: the same one for
    every cell, but a new one when the owner deletes it."""
    if _lists and not (viewer == "owner" and pattern.endswith("/delete")):
        return _lists[0]
    ann = _signed_in(env, "ann@acme.example")
    name = f"Walk list {next(_victims)}"
    assert ann.post("/tasks/lists", {"name": name, "colour": ""}).status_code == 303
    page = ann.get("/tasks/new").text
    ref = re.search(r'value="([0-9a-f]{16})"[^>]*>' + name + "<", page).group(1)
    if not _lists:
        _lists.append(ref)
    return ref


def _own_list(env, address: str) -> str:
    """A new task list of ``address``'s own, made in the panel."""
    client = _signed_in(env, address)
    name = f"Walk own list {next(_victims)}"
    assert client.post("/tasks/own", {"own-name": name, "own-colour": ""}).status_code == 303
    page = client.get("/tasks/new").text
    return re.search(r'value="([0-9a-f]{16})"[^>]*>' + name + "<", page).group(1)


def _app_refs(env, address: str) -> list[str]:
    """The ids of the app passwords of ``address``, from its page."""
    page = _signed_in(env, address).get("/security/apps").text
    return re.findall(r'action="/security/apps/([0-9a-f]{16})/revoke"', page)


def _app_ref(env, address: str) -> str:
    """The id of an app password of ``address``, made for the purpose."""
    before = set(_app_refs(env, address))
    assert _signed_in(env, address).post("/security/apps", {"name": f"walk {next(_victims)}"}).status_code == 200
    return (set(_app_refs(env, address)) - before).pop()


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
