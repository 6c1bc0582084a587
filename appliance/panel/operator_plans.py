"""The operators' plans page (list, add, change, remove) and the extras
on a business's page.

Each handler calls the service method the CLI calls for the same thing
(``app.core.plans``, ``app.core.extras``), with ``operator:NAME`` as the
actor; a refusal is put beside the field it concerns, in the operator's
language, and changes nothing.
"""

from __future__ import annotations

import asyncio

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from appliance.services.operators import actor

from . import plan_forms
from .core import Context, Response
from .operator_pages import business_page

FIGURES = ("max_users", "mailbox_mb", "web_mb", "messages_per_day")


def _actor(ctx: Context) -> str:
    return actor(ctx.operator.name)


async def _list(ctx: Context, form=None, status: int = 200) -> Response:
    plans = await asyncio.to_thread(ctx.app.core.plans.list)
    return ctx.render("operator_plans.html", status, plans=plans, form=form or plan_forms.plan(ctx._),
                      default_plan=ctx.app.settings.box.default_plan)


async def list_page(ctx: Context) -> Response:
    return await _list(ctx)


async def add(ctx: Context) -> Response:
    form = plan_forms.plan(ctx._, ctx.form_data())
    if not form.validate():
        return await _list(ctx, form, 400)
    figures = {name: getattr(form, name).data for name in FIGURES}
    try:
        await asyncio.to_thread(ctx.app.core.plans.add, form.name.data, figures, actor=_actor(ctx))
    except Conflict:
        form.name.errors.append(ctx._("A plan of this name exists already."))
    except LimitExceeded:
        form.name.errors.append(ctx._("This box has as many plans as it may have. Remove one first."))
    except InvalidInput as exc:
        getattr(form, exc.field if exc.field in FIGURES else "name").errors.append(ctx._("Check this value."))
    else:
        return ctx.redirect(f"/operator/plans/{form.name.data}")
    return await _list(ctx, form, 400)


async def _detail(ctx: Context):
    try:
        return await asyncio.to_thread(ctx.app.core.plans.show, ctx.params["plan"])
    except (NotFound, InvalidInput):
        return None


async def _plan_page(ctx: Context, detail, form=None, status: int = 200, remove_error: str = "") -> Response:
    return ctx.render("operator_plan.html", status, detail=detail, remove_error=remove_error,
                      form=form or plan_forms.plan(ctx._, current=detail.plan, new=False),
                      default=detail.plan.name == ctx.app.settings.box.default_plan)


async def plan_page(ctx: Context) -> Response:
    detail = await _detail(ctx)
    if detail is None:
        return ctx.not_found()
    return await _plan_page(ctx, detail)


async def change(ctx: Context) -> Response:
    detail = await _detail(ctx)
    if detail is None:
        return ctx.not_found()
    form = plan_forms.plan(ctx._, ctx.form_data(), current=detail.plan, new=False)
    if not form.validate():
        return await _plan_page(ctx, detail, form, 400)
    figures = {name: getattr(form, name).data for name in FIGURES}
    await asyncio.to_thread(ctx.app.core.plans.change, detail.plan.name, figures, actor=_actor(ctx))
    return ctx.redirect(f"/operator/plans/{detail.plan.name}")


async def remove(ctx: Context) -> Response:
    detail = await _detail(ctx)
    if detail is None:
        return ctx.not_found()
    try:
        await asyncio.to_thread(ctx.app.core.plans.remove, detail.plan.name, actor=_actor(ctx))
    except Conflict:
        if detail.plan.name == ctx.app.settings.box.default_plan:
            message = ctx._("This is the plan new businesses get: it cannot be removed.")
        else:
            message = ctx._("Businesses are on this plan: move them to another plan first.")
        return await _plan_page(ctx, await _detail(ctx) or detail, status=409, remove_error=message)
    return ctx.redirect("/operator/plans")


async def add_extra(ctx: Context) -> Response:
    form = plan_forms.extra(ctx._, ctx.form_data())
    slug = ctx.params["slug"]
    if form.validate():
        try:
            await asyncio.to_thread(ctx.app.core.extras.add, slug, form.kind.data, form.amount.data,
                                    actor=_actor(ctx))
        except (NotFound, InvalidInput) as exc:
            if isinstance(exc, NotFound):
                return ctx.not_found()
            form.amount.errors.append(ctx._("Check this value."))
        except LimitExceeded:
            form.amount.errors.append(ctx._("This business has as many extras as it may have. Take one back first."))
        else:
            return ctx.redirect(f"/operator/businesses/{slug}#extras-heading")
    return await business_page(ctx, extra_form=form, status=400)


async def remove_extra(ctx: Context) -> Response:
    number = ctx.params["extra"]
    try:
        await asyncio.to_thread(ctx.app.core.extras.remove, ctx.params["slug"], int(number), actor=_actor(ctx))
    except (NotFound, InvalidInput):
        return ctx.not_found()
    return ctx.redirect(f"/operator/businesses/{ctx.params['slug']}#extras-heading")
