"""Every user's security pages: the second step of signing in, turning
two-step sign-in on and off, recovery codes, and app passwords.

The rules are the login checker's (``app.auth``: which secret opens what,
codes never accepted twice, wrong codes counted by the throttle) and the
security service's (``app.core.security``: what is stored, limits, the
audit log). A handler parses its form, proves the user where the change
needs it, calls the service and renders; secrets shown once (recovery
codes, an app password) are in the answer to the POST that made them and
nowhere else.
"""

from __future__ import annotations

import asyncio
import datetime

from markupsafe import Markup

from appliance import twofactor
from appliance.errors import AuthFailed, Conflict, InvalidInput, LimitExceeded, NotFound, Suspended

from . import forms
from .core import Context, Response
from .sessions import (CHALLENGE_COOKIE, CHALLENGE_SECONDS, COOKIE, PLAIN_CHALLENGE_COOKIE, PLAIN_COOKIE)

# -- the second step of signing in --------------------------------------------


def _challenge_cookie(ctx: Context) -> str:
    return ctx.cookie_name(CHALLENGE_COOKIE, PLAIN_CHALLENGE_COOKIE)


async def begin_second_step(ctx: Context, slug: str, user_id: int, address: str) -> Response:
    """The password was right and two-step sign-in is on: no session yet,
    a challenge bound to this browser, and the page that asks for a code."""
    token = await ctx.sessions.begin_challenge(slug, user_id, address)
    ctx.set_cookie(_challenge_cookie(ctx), token, max_age=CHALLENGE_SECONDS)
    return ctx.redirect("/signin/code")


async def _open_challenge(ctx: Context) -> dict | None:
    return await ctx.sessions.challenge(ctx.request.cookies.get(_challenge_cookie(ctx), ""))


def _start_again(ctx: Context, message: str, status: int) -> Response:
    ctx.set_cookie(_challenge_cookie(ctx), "", max_age=0)
    form = forms.signin(ctx._)
    form.password.errors = [message]
    return ctx.render("signin.html", status, path="/", form=form)


async def code_page(ctx: Context) -> Response:
    if ctx.session is not None:
        return ctx.redirect("/home")
    if await _open_challenge(ctx) is None:
        return ctx.redirect("/")
    return ctx.render("signin_code.html", form=forms.signin_code(ctx._))


async def code(ctx: Context) -> Response:
    if ctx.session is not None:
        return ctx.redirect("/home")
    challenge = await _open_challenge(ctx)
    if challenge is None:
        return _start_again(ctx, ctx._("This sign-in waited too long. Enter your password again."), 401)
    form = forms.signin_code(ctx._, ctx.form_data())
    if not form.validate():
        return ctx.render("signin_code.html", 400, form=form)
    request = ctx.request
    try:
        await ctx.app.auth.second_factor(challenge["slug"], challenge["user_id"], challenge["address"],
                                         form.code.data, peer=request.peer)
    except AuthFailed:
        if not await ctx.sessions.challenge_failed(challenge):
            return _start_again(ctx, ctx._("Too many wrong codes. Enter your password again."), 401)
        form.code.errors.append(ctx._("This code is not right, or was used already. Wait for the next one."))
        return ctx.render("signin_code.html", 401, form=form)
    if not await ctx.sessions.end_challenge(challenge):
        return ctx.redirect("/")  # a parallel request used it first
    ctx.set_cookie(_challenge_cookie(ctx), "", max_age=0)
    try:
        session = await ctx.sessions.start(challenge["slug"], challenge["user_id"], peer=request.peer,
                                           agent=request.headers.get("user-agent", ""),
                                           replaces=request.cookies.get(ctx.cookie_name(COOKIE, PLAIN_COOKIE)))
    except NotFound:  # removed or suspended meanwhile
        return ctx.redirect("/")
    ctx.start_session(session)
    return ctx.redirect("/home")


# -- two-step sign-in ------------------------------------------------------------


async def _state(ctx: Context):
    return await asyncio.to_thread(ctx.app.core.security.two_step, ctx.session.address)


async def _security_page(ctx: Context, status: int = 200, *, off=None, renew=None, done: str = "") -> Response:
    sharing = await asyncio.to_thread(ctx.app.core.mail_history.sharing, ctx.session.slug, ctx.session.user_id)
    return ctx.render("security.html", status, path="/security", state=await _state(ctx),
                      off=off or forms.turn_off_two_step(ctx._), renew=renew or forms.app_code(ctx._, prefix="renew"),
                      done=done, sharing=sharing)


async def two_step_page(ctx: Context) -> Response:
    return await _security_page(ctx)


async def share_mail_history(ctx: Context) -> Response:
    """Share the user's mail history with colleagues (``share=on``) or
    stop (anything else): what contacts' pages show of their messages."""
    on = ctx.form_data().get("share") == "on"
    session = ctx.session
    await asyncio.to_thread(ctx.app.core.mail_history.set_sharing, session.slug, session.user_id, on,
                            actor=session.address)
    if on:
        done = ctx._("Your colleagues now see your messages with their contacts, with their first lines.")
    else:
        done = ctx._("Your colleagues now see only the date, sender and subject of your messages with their contacts.")
    return await _security_page(ctx, done=done)


def _setup_page(ctx: Context, setup, form, status: int = 200) -> Response:
    secret = " ".join(setup.secret[i:i + 4] for i in range(0, len(setup.secret), 4))
    qr = Markup(twofactor.qr_svg(setup.uri, ctx._("QR code for your authenticator app")))
    return ctx.render("twostep_setup.html", status, path="/security", secret=secret, qr=qr, form=form)


async def setup(ctx: Context) -> Response:
    session = ctx.session
    try:
        made = await asyncio.to_thread(ctx.app.core.security.begin_two_step, session.address, actor=session.address)
    except Conflict:
        return ctx.redirect("/security")
    return _setup_page(ctx, made, forms.app_code(ctx._))


async def turn_on(ctx: Context) -> Response:
    session = ctx.session
    security = ctx.app.core.security
    form = forms.app_code(ctx._, ctx.form_data())
    if form.validate():
        try:
            codes = await asyncio.to_thread(security.confirm_two_step, session.address, form.code.data,
                                            actor=session.address)
        except NotFound:
            return ctx.redirect("/security")
        except InvalidInput:
            form.code.errors.append(ctx._("This code is not right. Check that your phone shows the right time, then enter the newest code."))
        else:
            return ctx.render("recovery_codes.html", path="/security", codes=codes, turned_on=True)
    pending = await asyncio.to_thread(security.pending_setup, session.address)
    if pending is None:
        return ctx.redirect("/security")
    return _setup_page(ctx, pending, form, 400)


async def turn_off(ctx: Context) -> Response:
    session = ctx.session
    form = forms.turn_off_two_step(ctx._, ctx.form_data())
    if not form.validate():
        return await _security_page(ctx, 400, off=form)
    try:
        await ctx.app.auth.confirm(session.address, form.password.data, form.code.data, peer=ctx.request.peer)
    except (AuthFailed, Suspended):
        form.password.errors.append(ctx._("The password or the code is not right."))
        return await _security_page(ctx, 400, off=form)
    try:
        await asyncio.to_thread(ctx.app.core.security.turn_off_two_step, session.address, actor=session.address)
    except NotFound:
        pass  # already off: what was asked is true
    return await _security_page(ctx, done=ctx._("Two-step sign-in is off. Your password alone signs you in again."))


async def recovery_codes(ctx: Context) -> Response:
    session = ctx.session
    form = forms.app_code(ctx._, ctx.form_data(), prefix="renew")
    if not form.validate():
        return await _security_page(ctx, 400, renew=form)
    try:
        await ctx.app.auth.second_factor(session.slug, session.user_id, session.address, form.code.data,
                                         peer=ctx.request.peer)
        codes = await asyncio.to_thread(ctx.app.core.security.new_recovery_codes, session.address,
                                        actor=session.address)
    except AuthFailed:
        form.code.errors.append(ctx._("This code is not right, or was used already. Wait for the next one."))
        return await _security_page(ctx, 400, renew=form)
    except NotFound:
        return ctx.redirect("/security")
    return ctx.render("recovery_codes.html", path="/security", codes=codes, turned_on=False)


# -- app passwords ---------------------------------------------------------------


def _when(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value).timestamp()
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


async def _apps_page(ctx: Context, form, status: int = 200) -> Response:
    apps = await asyncio.to_thread(ctx.app.core.security.app_passwords, ctx.session.address)
    rows = [{"ref": a.ref, "name": a.name, "created": _when(a.created), "last_used": _when(a.last_used)}
            for a in apps]
    return ctx.render("app_passwords.html", status, path="/security/apps", apps=rows, form=form)


async def apps_page(ctx: Context) -> Response:
    return await _apps_page(ctx, forms.app_password(ctx._))


async def add_app(ctx: Context) -> Response:
    session = ctx.session
    form = forms.app_password(ctx._, ctx.form_data())
    if not form.validate():
        return await _apps_page(ctx, form, 400)
    try:
        app, password = await asyncio.to_thread(ctx.app.core.security.add_app_password, session.address,
                                                form.name.data, actor=session.address)
    except InvalidInput:
        form.name.errors.append(ctx._("Use printable characters only."))
    except LimitExceeded:
        form.name.errors.append(ctx._("You have as many app passwords as allowed. Revoke one you no longer use first."))
    else:
        return ctx.render("app_password_shown.html", path="/security/apps", name=app.name, password=password)
    return await _apps_page(ctx, form, 400)


async def revoke_app(ctx: Context) -> Response:
    session = ctx.session
    try:
        await asyncio.to_thread(ctx.app.core.security.revoke_app_password, session.address, ctx.params["app"],
                                actor=session.address)
    except NotFound:
        return ctx.not_found()
    return ctx.redirect("/security/apps")
