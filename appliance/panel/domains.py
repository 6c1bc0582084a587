"""The owner's domains: the list (with each one's last check and
certificate), attaching one (then what to set at the registrar, the DS
record for DNSSEC included), its live check, removing it, and its DNS
records.

Each handler calls one service method, the one the CLI calls (``appliance
domain add|remove|check``, ``appliance dns add|remove``), on a thread: they
read and write SQLite and send DNS lookups. The services check that the
``{domain}`` is the business's own; anything else is the panel's 404, the
same as a page that does not exist. The audit log names the signed-in owner.
"""

from __future__ import annotations

import asyncio

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from storage import names

from . import forms
from .core import Context, Response


def _domain(ctx: Context) -> str:
    return ctx.params["domain"]


async def list_page(ctx: Context) -> Response:
    domains = await asyncio.to_thread(ctx.app.core.domain_checks.overview, ctx.session.slug)
    return ctx.render("domains.html", domains=domains)


async def add_page(ctx: Context) -> Response:
    return ctx.render("domain_add.html", form=forms.attach_domain(ctx._))


async def add(ctx: Context) -> Response:
    form = forms.attach_domain(ctx._, ctx.form_data())
    if not form.validate():
        return ctx.render("domain_add.html", 400, form=form)
    try:
        await asyncio.to_thread(ctx.app.core.domains.add, ctx.session.slug, form.domain.data, actor=ctx.session.address)
    except Conflict:
        form.domain.errors.append(ctx._("This domain is already attached, here or to another business on this box."))
    except LimitExceeded:
        form.domain.errors.append(ctx._("Your business has as many domains as it may have. Remove one first."))
    except InvalidInput as exc:
        if "box domain" in str(exc):
            form.domain.errors.append(ctx._("This name belongs to the box itself. Enter a domain you bought."))
        else:
            form.domain.errors.append(ctx._("Enter a domain name like bakery-smith.com: letters, digits and hyphens, with dots between the parts."))
    else:
        return ctx.redirect(f"/domains/{names.domain(form.domain.data)}")
    return ctx.render("domain_add.html", 400, form=form)


async def _domain_page(ctx: Context, status: int = 200, report=None, remove_form=None) -> Response:
    try:
        setup = await asyncio.to_thread(ctx.app.core.domain_checks.setup, ctx.session.slug, _domain(ctx))
    except (NotFound, InvalidInput):
        return ctx.not_found()
    dnssec = None
    if setup.kind != "free":
        try:
            dnssec = await asyncio.to_thread(ctx.app.core.dns.ds, setup.domain, slug=ctx.session.slug)
        except (NotFound, InvalidInput):
            dnssec = None
    # The page's own path (not the POST's) for the menu and the language switch.
    return ctx.render("domain.html", status, path=f"/domains/{setup.domain}", setup=setup, dnssec=dnssec,
                      report=report or setup.last, remove_form=remove_form or forms.remove_domain(ctx._, setup.domain))


async def domain_page(ctx: Context) -> Response:
    return await _domain_page(ctx)


async def check(ctx: Context) -> Response:
    try:
        report = await ctx.app.core.domain_checks.check_async(_domain(ctx), slug=ctx.session.slug)
    except (NotFound, InvalidInput):
        return ctx.not_found()
    return await _domain_page(ctx, report=report)


async def remove(ctx: Context) -> Response:
    domain = _domain(ctx)
    form = forms.remove_domain(ctx._, domain, ctx.form_data())
    if not form.validate():
        return await _domain_page(ctx, 400, remove_form=form)
    try:
        await asyncio.to_thread(ctx.app.core.domains.remove, domain, actor=ctx.session.address, slug=ctx.session.slug)
    except NotFound:
        return ctx.not_found()
    except InvalidInput:
        form.confirm.errors.append(ctx._("The free domain stays with your business; it cannot be removed."))
        return await _domain_page(ctx, 400, remove_form=form)
    return ctx.redirect("/domains")


# -- DNS records -------------------------------------------------------------------

async def _records_page(ctx: Context, status: int = 200, form=None) -> Response:
    try:
        records = await asyncio.to_thread(ctx.app.core.domain_checks.records, ctx.session.slug, _domain(ctx))
    except (NotFound, InvalidInput):
        return ctx.not_found()
    return ctx.render("dns.html", status, path=f"/domains/{records.domain}/dns", records=records,
                      form=form or forms.dns_record(ctx._))


async def records_page(ctx: Context) -> Response:
    return await _records_page(ctx)


async def add_record(ctx: Context) -> Response:
    form = forms.dns_record(ctx._, ctx.form_data())
    if not form.validate():
        return await _records_page(ctx, 400, form)
    domain = _domain(ctx)
    try:
        await asyncio.to_thread(ctx.app.core.dns.add, domain, form.name.data, form.type.data, form.value.data,
                                int(form.ttl.data), actor=ctx.session.address, slug=ctx.session.slug)
    except NotFound:
        return ctx.not_found()
    except LimitExceeded:
        form.value.errors.append(ctx._("Your business has as many DNS records as it may have. Remove one first."))
    except Conflict:
        form.name.errors.append(ctx._("The box publishes records at this name for mail and client set-up, or this record would clash with the zone's records. Choose another name or type."))
    except InvalidInput as exc:
        _place(ctx, form, str(exc), domain)
    else:
        return ctx.redirect(f"/domains/{domain}/dns")
    return await _records_page(ctx, 400, form)


#: An example value for each record type, shown when a value is refused.
EXAMPLES = {
    "A": "192.0.2.10", "AAAA": "2001:db8::10", "CNAME": "shop.example.net", "MX": "10 mail.example.net",
    "TXT": "google-site-verification=abc123", "SRV": "0 5 5060 sip.example.net", "CAA": '0 issue "letsencrypt.org"',
    "NS": "ns1.example.net",
}


def _place(ctx: Context, form, message: str, domain: str) -> None:
    """Put the service's refusal beside the field it is about (the service
    names the part of the record it refused first in its message)."""
    if (message.startswith(("invalid name", "invalid domain")) or " is not inside " in message
            or " belongs to " in message or "a wildcard cannot be delegated" in message):
        form.name.errors.append(ctx._("Use @ for %(domain)s itself, or a name inside it such as www or shop: letters, digits and hyphens.", domain=domain))
    elif message.startswith("invalid TTL"):
        form.ttl.errors.append(ctx._("Use %(min)d to %(max)d seconds.", min=forms.MIN_TTL, max=forms.MAX_TTL))
    elif message.startswith("unsupported record type"):
        form.type.errors.append(ctx._("Choose one of the types."))
    elif "a CNAME cannot" in message:
        form.name.errors.append(ctx._("A CNAME cannot be at the domain itself, nor point at its own name. Choose another name."))
    else:
        form.value.errors.append(ctx._("This value does not fit the type %(type)s. For example: %(example)s",
                                       type=form.type.data, example=EXAMPLES.get(form.type.data, "")))


async def remove_record(ctx: Context) -> Response:
    form = forms.remove_record(ctx._, ctx.form_data())
    if not form.validate():
        return await _records_page(ctx, 400)
    try:
        await asyncio.to_thread(ctx.app.core.dns.remove, _domain(ctx), form.name.data, form.type.data, form.value.data,
                                actor=ctx.session.address, slug=ctx.session.slug)
    except NotFound:
        # Gone already (a second press), or not the business's domain: the
        # records page tells the two apart (the latter is the 404).
        return await _records_page(ctx)
    except InvalidInput:
        return await _records_page(ctx, 400)
    return ctx.redirect(f"/domains/{_domain(ctx)}/dns")
