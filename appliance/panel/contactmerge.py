"""The owners' pages of duplicate contacts: cards sharing an e-mail
address, the confirmation of merging two, and the merge.

The rules are the contact-merge service's (``app.core.contact_merge``:
what the kept card gains, where the CRM's rows go, the audit log); a
handler reads its parameters, calls it and renders.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from appliance.errors import InvalidInput, LimitExceeded, NotFound

from .contacts import contact_href
from .core import Context, Response


def merge_href(keep: str, other: str) -> str:
    """The confirmation page of merging card ``other`` into card ``keep``."""
    return contact_href(keep) + "/merge/" + quote(other, safe="@")


async def duplicates_page(ctx: Context) -> Response:
    groups = await asyncio.to_thread(ctx.app.core.contact_merge.duplicates, ctx.session.slug)
    return ctx.render("contacts_duplicates.html", path="/contacts", groups=groups, href=contact_href,
                      merge_href=merge_href)


async def _pair(ctx: Context):
    """The two contacts of the route (kept, merged), or None."""
    service = ctx.app.core.contacts
    keep, other = ctx.params["uid"], ctx.params["other"]
    if keep == other:
        return None
    try:
        return await asyncio.gather(asyncio.to_thread(service.get, ctx.session.slug, keep),
                                    asyncio.to_thread(service.get, ctx.session.slug, other))
    except NotFound:
        return None


def _confirm(ctx: Context, pair, status: int = 200, error: str = "") -> Response:
    keep, other = pair
    return ctx.render("contact_merge.html", status, path="/contacts", keep=keep, other=other, error=error,
                      href=contact_href, merge_href=merge_href)


async def merge_page(ctx: Context) -> Response:
    pair = await _pair(ctx)
    if pair is None:
        return ctx.not_found()
    return _confirm(ctx, pair)


async def merge(ctx: Context) -> Response:
    pair = await _pair(ctx)
    if pair is None:
        return ctx.not_found()
    keep, other = pair
    try:
        await asyncio.to_thread(ctx.app.core.contact_merge.merge, ctx.session.slug, keep.uid, other.uid,
                                actor=ctx.session.address, note=ctx._("Merged with %(name)s."))
    except NotFound:
        return ctx.not_found()
    except (InvalidInput, LimitExceeded):
        return _confirm(ctx, pair, 400, ctx._(
            "These cards cannot be merged here: together they have too many addresses, phone numbers or tags,"
            " or one of them is written in a way this page cannot change."))
    return ctx.redirect(contact_href(keep.uid))
