"""The deals pages: a contact's deals, the pipeline board, the pipeline's
stages (the owner's) and "my day".

Every user of the business sees and edits the deals, as they do the
contacts. Each handler parses its form, calls one method of
``app.core.deals`` (on a thread: it reads and writes the business file)
and renders. A ``{deal}`` (or ``{uid}``) that is not one of the viewer's
own business is the panel's 404, the same as a page that does not exist.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from appliance.errors import InvalidInput, LimitExceeded, NotFound

from . import contact_forms, deal_forms as forms
from .contacts import contact_of, contact_href
from .core import Context, Response

#: "stage <id>: ..." in the deals service's messages names the stage.
_STAGE_ERROR_RE = re.compile(r"stage ([0-9]+): ")


def _service(ctx: Context):
    return ctx.app.core.deals


async def _deal(ctx: Context):
    """The deal ``{deal}`` of the viewer's business, or None."""
    try:
        return await asyncio.to_thread(_service(ctx).get, ctx.session.slug, ctx.params["deal"])
    except NotFound:
        return None


async def _people(ctx: Context) -> list[str]:
    people = await asyncio.to_thread(ctx.app.core.people.list, ctx.session.slug)
    return sorted(p.address for p in people)


async def _stages(ctx: Context):
    return await asyncio.to_thread(_service(ctx).stages, ctx.session.slug, forms.default_names(ctx._))


def _service_error(ctx: Context, form, exc: Exception) -> None:
    """Put the service's refusal beside the field it names."""
    field = str(exc).split(":", 1)[0]
    target = getattr(form, field, None) if field in ("title", "amount", "currency", "stage", "close_date",
                                                      "probability", "owner") else None
    if isinstance(exc, LimitExceeded):
        form.title.errors.append(ctx._("Your business has as many deals as it may have. Delete old ones first."))
    elif target is not None and field == "owner":
        target.errors.append(ctx._("Choose one of the business's people."))
    elif target is not None and field == "stage":
        target.errors.append(ctx._("Choose one of the stages."))
    else:
        (target or form.title).errors.append(ctx._("Check this field: use printable characters only."))


# -- a contact's deals ------------------------------------------------------------

async def add_page(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    form = forms.deal(ctx._, await _stages(ctx), await _people(ctx), default_owner=ctx.session.address)
    return ctx.render("deal_form.html", form=form, contact=contact, href=contact_href(contact.uid), deal=None)


async def add(ctx: Context) -> Response:
    contact = await contact_of(ctx)
    if contact is None:
        return ctx.not_found()
    form = forms.deal(ctx._, await _stages(ctx), await _people(ctx), ctx.form_data())
    done = await _save(ctx, form, _service(ctx).create, contact.uid, contact_href(contact.uid) + "?saved=1#deals-heading")
    return done or ctx.render("deal_form.html", 400, form=form, contact=contact, href=contact_href(contact.uid), deal=None)


async def edit_page(ctx: Context) -> Response:
    deal = await _deal(ctx)
    if deal is None:
        return ctx.not_found()
    form = forms.deal(ctx._, await _stages(ctx), await _people(ctx), current=deal)
    return ctx.render("deal_form.html", form=form, contact=None, deal=deal, href=_back_href(deal))


def _back_href(deal) -> str:
    """Where a deal's pages lead back to: its contact, else the pipeline."""
    return contact_href(deal.contact_uid) if deal.contact_name else "/pipeline"


async def edit(ctx: Context) -> Response:
    deal = await _deal(ctx)
    if deal is None:
        return ctx.not_found()
    form = forms.deal(ctx._, await _stages(ctx), await _people(ctx), ctx.form_data())
    done = await _save(ctx, form, _service(ctx).update, deal.id, _back_href(deal) + "?saved=1")
    return done or ctx.render("deal_form.html", 400, form=form, contact=None, deal=deal, href=_back_href(deal))


async def _save(ctx: Context, form, method, key, then: str) -> Response | None:
    """``method(slug, key, values)`` of the deals service for a valid deal
    ``form``: the redirect to ``then`` once it is saved, the 404 when its
    deal or contact is gone, or None (the form to show again, with the
    service's objection beside its field)."""
    if not form.validate():
        return None
    try:
        await asyncio.to_thread(method, ctx.session.slug, key, forms.values_of(form), actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    except (InvalidInput, LimitExceeded) as exc:
        _service_error(ctx, form, exc)
        return None
    return ctx.redirect(then)


async def delete_page(ctx: Context) -> Response:
    deal = await _deal(ctx)
    if deal is None:
        return ctx.not_found()
    return ctx.render("deal_delete.html", deal=deal, href=_back_href(deal), money=forms.money(ctx.lang))


async def delete(ctx: Context) -> Response:
    deal = await _deal(ctx)
    if deal is None:
        return ctx.not_found()
    try:
        await asyncio.to_thread(_service(ctx).delete, ctx.session.slug, deal.id, actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    return ctx.redirect(_back_href(deal) + "?saved=1")


# -- the board ----------------------------------------------------------------------

def _mine(ctx: Context) -> bool:
    return ctx.query_data().get("mine") == "1"


async def pipeline_page(ctx: Context) -> Response:
    return await _board(ctx)


async def _board(ctx: Context, status: int = 200, error_deal: str = "") -> Response:
    mine = _mine(ctx) if status == 200 else ctx.form_data().get("mine") == "1"
    board = await asyncio.to_thread(_service(ctx).board, ctx.session.slug, ctx.session.address if mine else "",
                                    forms.default_names(ctx._))
    stages = [c.stage for c in (*board.open, board.won, board.lost)]
    return ctx.render("pipeline.html", status, board=board, stages=stages, mine=mine, error_deal=error_deal,
                      money=forms.money(ctx.lang), href_of=contact_href, saved=ctx.query_data().get("saved") == "1",
                      path="/pipeline")


async def move(ctx: Context) -> Response:
    """Move ``{deal}`` to the form's ``stage``; back to the board (or to
    the contact, when the form says ``back=contact``)."""
    deal = await _deal(ctx)
    if deal is None:
        return ctx.not_found()
    data = ctx.form_data()
    text = data.get("stage")
    if not (text.isdigit() and len(text) < 12):
        return await _board(ctx, 400, error_deal=deal.id)
    try:
        await asyncio.to_thread(_service(ctx).move, ctx.session.slug, deal.id, int(text), actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    except InvalidInput:
        return await _board(ctx, 400, error_deal=deal.id)
    if data.get("back") == "contact" and deal.contact_name:
        return ctx.redirect(contact_href(deal.contact_uid) + "?saved=1")
    return ctx.redirect("/pipeline?" + ("mine=1&" if data.get("mine") == "1" else "") + "saved=1")


# -- the pipeline's stages (owners) ----------------------------------------------

async def stages_page(ctx: Context) -> Response:
    stages = await _stages(ctx)
    return ctx.render("pipeline_stages.html", form=forms.pipeline(ctx._, stages), stages=stages,
                      saved=ctx.query_data().get("saved") == "1")


async def set_stages(ctx: Context) -> Response:
    stages = await _stages(ctx)
    form = forms.pipeline(ctx._, stages, ctx.form_data())
    if form.validate():
        try:
            await asyncio.to_thread(_service(ctx).set_stages, ctx.session.slug, forms.stage_changes(form, stages),
                                    form.new.data or "", actor=ctx.session.address)
        except LimitExceeded:
            form.new.errors.append(ctx._("A pipeline has at most %(max)d stages.", max=forms.service.MAX_STAGES))
        except InvalidInput as exc:
            _stage_error(ctx, form, stages, str(exc))
        else:
            return ctx.redirect("/pipeline/stages?saved=1")
    return ctx.render("pipeline_stages.html", 400, form=form, stages=stages, saved=False)


def _stage_error(ctx: Context, form, stages, message: str) -> None:
    m = _STAGE_ERROR_RE.match(message)
    stage = next((s for s in stages if m and s.id == int(m.group(1))), None)
    if stage is None:
        if "same name" in message:
            form.new.errors.append(ctx._("Two stages have the same name: give each its own."))
        elif "open stage" in message:
            form.new.errors.append(ctx._("Keep at least one stage besides won and lost."))
        else:
            form.new.errors.append(ctx._("Someone changed the stages meanwhile. Open the page again."))
    elif "has deals" in message:
        getattr(form, f"remove_{stage.id}").errors.append(
            ctx._("Deals are at this stage: move them to another stage first."))
    else:
        getattr(form, f"name_{stage.id}").errors.append(ctx._("Use 1 to %(max)d printable characters.",
                                                               max=forms.service.MAX_STAGE_NAME))


# -- my day -----------------------------------------------------------------------

async def my_day(ctx: Context) -> Response:
    today = dt.datetime.now(dt.timezone.utc).date()
    day = await asyncio.to_thread(_service(ctx).my_day, ctx.session.slug, ctx.session.address, today)
    return ctx.render("my_day.html", day=day, today=today.isoformat(), href_of=contact_href,
                      activities=contact_forms.activity_labels(ctx._), stages=contact_forms.stage_labels(ctx._))
