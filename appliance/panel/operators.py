"""The operators' sign-in: name and password, then a second factor.

``/operator`` takes the name and password and starts the operator's own
session (:mod:`.operator_sessions`) at stage ``code``, or ``setup`` when
the operator has not confirmed a TOTP secret yet. ``/operator/setup`` shows
the secret as a QR code and takes a first code; ``/operator/code`` takes a
TOTP code or a recovery code. Only then is the session full (under a new
id) and the businesses open. Every check goes through the throttled
:class:`.operator_login.OperatorLogin`.
"""

from __future__ import annotations

import asyncio

from appliance import twofactor
from appliance.errors import AuthFailed, Conflict, NotFound
from appliance.throttle import Busy

from . import forms
from .core import Context, Response
from .operator_sessions import COOKIE, PLAIN_COOKIE

HOME = "/operator/businesses"


def start(ctx: Context, session) -> None:
    """Send the cookie of an operator session just started or given a new id."""
    ctx.operator = session
    if session.new_token:
        ctx.set_cookie(ctx.cookie_name(COOKIE, PLAIN_COOKIE), session.new_token)


def forget(ctx: Context) -> None:
    ctx.operator = None
    ctx.set_cookie(ctx.cookie_name(COOKIE, PLAIN_COOKIE), "", max_age=0)


def _next_page(ctx: Context) -> str:
    return {"code": "/operator/code", "setup": "/operator/setup"}.get(ctx.operator.stage, HOME)


async def signin_page(ctx: Context) -> Response:
    if ctx.operator is not None:
        return ctx.redirect(_next_page(ctx))
    return ctx.render("operator_signin.html", form=forms.operator_signin(ctx._))


async def signin(ctx: Context) -> Response:
    form = forms.operator_signin(ctx._, ctx.form_data())
    if not form.validate():
        return ctx.render("operator_signin.html", 400, form=form)
    name = ctx.panel.operator_login.account(form.name.data)
    try:
        confirmed = await ctx.panel.operator_login.password(name, form.password.data, peer=ctx.request.peer)
    except Busy:
        form.password.errors.append(ctx._("Too many sign-ins at once. Wait a moment and try again."))
        return ctx.render("operator_signin.html", 503, form=form)
    except AuthFailed:
        form.password.errors.append(ctx._("Wrong name or password."))
        return ctx.render("operator_signin.html", 401, form=form)
    old = ctx.request.cookies.get(ctx.cookie_name(COOKIE, PLAIN_COOKIE))
    session = await ctx.panel.operator_sessions.start(name, "code" if confirmed else "setup",
                                                      peer=ctx.request.peer, replaces=old)
    start(ctx, session)
    return ctx.redirect(_next_page(ctx))


async def code_page(ctx: Context) -> Response:
    return ctx.render("operator_code.html", form=forms.operator_code(ctx._))


async def code(ctx: Context) -> Response:
    form = forms.operator_code(ctx._, ctx.form_data())
    if not form.validate():
        return ctx.render("operator_code.html", 400, form=form)
    session = ctx.operator
    try:
        await ctx.panel.operator_login.code(session.name, form.code.data, peer=ctx.request.peer)
    except AuthFailed:
        return await _wrong_code(ctx, form, "operator_code.html")
    await ctx.panel.operator_sessions.promote(session)
    start(ctx, session)
    return ctx.redirect(HOME)


async def _wrong_code(ctx: Context, form, template: str, **values) -> Response:
    """Count a wrong code; past :data:`MAX_CODE_TRIES` the sign-in starts again."""
    if await ctx.panel.operator_sessions.wrong_code(ctx.operator):
        forget(ctx)
        return ctx.render("operator_signin.html", 401, form=forms.operator_signin(ctx._),
                          message=ctx._("Too many wrong codes. Sign in again."))
    form.code.errors.append(ctx._("This code is wrong or was used already. Wait for the next one."))
    return ctx.render(template, 401, form=form, **values)


async def _setup_values(ctx: Context) -> dict | None:
    try:
        link = await asyncio.to_thread(ctx.app.core.operators.setup_link, ctx.operator.name)
    except (NotFound, Conflict):
        return None
    return {"secret": link.totp_secret, "qr": twofactor.qr_svg(link.otpauth, ctx._("QR code of your secret"))}


async def setup_page(ctx: Context) -> Response:
    values = await _setup_values(ctx)
    if values is None:
        return ctx.redirect("/operator")
    return ctx.render("operator_setup.html", form=forms.operator_code(ctx._), **values)


async def setup(ctx: Context) -> Response:
    values = await _setup_values(ctx)
    if values is None:
        return ctx.redirect("/operator")
    form = forms.operator_code(ctx._, ctx.form_data())
    if not form.validate():
        return ctx.render("operator_setup.html", 400, form=form, **values)
    session = ctx.operator
    try:
        codes = await ctx.panel.operator_login.confirm(session.name, form.code.data, peer=ctx.request.peer)
    except AuthFailed:
        return await _wrong_code(ctx, form, "operator_setup.html", **values)
    await ctx.panel.operator_sessions.promote(session)
    start(ctx, session)
    return ctx.render("operator_recovery.html", codes=codes)


async def signout(ctx: Context) -> Response:
    await ctx.panel.operator_sessions.end(ctx.operator)
    forget(ctx)
    return ctx.redirect("/operator")
