"""The invitation link: someone an owner invited opens it, chooses their
password, and from then on signs in like everyone.

The link is ``/invitation/<address>/<token>``: the address leads to the
business (as a login does), the token is checked against its hash there.
Anyone holding the link may use it, signed in or not; a link that is
unknown, used or past its seven days gets a page that says so (410), and
nothing changes.
"""

from __future__ import annotations

import asyncio

from appliance.errors import InvalidInput
from appliance.services.people import InvitationUnusable

from . import forms
from .core import Context, Response


def _unusable(ctx: Context, reason: str) -> Response:
    messages = {
        "used": ctx._("This invitation link has been used already. Sign in with the password you chose, or ask an owner for a new link."),
        "expired": ctx._("This invitation link is more than 7 days old and no longer works. Ask an owner of the business for a new one."),
    }
    message = messages.get(reason, ctx._("This invitation link does not work. Check that you copied all of it, or ask an owner for a new one."))
    return ctx.render("error.html", 410, title=ctx._("This link cannot be used"), message=message)


async def page(ctx: Context) -> Response:
    address, token = ctx.params["invitee"], ctx.params["token"]
    try:
        await asyncio.to_thread(ctx.app.core.people.invitation, address, token)
    except InvitationUnusable as exc:
        return _unusable(ctx, exc.reason)
    return ctx.render("invitation.html", address=address, form=forms.choose_password(ctx._))


async def accept(ctx: Context) -> Response:
    address, token = ctx.params["invitee"], ctx.params["token"]
    form = forms.choose_password(ctx._, ctx.form_data())
    if form.validate():
        try:
            await asyncio.to_thread(ctx.app.core.people.accept_invitation, address, token, form.new.data,
                                    source=ctx.request.peer)
        except InvitationUnusable as exc:
            return _unusable(ctx, exc.reason)
        except InvalidInput:
            form.new.errors.append(ctx._("This password cannot be used: use %(min)d to %(max)d characters, no control characters.",
                                         min=forms.passwords.MIN_PASSWORD_LENGTH, max=forms.passwords.MAX_PASSWORD_LENGTH))
        else:
            return ctx.render("invitation_done.html", address=address)
    return ctx.render("invitation.html", 400, address=address, form=form)
