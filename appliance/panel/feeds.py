"""Every signed-in user's calendar feeds page: the business's shared
calendars and task lists (owners) and the user's own, each with its ICS
link's state; turning a link on, renewing it, turning it off.

The rules are the feeds service's (``app.core.feeds``: who may publish
which calendar, what is stored, the audit log). A link is in the answer to
the POST that made it and nowhere else (only its hash is kept).
"""

from __future__ import annotations

import asyncio
import datetime

from appliance.errors import Conflict, InvalidInput, NotFound

from .core import Context, Response


def _when(value: float | None) -> str:
    if value is None:
        return ""
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


async def page(ctx: Context) -> Response:
    session = ctx.session
    feeds = await asyncio.to_thread(ctx.app.core.feeds.calendars, session.slug, session.address)
    done = {"off": ctx._("The feed is off: its link no longer works."),
            "unchanged": ctx._("Nothing changed: the feed was already in that state.")}.get(
        ctx.query_data().get("done", ""), "")
    return ctx.render("feeds.html", path="/calendars", shared=[f for f in feeds if f.shared],
                      own=[f for f in feeds if not f.shared], when=_when, done=done)


async def _change(ctx: Context, action: str) -> Response:
    session = ctx.session
    service = ctx.app.core.feeds
    method = {"on": service.turn_on, "renew": service.renew, "off": service.turn_off}[action]
    try:
        link = await asyncio.to_thread(method, session.slug, session.address, ctx.params["calendar"],
                                       actor=ctx.actor)
    except (NotFound, InvalidInput):
        return ctx.not_found()
    except Conflict:
        return ctx.redirect("/calendars?done=unchanged")
    if link is None:
        return ctx.redirect("/calendars?done=off")
    return ctx.render("feed_shown.html", path="/calendars", feed=link.feed, url=link.url, renewed=action == "renew")


async def turn_on(ctx: Context) -> Response:
    return await _change(ctx, "on")


async def renew(ctx: Context) -> Response:
    return await _change(ctx, "renew")


async def turn_off(ctx: Context) -> Response:
    return await _change(ctx, "off")
