"""The owner's addresses page: the business's aliases, shared addresses
(one address delivering to several people) and catch-alls, adding and
removing them.

Each change calls the service the CLI's ``appliance alias add|remove``
calls (``app.core.addresses``), so the rules are the same: targets only
inside the business, no address of a person, the limits. Its refusals are
put beside the field they concern, and nothing changes.
"""

from __future__ import annotations

import asyncio
import re

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from storage.directory import AddressTaken, BadTarget

from . import forms
from .core import Context, Response

#: What separates the addresses typed in "Deliver to".
SEPARATORS = re.compile(r"[\s,;]+")


async def _domains(ctx: Context) -> list[str]:
    business = await asyncio.to_thread(ctx.app.core.businesses.show, ctx.session.slug)
    return [d.name for d in business.domains]


async def _list(ctx: Context, status: int = 200, *, notice: str = "", error: str = "") -> Response:
    aliases = [a.as_dict() for a in await asyncio.to_thread(ctx.app.core.addresses.list, ctx.session.slug)]
    return ctx.render(
        "addresses.html", status, notice=notice, error=error,
        catch_alls=[a for a in aliases if a["address"].startswith("@")],
        shared=[a for a in aliases if not a["address"].startswith("@") and len(a["targets"]) > 1],
        single=[a for a in aliases if not a["address"].startswith("@") and len(a["targets"]) == 1],
    )


async def list_page(ctx: Context) -> Response:
    return await _list(ctx)


async def add_page(ctx: Context) -> Response:
    return ctx.render("address_add.html", form=forms.add_address(ctx._, await _domains(ctx)))


async def add(ctx: Context) -> Response:
    form = forms.add_address(ctx._, await _domains(ctx), ctx.form_data())
    if not form.validate():
        return ctx.render("address_add.html", 400, form=form)
    address = f"{form.local.data or ''}@{form.domain.data}"
    targets = [t for t in SEPARATORS.split(form.targets.data) if t]
    try:
        await asyncio.to_thread(ctx.app.core.addresses.add, address, targets, actor=ctx.actor)
    except BadTarget:
        form.targets.errors.append(ctx._(
            "Each address here must be a person or an address of your business: mail never leaves it this way."))
    except AddressTaken:
        form.local.errors.append(ctx._("This is a person's own address. Choose another one."))
    except Conflict:
        form.targets.errors.append(ctx._("This address already delivers there."))
    except LimitExceeded:
        form.local.errors.append(ctx._("Your business has as many addresses as it may have. Remove one first."))
    except NotFound:
        form.domain.errors.append(ctx._("Choose one of your domains."))
    except InvalidInput:
        form.local.errors.append(ctx._("Use letters, digits, dots, hyphens or underscores."))
    else:
        shown = address if form.local.data else ctx._("Any other address @%(domain)s", domain=form.domain.data)
        return await _list(ctx, notice=ctx._("%(address)s now delivers to %(targets)s.", address=shown,
                                             targets=", ".join(targets)))
    return ctx.render("address_add.html", 400, form=form)


async def remove(ctx: Context) -> Response:
    form = forms.remove_address(ctx._, ctx.form_data())
    if not form.validate():
        return await _list(ctx, 400, error=ctx._("There is no such address."))
    address = form.address.data
    mine = {a.address for a in await asyncio.to_thread(ctx.app.core.addresses.list, ctx.session.slug)}
    if address not in mine:
        # Only an address of the owner's own business: anything else is not there.
        return await _list(ctx, 400, error=ctx._("There is no such address."))
    try:
        await asyncio.to_thread(ctx.app.core.addresses.remove, address, actor=ctx.actor)
    except (InvalidInput, NotFound):
        return await _list(ctx, 400, error=ctx._("There is no such address."))
    return await _list(ctx, notice=ctx._("%(address)s is removed: mail to it is no longer delivered.", address=address))
