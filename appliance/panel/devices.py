"""Every signed-in user's "Your devices" pages: how to set up mail,
calendars and contacts in Thunderbird, Outlook, the new Outlook, an iPhone
or iPad, and Android, with the user's own values filled in.

Each handler makes one call, ``app.core.devices.for_user`` (on a thread: it
reads the business file and the box certificate), the same service the
autoconfig, autodiscover and Apple profile answers use, so a page never
says something else than what the clients are told. The password is never
shown: the pages say where to type it.
"""

from __future__ import annotations

import asyncio

from markupsafe import Markup

from appliance import twofactor

from .account import _size
from .core import Context, Response


async def _setup(ctx: Context):
    session = ctx.session
    return await asyncio.to_thread(ctx.app.core.devices.for_user, session.slug, session.address)


async def index(ctx: Context) -> Response:
    setup = await _setup(ctx)
    percent = min(100, round(100 * setup.used_bytes / setup.quota_bytes)) if setup.quota_bytes else 0
    return ctx.render("devices.html", setup=setup, used=_size(ctx, setup.used_bytes),
                      quota=_size(ctx, setup.quota_bytes), percent=percent)


async def thunderbird(ctx: Context) -> Response:
    return ctx.render("devices_thunderbird.html", setup=await _setup(ctx))


async def outlook(ctx: Context) -> Response:
    return ctx.render("devices_outlook.html", setup=await _setup(ctx))


async def new_outlook(ctx: Context) -> Response:
    return ctx.render("devices_new_outlook.html", setup=await _setup(ctx))


async def iphone(ctx: Context) -> Response:
    setup = await _setup(ctx)
    # Our own markup from segno (no user text in it but the URL, which it
    # encodes as modules): safe to put inline.
    qr = Markup(twofactor.qr_svg(setup.profile_url, ctx._("QR code of the profile's address")))
    return ctx.render("devices_iphone.html", setup=setup, qr=qr)


async def android(ctx: Context) -> Response:
    return ctx.render("devices_android.html", setup=await _setup(ctx))
