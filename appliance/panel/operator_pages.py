"""The operators' pages: every business (with a search), one business,
creating one with its owner, suspending, resuming, changing its plan, and
opening its panel for support.

Each handler calls the service method the CLI calls for the same thing
(``app.core.businesses``, ``app.core.operators``, on a thread), with
``operator:NAME`` as the actor, so the business's audit log names the
operator. A support session is a business panel session with an owner's
rights (:mod:`.operator_sessions`); what is done in it is recorded under
the same actor, never as one of the business's users.
"""

from __future__ import annotations

import asyncio

from appliance import fleet
from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from appliance.services.operators import actor

from . import forms, plan_forms
from .core import Context, Response
from .plan import meter_labels
from .sessions import COOKIE, PLAIN_COOKIE


def _actor(ctx: Context) -> str:
    return actor(ctx.operator.name)


async def _plans(ctx: Context) -> list[str]:
    return [p.name for p in await asyncio.to_thread(ctx.app.core.plans.list)]


def _size(ctx: Context, n: int) -> str:
    mib = n / (1024 * 1024)
    text = f"{mib:.1f}" if mib < 10 else f"{mib:.0f}"
    return (text.replace(".", ",") if ctx.lang == "fr" else text) + "\u00a0" + ctx._("MB")


async def list_page(ctx: Context) -> Response:
    form = forms.business_search(ctx._, forms.FormData(ctx.request.query))
    query = (form.q.data or "") if form.validate() else ""
    total, found = await asyncio.to_thread(ctx.app.core.operators.summaries, query)
    standings = await asyncio.to_thread(ctx.app.core.alerts.for_businesses,
                                        [(s.slug, s.state, list(s.domains)) for s in found])
    rows = [{**vars(s), "size": _size(ctx, s.file_bytes), "standing": standings.get(s.slug)} for s in found]
    return ctx.render("operator_businesses.html", form=form, rows=rows, total=total, query=query,
                      meter_names=meter_labels(ctx), status=400 if form.errors else 200)


async def new_page(ctx: Context) -> Response:
    return ctx.render("operator_new.html",
                      form=forms.new_business(ctx._, await _plans(ctx), ctx.app.settings.box.default_plan))


async def create(ctx: Context) -> Response:
    form = forms.new_business(ctx._, await _plans(ctx), ctx.app.settings.box.default_plan, ctx.form_data())
    if not form.validate():
        return ctx.render("operator_new.html", 400, form=form)
    try:
        created = await asyncio.to_thread(
            ctx.app.core.operators.create_business, form.slug.data, form.name.data, form.domain.data or None,
            form.plan.data, form.owner.data, actor=_actor(ctx))
    except Conflict:
        form.slug.errors.append(ctx._("This short name or this domain is taken already."))
    except LimitExceeded:
        form.plan.errors.append(ctx._("This plan allows no owner. Choose another plan."))
    except InvalidInput:
        form.owner.errors.append(ctx._("Check the domain and the owner's address: the address must be at the "
                                       "business's own domain or at its free domain, %(free)s.",
                                       free=fleet.free_domain(ctx.app.settings, form.slug.data)))
    else:
        return ctx.render("operator_created.html", slug=created.business.slug, address=created.owner,
                          password=created.password)
    return ctx.render("operator_new.html", 400, form=form)


async def _detail(ctx: Context):
    try:
        return await asyncio.to_thread(ctx.app.core.operators.detail, ctx.params["slug"])
    except (NotFound, InvalidInput):
        return None


async def business_page(ctx: Context, *, extra_form=None, status: int = 200) -> Response:
    """The business's page; ``extra_form``: the extras form as submitted
    (with its errors), for a refused one."""
    detail = await _detail(ctx)
    if detail is None:
        return ctx.not_found()
    business = detail.business
    return await _business(ctx, detail, forms.change_plan(ctx._, await _plans(ctx), business.plan.name), status,
                           extra_form)


async def _business(ctx: Context, detail, plan_form, status: int = 200, extra_form=None) -> Response:
    extras = await asyncio.to_thread(ctx.app.core.extras.list, detail.business.slug)
    return ctx.render("operator_business.html", status, business=detail.business, people=detail.people,
                      size=_size(ctx, detail.usage.file_bytes), plan_form=plan_form, extras=extras,
                      extra_form=extra_form or plan_forms.extra(ctx._),
                      mib=lambda n: _size(ctx, n))


async def _state(ctx: Context, state: str) -> Response:
    try:
        await asyncio.to_thread(ctx.app.core.businesses.set_state, ctx.params["slug"], state, actor=_actor(ctx))
    except (NotFound, InvalidInput):
        return ctx.not_found()
    return ctx.redirect(f"/operator/businesses/{ctx.params['slug']}")


async def lift_hold(ctx: Context) -> Response:
    """Lift a signed-up business's hold on outbound mail (none: nothing changes)."""
    try:
        await asyncio.to_thread(ctx.app.core.businesses.lift_hold, ctx.params["slug"], actor=_actor(ctx))
    except (NotFound, InvalidInput):
        return ctx.not_found()
    return ctx.redirect(f"/operator/businesses/{ctx.params['slug']}")


async def suspend(ctx: Context) -> Response:
    return await _state(ctx, "suspended")


async def resume(ctx: Context) -> Response:
    return await _state(ctx, "active")


async def change_plan(ctx: Context) -> Response:
    detail = await _detail(ctx)
    if detail is None:
        return ctx.not_found()
    form = forms.change_plan(ctx._, await _plans(ctx), detail.business.plan.name, ctx.form_data())
    if not form.validate():
        return await _business(ctx, detail, form, 400)
    await asyncio.to_thread(ctx.app.core.businesses.set_plan, detail.business.slug, form.plan.data,
                            actor=_actor(ctx))
    return ctx.redirect(f"/operator/businesses/{detail.business.slug}")


async def open_support(ctx: Context) -> Response:
    """Open the business's panel for support: the operator lands on its
    people, with owner rights, under a new panel session cookie."""
    try:
        business = await asyncio.to_thread(ctx.app.core.operators.open_support, ctx.operator.name,
                                           ctx.params["slug"])
    except (NotFound, InvalidInput):
        return ctx.not_found()
    request = ctx.request
    token = await ctx.panel.operator_sessions.start_support(
        ctx.operator, business.slug, _actor(ctx), peer=request.peer, agent=request.headers.get("user-agent", ""))
    ctx.set_cookie(ctx.cookie_name(COOKIE, PLAIN_COOKIE), token)
    return ctx.redirect("/people")


async def leave_support(ctx: Context) -> Response:
    """End the support session; back to the business's page for operators."""
    session = ctx.session
    await ctx.sessions.end(session)
    ctx.end_session()
    try:
        await asyncio.to_thread(ctx.app.core.operators.close_support, session.operator, session.slug)
    except (NotFound, InvalidInput):
        return ctx.redirect("/operator/businesses")
    return ctx.redirect(f"/operator/businesses/{session.slug}")
