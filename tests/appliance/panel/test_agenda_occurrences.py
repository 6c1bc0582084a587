"""One occurrence of a repeating event in the panel's agenda, over real
HTTPS against the daemon: what the panel writes (RECURRENCE-ID overrides
and EXDATEs in the series' object, as Thunderbird and Outlook write them)
read back by a CalDAV client (the caldav library), and an override a
client wrote shown and edited as written. occurco's owner (ada) writes in
her own calendar."""

from __future__ import annotations

import html

import pytest

from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_agenda import _dav, _days, _etag, _event, _form, _refs
from .test_browser import PHONE, _clean

SLUG = "occurco"
OWNER = f"ada@{SLUG}.example"


@pytest.fixture(scope="module")
def agendaco(env):
    """A business of its own with ada, its owner."""
    env.cli("tenant", "add", SLUG, "--name", "Occurrence Co", "--domain", f"{SLUG}.example")
    env.cli("user", "add", OWNER, "--password-stdin", input=PASSWORD + "\n")
    return env


SERIES = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//agenda//EN
BEGIN:VEVENT
UID:agenda-series-{n}
DTSTAMP:20261101T090000Z
DTSTART:20270201T090000Z
DTEND:20270201T100000Z
RRULE:FREQ=WEEKLY;COUNT=4
SUMMARY:Team breakfast {n}
X-CLIENT-COLOUR:amber
END:VEVENT
END:VCALENDAR
"""
# As Thunderbird writes a series with one time moved and renamed: the
# override in the same object, its own X- property, times in a named zone.
CLIENT_OVERRIDE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
BEGIN:VTIMEZONE
TZID:Europe/Paris
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:agenda-tb-override
DTSTAMP:20261101T090000Z
DTSTART;TZID=Europe/Paris:20270302T100000
DTEND;TZID=Europe/Paris:20270302T110000
RRULE:FREQ=WEEKLY;COUNT=3
SUMMARY:Stand-up
END:VEVENT
BEGIN:VEVENT
UID:agenda-tb-override
DTSTAMP:20261102T090000Z
RECURRENCE-ID;TZID=Europe/Paris:20270309T100000
DTSTART;TZID=Europe/Paris:20270309T150000
DTEND;TZID=Europe/Paris:20270309T160000
SUMMARY:Stand-up (afternoon)
SEQUENCE:1
X-MOZ-GENERATION:3
END:VEVENT
END:VCALENDAR
"""


def _series(env, n: int) -> tuple[object, str]:
    """ada's client puts series ``n`` (Mondays 1-22 February 2027, 09:00 UTC)
    in her own calendar; her panel client and the series' page path."""
    _dav(env, OWNER).calendar(url=env.base + f"/dav/{OWNER}/calendar/").save_event(SERIES.format(n=n))
    ada = env.signed_in(OWNER)
    return ada, f"/agenda/events/{_refs(ada)['Calendar']}/agenda-series-{n}"


def _components(env, uid: str) -> list:
    """Every VEVENT of ``uid``'s object in ada's calendar, as the caldav library reads it."""
    calendar = _dav(env, OWNER).calendar(url=env.base + f"/dav/{OWNER}/calendar/")
    return list(calendar.event_by_uid(uid).icalendar_instance.walk("VEVENT"))


def test_the_week_links_each_occurrence_of_a_series_to_its_own_page(agendaco):
    """ada's week of 8 February links the series' Monday to its occurrence
    (its RECURRENCE-ID, UTC); that page shows its date and the choice of
    this occurrence or the whole series; a time the rule never reaches
    is the 404 of a missing page."""
    ada, path = _series(agendaco, 1)
    page = html.unescape(ada.get("/agenda/week/2027-W06").text)
    assert f'href="{path}?occurrence=20270208T090000Z"' in page
    form = html.unescape(ada.get(path + "?occurrence=20270208T090000Z").text)
    assert "this is the time on Monday 8 February" in form and 'value="2027-02-08"' in form
    assert "Only this occurrence" in form and "Every occurrence (the whole series)" in form
    missing = ada.get("/no/such/page").content
    for key in ("20270209T090000Z", "20270301T090000Z", "nonsense"):
        reply = ada.get(path + f"?occurrence={key}")
        assert reply.status_code == 404 and reply.content == missing, key


def test_editing_one_occurrence_writes_an_override_and_keeps_the_series(agendaco):
    """ada moves the series' 8 February to 11:00 and renames it, for this
    occurrence only: the caldav library reads the master as it was (rule,
    times, X- property) and an override with RECURRENCE-ID 09:00 UTC, the
    new title and times; the week shows the moved time, the next week the
    series' own."""
    env = agendaco
    ada, path = _series(env, 2)
    page = ada.get(path + "?occurrence=20270208T090000Z").text
    reply = ada.post(path, _form(
        _refs(ada)["Calendar"], title="Team breakfast (late)", start_date="2027-02-08", start_time="11:00",
        end_date="2027-02-08", end_time="12:00", etag=_etag(page), scope="occurrence", occurrence="20270208T090000Z"))
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2027-W06?saved=1", reply.text[:2000]
    master, override = _components(env, "agenda-series-2")
    assert str(master["SUMMARY"]) == "Team breakfast 2" and "RRULE" in master and "RECURRENCE-ID" not in master
    assert master["DTSTART"].dt.isoformat() == "2027-02-01T09:00:00+00:00" and str(master["X-CLIENT-COLOUR"]) == "amber"
    assert override["RECURRENCE-ID"].dt.isoformat() == "2027-02-08T09:00:00+00:00" and "RRULE" not in override
    assert str(override["SUMMARY"]) == "Team breakfast (late)"
    assert override["DTSTART"].dt.isoformat() == "2027-02-08T11:00:00+00:00"
    assert override["DTEND"].dt.isoformat() == "2027-02-08T12:00:00+00:00"
    assert "11:00–12:00 Team breakfast (late)" in _days(ada.get("/agenda/week/2027-W06").text)["2027-02-08"]
    assert "09:00–10:00 Team breakfast 2 ·" in _days(ada.get("/agenda/week/2027-W07").text)["2027-02-15"]
    # The override's own page shows what it holds now.
    again = html.unescape(ada.get(path + "?occurrence=20270208T090000Z").text)
    assert 'value="Team breakfast (late)"' in again and 'value="11:00"' in again


def test_editing_the_whole_series_from_one_occurrence_moves_every_time(agendaco):
    """From the 15 February occurrence, ada moves the start an hour later
    for the whole series: the master now starts 1 February at 10:00, no
    override is written, every Monday shows 10:00."""
    env = agendaco
    ada, path = _series(env, 3)
    page = ada.get(path + "?occurrence=20270215T090000Z").text
    reply = ada.post(path, _form(
        _refs(ada)["Calendar"], title="Team breakfast 3", start_date="2027-02-15", start_time="10:00",
        end_date="2027-02-15", end_time="11:00", etag=_etag(page), scope="series", occurrence="20270215T090000Z"))
    assert reply.status_code == 303, reply.text[:2000]
    (master,) = _components(env, "agenda-series-3")
    assert master["DTSTART"].dt.isoformat() == "2027-02-01T10:00:00+00:00"
    assert master["DTEND"].dt.isoformat() == "2027-02-01T11:00:00+00:00" and "RRULE" in master
    days = _days(ada.get("/agenda/month/2027-02").text)
    assert [d for d, text in days.items() if "10:00–11:00 Team breakfast 3" in text] == [
        "2027-02-01", "2027-02-08", "2027-02-15", "2027-02-22"]


def test_deleting_one_occurrence_adds_an_exdate_and_the_series_stays(agendaco):
    """ada deletes the 8 February occurrence only (after overriding it):
    the master gets EXDATE 8 February 09:00 UTC, the override is gone,
    the month shows three Mondays; deleting the whole series from another
    occurrence removes the object."""
    env = agendaco
    ada, path = _series(env, 4)
    query = "?occurrence=20270208T090000Z"
    page = ada.get(path + query).text
    assert ada.post(path, _form(_refs(ada)["Calendar"], title="Moved", start_date="2027-02-08",
                                end_date="2027-02-08", etag=_etag(page), scope="occurrence",
                                occurrence="20270208T090000Z")).status_code == 303
    ask = html.unescape(ada.get(path + "/delete" + query).text)
    assert "Delete only the time on Monday 8 February" in ask and "Only this occurrence" in ask
    reply = ada.post(path + "/delete", {"scope": "occurrence", "occurrence": "20270208T090000Z"})
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2027-W06?deleted=1"
    (master,) = _components(env, "agenda-series-4")
    exdates = master["EXDATE"] if isinstance(master["EXDATE"], list) else [master["EXDATE"]]
    assert [d.dt.isoformat() for e in exdates for d in e.dts] == ["2027-02-08T09:00:00+00:00"]
    days = _days(ada.get("/agenda/month/2027-02").text)
    assert sorted(d for d, text in days.items() if "Team breakfast 4" in text or "Moved" in text) == [
        "2027-02-01", "2027-02-15", "2027-02-22"]
    assert ada.get(path + query).status_code == 404
    reply = ada.post(path + "/delete", {"scope": "series", "occurrence": "20270215T090000Z"})
    assert reply.status_code == 303
    assert _event(env, OWNER, f"{OWNER}/calendar", "agenda-series-4") is None


def test_an_override_a_client_wrote_shows_and_edits_as_written(agendaco):
    """A Thunderbird series in Paris time (Tuesdays in March 2027, 10:00)
    has its 9 March moved to 15:00 and renamed by the client: the panel's
    week shows "Stand-up (afternoon)" at 14:00 UTC, its page shows the
    override's title and time; ada changes its place only: the override
    keeps its X-MOZ-GENERATION and RECURRENCE-ID, the master is untouched."""
    env = agendaco
    _dav(env, OWNER).calendar(url=env.base + f"/dav/{OWNER}/calendar/").save_event(CLIENT_OVERRIDE)
    ada = env.signed_in(OWNER)
    days = _days(ada.get("/agenda/week/2027-W10").text)
    assert "14:00–15:00 Stand-up (afternoon)" in days["2027-03-09"] and "09:00–10:00 Stand-up" not in days["2027-03-09"]
    path = f"/agenda/events/{_refs(ada)['Calendar']}/agenda-tb-override"
    assert html.unescape(ada.get("/agenda/week/2027-W10").text).count(path + "?occurrence=20270309T090000Z") == 1
    page = html.unescape(ada.get(path + "?occurrence=20270309T090000Z").text)
    assert 'value="Stand-up (afternoon)"' in page and 'value="15:00"' in page and "Times are in Europe/Paris" in page
    reply = ada.post(path, _form(_refs(ada)["Calendar"], title="Stand-up (afternoon)", start_date="2027-03-09",
                                 start_time="15:00", end_date="2027-03-09", end_time="16:00", place="Room 2",
                                 etag=_etag(page), scope="occurrence", occurrence="20270309T090000Z"))
    assert reply.status_code == 303, reply.text[:2000]
    master, override = _components(env, "agenda-tb-override")
    assert "LOCATION" not in master and str(master["SUMMARY"]) == "Stand-up" and "RRULE" in master
    assert str(override["LOCATION"]) == "Room 2" and str(override["X-MOZ-GENERATION"]) == "3"
    assert override["RECURRENCE-ID"].dt.isoformat() == "2027-03-09T10:00:00+01:00"
    assert override["DTSTART"].dt.isoformat() == "2027-03-09T15:00:00+01:00" and int(override["SEQUENCE"]) == 1


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_ada_changes_one_occurrence_then_deletes_another_in_chromium(agendaco, tmp_path_factory):
    """At phone width, ada opens the series' 8 February from her week,
    keeps "Only this occurrence", renames it and saves; then opens 15
    February, asks to delete it, keeps "Only this occurrence" and
    confirms: each page is clean (axe-core, no console error, no sideways
    scrolling) and the week after shows no breakfast."""
    env = agendaco
    _series(env, 5)
    browser = Browser(tmp_path_factory.mktemp("chromium-occurrence"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        browser.viewport(*PHONE, mobile=True)
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        _clean(browser.visit(base + "/"), "Sign in")
        browser.fill("E-mail address", OWNER)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.visit(base + "/agenda/week/2027-W06"), "Agenda: week of Monday 8 February", browser)
        links = browser.evaluate("[...document.querySelectorAll('main a')].filter(a => a.href.includes("
                                 "'agenda-series-5')).map(a => a.textContent.trim())")
        assert links == ["Team breakfast 5"]
        _clean(browser.press("Team breakfast 5"), "Edit the event “Team breakfast 5”", browser)
        browser.check("Only this occurrence")
        browser.fill("Title", "Breakfast at the bakery")
        _clean(browser.press("Save"), "Agenda: week of Monday 8 February", browser)
        assert "Breakfast at the bakery" in browser.evaluate("document.querySelector('main').textContent")
        _clean(browser.press("Next week"), "Agenda: week of Monday 15 February", browser)
        _clean(browser.press("Team breakfast 5"), "Edit the event “Team breakfast 5”", browser)
        _clean(browser.press("Delete this event"), "Delete the event “Team breakfast 5”?", browser)
        browser.check("Only this occurrence")
        _clean(browser.press("Delete the event"), "Agenda: week of Monday 15 February", browser)
        assert "Team breakfast 5" not in browser.evaluate("document.querySelector('main').textContent")
    finally:
        browser.close()
