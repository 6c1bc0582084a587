"""The iMIP reader and writer (RFC 6047, RFC 5546) on real clients' files:
what is shown of an Outlook request, the event the attendee's calendar
keeps, the REPLY, and parts it cannot read."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from appliance import imip

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "imip"
REQUEST = (FIXTURES / "outlook_request_with_timezone.ics").read_text()
OWN = {"iris@invites.example"}


def _unfold(text: str) -> str:
    return re.sub(r"\r?\n[ \t]", "", text)


def test_an_outlook_request_is_read_with_its_time_zone_place_and_people():
    """The title, start and end in the event's own time zone (its TZID),
    the place with its escaped comma, the organiser and both attendees."""
    shown = imip.read(REQUEST)
    assert (shown.method, shown.sequence, shown.summary) == ("REQUEST", 0, "Tasting of the spring bread")
    assert (shown.start, shown.end, shown.timezone) == ("2027-03-15 10:00", "2027-03-15 11:30", "Romance Standard Time")
    assert shown.location == "The bakery, back room"
    assert (shown.organizer.name, shown.organizer.address) == ("Otto Organiser", "otto@invites.example")
    assert [(a.address, a.partstat) for a in shown.attendees] == [
        ("iris@invites.example", "NEEDS-ACTION"), ("paul@elsewhere.example", "NEEDS-ACTION")]


def test_the_stored_event_has_no_method_and_the_attendees_answer():
    """What the calendar keeps: no METHOD line (RFC 4791 section 4.1), the
    attendee's PARTSTAT set and RSVP gone, the other attendee untouched."""
    stored = _unfold(imip.stored_event(REQUEST, OWN, "iris@invites.example", "Iris", "TENTATIVE"))
    assert "METHOD" not in stored
    iris = next(line for line in stored.splitlines() if "mailto:iris@" in line)
    assert "PARTSTAT=TENTATIVE" in iris and "RSVP" not in iris
    paul = next(line for line in stored.splitlines() if "mailto:paul@" in line)
    assert "PARTSTAT=NEEDS-ACTION" in paul
    assert imip.partstat_of(stored, OWN) == "TENTATIVE"
    assert imip.organizer_of(stored) == "otto@invites.example"


def test_the_reply_names_only_the_attendee_who_answers():
    """METHOD:REPLY, the request's UID, SEQUENCE and ORGANIZER, one ATTENDEE."""
    reply = _unfold(imip.reply(REQUEST, OWN, "iris@invites.example", "Iris", "DECLINED",
                               dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)))
    assert "METHOD:REPLY" in reply and "SEQUENCE:0" in reply and "ORGANIZER;CN=Otto Organiser" in reply
    assert "UID:040000008200E00074C5B7101A82E008" in reply
    attendees = [line for line in reply.splitlines() if line.startswith("ATTENDEE")]
    assert attendees == ["ATTENDEE;CN=Iris;PARTSTAT=DECLINED:mailto:iris@invites.example"]
    assert "DTSTAMP:20261201T000000Z" in reply


@pytest.mark.parametrize("text", [
    "", "junk", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
    (FIXTURES / "truncated_calendar_part.ics").read_text(),
    REQUEST.replace("DTSTART;TZID=Romance Standard Time:20270315T100000", "DTSTART:2027XXXX"),
    REQUEST.replace("SEQUENCE:0", "SEQUENCE:-4"),
    REQUEST.replace("DESCRIPTION;LANGUAGE=en-US:", "DESCRIPTION:" + "x" * imip.MAX_CALENDAR_BYTES),
], ids=["empty", "junk", "no-event", "cut-off", "bad-date", "bad-sequence", "too-large"])
def test_what_cannot_be_read_is_malformed(text):
    """Each is Malformed, never another exception."""
    with pytest.raises(imip.Malformed):
        imip.read(text)


def test_one_occurrence_moved_then_cancelled_keeps_the_series():
    """A REQUEST for one meeting of a series goes into the stored series
    beside it; its CANCEL drops that copy and puts an EXDATE on the series."""
    series = (FIXTURES / "thunderbird_weekly_series.ics").read_text().replace("{uid}", "weekly-1")
    one = (FIXTURES / "thunderbird_one_occurrence.ics").read_text().replace("{uid}", "weekly-1")
    moved = one.replace("{method}", "REQUEST").replace("{start}", "20270111T100000Z")
    cancel = one.replace("{method}", "CANCEL").replace("{start}", "20270111T100000Z")
    assert not imip.occurrences_only(series) and imip.occurrences_only(moved)
    stored = imip.stored_event(series, OWN, "iris@invites.example", "", "ACCEPTED")
    merged = _unfold(imip.merge_occurrences(stored, moved, OWN, "iris@invites.example", "", "DECLINED"))
    assert merged.count("BEGIN:VEVENT") == 2 and "RECURRENCE-ID:20270111T090000Z" in merged
    again = _unfold(imip.merge_occurrences(merged, moved, OWN, "iris@invites.example", "", "ACCEPTED"))
    assert again.count("BEGIN:VEVENT") == 2
    cancelled = _unfold(imip.cancel_occurrences(merged, cancel))
    assert cancelled.count("BEGIN:VEVENT") == 1 and "EXDATE:20270111T090000Z" in cancelled
    assert "RRULE:FREQ=WEEKLY;COUNT=10" in cancelled


#: The organiser's stored series: two attendees, one moved occurrence.
ORGANISED = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//appliance//agenda//EN\r
BEGIN:VEVENT\r
UID:weekly-standup-1\r
DTSTAMP:20270201T080000Z\r
DTSTART:20270302T090000Z\r
DTEND:20270302T093000Z\r
RRULE:FREQ=WEEKLY;COUNT=4\r
SUMMARY:Stand-up\r
ORGANIZER:mailto:otto@invites.example\r
ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:paul@partner.example\r
ATTENDEE;PARTSTAT=ACCEPTED:mailto:iris@invites.example\r
X-CLIENT-KEPT:yes\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly-standup-1\r
DTSTAMP:20270201T080000Z\r
RECURRENCE-ID:20270309T090000Z\r
DTSTART:20270309T100000Z\r
DTEND:20270309T103000Z\r
SUMMARY:Stand-up (late)\r
ORGANIZER:mailto:otto@invites.example\r
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:paul@partner.example\r
ATTENDEE;PARTSTAT=ACCEPTED:mailto:iris@invites.example\r
END:VEVENT\r
END:VCALENDAR\r
"""
ONE_OCCURRENCE_REPLY = (FIXTURES / "thunderbird_reply_one_occurrence.ics").read_text()


def test_a_reply_to_one_occurrence_changes_that_occurrence_only():
    """Thunderbird's REPLY declining the 9 March occurrence sets paul's
    PARTSTAT on that override only; the series keeps NEEDS-ACTION (and its
    RSVP), iris keeps ACCEPTED, a client's X- line stays."""
    text = _unfold(imip.apply_reply(ORGANISED, ONE_OCCURRENCE_REPLY))
    master, override = text.split("BEGIN:VEVENT")[1:]
    assert "PARTSTAT=NEEDS-ACTION" in master and "paul@partner.example" in master and "RSVP=TRUE" in master
    assert "X-CLIENT-KEPT:yes" in master
    paul = next(line for line in override.splitlines() if "paul@partner.example" in line)
    iris = next(line for line in override.splitlines() if "iris@invites.example" in line)
    assert "PARTSTAT=DECLINED" in paul and "PARTSTAT=ACCEPTED" in iris


def test_a_reply_for_the_series_changes_every_occurrence_and_a_stranger_changes_nothing():
    """A REPLY without RECURRENCE-ID accepting for paul sets it on the
    master and the override; one naming someone not invited, or an answer
    RFC 5545 does not know, is Malformed."""
    series = re.sub(r"RECURRENCE-ID:[^\n]*\n", "", ONE_OCCURRENCE_REPLY).replace("DECLINED", "ACCEPTED")
    text = _unfold(imip.apply_reply(ORGANISED, series))
    assert text.count("PARTSTAT=ACCEPTED:mailto:paul@partner.example") == 2
    for bad in (series.replace("paul@partner.example", "eve@elsewhere.example"),
                series.replace("PARTSTAT=ACCEPTED", "PARTSTAT=MAYBE")):
        with pytest.raises(imip.Malformed):
            imip.apply_reply(ORGANISED, bad)
