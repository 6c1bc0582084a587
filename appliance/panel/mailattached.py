"""Webmail: a message attached to another (``message/rfc822``, a forward
as an attachment) opened as a message of its own, and any message's
source as it was received.

The attached message is read from the message that carries it
(:func:`appliance.webmail.attached`): its HTML goes to its own sandboxed
frame under the same policy as any message's (:func:`.mail.frame`), with
no remote images (there is no sender to trust for them); its attachments
are downloads of the carrying message's parts. The source is plain text,
never rendered: ``text/plain`` under a sandbox policy (and the web
adapter's ``nosniff``).
"""

from __future__ import annotations

from appliance import webmail
from appliance.errors import NotFound

from .core import Context, Response
from .mail import PART_CSP, _account, _number, frame


async def attached_page(ctx: Context) -> Response:
    account = _account(ctx)
    box, uid, number = _number(ctx, "folder"), _number(ctx, "message"), _number(ctx, "part")
    try:
        folder, _, shown = await webmail.attached(account, box, uid, number)
    except NotFound:
        return ctx.not_found()
    return ctx.render("mail_attached.html", folders=await webmail.folders(account), folder=folder, uid=uid,
                      number=number, shown=shown)


async def attached_body(ctx: Context) -> Response:
    """The sanitised HTML of an attached message, for its sandboxed frame."""
    try:
        _, _, shown = await webmail.attached(_account(ctx), _number(ctx, "folder"), _number(ctx, "message"),
                                             _number(ctx, "part"))
    except NotFound:
        return ctx.not_found()
    return frame(shown, allowed=False)


async def source(ctx: Context) -> Response:
    """A message's bytes as stored, shown as text (8-bit bytes that are
    not UTF-8 are shown as Latin-1 would read them, so nothing is lost
    from view)."""
    try:
        raw = await webmail.original(_account(ctx), _number(ctx, "folder"), _number(ctx, "message"))
    except NotFound:
        return ctx.not_found()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return Response(200, text.encode("utf-8"), "text/plain; charset=utf-8", headers=[
        ("content-security-policy", PART_CSP),
        ("cache-control", "no-store"),
    ])
