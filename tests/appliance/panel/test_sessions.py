"""Panel sessions against the daemon: the cookie, what the box database
keeps of it, a new id at sign-in and at a change of role, the idle and
absolute timeouts, signing out (here and everywhere), the sessions page,
and the one login checker (throttle and fail2ban line)."""

from __future__ import annotations

import hashlib
import re
import time

from .conftest import PASSWORD


def _add(env, address: str) -> None:
    env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")


def test_the_session_cookie_is_host_only_secure_httponly_strict(env):
    """Signing in sets __Host-session with Secure, HttpOnly, SameSite=Strict
    and Path=/, and no Domain."""
    client = env.client()
    reply = client.sign_in("ann@acme.example")
    cookie = next(v for k, v in reply.raw.headers.items() if k.lower() == "set-cookie" and v.startswith("__Host-session="))
    attributes = {a.strip().split("=")[0] for a in cookie.split(";")[1:]}
    assert attributes == {"Path", "HttpOnly", "SameSite", "Secure"}
    assert "SameSite=Strict" in cookie and "Path=/" in cookie


def test_the_box_database_holds_only_a_hash_of_the_session_id(env):
    """The session id is nowhere in box.sqlite3; its SHA-256 is."""
    client = env.signed_in("ann@acme.example")
    token = client.session_cookie()
    digest = hashlib.sha256(token.encode()).hexdigest()
    assert env.box_sql("SELECT count(*) FROM panel_sessions WHERE id_hash = ?", (digest,)) == [(1,)]
    raw = b"".join((env.state / name).read_bytes() for name in ("box.sqlite3", "box.sqlite3-wal")
                   if (env.state / name).exists())
    assert token.encode() not in raw


def test_signing_in_issues_a_new_id_and_ends_the_one_the_browser_had(env):
    """Signing in again from a signed-in browser gives a new session id; the old one no longer works."""
    client = env.signed_in("ann@acme.example")
    old = client.session_cookie()
    client.sign_in("ann@acme.example")
    assert client.session_cookie() != old
    stale = env.client()
    stale.http.cookies.set("__Host-session", old, domain="127.0.0.1", path="/")
    assert (stale.get("/home").status_code, stale.last.headers["location"]) == (303, "/")


def test_a_change_of_role_issues_a_new_id(env):
    """Made owner by the CLI, a staff member's next request gets a new session
    id and owner rights; the old id is dead."""
    _add(env, "rita@acme.example")
    client = env.signed_in("rita@acme.example")
    old = client.session_cookie()
    assert client.get("/people").status_code == 403
    env.cli("user", "role", "rita@acme.example", "owner")
    assert client.get("/people").status_code == 200
    assert client.session_cookie() != old
    stale = env.client()
    stale.http.cookies.set("__Host-session", old, domain="127.0.0.1", path="/")
    assert stale.get("/home").status_code == 303


def test_an_idle_session_ends(env):
    """A session unused for longer than [panel] idle_seconds sends the browser to sign in again."""
    client = env.signed_in("ann@acme.example")
    digest = hashlib.sha256(client.session_cookie().encode()).hexdigest()
    env.box_sql("UPDATE panel_sessions SET seen = ? WHERE id_hash = ?", (time.time() - 1801, digest))
    assert (client.get("/home").status_code, client.last.headers["location"]) == (303, "/")
    assert env.box_sql("SELECT count(*) FROM panel_sessions WHERE id_hash = ?", (digest,)) == [(0,)]


def test_a_busy_session_still_ends_at_its_absolute_age(env):
    """A session older than [panel] max_age_seconds ends even though it was just used."""
    client = env.signed_in("ann@acme.example")
    digest = hashlib.sha256(client.session_cookie().encode()).hexdigest()
    env.box_sql("UPDATE panel_sessions SET created = ? WHERE id_hash = ?", (time.time() - 43_201, digest))
    assert client.get("/home").status_code == 303


def test_sign_out_ends_the_session_and_sign_out_everywhere_ends_them_all(env):
    """Sign-out kills this browser's session only; sign-out everywhere kills the rest."""
    _add(env, "sam@acme.example")
    first, second, third = (env.signed_in("sam@acme.example") for _ in range(3))
    first_cookie = first.session_cookie()
    assert first.post("/signout").status_code == 303
    replay = env.client()
    replay.http.cookies.set("__Host-session", first_cookie, domain="127.0.0.1", path="/")
    assert replay.get("/home").status_code == 303
    assert second.get("/home").status_code == 200
    assert second.post("/signout/everywhere").status_code == 303
    assert third.get("/home").status_code == 303


def test_the_sessions_page_lists_and_ends_one_session(env):
    """The sessions page shows each of the user's sessions; ending one ends only that one."""
    _add(env, "tess@acme.example")
    mine, other = env.signed_in("tess@acme.example"), env.signed_in("tess@acme.example")
    page = mine.get("/sessions").text
    refs = re.findall(r'name="ref" value="([0-9a-f]+)"', page)
    assert len(refs) == 2 and page.count("this browser") == 1
    current = re.search(r'this browser.*?name="ref" value="([0-9a-f]+)"', page, re.S).group(1)
    victim = next(r for r in refs if r != current)
    assert mine.post("/sessions/end", {"ref": victim}).headers["location"] == "/sessions"
    assert other.get("/home").status_code == 303
    assert mine.get("/home").status_code == 200


def test_a_failed_panel_sign_in_goes_through_the_login_checker(env):
    """A wrong password is refused beside the field, and logged in the one
    fail2ban format with protocol=panel."""
    client = env.client()
    reply = client.sign_in("ann@acme.example", "wrong password")
    assert reply.status_code == 401 and "Wrong address or password." in reply.text
    assert client.session_cookie() is None
    assert "auth failed: protocol=panel user=ann@acme.example source=127.0.0.1" in env.daemon.log()


def test_expired_sessions_are_removed_from_the_box_database(env):
    """A session past its idle timeout is gone from box.sqlite3 after the next
    sign-in of anyone, without its browser coming back."""
    _add(env, "uma@acme.example")
    client = env.signed_in("uma@acme.example")
    digest = hashlib.sha256(client.session_cookie().encode()).hexdigest()
    env.box_sql("UPDATE panel_sessions SET seen = ? WHERE id_hash = ?", (time.time() - 1801, digest))
    env.signed_in("ann@acme.example")
    assert env.box_sql("SELECT count(*) FROM panel_sessions WHERE id_hash = ?", (digest,)) == [(0,)]
