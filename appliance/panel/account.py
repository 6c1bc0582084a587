"""Every signed-in user's pages: sign-in and sign-out, the overview, the
password, the sessions, and the language. Each handler parses its form,
calls one service and renders the result (see :mod:`.core`)."""

from __future__ import annotations

import asyncio
import datetime

from appliance.errors import AuthFailed, InvalidInput, Suspended
from storage import directory, mail

from appliance import passwords

from . import forms, rights, security
from .core import LANG_COOKIE, LANG_MAX_AGE, PLAIN_LANG_COOKIE, Context, Response
from .sessions import COOKIE, PLAIN_COOKIE


async def signin_page(ctx: Context) -> Response:
    if ctx.session is not None:
        return ctx.redirect("/home")
    return ctx.render("signin.html", form=forms.signin(ctx._))


async def signin(ctx: Context) -> Response:
    form = forms.signin(ctx._, ctx.form_data())
    if not form.validate():
        return ctx.render("signin.html", 400, form=form)
    request = ctx.request
    try:
        principal = await ctx.app.auth.login(form.address.data, form.password.data, protocol="panel", peer=request.peer)
    except Suspended:
        form.address.errors.append(ctx._("This business is suspended; ask your provider."))
        return ctx.render("signin.html", 403, form=form)
    except AuthFailed:
        form.password.errors.append(ctx._("Wrong address or password."))
        return ctx.render("signin.html", 401, form=form)
    if principal.two_step:
        return await security.begin_second_step(ctx, principal.slug, principal.user_id, principal.address)
    old = request.cookies.get(ctx.cookie_name(COOKIE, PLAIN_COOKIE))
    session = await ctx.sessions.start(principal.slug, principal.user_id, peer=request.peer,
                                       agent=request.headers.get("user-agent", ""), replaces=old)
    ctx.start_session(session)
    return ctx.redirect("/home")


async def static_file(ctx: Context) -> Response:
    body, content_type = ctx.panel.static[ctx.request.path.rsplit("/", 1)[1]]
    return Response(200, body, content_type)


async def language(ctx: Context) -> Response:
    form = forms.language(ctx._, ctx.lang, ctx.form_data())
    if not form.validate():
        return ctx.render("error.html", 400, title=ctx._("Unknown language"),
                          message=ctx._("Choose one of the languages."))
    chosen = form.language.data
    session = ctx.session
    if session is not None:
        await ctx.app.tenants.handle(session.slug).write(
            "panel language", lambda c: directory.set_language(c, session.user_id, chosen))
    ctx.set_cookie(ctx.cookie_name(LANG_COOKIE, PLAIN_LANG_COOKIE), chosen, max_age=LANG_MAX_AGE)
    back = ctx.request.form.get("next", ["/"])[0]
    # Back only to a page of the panel: never an open redirect.
    return ctx.redirect(back if rights.match(back) else "/")


async def home(ctx: Context) -> Response:
    session = ctx.session
    used, quota = await ctx.app.tenants.handle(session.slug).read(
        "panel quota", lambda c: mail.quota_usage(c, session.user_id))
    business = (await asyncio.to_thread(ctx.app.core.businesses.show, session.slug)).name
    percent = min(100, round(100 * used / quota)) if quota else 0
    return ctx.render("home.html", business=business, used=_size(ctx, used), quota=_size(ctx, quota),
                      percent=percent)


async def password_page(ctx: Context) -> Response:
    return ctx.render("password.html", form=forms.change_password(ctx._), changed=False)


async def password(ctx: Context) -> Response:
    form = forms.change_password(ctx._, ctx.form_data())
    if not form.validate():
        return ctx.render("password.html", 400, form=form, changed=False)
    session = ctx.session
    try:
        await ctx.app.auth.login(session.address, form.current.data, protocol="panel", peer=ctx.request.peer)
    except (AuthFailed, Suspended):
        form.current.errors.append(ctx._("This is not your current password."))
        return ctx.render("password.html", 400, form=form, changed=False)
    try:
        await asyncio.to_thread(ctx.app.core.people.set_password, session.address, form.new.data, actor=session.address)
    except InvalidInput:
        form.new.errors.append(ctx._("This password cannot be used: use %(min)d to %(max)d characters, no control characters.",
                                     min=passwords.MIN_PASSWORD_LENGTH, max=passwords.MAX_PASSWORD_LENGTH))
        return ctx.render("password.html", 400, form=form, changed=False)
    # The old password is gone everywhere; so are the other sessions, and
    # this one continues under a new id.
    await ctx.sessions.end_all(session.slug, session.user_id, keep=session)
    await ctx.sessions.rotate(session)
    ctx.start_session(session)
    return ctx.render("password.html", form=forms.change_password(ctx._), changed=True)


async def sessions_page(ctx: Context) -> Response:
    rows = await ctx.sessions.list(ctx.session)
    for row in rows:
        row["current"] = row["id_hash"] == ctx.session.id_hash
        row["started"] = _when(row["created"])
        row["last"] = _when(row["seen"])
    return ctx.render("sessions.html", rows=rows)


async def end_session(ctx: Context) -> Response:
    ref = ctx.request.form.get("ref", [""])[0][:32]
    session = ctx.session
    await ctx.sessions.end_one(session, ref)
    if ref == session.ref:
        ctx.end_session()
        return ctx.redirect("/")
    return ctx.redirect("/sessions")


async def signout(ctx: Context) -> Response:
    await ctx.sessions.end(ctx.session)
    ctx.end_session()
    return ctx.redirect("/")


async def signout_everywhere(ctx: Context) -> Response:
    await ctx.sessions.end_all(ctx.session.slug, ctx.session.user_id)
    ctx.end_session()
    return ctx.redirect("/")


def _size(ctx: Context, n: int) -> str:
    mib = n / (1024 * 1024)
    if mib >= 1024:
        value, unit = mib / 1024, ctx._("GB")
    else:
        value, unit = mib, ctx._("MB")
    text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return (text.replace(".", ",") if ctx.lang == "fr" else text) + "\u00a0" + unit


def _when(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

