"""Calendar invitations in mail (iMIP, RFC 6047, over iTIP, RFC 5546).

:func:`read` turns the ``text/calendar`` part of a message into the
:class:`Invitation` webmail shows (a REQUEST, a CANCEL, or another method
it only shows); :func:`stored_event` is the event as the attendee's own
calendar keeps it (no METHOD, RFC 4791 section 4.1, their PARTSTAT set);
:func:`reply` is the METHOD:REPLY sent back to the organiser (RFC 5546
section 3.2.3: the UID, SEQUENCE, DTSTAMP and ORGANIZER of the request,
the one replying ATTENDEE); :func:`apply_reply` records such a reply in
the organiser's stored event. Parsing is vobject's (Radicale's own), in the
caller's worker thread; anything it cannot read, or past the limits, is
:class:`Malformed`, and the message shows the part as an attachment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import vobject
import vobject.icalendar

#: A calendar part larger than this is shown as an attachment only.
MAX_CALENDAR_BYTES = 256 * 1024
#: At most this many attendees are listed (an invitation to a whole list).
MAX_ATTENDEES = 100
#: The answers an attendee gives, by the name the panel's form uses.
PARTSTATS = {"accepted": "ACCEPTED", "tentative": "TENTATIVE", "declined": "DECLINED"}
METHODS = ("REQUEST", "CANCEL")


class Malformed(ValueError):
    """The calendar part cannot be read, or breaks a limit."""


@dataclass
class Person:
    name: str
    address: str
    partstat: str = ""


@dataclass
class Invitation:
    """What the reader is shown of an iMIP message."""

    method: str
    uid: str
    sequence: int
    summary: str
    start: str
    end: str
    timezone: str
    location: str
    organizer: Person | None
    attendees: list[Person] = field(default_factory=list)
    recurring: bool = False


def _address(value: str) -> str:
    value = (value or "").strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    return value.strip()


def _person(prop: Any) -> Person:
    params = prop.params
    name = (params.get("CN") or [""])[0]
    partstat = (params.get("PARTSTAT") or [""])[0].upper()
    return Person(" ".join(str(name).split())[:200], _address(str(prop.value))[:254], partstat)


def _text(component: Any, name: str) -> str:
    prop = getattr(component, name, None)
    if prop is None:
        return ""
    value = prop.value
    return " ".join(str(value).split())[:500] if value is not None else ""


def _tzid(prop: Any) -> str:
    params = prop.params
    return str((params.get("TZID") or params.get("X-VOBJ-ORIGINAL-TZID") or [""])[0])


def _when(value: Any, tzid: str = "") -> tuple[str, str]:
    """(shown date and time, the time zone's name or "") of a DTSTART/DTEND
    value: its TZID, UTC, or none for a floating time."""
    if isinstance(value, dt.datetime):
        zone = ""
        if value.tzinfo is not None:
            zone = tzid or getattr(value.tzinfo, "key", None) or value.tzname() or ""
        return value.strftime("%Y-%m-%d %H:%M"), " ".join(zone.split())[:100]
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d"), ""
    raise Malformed("no date")


def parse(text: str) -> Any:
    """The vobject VCALENDAR of ``text``; Malformed when it is none."""
    if len(text.encode("utf-8", "replace")) > MAX_CALENDAR_BYTES:
        raise Malformed("too large")
    try:
        calendar = vobject.readOne(text)
    except Exception as e:  # noqa: BLE001 - vobject raises many kinds on bad input
        raise Malformed(str(e)[:200]) from None
    if calendar.name != "VCALENDAR" or not getattr(calendar, "vevent_list", None):
        raise Malformed("no event")
    return calendar


def _main_event(calendar: Any) -> Any:
    """The event without RECURRENCE-ID (the series), else the first."""
    events = calendar.vevent_list
    return next((e for e in events if not hasattr(e, "recurrence_id")), events[0])


def read(text: str) -> Invitation:
    """See module doc. Raises Malformed."""
    calendar = parse(text)
    method = _text(calendar, "method").upper()
    event = _main_event(calendar)
    uid = _text(event, "uid")
    if not uid or len(uid) > 255:
        raise Malformed("no UID")
    try:
        sequence = int(_text(event, "sequence") or 0)
        start, zone = _when(event.dtstart.value, _tzid(event.dtstart))
        end = ""
        if hasattr(event, "dtend"):
            end, _ = _when(event.dtend.value)
        elif hasattr(event, "duration") and isinstance(event.duration.value, dt.timedelta):
            end, _ = _when(event.dtstart.value + event.duration.value)
    except (AttributeError, ValueError, TypeError, OverflowError) as e:
        raise Malformed(str(e)[:200]) from None
    if not 0 <= sequence < 2**31:
        raise Malformed("bad SEQUENCE")
    organizer = _person(event.organizer) if hasattr(event, "organizer") else None
    attendees = [_person(a) for a in getattr(event, "attendee_list", [])[:MAX_ATTENDEES]]
    return Invitation(method, uid, sequence, _text(event, "summary"), start, end, zone, _text(event, "location"),
                      organizer, attendees, hasattr(event, "rrule") or len(calendar.vevent_list) > 1)


def _mine(event: Any, own: set[str]) -> Any | None:
    for attendee in getattr(event, "attendee_list", []):
        if _address(str(attendee.value)).lower() in own:
            return attendee
    return None


def _set_attendee(event: Any, own: set[str], address: str, name: str, partstat: str) -> None:
    attendee = _mine(event, own)
    if attendee is None:
        attendee = event.add("attendee")
        attendee.value = f"mailto:{address}"
        if name:
            attendee.params["CN"] = [name]
    attendee.params["PARTSTAT"] = [partstat]
    attendee.params.pop("RSVP", None)


def attendee_address(text: str, own: set[str], default: str) -> str:
    """The user's address as the invitation names them (one of ``own``),
    else ``default``."""
    calendar = parse(text)
    found = _mine(_main_event(calendar), own)
    return _address(str(found.value)) if found is not None else default


def stored_event(text: str, own: set[str], address: str, name: str, partstat: str) -> str:
    """The invitation's VCALENDAR as the attendee's calendar keeps it: no
    METHOD, every event of it with the attendee's PARTSTAT."""
    calendar = parse(text)
    for method in list(getattr(calendar, "method_list", [])):
        calendar.remove(method)
    for event in calendar.vevent_list:
        _set_attendee(event, own, address, name, partstat)
    return _serialize(calendar)


def reply(text: str, own: set[str], address: str, name: str, partstat: str, now: dt.datetime) -> str:
    """The METHOD:REPLY for the series of the invitation ``text``."""
    source = _main_event(parse(text))
    out = vobject.iCalendar()
    out.add("method").value = "REPLY"
    out.add("prodid").value = "-//appliance//webmail//EN"
    event = out.add("vevent")
    for prop in ("uid", "sequence", "dtstart", "dtend", "duration", "summary", "organizer", "recurrence_id"):
        if hasattr(source, prop):
            event.add(getattr(source, prop).duplicate(getattr(source, prop)))
    event.add("dtstamp").value = now.astimezone(vobject.icalendar.utc)
    attendee = _mine(source, own)
    mine = event.add("attendee")
    mine.value = str(attendee.value) if attendee is not None else f"mailto:{address}"
    if name:
        mine.params["CN"] = [name]
    mine.params["PARTSTAT"] = [partstat]
    return _serialize(out)


def occurrences_only(text: str) -> bool:
    """Whether every event of ``text`` is one occurrence of a series
    (RECURRENCE-ID), as when an organiser changes or cancels one meeting
    of a repeating series (RFC 5546 section 3.2.2.4 and 3.2.5)."""
    return all(hasattr(e, "recurrence_id") for e in parse(text).vevent_list)


def _rid(event: Any) -> Any:
    value = event.recurrence_id.value
    return value.astimezone(dt.timezone.utc) if isinstance(value, dt.datetime) and value.tzinfo else value


def merge_occurrences(stored: str, text: str, own: set[str], address: str, name: str, partstat: str) -> str:
    """The stored series ``stored`` with the occurrences of the invitation
    ``text`` put in (each replacing the one of the same RECURRENCE-ID),
    the attendee's PARTSTAT set on them."""
    calendar, incoming = parse(stored), parse(text)
    for event in incoming.vevent_list:
        _set_attendee(event, own, address, name, partstat)
        for old in [e for e in calendar.vevent_list if hasattr(e, "recurrence_id") and _rid(e) == _rid(event)]:
            calendar.remove(old)
        calendar.add(event)
    return _serialize(calendar)


def cancel_occurrences(stored: str, text: str) -> str:
    """The stored series ``stored`` without the occurrences the CANCEL
    ``text`` names: an EXDATE on the series for each, its own copy gone."""
    calendar, incoming = parse(stored), parse(text)
    master = _main_event(calendar)
    for event in incoming.vevent_list:
        for old in [e for e in calendar.vevent_list if hasattr(e, "recurrence_id") and _rid(e) == _rid(event)]:
            calendar.remove(old)
        if not hasattr(master, "recurrence_id"):
            master.add("exdate").value = [event.recurrence_id.value]
    return _serialize(calendar)


#: The answers a REPLY may record (RFC 5545 section 3.2.12, for VEVENTs).
REPLY_PARTSTATS = ("NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED")


def apply_reply(stored: str, text: str) -> str:
    """The organiser's stored event ``stored`` with the PARTSTAT the
    METHOD:REPLY ``text`` gives its one ATTENDEE (RFC 5546 section 3.2.3):
    on every event of the series, or on the occurrence a reply with a
    RECURRENCE-ID names. Every other line stays. Raises Malformed when the
    reply names no attendee of the stored event or no known answer."""
    calendar, incoming = parse(stored), parse(text)
    for event in incoming.vevent_list:
        replies = getattr(event, "attendee_list", [])
        if len(replies) != 1:
            raise Malformed("a reply names one attendee")
        who = _address(str(replies[0].value)).lower()
        partstat = (replies[0].params.get("PARTSTAT") or [""])[0].upper()
        if partstat not in REPLY_PARTSTATS:
            raise Malformed("no such answer")
        targets = calendar.vevent_list
        if hasattr(event, "recurrence_id"):
            targets = [e for e in targets if hasattr(e, "recurrence_id") and _rid(e) == _rid(event)]
        found = [a for a in (_mine(t, {who}) for t in targets) if a is not None]
        if not found:
            raise Malformed("not an attendee of this event")
        for attendee in found:
            attendee.params["PARTSTAT"] = [partstat]
            attendee.params.pop("RSVP", None)
    return _serialize(calendar)


def sequence_of(text: str) -> int:
    """The SEQUENCE of a stored event (0 when absent or unreadable)."""
    try:
        return int(_text(_main_event(parse(text)), "sequence") or 0)
    except (Malformed, ValueError):
        return 0


def organizer_of(text: str) -> str:
    """The organiser's address in a stored event, lower case, or ""."""
    try:
        event = _main_event(parse(text))
    except Malformed:
        return ""
    return _address(str(event.organizer.value)).lower() if hasattr(event, "organizer") else ""


def partstat_of(text: str, own: set[str]) -> str:
    """The user's PARTSTAT in a stored event, or ""."""
    try:
        found = _mine(_main_event(parse(text)), own)
    except Malformed:
        return ""
    return (found.params.get("PARTSTAT") or [""])[0].upper() if found is not None else ""


def _serialize(calendar: Any) -> str:
    try:
        return calendar.serialize()
    except Exception as e:  # noqa: BLE001 - vobject cannot write back what it read
        raise Malformed(str(e)[:200]) from None
