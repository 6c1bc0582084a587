"""The agenda's mail to attendees: after a write of the panel's is
committed, the invitations, updates and cancellations it calls for
(:func:`appliance.eventmail.plan`) go from the user's address, worded in
their language; the query returned tells the week's page how it went."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from appliance import eventmail
from appliance.delivery import SenderRefused
from appliance.errors import ApplianceError
from appliance.services.agenda import Written, zone_name

from .core import Context

log = logging.getLogger(__name__)


async def send(ctx: Context, written: Written) -> str:
    """Send what the committed write ``written`` calls for; returns the
    query that tells the page how it went ("&invited=1", "&unsent=1"), or
    "" when there was no one to tell. A refusal (a sending limit, an
    address refused) is logged and told, never raised: the event is
    saved either way."""
    from .mail import _account

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    outgoing = await asyncio.to_thread(eventmail.plan, written.previous, written.text, written.uid,
                                       ctx.session.address, now)
    if not outgoing:
        return ""
    who = ctx.session.display_name or ctx.session.address
    try:
        await eventmail.send(_account(ctx), ctx.app.submission, ctx.session.display_name or "", outgoing,
                             lambda one: _words(ctx, one, who))
    except (SenderRefused, ApplianceError):
        log.info("%s: invitations of %s not sent", ctx.request.peer, ctx.session.address, exc_info=True)
        return "&unsent=1"
    return "&invited=1"


def _words(ctx: Context, one: eventmail.Outgoing, who: str) -> tuple[str, str]:
    """The subject and text of an invitation, in the organiser's language."""
    _ = ctx._
    title = one.title or _("(no title)")
    if isinstance(one.start, dt.datetime):
        zone = one.start.tzinfo and zone_name(one.start.tzinfo)
        when = f"{one.start:%Y-%m-%d %H:%M}" + (f" ({zone})" if zone else "")
    else:
        when = f"{one.start:%Y-%m-%d}" if one.start else ""
    if one.method == "CANCEL":
        return _("Cancelled: %(title)s", title=title), _("%(who)s cancelled “%(title)s”.", who=who, title=title)
    if one.update:
        return (_("Updated invitation: %(title)s", title=title),
                _("%(who)s changed “%(title)s”, now on %(when)s.", who=who, title=title, when=when))
    return (_("Invitation: %(title)s", title=title),
            _("%(who)s invites you to “%(title)s” on %(when)s.", who=who, title=title, when=when))
