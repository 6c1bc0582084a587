"""Events as iCalendar VEVENTs (RFC 5545): what the agenda's form shows of
one, a new one, and the same object with the form's properties changed.

The form owns SUMMARY, DTSTART, DTEND (a DURATION becomes a DTEND),
LOCATION, DESCRIPTION, the ATTENDEE list and the reminder (VALARM).
Patching changes those of the series' master and nothing else: every
other property and component a client wrote (X- properties, RRULE,
exceptions, VTIMEZONE) stays. An attendee who stays keeps the parameters
a client gave (PARTSTAT, CN); alarms are replaced only when the reminder
changed, so a client's own alarms survive an edit of the title.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import icalendar


class EventError(ValueError):
    """The text is not an iCalendar object with that event."""


@dataclass(frozen=True)
class Fields:
    """What the agenda's form shows and sets. Times are aware (or floating
    as the client wrote them); an all-day event's are dates, its end
    exclusive (RFC 5545 section 3.6.1)."""

    title: str
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date
    place: str = ""
    description: str = ""
    attendees: tuple[str, ...] = ()
    #: Minutes before the start of the first alarm, None for none.
    reminder: int | None = None
    organizer: str = ""

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, dt.datetime)


@dataclass(frozen=True)
class Read:
    fields: Fields
    recurring: bool


def _master(calendar: icalendar.Calendar, uid: str) -> icalendar.Event:
    for component in calendar.walk("VEVENT"):
        if str(component.get("UID", "")) == uid and "RECURRENCE-ID" not in component:
            return component
    raise EventError("no such event")


def _parse(text: str) -> icalendar.Calendar:
    try:
        return icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise EventError("not an iCalendar object") from exc


def _address(value: object) -> str:
    text = str(value)
    return text[7:].lower() if text.lower().startswith("mailto:") else text.lower()


def _reminder(event: icalendar.Event) -> int | None:
    for alarm in event.walk("VALARM"):
        trigger = alarm.get("TRIGGER")
        if trigger is None or not isinstance(trigger.dt, dt.timedelta):
            return None
        if trigger.params.get("RELATED", "START").upper() != "START":
            return None
        return max(0, int(-trigger.dt.total_seconds() // 60))
    return None


def read(text: str, uid: str) -> Read:
    """What the form shows of event ``uid`` (its master) in ``text``.
    Raises EventError."""
    event = _master(_parse(text), uid)
    if event.get("DTSTART") is None:
        raise EventError("an event without a start")
    start = event["DTSTART"].dt
    if event.get("DTEND") is not None:
        end = event["DTEND"].dt
    elif event.get("DURATION") is not None:
        end = start + event["DURATION"].dt
    else:
        end = start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else start
    attendees = event.get("ATTENDEE") or []
    if not isinstance(attendees, list):
        attendees = [attendees]
    fields = Fields(
        title=str(event.get("SUMMARY", "")), start=start, end=end, place=str(event.get("LOCATION", "")),
        description=str(event.get("DESCRIPTION", "")), attendees=tuple(_address(a) for a in attendees),
        reminder=_reminder(event), organizer=_address(event.get("ORGANIZER", "")),
    )
    return Read(fields, "RRULE" in event or "RDATE" in event)


def _set_times(event: icalendar.Event, fields: Fields) -> None:
    for name in ("DTSTART", "DTEND", "DURATION"):
        event.pop(name, None)
    event.add("DTSTART", fields.start)
    event.add("DTEND", fields.end)


def _set_text(event: icalendar.Event, name: str, value: str) -> None:
    event.pop(name, None)
    if value:
        event.add(name, value)


def _set_alarm(event: icalendar.Event, minutes: int | None, title: str) -> None:
    event.subcomponents = [c for c in event.subcomponents if c.name != "VALARM"]
    if minutes is None:
        return
    alarm = icalendar.Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("DESCRIPTION", title or "Reminder")
    alarm.add("TRIGGER", -dt.timedelta(minutes=minutes))
    event.add_component(alarm)


def _set_attendees(event: icalendar.Event, wanted: tuple[str, ...], organizer: str) -> None:
    kept = event.get("ATTENDEE") or []
    if not isinstance(kept, list):
        kept = [kept]
    by_address = {_address(a): a for a in kept}
    event.pop("ATTENDEE", None)
    for address in wanted:
        old = by_address.get(address)
        if old is not None:
            event.add("ATTENDEE", old)
        else:
            event.add("ATTENDEE", f"mailto:{address}", parameters={
                "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "NEEDS-ACTION", "CUTYPE": "INDIVIDUAL"})
    if wanted and "ORGANIZER" not in event and organizer:
        event.add("ORGANIZER", f"mailto:{organizer}")


def _serialise(calendar: icalendar.Calendar) -> str:
    calendar.add_missing_timezones()
    return calendar.to_ical().decode("utf-8")


def new(uid: str, fields: Fields, now: dt.datetime) -> str:
    """A VCALENDAR holding one VEVENT with ``fields``."""
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//appliance//agenda//EN")
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", now)
    event.add("CREATED", now)
    event.add("LAST-MODIFIED", now)
    event.add("SUMMARY", fields.title)
    _set_times(event, fields)
    _set_text(event, "LOCATION", fields.place)
    _set_text(event, "DESCRIPTION", fields.description)
    _set_attendees(event, fields.attendees, fields.organizer)
    _set_alarm(event, fields.reminder, fields.title)
    calendar.add_component(event)
    return _serialise(calendar)


def patch(text: str, uid: str, fields: Fields, now: dt.datetime) -> str:
    """``text`` with the form's properties of event ``uid``'s master set to
    ``fields``, its SEQUENCE raised when its times change (RFC 5546),
    everything else as it was. Raises EventError."""
    calendar = _parse(text)
    event = _master(calendar, uid)
    before = read(text, uid).fields
    event.pop("SUMMARY", None)
    event.add("SUMMARY", fields.title)
    if (before.start, before.end) != (fields.start, fields.end):
        _set_times(event, fields)
        sequence = int(event.get("SEQUENCE", 0)) + 1
        event.pop("SEQUENCE", None)
        event.add("SEQUENCE", sequence)
    _set_text(event, "LOCATION", fields.place)
    _set_text(event, "DESCRIPTION", fields.description)
    if set(before.attendees) != set(fields.attendees):
        _set_attendees(event, fields.attendees, fields.organizer)
    if before.reminder != fields.reminder:
        _set_alarm(event, fields.reminder, fields.title)
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        event.pop(name, None)
        event.add(name, now)
    return _serialise(calendar)
