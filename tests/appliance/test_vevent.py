"""The agenda's VEVENT reading and patching (appliance.vevent) on objects
as clients write them: only the form's properties change."""

from __future__ import annotations

import dataclasses
import datetime as dt

import icalendar

from appliance import vevent

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.timezone.utc)
#: As Thunderbird writes a weekly meeting with one moved instance.
SERIES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r
BEGIN:VEVENT\r
UID:series-1\r
DTSTAMP:20261101T090000Z\r
DTSTART:20261201T090000Z\r
DURATION:PT1H\r
RRULE:FREQ=WEEKLY;COUNT=4\r
SUMMARY:Team\r
X-MOZ-GENERATION:3\r
ATTENDEE;PARTSTAT=ACCEPTED;CN=Bob:mailto:Bob@Acme.example\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:series-1\r
DTSTAMP:20261101T090000Z\r
RECURRENCE-ID:20261208T090000Z\r
DTSTART:20261208T100000Z\r
DTEND:20261208T110000Z\r
SUMMARY:Team (moved)\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_read_gives_the_masters_fields_with_a_duration_as_an_end():
    """The master (not the moved instance) is read; DURATION becomes the end;
    attendee addresses are lower-case without mailto:."""
    found = vevent.read(SERIES, "series-1")
    assert found.recurring
    assert found.fields.title == "Team"
    assert found.fields.end - found.fields.start == dt.timedelta(hours=1)
    assert found.fields.attendees == ("bob@acme.example",)
    assert found.fields.reminder is None


def test_patching_the_title_keeps_everything_else():
    """A new title changes SUMMARY; the RRULE, the X- property, the
    attendee's parameters, the moved instance and the DURATION stay."""
    before = vevent.read(SERIES, "series-1").fields
    text = vevent.patch(SERIES, "series-1", dataclasses.replace(before, title="Team meeting"), NOW)
    calendar = icalendar.Calendar.from_ical(text)
    master, moved = calendar.walk("VEVENT")
    assert str(master["SUMMARY"]) == "Team meeting" and "DURATION" in master and "SEQUENCE" not in master
    assert str(master["X-MOZ-GENERATION"]) == "3" and "RRULE" in master
    assert master["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED" and master["ATTENDEE"].params["CN"] == "Bob"
    assert str(moved["SUMMARY"]) == "Team (moved)"


def test_patching_times_and_reminder_replaces_those_only():
    """New times set DTSTART/DTEND (no DURATION) and raise SEQUENCE; a new
    reminder is one DISPLAY alarm before the start; a removed attendee goes."""
    before = vevent.read(SERIES, "series-1").fields
    start = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)
    changed = dataclasses.replace(before, start=start, end=start + dt.timedelta(hours=2), reminder=60, attendees=())
    master = icalendar.Calendar.from_ical(vevent.patch(SERIES, "series-1", changed, NOW)).walk("VEVENT")[0]
    assert "DURATION" not in master and master["DTEND"].dt == start + dt.timedelta(hours=2)
    assert int(master["SEQUENCE"]) == 1 and "ATTENDEE" not in master
    (alarm,) = master.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY" and alarm["TRIGGER"].dt == -dt.timedelta(hours=1)


def test_a_new_all_day_event_has_dates():
    """An all-day event is written with DATE values, its end the day after."""
    fields = vevent.Fields("Fair", dt.date(2026, 12, 10), dt.date(2026, 12, 12))
    event = icalendar.Calendar.from_ical(vevent.new("fair-1", fields, NOW)).walk("VEVENT")[0]
    assert event["DTSTART"].dt == dt.date(2026, 12, 10) and event["DTEND"].dt == dt.date(2026, 12, 12)
    assert vevent.read(vevent.new("fair-1", fields, NOW), "fair-1").fields.all_day


ALL_DAY_SERIES = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//tests//agenda//EN\r
BEGIN:VEVENT\r
UID:market\r
DTSTAMP:20261101T090000Z\r
DTSTART;VALUE=DATE:20270105\r
DTEND;VALUE=DATE:20270106\r
RRULE:FREQ=WEEKLY;COUNT=3\r
SUMMARY:Market\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_one_day_of_an_all_day_series_is_overridden_and_excluded_by_date():
    """An all-day series' 12 January is named 20270112; its override has
    RECURRENCE-ID;VALUE=DATE and the same day; excluding it writes an
    EXDATE;VALUE=DATE and drops the override."""
    one = vevent.read_occurrence(ALL_DAY_SERIES, "market", "20270112").fields
    assert (one.start, one.end) == (dt.date(2027, 1, 12), dt.date(2027, 1, 13))
    text = vevent.patch_occurrence(ALL_DAY_SERIES, "market", "20270112", dataclasses.replace(one, title="Big market"), NOW)
    master, override = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert override["RECURRENCE-ID"].to_ical() == b"20270112" and str(override["SUMMARY"]) == "Big market"
    assert str(master["SUMMARY"]) == "Market" and "RRULE" not in override
    gone = vevent.exclude(text, "market", "20270112", NOW)
    (master,) = icalendar.Calendar.from_ical(gone).walk("VEVENT")
    assert b"EXDATE;VALUE=DATE:20270112" in master.to_ical()
    for key in ("20270113", "20270112T000000Z"):
        try:
            vevent.read_occurrence(ALL_DAY_SERIES, "market", key)
        except vevent.EventError:
            continue
        raise AssertionError(key)
