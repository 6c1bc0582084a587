"""Webmail's answers to calendar invitations (iMIP, RFC 6047).

An answer (accept, tentative, decline) to a METHOD:REQUEST puts the event
in the user's own calendar (``<address>/calendar``, the collection their
CalDAV clients sync, written through :mod:`storage.dav` as a DAV PUT would
be, so a client sees it at its next sync) with their PARTSTAT, then sends
a METHOD:REPLY to the organiser through the submission rules webmail's
messages follow (:func:`appliance.webmail.submit`: sender check, daily
limits, DKIM, the outbound queue, a copy in Sent). A METHOD:CANCEL removes
the event. An invitation only changes an event of the same UID whose
organiser is the same and whose SEQUENCE is not higher (RFC 5546 section
2.1.5), so a stranger cannot rewrite or remove someone else's event by
its UID, and an old message cannot undo a newer one.

A METHOD:REPLY to the user (its ORGANIZER one of their addresses), sent
by the attendee it names, records that attendee's answer in the event of
the same UID the user organises, in their own calendars or the
business's shared ones (:func:`record`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email.parser
import email.policy
import email.utils
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any


from storage import dav, directory

from . import davitems, imip, mailview, webmail
from .errors import Conflict, InvalidInput, NotFound

CALENDAR = "calendar"


class Outdated(Conflict):
    """The calendar holds a newer version of the event, or one from another
    organiser."""


@dataclass(frozen=True)
class Standing:
    """What the user's calendar holds of an invitation's event."""

    in_calendar: bool
    sequence: int = 0
    partstat: str = ""


async def _own(account: webmail.Account, submission: Any) -> set[str]:
    if submission is None:
        return {account.address.lower()}
    return {a.lower() for a in await submission.senders(account)} | {account.address.lower()}


def _collection(conn: Any, address: str) -> dav.CollectionRow:
    dav.ensure_user_home(conn, address)
    found = dav.get_collection(conn, f"{address}/{CALENDAR}")
    if found is None:
        raise NotFound("no calendar")
    return found


async def standing(account: webmail.Account, submission: Any, invitation: imip.Invitation) -> Standing:
    """Whether the user's calendar has the event, its SEQUENCE and their PARTSTAT."""
    own = await _own(account, submission)

    def read(conn: Any) -> dav.ItemRow | None:
        found = dav.get_collection(conn, f"{account.address}/{CALENDAR}")
        return None if found is None else dav.item_by_uid(conn, found.id, invitation.uid)

    item = await account.read("invitation standing", read)
    if item is None:
        return Standing(False)
    return await asyncio.to_thread(lambda: Standing(True, imip.sequence_of(item.text), imip.partstat_of(item.text, own)))


async def _invitation(account: webmail.Account, box: int, uid: int, method: str) -> tuple[str, imip.Invitation]:
    _, row = await webmail.message(account, box, uid, mark_seen=False)
    shown = await asyncio.to_thread(mailview.view, row["raw"])
    if shown.invitation is None or shown.calendar is None:
        raise NotFound("no invitation in this message")
    if shown.invitation.method != method:
        raise InvalidInput(f"not a {method}")
    return shown.calendar, shown.invitation


def _check(old: dav.ItemRow | None, invitation: imip.Invitation) -> None:
    if old is None:
        return
    organizer = imip.organizer_of(old.text)
    mine = invitation.organizer.address.lower() if invitation.organizer else ""
    if organizer != mine or imip.sequence_of(old.text) > invitation.sequence:
        raise Outdated("the calendar holds another version of this event")


_limits = davitems.limits


def _item(address: str, dav_settings: Any, text: str) -> dav.NewItem:
    """What storage keeps of the calendar object ``text`` in ``address``'s
    calendar (href to be set)."""
    return davitems.new_item(dav_settings, f"{address}/{CALENDAR}", "", text, "event")


def _calendar_op(fn: Any, *args: Any) -> str:
    try:
        return fn(*args)
    except imip.Malformed as e:
        raise InvalidInput(f"the stored event cannot be changed: {e}"[:200]) from None


def _reply_message(sender: str, display_name: str, to: str, subject: str, text: str, calendar: str,
                   hostname: str) -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = email.utils.formataddr((display_name, sender)) if display_name else sender
    msg["To"] = to
    msg["Subject"] = " ".join(subject.split())[:webmail.MAX_SUBJECT]
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=hostname)
    msg.set_content(text, cte="quoted-printable")
    # RFC 6047 section 2.4: the iCalendar object in a text/calendar part
    # whose "method" parameter repeats its METHOD.
    msg.add_alternative(calendar, subtype="calendar", params={"method": "REPLY"}, cte="quoted-printable")
    return msg.as_bytes()


async def answer(account: webmail.Account, submission: Any, dav_settings: Any, box: int, uid: int, choice: str,
                 display_name: str, subject: str, text: str) -> bool:
    """Answer the invitation in message ``uid`` of ``box`` with ``choice``
    (a key of :data:`imip.PARTSTATS`): the event goes into (or is updated
    in) the user's calendar, then the reply (``subject``, ``text``) goes to
    the organiser unless the organiser is the user. Returns whether a reply
    was sent. An invitation to occurrences of a series only (RECURRENCE-ID)
    changes those in the stored series. ``dav_settings`` (the ``[dav]``
    section) bounds the calendar as it bounds a DAV PUT. Raises
    InvalidInput (no such choice, not a REQUEST), NotFound (no message or
    invitation), Outdated, LimitExceeded (calendar limits), and what
    :func:`appliance.webmail.submit` raises."""
    partstat = imip.PARTSTATS.get(choice)
    if partstat is None:
        raise InvalidInput("no such answer")
    calendar, invitation = await _invitation(account, box, uid, "REQUEST")
    own = await _own(account, submission)
    now = dt.datetime.now(dt.timezone.utc)

    def prepare() -> tuple[str, str, str]:
        me = imip.attendee_address(calendar, own, account.address)
        return (me, imip.stored_event(calendar, own, me, display_name, partstat),
                imip.reply(calendar, own, me, display_name, partstat, now))

    try:
        # Both written before anything changes: a part vobject reads but
        # cannot write back changes nothing.
        me, stored, calendar_reply = await asyncio.to_thread(prepare)
    except imip.Malformed as e:
        raise InvalidInput(f"the invitation cannot be answered: {e}") from None
    limits = _limits(dav_settings)
    prepared = _item(account.address, dav_settings, stored)
    occurrences = await asyncio.to_thread(imip.occurrences_only, calendar)

    def write(conn: Any) -> None:
        collection = _collection(conn, account.address)
        old = dav.item_by_uid(conn, collection.id, invitation.uid)
        _check(old, invitation)
        new = prepared
        if occurrences and old is not None:
            # One meeting of a series: it goes into the stored series.
            new = _item(account.address, dav_settings, _calendar_op(
                imip.merge_occurrences, old.text, calendar, own, me, display_name, partstat))
        href = old.href if old is not None else f"{uuid.uuid4()}.ics"
        dav.put_item(conn, collection.id, dataclasses.replace(new, href=href), limits=limits)
        directory.audit(conn, account.address, "calendar.invitation", f"{invitation.uid[:100]} {partstat}")

    await account.write("invitation answer", write)
    organizer = invitation.organizer.address if invitation.organizer else ""
    if not organizer or organizer.lower() in own:
        return False
    hostname = submission.hostname if submission is not None else "localhost"
    raw = _reply_message(me, display_name, organizer, subject, text, calendar_reply, hostname)
    await webmail.submit(account, submission, me, webmail.addresses(organizer), raw)
    return True


async def remove(account: webmail.Account, dav_settings: Any, box: int, uid: int) -> bool:
    """Remove the event a METHOD:CANCEL in message ``uid`` of ``box`` names
    from the user's calendar (only the occurrences it names, when it names
    occurrences of a series); returns whether there was one. Raises
    NotFound (no message or cancellation), InvalidInput (not a CANCEL),
    Outdated."""
    calendar, invitation = await _invitation(account, box, uid, "CANCEL")
    try:
        occurrences = await asyncio.to_thread(imip.occurrences_only, calendar)
    except imip.Malformed as e:
        raise InvalidInput(str(e)) from None

    def write(conn: Any) -> bool:
        collection = _collection(conn, account.address)
        old = dav.item_by_uid(conn, collection.id, invitation.uid)
        if old is None:
            return False
        _check(old, invitation)
        if occurrences:
            text = _calendar_op(imip.cancel_occurrences, old.text, calendar)
            new = dataclasses.replace(_item(account.address, dav_settings, text), href=old.href)
            dav.put_item(conn, collection.id, new, limits=_limits(dav_settings))
        else:
            dav.delete_item(conn, collection.id, old.href)
        directory.audit(conn, account.address, "calendar.cancelled", invitation.uid[:100])
        return True

    return await account.write("invitation cancel", write)


async def record(account: webmail.Account, submission: Any, dav_settings: Any, box: int, uid: int) -> bool:
    """Record the answer the METHOD:REPLY in message ``uid`` of ``box``
    gives (:func:`appliance.imip.apply_reply`) in the event of its UID
    that the user organises, in their own calendars or the business's
    shared ones; returns whether there was one. Checks: the reply's
    ORGANIZER is one of the user's addresses, its one ATTENDEE is the
    message's sender, its SEQUENCE is not older than the stored event's.
    Raises NotFound (no message or reply), InvalidInput (not a reply to
    the user from the attendee, or not one of the event's attendees),
    Outdated, LimitExceeded."""
    calendar, invitation = await _invitation(account, box, uid, "REPLY")
    own = await _own(account, submission)
    if invitation.organizer is None or invitation.organizer.address.lower() not in own:
        raise InvalidInput("this reply is not to you")
    _, row = await webmail.message(account, box, uid, mark_seen=False)
    headers = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(row["raw"])
    sender = email.utils.parseaddr(str(headers.get("From", "")))[1].lower()
    if len(invitation.attendees) != 1 or invitation.attendees[0].address.lower() != sender:
        raise InvalidInput("this reply is not from the attendee it names")
    limits = _limits(dav_settings)

    def write(conn: Any) -> bool:
        rows = list(dav.calendars(conn, account.address)) + list(dav.calendars(conn, account.slug))
        for collection in (r.collection for r in rows):
            item = dav.item_by_uid(conn, collection.id, invitation.uid)
            if item is None or item.component != "VEVENT" or imip.organizer_of(item.text) not in own:
                continue
            if imip.sequence_of(item.text) > invitation.sequence:
                raise Outdated("the event changed since this answer")
            try:
                text = imip.apply_reply(item.text, calendar)
            except imip.Malformed as e:
                raise InvalidInput(f"this answer cannot be recorded: {e}"[:200]) from None
            new = davitems.new_item(dav_settings, collection.path, item.href, text, "event")
            dav.put_item(conn, collection.id, new, limits=limits)
            directory.audit(conn, account.address, "calendar.reply", f"{invitation.uid[:100]} {sender}")
            return True
        return False

    return await account.write("invitation reply", write)
