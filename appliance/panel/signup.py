"""The sign-up page: a visitor makes a business and lands, signed in, in
its panel (:mod:`appliance.services.signup` holds every rule).

Off (``[signup] enabled = false``) it is the panel's 404. Signed in, it
sends you to your own panel: one has a business already. Too many sign-ups
from one source within the hour: a page that says so, 429.
"""

from __future__ import annotations

import asyncio

from appliance import fleet, passwords
from appliance.errors import AuthFailed, LimitExceeded
from appliance.services.signup import SignupRefused, TooManySignups

from . import signup_forms
from .core import Context, Response
from .sessions import COOKIE, PLAIN_COOKIE


def _form(ctx: Context, data=None):
    service = ctx.app.core.signup
    return signup_forms.signup(ctx._, service.codes_required, bool(service.conf.terms_url), data)


def _render(ctx: Context, form, status: int = 200) -> Response:
    # Every showing of the form asks a new question: a token is spent on its first answer.
    service = ctx.app.core.signup
    challenge = service.challenge()
    form.token.data = challenge.token
    form.answer.data = ""
    return ctx.render("signup.html", status, form=form, a=challenge.a, b=challenge.b,
                      free_domain=fleet.free_parent(ctx.app.settings), terms_url=service.conf.terms_url,
                      codes=service.codes_required)


def _closed(ctx: Context) -> Response | None:
    if not ctx.app.core.signup.enabled:
        return ctx.not_found()
    if ctx.session is not None:
        return ctx.redirect("/people" if ctx.session.operator else "/home")
    return None


async def page(ctx: Context) -> Response:
    return _closed(ctx) or _render(ctx, _form(ctx))


def _refused(ctx: Context, form, exc: SignupRefused) -> None:
    slug = form.slug.data
    messages = {
        ("slug", "reserved"): ctx._("%(slug)s is kept for the box itself. Choose another short name.", slug=slug),
        ("slug", "taken"): ctx._("%(slug)s is taken already. Choose another short name.", slug=slug),
        ("slug", "invalid"): ctx._("Use lower-case letters, digits and hyphens, not at either end."),
        ("name", "invalid"): ctx._("Use letters, digits and punctuation, without line breaks."),
        ("address", "invalid"): ctx._("Use letters, digits and . - _ only."),
        ("password", "invalid"): ctx._("This password cannot be used: use %(min)d to %(max)d characters, no control characters.",
                                       min=passwords.MIN_PASSWORD_LENGTH, max=passwords.MAX_PASSWORD_LENGTH),
        ("answer", "wrong"): ctx._("That is not the answer. Here is a new question."),
        ("answer", "expired"): ctx._("This question has expired. Here is a new one."),
        ("answer", "spent"): ctx._("This question was answered already. Here is a new one."),
        ("code", "wrong"): ctx._("This invitation code is not valid."),
    }
    field = {"address": "local", "password": "new"}.get(exc.field, exc.field)
    getattr(form, field).errors.append(messages.get((exc.field, exc.reason), ctx._("Check this field.")))


async def submit(ctx: Context) -> Response:
    closed = _closed(ctx)
    if closed:
        return closed
    form = _form(ctx, ctx.form_data())
    if not form.validate():
        return _render(ctx, form, 400)
    request = ctx.request
    try:
        made = await asyncio.to_thread(
            ctx.app.core.signup.sign_up, form.name.data, form.local.data, form.slug.data, form.new.data,
            token=form.token.data or "", answer=form.answer.data or "",
            code=form.code.data if hasattr(form, "code") else "", source=request.peer,
            panel_url=ctx.app.core.devices.endpoints().https_url(), lang=ctx.lang)
    except TooManySignups:
        return ctx.render("error.html", 429, title=ctx._("Too many sign-ups"),
                          message=ctx._("Too many businesses were signed up from your network within the hour. "
                                        "Try again later."))
    except SignupRefused as exc:
        _refused(ctx, form, exc)
        return _render(ctx, form, 400)
    except LimitExceeded:
        return ctx.render("error.html", 503, title=ctx._("Sign-up is not available"),
                          message=ctx._("Businesses cannot be signed up here at the moment. Ask the provider."))
    # The business and its owner are committed: sign them in as the sign-in page does.
    try:
        principal = await ctx.app.auth.login(made.owner, form.new.data, protocol="panel", peer=request.peer)
    except AuthFailed:
        # Made, but the login checker holds this source back: signing in by hand will do.
        return ctx.redirect("/")
    session = await ctx.sessions.start(principal.slug, principal.user_id, peer=request.peer,
                                       agent=request.headers.get("user-agent", ""),
                                       replaces=request.cookies.get(ctx.cookie_name(COOKIE, PLAIN_COOKIE)))
    ctx.start_session(session)
    return ctx.redirect("/home")
