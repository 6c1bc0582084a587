"""Webmail: answering a calendar invitation shown with its message, and
removing a cancelled event, over :mod:`appliance.webmailcalendar`.

Both are POST forms on the message's page; they redirect back to it with
what was done (``?done=``), or show it again with what went wrong.
"""

from __future__ import annotations

import logging

from appliance import webmail, webmailcalendar
from appliance.delivery import SenderRefused, SendingLimit
from appliance.errors import ApplianceError, InvalidInput, LimitExceeded, NotFound

from .core import Context, Response

log = logging.getLogger(__name__)


def notice(ctx: Context, done: str) -> str:
    """What the message page says after an answer or a removal."""
    return {
        "accepted": ctx._("You accepted. The event is in your calendar and the organiser was told."),
        "tentative": ctx._("You answered tentatively. The event is in your calendar and the organiser was told."),
        "declined": ctx._("You declined. The organiser was told."),
        "saved": ctx._("Your answer is in your calendar."),
        "removed": ctx._("The event was removed from your calendar."),
        "absent": ctx._("This event is not in your calendar."),
        "recorded": ctx._("The answer is recorded in your event."),
        "unknown": ctx._("None of your calendars holds an event of yours that this answer is for."),
    }.get(done, "")


def _reply_text(ctx: Context, choice: str, who: str, title: str) -> tuple[str, str]:
    if choice == "accepted":
        return (ctx._("Accepted: %(title)s", title=title),
                ctx._("%(who)s has accepted the invitation to “%(title)s”.", who=who, title=title))
    if choice == "tentative":
        return (ctx._("Tentative: %(title)s", title=title),
                ctx._("%(who)s might attend “%(title)s”.", who=who, title=title))
    return (ctx._("Declined: %(title)s", title=title),
            ctx._("%(who)s has declined the invitation to “%(title)s”.", who=who, title=title))


async def answer(ctx: Context) -> Response:
    """Accept, answer maybe or decline (``answer``) the invitation of a message."""
    from .mail import _account, message_page

    account = _account(ctx)
    box, uid = int(ctx.params["folder"]), int(ctx.params["message"])
    choice = ctx.form_data().get("answer")
    if choice not in ("accepted", "tentative", "declined"):
        return await message_page(ctx, status=400, error=ctx._("Choose Accept, Tentative or Decline."))
    name = ctx.session.display_name or ""
    try:
        _, _, shown = await webmail.view(account, box, uid)
        title = shown.invitation.summary if shown.invitation else ""
        subject, text = _reply_text(ctx, choice, name or ctx.session.address, title or ctx._("(no title)"))
        sent = await webmailcalendar.answer(account, ctx.app.submission, ctx.app.settings.dav, box, uid, choice, name,
                                            subject, text)
    except NotFound:
        return ctx.not_found()
    except webmailcalendar.Outdated:
        error = ctx._("Your calendar holds a newer version of this event, or one from another organiser; "
                      "nothing was changed.")
    except InvalidInput:
        error = ctx._("This message holds no invitation to answer.")
    except LimitExceeded:
        error = ctx._("Your calendar is full; nothing was changed.")
    except SendingLimit:
        error = ctx._("The event is in your calendar, but you have sent as many messages as your plan allows "
                      "today: the organiser was not told.")
    except (SenderRefused, ApplianceError):
        log.info("%s: invitation answer of %s not sent", ctx.request.peer, ctx.session.address, exc_info=True)
        error = ctx._("The event is in your calendar, but the answer could not be sent to the organiser.")
    else:
        return ctx.redirect(f"/mail/{box}/{uid}?done={choice if sent else 'saved'}")
    return await message_page(ctx, status=400, error=error)


async def remove(ctx: Context) -> Response:
    """Remove a cancelled event from the user's calendar."""
    from .mail import _account, message_page

    box, uid = int(ctx.params["folder"]), int(ctx.params["message"])
    try:
        removed = await webmailcalendar.remove(_account(ctx), ctx.app.settings.dav, box, uid)
    except NotFound:
        return ctx.not_found()
    except webmailcalendar.Outdated:
        return await message_page(ctx, status=400, error=ctx._(
            "Your calendar holds a newer version of this event, or one from another organiser; nothing was changed."))
    except InvalidInput:
        return await message_page(ctx, status=400, error=ctx._("This message cancels no event."))
    except LimitExceeded:
        return await message_page(ctx, status=400, error=ctx._("Your calendar is full; nothing was changed."))
    return ctx.redirect(f"/mail/{box}/{uid}?done={'removed' if removed else 'absent'}")


async def record(ctx: Context) -> Response:
    """Record an attendee's answer (a METHOD:REPLY) in the user's event."""
    from .mail import _account, message_page

    box, uid = int(ctx.params["folder"]), int(ctx.params["message"])
    try:
        recorded = await webmailcalendar.record(_account(ctx), ctx.app.submission, ctx.app.settings.dav, box, uid)
    except NotFound:
        return ctx.not_found()
    except webmailcalendar.Outdated:
        return await message_page(ctx, status=400, error=ctx._(
            "The event changed after this answer was sent; nothing was changed."))
    except InvalidInput:
        return await message_page(ctx, status=400, error=ctx._(
            "This message holds no answer to an event of yours from the person it names."))
    except LimitExceeded:
        return await message_page(ctx, status=400, error=ctx._("Your calendar is full; nothing was changed."))
    return ctx.redirect(f"/mail/{box}/{uid}?done={'recorded' if recorded else 'unknown'}")
