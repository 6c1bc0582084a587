"""The owner's pages: the people of the business, adding one (with a
generated first password, shown once), resetting a password, removing one.

Each handler calls the one service method the CLI's ``appliance user``
command calls (``app.core.people``, on a thread: it hashes and writes), so
the rules live once; the audit log names the signed-in owner as the actor.
A ``{address}`` that is not a user of the owner's own business is the
panel's 404, the same as a page that does not exist.
"""

from __future__ import annotations

import asyncio

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound

from . import forms
from .core import Context, Response


async def _people(ctx: Context) -> list[dict]:
    people = await asyncio.to_thread(ctx.app.core.people.list, ctx.session.slug)
    return [p.as_dict() for p in people]


async def _person(ctx: Context) -> dict | None:
    """The user ``{address}`` of the owner's own business, or None."""
    wanted = ctx.params["address"].lower()
    return next((p for p in await _people(ctx) if p["address"] == wanted), None)


async def _domains(ctx: Context) -> list[str]:
    business = await asyncio.to_thread(ctx.app.core.businesses.show, ctx.session.slug)
    return [d.name for d in business.domains]


async def list_page(ctx: Context) -> Response:
    return ctx.render("people.html", people=await _people(ctx))


async def add_page(ctx: Context) -> Response:
    return ctx.render("person_add.html", form=forms.add_person(ctx._, await _domains(ctx)))


async def add(ctx: Context) -> Response:
    form = forms.add_person(ctx._, await _domains(ctx), ctx.form_data())
    if not form.validate():
        return ctx.render("person_add.html", 400, form=form)
    address = f"{form.local.data}@{form.domain.data}"
    try:
        password = await asyncio.to_thread(
            ctx.app.core.people.add, address, None, form.name.data or None, actor=ctx.session.address)
    except LimitExceeded:
        form.local.errors.append(ctx._("Your plan allows no more people. Remove someone first, or ask your provider for a larger plan."))
    except Conflict:
        form.local.errors.append(ctx._("This address is already in use."))
    except InvalidInput:
        form.name.errors.append(ctx._("Check the name and the address: use printable characters only."))
    else:
        return ctx.render("password_shown.html", address=address, password=password, added=True)
    return ctx.render("person_add.html", 400, form=form)


async def person_page(ctx: Context) -> Response:
    person = await _person(ctx)
    if person is None:
        return ctx.not_found()
    return ctx.render("person.html", person=person, is_self=person["address"] == ctx.session.address)


async def reset_password(ctx: Context) -> Response:
    person = await _person(ctx)
    if person is None:
        return ctx.not_found()
    try:
        password = await asyncio.to_thread(ctx.app.core.people.set_password, person["address"], actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    await ctx.sessions.end_for_address(ctx.session.slug, person["address"])
    if person["address"] == ctx.session.address:
        ctx.end_session()
    return ctx.render("password_shown.html", address=person["address"], password=password, added=False)


async def remove(ctx: Context) -> Response:
    person = await _person(ctx)
    if person is None:
        return ctx.not_found()
    if person["address"] == ctx.session.address:
        return ctx.forbidden(ctx._("You cannot remove yourself. Another owner can."))
    try:
        await asyncio.to_thread(ctx.app.core.people.remove, person["address"], actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    await ctx.sessions.end_for_address(ctx.session.slug, person["address"])
    return ctx.redirect("/people")
