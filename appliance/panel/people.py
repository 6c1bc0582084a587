"""The owner's pages: the people of the business, adding one (with a
generated first password shown once, or an invitation link with which they
choose their own), resetting a password, making an owner or a member,
setting a mailbox size, suspending and resuming, removing one.

Each handler calls the one service method the CLI's ``appliance user``
command calls (``app.core.people``, on a thread: it hashes and writes), so
the rules live once; the audit log names the signed-in owner as the actor.
A ``{address}`` that is not a user of the owner's own business is the
panel's 404, the same as a page that does not exist.
"""

from __future__ import annotations

import asyncio

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from appliance.services.people import INVITATION_DAYS, MIB

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


async def _plan_mailbox_mib(ctx: Context) -> int:
    limits = await asyncio.to_thread(ctx.app.core.extras.limits, ctx.session.slug)
    return limits.mailbox_bytes // MIB


async def list_page(ctx: Context) -> Response:
    return ctx.render("people.html", people=await _people(ctx))


async def add_page(ctx: Context) -> Response:
    return ctx.render("person_add.html", form=forms.add_person(ctx._, await _domains(ctx)))


async def add(ctx: Context) -> Response:
    form = forms.add_person(ctx._, await _domains(ctx), ctx.form_data())
    if not form.validate():
        return ctx.render("person_add.html", 400, form=form)
    address = f"{form.local.data}@{form.domain.data}"
    people = ctx.app.core.people
    try:
        if form.first.data == "invite":
            token = await asyncio.to_thread(people.invite, address, form.name.data or None, actor=ctx.actor)
            return ctx.render("invitation_shown.html", address=address, link=_link(ctx, address, token),
                              days=INVITATION_DAYS, added=True)
        password = await asyncio.to_thread(people.add, address, None, form.name.data or None, actor=ctx.actor)
    except LimitExceeded:
        form.local.errors.append(ctx._("Your plan allows no more people. Remove someone first, or ask your provider for a larger plan."))
    except Conflict:
        form.local.errors.append(ctx._("This address is already in use."))
    except InvalidInput:
        form.name.errors.append(ctx._("Check the name and the address: use printable characters only."))
    else:
        return ctx.render("password_shown.html", address=address, password=password, added=True)
    return ctx.render("person_add.html", 400, form=form)


def _link(ctx: Context, address: str, token: str) -> str:
    # The host the owner reached the panel on is where the invitee will too.
    scheme = "https" if ctx.request.secure else "http"
    return f"{scheme}://{ctx.request.host}/invitation/{address}/{token}"


async def _person_page(ctx: Context, person: dict, status: int = 200, *, quota_form=None, notice: str = "",
                       role_error: str = "", state_error: str = "") -> Response:
    most = await _plan_mailbox_mib(ctx)
    if quota_form is None:
        quota_form = forms.quota(ctx._)
        quota_form.megabytes.data = str((person["quota_bytes"] or 0) // MIB)
    return ctx.render("person.html", status, person=person, is_self=person["address"] == ctx.session.address,
                      quota_form=quota_form, plan_mib=most, notice=notice, role_error=role_error,
                      state_error=state_error)


async def person_page(ctx: Context) -> Response:
    person = await _person(ctx)
    if person is None:
        return ctx.not_found()
    return await _person_page(ctx, person)


async def set_role(ctx: Context) -> Response:
    person = await _person(ctx)
    if person is None:
        return ctx.not_found()
    form = forms.role(ctx._, ctx.form_data())
    if not form.validate():
        return await _person_page(ctx, person, 400, role_error=ctx._("Choose owner or member."))
    try:
        await asyncio.to_thread(ctx.app.core.people.set_role, person["address"], form.role.data, actor=ctx.actor)
    except Conflict:
        return await _person_page(ctx, person, 400, role_error=ctx._(
            "%(address)s is the only owner. Make someone else an owner first.", address=person["address"]))
    except NotFound:
        return ctx.not_found()
    if person["address"] == ctx.session.address and form.role.data != "owner":
        # No longer an owner: the owner's pages are closed to them from now on.
        return ctx.redirect("/home")
    return await _person_page(ctx, await _person(ctx), notice=ctx._("The role is changed."))


async def set_quota(ctx: Context) -> Response:
    person = await _person(ctx)
    if person is None:
        return ctx.not_found()
    form = forms.quota(ctx._, ctx.form_data())
    if form.validate():
        try:
            await asyncio.to_thread(ctx.app.core.people.set_quota, person["address"], int(form.megabytes.data),
                                    actor=ctx.actor)
        except LimitExceeded:
            form.megabytes.errors.append(ctx._(
                "Your plan allows mailboxes of at most %(most)d MB. Enter %(most)d or less, or ask your provider for a larger plan.",
                most=await _plan_mailbox_mib(ctx)))
        except InvalidInput:
            form.megabytes.errors.append(ctx._("Enter a whole number of MB, 0 or more."))
        except NotFound:
            return ctx.not_found()
        else:
            return await _person_page(ctx, await _person(ctx), notice=ctx._("The mailbox size is saved."))
    return await _person_page(ctx, person, 400, quota_form=form)


async def _set_state(ctx: Context, state: str) -> Response:
    person = await _person(ctx)
    if person is None:
        return ctx.not_found()
    try:
        await asyncio.to_thread(ctx.app.core.people.set_state, person["address"], state, actor=ctx.actor)
    except InvalidInput:
        return await _person_page(ctx, person, 400, state_error=ctx._("You cannot suspend yourself."))
    except Conflict:
        return await _person_page(ctx, person, 400, state_error=ctx._(
            "This cannot be done now: a business keeps at least one owner who can sign in."))
    except NotFound:
        return ctx.not_found()
    if state == "suspended":
        await ctx.sessions.end_for_address(ctx.session.slug, person["address"])
        notice = ctx._("%(address)s is suspended.", address=person["address"])
    else:
        notice = ctx._("%(address)s can sign in again.", address=person["address"])
    return await _person_page(ctx, await _person(ctx), notice=notice)


async def suspend(ctx: Context) -> Response:
    return await _set_state(ctx, "suspended")


async def resume(ctx: Context) -> Response:
    return await _set_state(ctx, "active")


async def reinvite(ctx: Context) -> Response:
    person = await _person(ctx)
    if person is None:
        return ctx.not_found()
    try:
        token = await asyncio.to_thread(ctx.app.core.people.reinvite, person["address"], actor=ctx.actor)
    except Conflict:
        return await _person_page(ctx, person, 400, state_error=ctx._("This person has already chosen a password."))
    except NotFound:
        return ctx.not_found()
    return ctx.render("invitation_shown.html", address=person["address"],
                      link=_link(ctx, person["address"], token), days=INVITATION_DAYS, added=False)


async def reset_password(ctx: Context) -> Response:
    person = await _person(ctx)
    if person is None:
        return ctx.not_found()
    try:
        password = await asyncio.to_thread(ctx.app.core.people.set_password, person["address"], actor=ctx.actor)
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
        await asyncio.to_thread(ctx.app.core.people.remove, person["address"], actor=ctx.actor)
    except NotFound:
        return ctx.not_found()
    await ctx.sessions.end_for_address(ctx.session.slug, person["address"])
    return ctx.redirect("/people")
