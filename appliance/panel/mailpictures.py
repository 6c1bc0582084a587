"""Webmail: the senders whose remote pictures a user sees at once, over
:mod:`appliance.webmailpictures`. A message's page adds its From address;
the signatures page lists them, each with a button that removes it."""

from __future__ import annotations

from appliance import webmailpictures
from appliance.errors import InvalidInput, LimitExceeded, NotFound

from .core import Context, Response


async def always(ctx: Context) -> Response:
    """Show the pictures of every message from this message's sender. The
    posted ``address`` must be its From as the page showed it (a page
    older than the message's headers changes nothing)."""
    from .mail import _account, _number

    box, uid = _number(ctx, "folder"), _number(ctx, "message")
    account = _account(ctx)
    try:
        await webmailpictures.always(account, box, uid, (ctx.form_data().get("address") or "")[:320])
    except NotFound:
        return ctx.not_found()
    except InvalidInput:
        return ctx.render("error.html", 400, title=ctx._("Nothing was changed"),
                          message=ctx._("This is not the sender of this message."))
    except LimitExceeded:
        return ctx.render("error.html", 400, title=ctx._("Nothing was changed"),
                          message=ctx._("You can keep at most %(num)d senders; remove some first.",
                                        num=webmailpictures.MAX_SENDERS))
    return ctx.redirect(f"/mail/{box}/{uid}?done=pictures")


async def remove(ctx: Context) -> Response:
    """Take the posted ``address`` off the user's list."""
    from .mail import _account

    await webmailpictures.forget(_account(ctx), (ctx.form_data().get("address") or "")[:320])
    return ctx.redirect("/mail/signatures?done=pictures#pictures")
