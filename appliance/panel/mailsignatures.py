"""Webmail: a signature for each address the user may send as, over
:mod:`appliance.webmailsignatures`, and the senders whose pictures are
shown at once (:mod:`appliance.panel.mailpictures` changes them). Each address has its own small form
on one page; a refused one comes back with the message beside its field
and nothing stored."""

from __future__ import annotations

from appliance import webmail, webmailpictures, webmailsignatures
from appliance.errors import InvalidInput, LimitExceeded

from . import mailforms
from .core import Context, Response


async def _forms(ctx: Context, senders: list[str], posted: tuple[int, object] | None = None) -> list[tuple[str, object]]:
    from .mail import _account

    stored = await webmailsignatures.signatures(_account(ctx), senders)
    forms = []
    for i, address in enumerate(senders):
        if posted is not None and posted[0] == i:
            form = posted[1]
        else:
            form = mailforms.signature(ctx._, i)
            form.text.data = stored[address]
        form.text.label.text = ctx._("Signature for %(address)s", address=address)
        forms.append((address, form))
    return forms


async def _page(ctx: Context, senders: list[str], status: int = 200, notice: str = "",
                posted: tuple[int, object] | None = None) -> Response:
    from .mail import _account

    return ctx.render("mail_signatures.html", status, folders=await webmail.folders(_account(ctx)),
                      forms=await _forms(ctx, senders, posted), notice=notice,
                      max_lines=webmailsignatures.MAX_LINES,
                      picture_senders=await webmailpictures.senders(_account(ctx)))


async def page(ctx: Context) -> Response:
    """Each sending address with its signature."""
    from .mail import _senders

    done = (ctx.request.query.get("done") or [""])[0]
    notice = {"saved": ctx._("Your signature was saved."),
              "pictures": ctx._("The sender was removed.")}.get(done, "")
    return await _page(ctx, await _senders(ctx), notice=notice)


async def save(ctx: Context) -> Response:
    """Store the signature of the address posted (``address``)."""
    from .mail import _account, _senders

    senders = await _senders(ctx)
    data = ctx.form_data()
    address = data.get("address") or ""
    lower = [s.lower() for s in senders]
    if address.lower() not in lower:
        return ctx.render("error.html", 400, title=ctx._("Nothing was changed"),
                          message=ctx._("You can only sign for your own addresses."))
    index = lower.index(address.lower())
    form = mailforms.signature(ctx._, index, data)
    if not form.validate():
        return await _page(ctx, senders, 400, posted=(index, form))
    try:
        await webmailsignatures.set_signature(_account(ctx), senders, senders[index], form.text.data or "")
    except (InvalidInput, LimitExceeded):
        form.text.errors = list(form.text.errors) + [
            ctx._("At most %(lines)d lines and %(size)d characters.", lines=webmailsignatures.MAX_LINES,
                  size=webmailsignatures.MAX_SIGNATURE)]
        return await _page(ctx, senders, 400, posted=(index, form))
    return ctx.redirect("/mail/signatures?done=saved")
