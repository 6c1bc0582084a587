"""The contacts pages: the business's shared address book as people and
companies, with the mini-CRM (stage, timeline, "do not contact").

Every user of the business may see and edit the contacts (it is the book
they all sync); only owners delete. Each handler parses its form, calls
one method of ``app.core.contacts`` (on a thread: it reads and writes the
business file) and renders. A ``{uid}`` that is not a card of the
viewer's own business is the panel's 404, the same as a page that does
not exist.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound

from . import contact_forms as forms
from . import deal_forms
from .core import Context, Response

VCARD_TYPE = "text/vcard; charset=utf-8"
CSV_TYPE = "text/csv; charset=utf-8"
#: Names of an import's preview shown (the count says how many in all).
PREVIEW_NAMES = 100


def _service(ctx: Context):
    return ctx.app.core.contacts


def contact_href(uid: str) -> str:
    return "/contacts/" + quote(uid, safe="@")


async def contact_of(ctx: Context):
    """The contact ``{uid}`` of the viewer's business, or None."""
    try:
        return await asyncio.to_thread(_service(ctx).get, ctx.session.slug, ctx.params["uid"])
    except NotFound:
        return None


def _page_number(ctx: Context) -> int:
    text = ctx.query_data().get("page", "1")
    return int(text) if text.isdigit() and len(text) < 6 else 1


async def list_page(ctx: Context) -> Response:
    slug = ctx.session.slug
    everything = await asyncio.to_thread(_service(ctx).list, slug, page=1)
    form = forms.search(ctx._, everything.tags, ctx.query_data() if ctx.request.query else None)
    if ctx.request.query and not form.validate():
        return ctx.render("contacts.html", 400, form=form, result=everything, stages=forms.stage_labels(ctx._),
                          query="", searched=False)
    q, stage, tag = form.q.data or "", form.stage.data or "", form.tag.data or ""
    result = await asyncio.to_thread(_service(ctx).list, slug, q, stage, tag, _page_number(ctx))
    query = urlencode({k: v for k, v in (("q", q), ("stage", stage), ("tag", tag)) if v})
    return ctx.render("contacts.html", form=form, result=result, stages=forms.stage_labels(ctx._),
                      query=query, searched=bool(q or stage or tag))


def _kind(value: str) -> str:
    """The card kind a form's ``kind`` (or the query's) asks for."""
    return "org" if value == "company" else "individual"


def _card_form(ctx: Context, kind: str, data=None, fields=None, etag: str = ""):
    make = forms.company if kind == "org" else forms.person
    return make(ctx._, data, fields, etag)


async def add_page(ctx: Context) -> Response:
    kind = _kind(ctx.query_data().get("kind"))
    return ctx.render("contact_form.html", form=_card_form(ctx, kind), kind=kind, contact=None)


async def add(ctx: Context) -> Response:
    data = ctx.form_data()
    kind = _kind(data.get("kind"))
    form = _card_form(ctx, kind, data)
    if form.validate():
        try:
            uid = await asyncio.to_thread(_service(ctx).create, ctx.session.slug, forms.fields_of(form, kind),
                                          actor=ctx.session.address)
        except LimitExceeded:
            form.note.errors.append(ctx._("Your address book is full. Remove contacts first, or ask your provider for more room."))
        except InvalidInput:
            form.note.errors.append(ctx._("Check the fields: use printable characters only."))
        else:
            return ctx.redirect(contact_href(uid))
    return ctx.render("contact_form.html", 400, form=form, kind=kind, contact=None)


async def contact_page(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    return await _show(ctx, contact)


def _mail_page(ctx: Context) -> int:
    text = ctx.query_data().get("mail", "1")
    return int(text) if text.isdigit() and len(text) < 6 else 1


def _viewer(ctx: Context) -> int:
    """Whose mail counts as the viewer's own: nobody's for an operator's
    support session, which never reads a user's mail."""
    return 0 if ctx.session.operator else ctx.session.user_id


async def _show(ctx: Context, contact, status: int = 200, stage_form=None, activity_form=None,
                followup_form=None) -> Response:
    history = await asyncio.to_thread(ctx.app.core.mail_history.of_contact, ctx.session.slug, contact,
                                      _viewer(ctx), _mail_page(ctx))
    deals = await asyncio.to_thread(ctx.app.core.deals.of_contact, ctx.session.slug, contact.uid,
                                    deal_forms.default_names(ctx._))
    stages = await asyncio.to_thread(ctx.app.core.deals.stages, ctx.session.slug, deal_forms.default_names(ctx._))
    return ctx.render(
        "contact.html", status, contact=contact, href=contact_href(contact.uid), href_of=contact_href,
        stages=forms.stage_labels(ctx._), activities=forms.activity_labels(ctx._),
        stage_form=stage_form or forms.stage(ctx._, contact.stage),
        activity_form=activity_form or forms.activity(ctx._),
        followup_form=followup_form or forms.followup(ctx._),
        saved=ctx.query_data().get("saved") == "1",
        deals=deals, deal_stages=stages, money=deal_forms.money(ctx.lang), history=history,
    )


async def edit_page(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    form = _card_form(ctx, contact.fields.kind, None, contact.fields, contact.etag)
    return ctx.render("contact_form.html", form=form, kind=contact.fields.kind, contact=contact, href=contact_href(contact.uid))


async def edit(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    kind = contact.fields.kind
    form = _card_form(ctx, kind, ctx.form_data())
    if form.validate():
        try:
            await asyncio.to_thread(_service(ctx).update, ctx.session.slug, contact.uid, forms.fields_of(form, kind),
                                    form.etag.data or "", actor=ctx.session.address)
        except NotFound:
            return ctx.not_found()
        except Conflict:
            form.note.errors.append(ctx._("Someone changed this contact meanwhile. Open it again to see their change, then edit it."))
        except LimitExceeded:
            form.note.errors.append(ctx._("Your address book is full. Remove contacts first, or ask your provider for more room."))
        except InvalidInput:
            form.note.errors.append(ctx._("Check the fields: use printable characters only."))
        else:
            return ctx.redirect(contact_href(contact.uid) + "?saved=1")
    return ctx.render("contact_form.html", 400, form=form, kind=kind, contact=contact, href=contact_href(contact.uid))


async def delete(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    try:
        await asyncio.to_thread(_service(ctx).delete, ctx.session.slug, contact.uid, actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    return ctx.redirect("/contacts")


async def set_stage(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    form = forms.stage(ctx._, contact.stage, ctx.form_data())
    if not form.validate():
        return await _show(ctx, contact, 400, stage_form=form)
    try:
        await asyncio.to_thread(_service(ctx).set_stage, ctx.session.slug, contact.uid, form.stage.data or None,
                                actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    return ctx.redirect(contact_href(contact.uid) + "?saved=1")


async def add_activity(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    form = forms.activity(ctx._, ctx.form_data())
    if form.validate():
        try:
            await asyncio.to_thread(_service(ctx).add_activity, ctx.session.slug, contact.uid, form.kind.data,
                                    form.text.data, actor=ctx.session.address)
        except NotFound:
            return ctx.not_found()
        except InvalidInput:
            form.text.errors.append(ctx._("Use printable characters only."))
        else:
            return ctx.redirect(contact_href(contact.uid) + "?saved=1")
    return await _show(ctx, contact, 400, activity_form=form)


async def do_not_contact(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    flag = ctx.form_data().get("do_not_contact")
    if flag not in ("on", "off"):
        return await _show(ctx, contact, 400)
    try:
        await asyncio.to_thread(_service(ctx).set_do_not_contact, ctx.session.slug, contact.uid, flag == "on",
                                actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    return ctx.redirect(contact_href(contact.uid) + "?saved=1")


async def import_page(ctx: Context) -> Response:
    return ctx.render("contacts_import.html", form=forms.import_text(ctx._), plan=None, reasons=forms.skip_labels(ctx._))


async def import_contacts(ctx: Context) -> Response:
    """Without ``confirm``: the preview (what would be added and skipped).
    With it: the import, then its report."""
    form = forms.import_text(ctx._, ctx.form_data())
    if not form.validate():
        return ctx.render("contacts_import.html", 400, form=form, plan=None, reasons=forms.skip_labels(ctx._))
    confirmed = form.confirm.data == "1"
    method = _service(ctx).import_contacts if confirmed else _service(ctx).plan_import
    kwargs = {"actor": ctx.session.address} if confirmed else {}
    content = form.content()
    try:
        plan = await asyncio.to_thread(method, ctx.session.slug, content, **kwargs)
    except LimitExceeded:
        form.upload.errors.append(ctx._("Your address book is full. Remove contacts first, or ask your provider for more room."))
        return ctx.render("contacts_import.html", 400, form=form, plan=None, reasons=forms.skip_labels(ctx._))
    return ctx.render("contacts_import.html", form=form, plan=plan, done=confirmed, names=plan.new[:PREVIEW_NAMES],
                      content=content, reasons=forms.skip_labels(ctx._))


def _download(body: str, content_type: str, filename: str) -> Response:
    return Response(200, body.encode("utf-8"), content_type, headers=[
        ("content-disposition", f'attachment; filename="{filename}"'), ("cache-control", "no-store")])


async def export_vcf(ctx: Context) -> Response:
    return _download(await asyncio.to_thread(_service(ctx).export_vcards, ctx.session.slug), VCARD_TYPE, "contacts.vcf")


async def export_csv(ctx: Context) -> Response:
    return _download(await asyncio.to_thread(_service(ctx).export_csv, ctx.session.slug), CSV_TYPE, "contacts.csv")


async def add_followup(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    form = forms.followup(ctx._, ctx.form_data())
    if form.validate():
        try:
            await asyncio.to_thread(_service(ctx).add_followup, ctx.session.slug, contact.uid, form.summary.data,
                                    form.due.data, actor=ctx.session.address, list_name=ctx._("Follow-ups"))
        except NotFound:
            return ctx.not_found()
        except LimitExceeded:
            form.summary.errors.append(ctx._("This contact has too many follow-ups, or your storage is full."))
        except InvalidInput:
            form.summary.errors.append(ctx._("Use printable characters only."))
        else:
            return ctx.redirect(contact_href(contact.uid) + "?saved=1")
    return await _show(ctx, contact, 400, followup_form=form)


async def complete_followup(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    todo = ctx.form_data().get("todo")
    if todo not in {f.uid for f in contact.followups}:
        return await _show(ctx, contact, 400)
    try:
        await asyncio.to_thread(_service(ctx).complete_followup, ctx.session.slug, contact.uid, todo,
                                actor=ctx.session.address)
    except NotFound:
        return await _show(ctx, contact, 400)
    return ctx.redirect(contact_href(contact.uid) + "?saved=1")
