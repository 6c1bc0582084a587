"""The owner's audit log page: who changed what in the business, when and
from where (when known), newest first, 50 lines a page.

The services write action codes (``user.add``, ``alias.add``...) with a
detail; this page says each in a sentence of the reader's language. A code
it does not know is shown as written.
"""

from __future__ import annotations

import asyncio

from appliance.errors import InvalidInput
from appliance.services.audit import AuditEntry

from .core import Context, Response


def _pair(detail: str) -> tuple[str, str]:
    first, _, rest = detail.partition(" ")
    return first, rest


def sentence(ctx: Context, entry: AuditEntry) -> str:
    """What ``entry`` did, in plain words."""
    _, detail, action = ctx._, entry.detail, entry.action
    if action == "user.role":
        address, role = _pair(detail)
        if role == "owner":
            return _("Made %(address)s an owner", address=address)
        return _("Made %(address)s a member", address=address)
    if action == "user.quota":
        address, value = _pair(detail)
        if value.isdigit():
            return _("Set the mailbox size of %(address)s to %(size)d MB", address=address, size=int(value) // 2**20)
        return _("Gave %(address)s the plan's mailbox size", address=address)
    if action == "alias.add":
        address, _arrow, targets = detail.partition(" -> ")
        return _("Made %(address)s deliver to %(targets)s", address=address, targets=", ".join(targets.split()))
    simple = {
        "user.add": _("Added %(detail)s", detail=detail),
        "user.invite": _("Invited %(detail)s", detail=detail),
        "user.reinvite": _("Made a new invitation link for %(detail)s", detail=detail),
        "user.accept": _("Accepted the invitation and chose a password"),
        "user.passwd": _("Set a new password for %(detail)s", detail=detail),
        "user.suspend": _("Suspended %(detail)s", detail=detail),
        "user.resume": _("Let %(detail)s sign in again", detail=detail),
        "user.remove": _("Removed %(detail)s", detail=detail),
        "alias.remove": _("Removed the address %(detail)s", detail=detail),
        "domain.add": _("Added the domain %(detail)s", detail=detail),
        "domain.remove": _("Removed the domain %(detail)s", detail=detail),
        "tenant.create": _("Created the business"),
        "tenant.suspend": _("Suspended the business"),
        "tenant.resume": _("Resumed the business"),
        "tenant.plan": _("Moved the business to the plan %(detail)s", detail=detail),
        "site.publish": _("Published the website"),
        "dns.add": _("Added the DNS record %(detail)s", detail=detail),
        "dns.remove": _("Removed the DNS record %(detail)s", detail=detail),
        "feed.on": _("Turned on the feed of the calendar %(detail)s", detail=detail),
        "feed.renew": _("Renewed the feed link of the calendar %(detail)s", detail=detail),
        "feed.off": _("Turned off the feed of the calendar %(detail)s", detail=detail),
    }
    if action in simple:
        return simple[action]
    return f"{action} {detail}".strip()


async def page(ctx: Context) -> Response:
    number = int(ctx.params.get("number", "1"))
    try:
        log = await asyncio.to_thread(ctx.app.core.audit.page, ctx.session.slug, number)
    except InvalidInput:
        return ctx.not_found()
    if number > log.pages:
        return ctx.not_found()
    rows = [{"at": e.at.replace("T", " ").replace("+00:00", " UTC"), "actor": e.actor, "source": e.source,
             "what": sentence(ctx, e)} for e in log.entries]
    return ctx.render("audit.html", rows=rows, page=log.page, pages=log.pages, total=log.total)
