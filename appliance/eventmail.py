"""Invitations an organiser's panel events send (iMIP, RFC 6047, over
iTIP, RFC 5546).

:func:`plan` compares what a calendar object held before a panel write
with what it holds after and says which messages go to whom: a
METHOD:REQUEST with the whole object to every attendee of an event that
exists (new, or changed: its SEQUENCE was raised by the write, RFC 5546
section 2.1.4), a METHOD:CANCEL to the attendees taken off it, and to
every attendee of an event deleted. Nothing is sent for an object whose
ORGANIZER is not the writer: a client that invited people sends its own
messages, and the panel must not speak for someone else.

:func:`send` builds each message (a text part and the ``text/calendar``
part whose ``method`` parameter repeats the METHOD, RFC 6047 section 2.4)
and sends it as webmail sends (:func:`appliance.webmail.submit`: the
sender check, daily limits, DKIM, the outbound queue for outside
addresses, local delivery for the business's own, a copy in Sent).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Callable

import icalendar

from . import webmail

log = logging.getLogger(__name__)

#: Most recipients one write sends to (the agenda allows 50 attendees a time).
MAX_RECIPIENTS = 200


@dataclass(frozen=True)
class Outgoing:
    """One iMIP message to send: its METHOD, recipients and calendar."""

    method: str  # "REQUEST" or "CANCEL"
    recipients: tuple[str, ...]
    calendar: str
    title: str
    #: The first start, for the message's text.
    start: dt.datetime | dt.date | None
    #: Whether the attendees had been invited before (an update).
    update: bool


def _address(value: object) -> str:
    text = str(value).strip()
    return (text[7:] if text.lower().startswith("mailto:") else text).strip().lower()


def _parse(text: str) -> icalendar.Calendar | None:
    if not text:
        return None
    try:
        return icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError):
        return None


def _events(calendar: icalendar.Calendar | None, uid: str) -> list[icalendar.Event]:
    if calendar is None:
        return []
    return [c for c in calendar.walk("VEVENT") if str(c.get("UID", "")) == uid]


def _list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _organizer(events: list[icalendar.Event]) -> str:
    for event in events:
        if event.get("ORGANIZER") is not None:
            return _address(event["ORGANIZER"])
    return ""


def _attendees(events: list[icalendar.Event], organizer: str) -> list[str]:
    found = dict.fromkeys(_address(a) for e in events for a in _list(e.get("ATTENDEE")))
    return [a for a in found if a and a != organizer and "@" in a][:MAX_RECIPIENTS]


def _main(events: list[icalendar.Event]) -> icalendar.Event:
    return next((e for e in events if "RECURRENCE-ID" not in e), events[0])


def _request(calendar: icalendar.Calendar) -> str:
    """The stored object as a METHOD:REQUEST: the organiser's own alarms
    are not the attendees' business."""
    out = icalendar.Calendar.from_ical(calendar.to_ical())
    out.pop("METHOD", None)
    out.add("METHOD", "REQUEST")
    for event in out.walk("VEVENT"):
        event.subcomponents = [c for c in event.subcomponents if c.name != "VALARM"]
    return out.to_ical().decode("utf-8")


def _cancel(calendar: icalendar.Calendar, event: icalendar.Event, attendees: list[str], sequence: int,
            now: dt.datetime) -> str:
    """METHOD:CANCEL of the whole event for ``attendees`` (RFC 5546 section 3.2.5)."""
    out = icalendar.Calendar()
    out.add("VERSION", "2.0")
    out.add("PRODID", "-//appliance//agenda//EN")
    out.add("METHOD", "CANCEL")
    for tz in calendar.walk("VTIMEZONE"):
        out.add_component(tz)
    cancelled = icalendar.Event()
    for name in ("UID", "DTSTART", "DTEND", "DURATION", "RRULE", "SUMMARY", "LOCATION", "ORGANIZER"):
        if event.get(name) is not None:
            cancelled.add(name, event[name])
    cancelled.add("DTSTAMP", now)
    cancelled.add("SEQUENCE", sequence)
    cancelled.add("STATUS", "CANCELLED")
    for address in attendees:
        cancelled.add("ATTENDEE", f"mailto:{address}")
    out.add_component(cancelled)
    return out.to_ical().decode("utf-8")


def plan(previous: str, text: str, uid: str, organizer: str, now: dt.datetime) -> list[Outgoing]:
    """The messages a write of event ``uid`` by ``organizer`` sends:
    ``previous`` is the object before ("" for a new event), ``text`` after
    ("" once deleted). Empty when neither version is ``organizer``'s or
    has attendees, or when an object cannot be read."""
    organizer = organizer.lower()
    before_cal, after_cal = _parse(previous), _parse(text)
    before, after = _events(before_cal, uid), _events(after_cal, uid)
    if (previous and not before) or (text and not after):
        return []
    owner = _organizer(after or before)
    if owner != organizer:
        return []
    invited_before = _attendees(before, organizer) if _organizer(before) == organizer else []
    found = []
    if after:
        main = _main(after)
        start = main["DTSTART"].dt if main.get("DTSTART") is not None else None
        invited = _attendees(after, organizer)
        if invited:
            found.append(Outgoing("REQUEST", tuple(invited), _request(after_cal), str(main.get("SUMMARY", "")),
                                  start, bool(before)))
        removed = [a for a in invited_before if a not in invited]
        sequence = int(main.get("SEQUENCE", 0))
    else:
        main = _main(before)
        start = main["DTSTART"].dt if main.get("DTSTART") is not None else None
        removed = invited_before
        sequence = int(main.get("SEQUENCE", 0)) + 1
    if removed:
        found.append(Outgoing("CANCEL", tuple(removed), _cancel(after_cal or before_cal, main, removed, sequence, now),
                              str(main.get("SUMMARY", "")), start, True))
    return found


def message(sender: str, display_name: str, outgoing: Outgoing, subject: str, text: str, hostname: str) -> bytes:
    """The iMIP message of ``outgoing`` from ``sender``: ``text`` for
    people, the calendar for their programs (RFC 6047 section 2.4)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = email.utils.formataddr((display_name, sender)) if display_name else sender
    msg["To"] = ", ".join(outgoing.recipients)
    msg["Subject"] = " ".join(subject.split())[:webmail.MAX_SUBJECT]
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=hostname)
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(outgoing.calendar, subtype="calendar", params={"method": outgoing.method},
                        cte="quoted-printable")
    return msg.as_bytes()


async def send(account: webmail.Account, submission: Any, display_name: str, outgoing: list[Outgoing],
               words: Callable[[Outgoing], tuple[str, str]]) -> int:
    """Send each of ``outgoing`` from the account's address; ``words``
    gives a message's subject and text. Returns how many messages went.
    Raises what :func:`appliance.webmail.submit` raises (the messages
    before the failing one are sent)."""
    hostname = submission.hostname if submission is not None else "localhost"
    sent = 0
    for one in outgoing:
        subject, text = words(one)
        raw = message(account.address, display_name, one, subject, text, hostname)
        await webmail.submit(account, submission, account.address, list(one.recipients), raw)
        sent += 1
        log.info("%s: %s sent an iMIP %s to %d attendees", account.slug, account.address, one.method,
                 len(one.recipients))
    return sent
