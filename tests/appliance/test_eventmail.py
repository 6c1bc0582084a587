"""What an organiser's write sends (appliance.eventmail.plan): a REQUEST
to every attendee of a new or changed event, a CANCEL to those taken off
and to everyone once it is deleted, nothing for an event someone else
organises; and the message that carries each (RFC 6047)."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

import icalendar

from appliance import eventmail

NOW = dt.datetime(2027, 1, 4, 12, 0, tzinfo=dt.timezone.utc)
ADA = "ada@shop.example"
EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//appliance//agenda//EN\r
BEGIN:VEVENT\r
UID:tasting-1\r
DTSTAMP:20270101T000000Z\r
DTSTART:20270110T100000Z\r
DTEND:20270110T110000Z\r
SUMMARY:Tasting\r
SEQUENCE:{sequence}\r
ORGANIZER:mailto:{organizer}\r
{attendees}BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:Tasting\r
TRIGGER:-PT15M\r
END:VALARM\r
END:VEVENT\r
END:VCALENDAR\r
"""


def _event(*attendees: str, sequence: int = 0, organizer: str = ADA) -> str:
    lines = "".join(f"ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:{a}\r\n" for a in attendees)
    return EVENT.format(attendees=lines, sequence=sequence, organizer=organizer)


def test_a_new_event_sends_one_request_to_its_attendees_without_the_organisers_alarm():
    """ada's new event with bob and a guest (and ada herself listed): one
    REQUEST to bob and the guest, the whole event with METHOD:REQUEST and
    no VALARM, not an update."""
    (one,) = eventmail.plan("", _event("bob@shop.example", "guest@out.example", ADA), "tasting-1", ADA, NOW)
    assert (one.method, one.recipients, one.title, one.update) == (
        "REQUEST", ("bob@shop.example", "guest@out.example"), "Tasting", False)
    calendar = icalendar.Calendar.from_ical(one.calendar)
    assert str(calendar["METHOD"]) == "REQUEST" and not list(calendar.walk("VALARM"))


def test_taking_an_attendee_off_sends_them_a_cancel_and_the_others_an_update():
    """bob taken off at SEQUENCE 1: the guest gets the updated REQUEST,
    bob a CANCEL of the event (STATUS:CANCELLED, SEQUENCE 1) naming him."""
    before = _event("bob@shop.example", "guest@out.example")
    request, cancel = eventmail.plan(before, _event("guest@out.example", sequence=1), "tasting-1", ADA, NOW)
    assert (request.method, request.recipients, request.update) == ("REQUEST", ("guest@out.example",), True)
    assert (cancel.method, cancel.recipients) == ("CANCEL", ("bob@shop.example",))
    (event,) = icalendar.Calendar.from_ical(cancel.calendar).walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 1
    assert str(event["ATTENDEE"]) == "mailto:bob@shop.example"


def test_deleting_sends_everyone_a_cancel_with_a_higher_sequence():
    (cancel,) = eventmail.plan(_event("bob@shop.example", sequence=2), "", "tasting-1", ADA, NOW)
    (event,) = icalendar.Calendar.from_ical(cancel.calendar).walk("VEVENT")
    assert cancel.method == "CANCEL" and cancel.recipients == ("bob@shop.example",) and int(event["SEQUENCE"]) == 3


def test_nothing_goes_for_an_event_someone_else_organises_or_nobody_attends():
    """A client's event organised by carol, edited by ada: no message; an
    event of ada's without attendees: none either; nor an unreadable one."""
    carol = _event("bob@shop.example", organizer="carol@out.example")
    assert eventmail.plan(carol, carol.replace("Tasting", "Tasting 2"), "tasting-1", ADA, NOW) == []
    assert eventmail.plan("", _event(), "tasting-1", ADA, NOW) == []
    assert eventmail.plan("", "not a calendar", "tasting-1", ADA, NOW) == []


def test_the_message_has_a_text_part_and_the_calendar_with_its_method():
    """RFC 6047 section 2.4: the text/calendar part's method parameter
    repeats the METHOD; From is the organiser, To the attendees."""
    (one,) = eventmail.plan("", _event("bob@shop.example"), "tasting-1", ADA, NOW)
    raw = eventmail.message(ADA, "Ada", one, "Invitation: Tasting", "Ada invites you.", "box.example")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(msg["From"]) == f"Ada <{ADA}>" and str(msg["To"]) == "bob@shop.example"
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REQUEST" and "UID:tasting-1" in part.get_content()
    assert msg.get_body(("plain",)).get_content().strip() == "Ada invites you."
