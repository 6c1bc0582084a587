"""Webmail: the per-user choice to list mail by conversation, and one
conversation read whole, over :mod:`appliance.webmailconversations`."""

from __future__ import annotations

from appliance import webmail, webmailconversations
from appliance.errors import NotFound

from .core import Context, Response


async def toggle(ctx: Context) -> Response:
    """List by conversation (``conversations=on``) or every message (``off``)."""
    from .mail import _account

    account = _account(ctx)
    box = int(ctx.params["folder"])
    choice = ctx.form_data().get("conversations")
    if choice not in ("on", "off"):
        return ctx.render("error.html", 400, title=ctx._("Nothing was changed"),
                          message=ctx._("Choose to group messages by conversation or to show every message."))
    try:
        await webmailconversations.set_enabled(account, box, choice == "on")
    except NotFound:
        return ctx.not_found()
    return ctx.redirect(f"/mail/{box}")


async def conversation_page(ctx: Context) -> Response:
    """Every message of one conversation, oldest first."""
    from .mail import _account

    account = _account(ctx)
    try:
        folder, rows = await webmailconversations.conversation(account, int(ctx.params["folder"]),
                                                               int(ctx.params["thread"]))
    except NotFound:
        return ctx.not_found()
    return ctx.render("mail_conversation.html", folders=await webmail.folders(account), folder=folder, rows=rows)
