"""Allow and block lists of senders in the panel: each user's own, in a
section of the mail rules page (:mod:`.mailrules` renders it), and the
business's, on an owners' page. A handler parses its form, calls one
method of ``app.core.sender_lists`` and sends the browser back to the page,
or shows the form again with the refusal beside the field, nothing changed.
What an entry does to mail is :mod:`appliance.senderlists`'."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from appliance.services.senderlists import Entry, Scope

from . import senders_forms as forms
from .core import Context, Response

BUSINESS_PAGE = "/senders"


def own_scope(ctx: Context) -> Scope:
    """The signed-in user's own lists."""
    s = ctx.session
    return Scope(ctx.app.tenants.handle(s.slug), s.slug, s.user_id, s.address)


def business_scope(ctx: Context) -> Scope:
    """The lists of the viewer's business."""
    return Scope(ctx.app.tenants.handle(ctx.session.slug), ctx.session.slug)


async def entries(ctx: Context, scope: Scope) -> dict[str, list[Entry]]:
    """A scope's entries by list: ``{"block": [...], "allow": [...]}``."""
    rows = await asyncio.to_thread(ctx.app.core.sender_lists.list, scope)
    return {name: [e for e in rows if e.list == name] for name in ("block", "allow")}


Render = Callable[..., Awaitable[Response]]


async def add(ctx: Context, scope: Scope, render: Render, back: str) -> Response:
    """Add the form's entry to ``scope``; ``render(status, senders_form=form)``
    shows the page again with the refusal beside the field."""
    form = forms.add(ctx._, ctx.form_data())
    if not form.validate():
        return await render(400, senders_form=form)
    try:
        await asyncio.to_thread(ctx.app.core.sender_lists.add, scope, form.list.data, form.entry.data,
                                actor=ctx.actor)
    except Conflict:
        form.entry.errors = [ctx._("It is already on that list.")]
        return await render(400, senders_form=form)
    except LimitExceeded:
        form.entry.errors = [ctx._("The lists are full: remove some entries first.")]
        return await render(400, senders_form=form)
    except InvalidInput:
        form.entry.errors = [ctx._("Enter an address (someone@example.com) or a domain (example.com).")]
        return await render(400, senders_form=form)
    return ctx.redirect(back)


async def remove(ctx: Context, scope: Scope, render: Render, back: str) -> Response:
    """Remove the form's entry from ``scope``; one already gone is no error."""
    form = forms.remove(ctx.form_data())
    if not form.validate():
        return await render(400)
    try:
        await asyncio.to_thread(ctx.app.core.sender_lists.remove, scope, form.list.data, form.entry.data,
                                actor=ctx.actor)
    except NotFound:
        # Removed already (another tab): the page shows what is left.
        pass
    return ctx.redirect(back)


# -- the owners' page: the business's lists ------------------------------------


async def _render_business(ctx: Context, status: int = 200, **given: Any) -> Response:
    values = {"senders_form": forms.add(ctx._), **given}
    return ctx.render("senders.html", status, path=BUSINESS_PAGE,
                      lists=await entries(ctx, business_scope(ctx)), **values)


async def business_page(ctx: Context) -> Response:
    return await _render_business(ctx)


async def business_add(ctx: Context) -> Response:
    return await add(ctx, business_scope(ctx), lambda status, **kw: _render_business(ctx, status, **kw), BUSINESS_PAGE)


async def business_remove(ctx: Context) -> Response:
    return await remove(ctx, business_scope(ctx), lambda status, **kw: _render_business(ctx, status, **kw),
                        BUSINESS_PAGE)
