"""Every user's mail rules: a vacation reply, a forward, and rules that move
mail to folders, all kept in the one Sieve script the sieve service writes
for the panel (:mod:`appliance.sieve.panelscript`).

A handler parses its form, calls one method of ``app.core.sieve`` and
sends the browser back to the page (or shows the form again with the error
beside its field, nothing changed). A script that the forms cannot show -
written or changed in a mail client over ManageSieve, or with the CLI - is
shown as text; the only change offered then is replacing it, on request.
"""

from __future__ import annotations

import asyncio
from typing import Any

from appliance.errors import LimitExceeded, NotFound
from appliance.services.sieve import Account, HandEdited, InvalidRule
from appliance.sieve import panelscript
from appliance.sieve.panelscript import Forward, Rule, Vacation

from . import mailrules_forms as forms
from . import senders
from . import senders_forms
from .core import Context, Response

PAGE = "/rules"


def _account(ctx: Context) -> Account:
    session = ctx.session
    return Account(ctx.app.tenants.handle(session.slug), session.user_id, session.address)


async def _render(ctx: Context, status: int = 200, **given: Any) -> Response:
    """The page, with the forms ``given`` (as submitted, with their errors)
    and the others filled from the stored rules."""
    view = await asyncio.to_thread(ctx.app.core.sieve.panel_rules, _account(ctx))
    state = view.rules or panelscript.PanelRules()
    v, f = state.vacation, state.forward
    values = {
        "vacation_form": forms.vacation(ctx._, enabled=v.enabled, start=v.start, until=v.until, subject=v.subject,
                                        text=v.text),
        "forward_form": forms.forward(ctx._, to=f.to, keep=f.keep) if f.to else forms.forward(ctx._),
        "rule_form": forms.rule(ctx._),
        "senders_form": senders_forms.add(ctx._),
        **given,
    }
    return ctx.render("mail_rules.html", status, path=PAGE, view=view, rules=state.rules,
                      max_rules=panelscript.MAX_RULES, lists=await senders.entries(ctx, senders.own_scope(ctx)),
                      **values)


async def page(ctx: Context) -> Response:
    return await _render(ctx)


def _service_error(ctx: Context, form: Any, exc: Exception) -> None:
    """Put a service's refusal beside the field it concerns, in the user's language."""
    if isinstance(exc, LimitExceeded):
        field, message = next(iter(form)), ctx._("Your rules have reached their limit: delete some first.")
    else:
        field = form[exc.field] if isinstance(exc, InvalidRule) and exc.field in form else next(iter(form))
        message = {
            "start": ctx._("Give a date as YYYY-MM-DD."),
            "until": ctx._("The last day must be on or after the first day."),
            "text": ctx._("Write the text of the reply."),
            "to": ctx._("Enter an e-mail address other than your own."),
            "sender": ctx._("Say whom the mail is from, or what its subject contains, or both."),
        }.get(field.short_name, ctx._("This cannot be used."))
    field.errors = list(field.errors) + [message]


async def _apply(ctx: Context, form_name: str, form: Any, call) -> Response:
    try:
        await asyncio.to_thread(call)
    except HandEdited:
        return await _render(ctx, 409)
    except (InvalidRule, LimitExceeded) as exc:
        _service_error(ctx, form, exc)
        return await _render(ctx, 400, **{form_name: form})
    return ctx.redirect(PAGE)


async def vacation(ctx: Context) -> Response:
    form = forms.vacation(ctx._, ctx.form_data())
    if not form.validate():
        return await _render(ctx, 400, vacation_form=form)
    chosen = Vacation(bool(form.enabled.data), form.start.data or "", form.until.data or "",
                      form.subject.data or "", form.text.data or "")
    return await _apply(ctx, "vacation_form", form, lambda: ctx.app.core.sieve.set_vacation(
        _account(ctx), chosen, actor=ctx.actor))


async def forward(ctx: Context) -> Response:
    form = forms.forward(ctx._, ctx.form_data())
    if not form.validate():
        return await _render(ctx, 400, forward_form=form)
    chosen = Forward(form.to.data or "", bool(form.keep.data))
    return await _apply(ctx, "forward_form", form, lambda: ctx.app.core.sieve.set_forward(
        _account(ctx), chosen, actor=ctx.actor))


async def add_rule(ctx: Context) -> Response:
    form = forms.rule(ctx._, ctx.form_data())
    if not form.validate():
        return await _render(ctx, 400, rule_form=form)
    chosen = Rule(form.sender.data or "", form.subject.data or "", form.folder.data)
    return await _apply(ctx, "rule_form", form, lambda: ctx.app.core.sieve.add_rule(
        _account(ctx), chosen, actor=ctx.actor))


async def delete_rule(ctx: Context) -> Response:
    form = forms.delete(ctx.form_data())
    if not form.validate():
        return await _render(ctx, 400)
    try:
        await asyncio.to_thread(ctx.app.core.sieve.delete_rule, _account(ctx), int(form.rule.data) - 1,
                                actor=ctx.actor)
    except HandEdited:
        return await _render(ctx, 409)
    except NotFound:
        # Deleted already (another tab): the page shows what is left.
        pass
    return ctx.redirect(PAGE)


async def add_sender(ctx: Context) -> Response:
    """Add to the user's own allow or block list (:mod:`.senders`)."""
    return await senders.add(ctx, senders.own_scope(ctx), lambda status, **kw: _render(ctx, status, **kw), PAGE)


async def remove_sender(ctx: Context) -> Response:
    return await senders.remove(ctx, senders.own_scope(ctx), lambda status, **kw: _render(ctx, status, **kw), PAGE)


async def replace(ctx: Context) -> Response:
    try:
        await asyncio.to_thread(ctx.app.core.sieve.replace_with_panel_rules, _account(ctx), actor=ctx.actor)
    except LimitExceeded:
        return ctx.render("error.html", 400, title=ctx._("Mail rules"), message=ctx._(
            "You have as many rule scripts as you may: delete one in your mail program first."))
    return ctx.redirect(PAGE)
