"""The agenda: a week or a month of the business's shared calendar and the
user's own, with previous/next/today links (``app.core.agenda`` reads the
events). A week is an ISO week (``/agenda/week/2026-W50``, or
``/agenda?week=2026-W50`` from the week picker); a month shows the whole
weeks that hold it. Each day is a list, so a phone shows one under another.

An event's page edits or deletes it; a repeating event's occurrence has
its own page (``?occurrence=<key>``, a hidden field once posted) that asks
whether the change is for that occurrence alone or the whole series.
Attendees are told of what was written (:mod:`.agenda_invites`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from urllib.parse import quote

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound

from appliance.services.agenda import zone_name

from . import agenda_forms as forms
from . import agenda_invites
from .core import Context, Response

_WEEK_RE = re.compile(r"([0-9]{4})-W([0-9]{2})")
_MONTH_RE = re.compile(r"([0-9]{4})-([0-9]{2})")


def _today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _week_start(text: str) -> dt.date | None:
    """The Monday of ISO week ``YYYY-Www``, or None."""
    m = _WEEK_RE.fullmatch(text)
    if not m:
        return None
    try:
        return dt.date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        return None


def _week_name(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _in_range(day: dt.date) -> bool:
    return 1900 <= day.year <= 2999


async def page(ctx: Context) -> Response:
    """This week, or the ``week`` the query names."""
    asked = ctx.query_data().get("week", "")
    if asked:
        monday = _week_start(asked)
        if monday is None or not _in_range(monday):
            return ctx.not_found()
        return ctx.redirect(f"/agenda/week/{_week_name(monday)}")
    return await _week(ctx, _week_start(_week_name(_today())))


async def week_page(ctx: Context) -> Response:
    monday = _week_start(ctx.params["week"])
    if monday is None or not _in_range(monday):
        return ctx.not_found()
    return await _week(ctx, monday)


async def month_page(ctx: Context) -> Response:
    m = _MONTH_RE.fullmatch(ctx.params["month"])
    if not m or not 1 <= int(m.group(2)) <= 12 or not 1900 <= int(m.group(1)) <= 2999:
        return ctx.not_found()
    first = dt.date(int(m.group(1)), int(m.group(2)), 1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    start = first - dt.timedelta(days=first.weekday())
    days = (following - start).days
    days += (7 - days % 7) % 7
    view = await _view(ctx, start, days)
    if view is None:
        return ctx.not_found()
    before = (first - dt.timedelta(days=1)).replace(day=1)
    return ctx.render("agenda.html", path="/agenda", view=view, mode="month", first=first,
                      weeks=[[start + dt.timedelta(days=w * 7 + d) for d in range(7)] for w in range(days // 7)],
                      previous=f"/agenda/month/{before:%Y-%m}", next=f"/agenda/month/{following:%Y-%m}",
                      today_link=f"/agenda/month/{_today():%Y-%m}", week_link=f"/agenda/week/{_week_name(first)}",
                      month_link=f"/agenda/month/{first:%Y-%m}", week_value=_week_name(first),
                      today=_today(), **_helpers(ctx))


async def _week(ctx: Context, monday: dt.date) -> Response:
    view = await _view(ctx, monday, 7)
    if view is None:
        return ctx.not_found()
    days = [monday + dt.timedelta(days=n) for n in range(7)]
    busy = await asyncio.to_thread(ctx.app.core.agenda.busy, ctx.session.slug, ctx.session.address, monday, 7)
    return ctx.render("agenda.html", path="/agenda", view=view, mode="week", first=monday, weeks=[days], busy=busy,
                      previous=f"/agenda/week/{_week_name(monday - dt.timedelta(days=7))}",
                      next=f"/agenda/week/{_week_name(monday + dt.timedelta(days=7))}",
                      today_link=f"/agenda/week/{_week_name(_today())}", week_link=f"/agenda/week/{_week_name(monday)}",
                      month_link=f"/agenda/month/{monday:%Y-%m}", week_value=_week_name(monday),
                      today=_today(), **_helpers(ctx))


async def _view(ctx: Context, first: dt.date, days: int):
    try:
        return await asyncio.to_thread(ctx.app.core.agenda.view, ctx.session.slug, ctx.session.address, first, days)
    except NotFound:
        return None


def _helpers(ctx: Context) -> dict:
    _ = ctx._
    names = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]
    months = [_("January"), _("February"), _("March"), _("April"), _("May"), _("June"), _("July"),
              _("August"), _("September"), _("October"), _("November"), _("December")]

    def day_name(day: dt.date) -> str:
        return f"{names[day.weekday()]} {day.day} {months[day.month - 1]}"

    def month_name(day: dt.date) -> str:
        return f"{months[day.month - 1]} {day.year}"

    def hours(event, day: dt.date) -> str:
        if event.all_day:
            return _("All day")
        start = event.start.strftime("%H:%M") if event.start.date() == day else "…"
        end = event.end.strftime("%H:%M") if event.end.date() == day else "…"
        return f"{start}–{end}"

    query = ctx.query_data()
    def span(block: tuple[dt.datetime, dt.datetime]) -> str:
        a, b = block
        return f"{a:%H:%M}–{'24:00' if b.time() == dt.time() and b.date() > a.date() else f'{b:%H:%M}'}"

    return {"span": span, "saved": query.get("saved") == "1", "deleted": query.get("deleted") == "1",
            "invited": query.get("invited") == "1", "unsent": query.get("unsent") == "1",
            "day_name": day_name, "month_name": month_name, "hours": hours, "event_href": event_href}


def event_href(ref: str, uid: str, occurrence: str = "") -> str:
    """The event's page, or one occurrence's of a repeating event."""
    return event_path(ref, uid) + _occurrence_query(occurrence)


def event_path(ref: str, uid: str) -> str:
    return f"/agenda/events/{ref}/" + quote(uid, safe="@")


def _occurrence_query(occurrence: str) -> str:
    return f"?occurrence={quote(occurrence, safe='')}" if occurrence else ""


def _back(day: dt.date | None) -> str:
    return f"/agenda/week/{_week_name(day)}" if day is not None else "/agenda"


async def _choices(ctx: Context) -> tuple[list, list[str], list[tuple[str, str]], dt.tzinfo]:
    slug = ctx.session.slug
    service = ctx.app.core.agenda
    calendars = await asyncio.to_thread(service.writable, slug, ctx.session.address)
    people = await asyncio.to_thread(ctx.app.core.people.list, slug)
    colleagues = sorted(p.address for p in people if p.address != ctx.session.address)
    try:
        contacts = await asyncio.to_thread(ctx.app.core.contacts.email_choices, slug)
    except NotFound:
        contacts = []
    zone = await asyncio.to_thread(service.zone, slug)
    return calendars, colleagues, contacts, zone


async def _editable(ctx: Context):
    """The event the path names, or the occurrence the query (a page) or
    the form (a POST: its hidden field) names; None (the 404) when it is
    not there."""
    data = ctx.form_data() if ctx.request.method == "POST" else ctx.query_data()
    occurrence = (data.get("occurrence") or "")[:40]
    try:
        return await asyncio.to_thread(ctx.app.core.agenda.get, ctx.session.slug, ctx.session.address,
                                       ctx.params["calendar"], ctx.params["event"], occurrence)
    except NotFound:
        return None


def _render_form(ctx: Context, form, current, zone, status: int = 200) -> Response:
    return ctx.render("agenda_event.html", status, path="/agenda", form=form, current=current,
                      zone=zone_name(zone), suffix=_occurrence_query(current.occurrence) if current else "",
                      href=event_path(current.calendar.ref, current.uid) if current else "/agenda/new",
                      occurrence_day=_occurrence_day(ctx, current))


async def new_page(ctx: Context) -> Response:
    calendars, colleagues, contacts, zone = await _choices(ctx)
    try:
        day = dt.date.fromisoformat(ctx.query_data().get("date", ""))
    except ValueError:
        day = _today()
    form = forms.event(ctx._, calendars, colleagues, contacts, zone=zone, day=day)
    return _render_form(ctx, form, None, zone)


async def new(ctx: Context) -> Response:
    calendars, colleagues, contacts, zone = await _choices(ctx)
    form = forms.event(ctx._, calendars, colleagues, contacts, ctx.form_data(), zone=zone)
    return await _save(ctx, form, None, zone) or _render_form(ctx, form, None, zone, 400)


async def edit_page(ctx: Context) -> Response:
    current = await _editable(ctx)
    if current is None:
        return ctx.not_found()
    calendars, colleagues, contacts, zone = await _choices(ctx)
    zone = forms.zone_of(current, zone)
    form = forms.event(ctx._, calendars, colleagues, contacts, current=current, zone=zone)
    return _render_form(ctx, form, current, zone)


async def edit(ctx: Context) -> Response:
    current = await _editable(ctx)
    if current is None:
        return ctx.not_found()
    calendars, colleagues, contacts, zone = await _choices(ctx)
    zone = forms.zone_of(current, zone)
    form = forms.event(ctx._, calendars, colleagues, contacts, ctx.form_data(), current=current, zone=zone)
    return await _save(ctx, form, current, zone) or _render_form(ctx, form, current, zone, 400)


async def _save(ctx: Context, form, current, zone) -> Response | None:
    """The redirect to the event's week once saved, the 404 when its
    calendar or event is gone, or None (the form again, with the
    service's objection beside its field)."""
    if not form.validate():
        return None
    if current is not None and form.calendar.data != current.calendar.ref:
        form.calendar.errors.append(ctx._("An event stays in its calendar: add it again in the other one."))
        return None
    fields = forms.fields_of(form, zone, current)
    occurrence = current.occurrence if current else ""
    try:
        written = await asyncio.to_thread(
            ctx.app.core.agenda.save, ctx.session.slug, ctx.session.address, form.calendar.data,
            current.uid if current else None, fields, form.etag.data if current else "", actor=ctx.actor,
            occurrence=occurrence, series=bool(occurrence) and form.scope.data == "series")
    except NotFound:
        return ctx.not_found()
    except Conflict:
        form.title.errors.append(ctx._("Someone changed this event meanwhile. Open it again."))
        return None
    except LimitExceeded:
        form.title.errors.append(ctx._("Your business's storage is full: delete old events first."))
        return None
    except InvalidInput as exc:
        name = str(exc).split(":", 1)[0]
        target = {"title": form.title, "place": form.place, "description": form.description,
                  "end": form.end_date, "start": form.start_date, "attendees": form.colleagues,
                  "reminder": form.reminder}.get(name, form.title)
        target.errors.append(ctx._("Check this field: use printable characters only.") if name in (
            "title", "place", "description") else ctx._("Check this field."))
        return None
    return ctx.redirect(_back(form.start_date.data) + "?saved=1" + await agenda_invites.send(ctx, written))


def _occurrence_day(ctx: Context, current) -> str:
    """The day an occurrence's page names it by, "" for a whole event."""
    if current is None or not current.occurrence:
        return ""
    start = current.fields.start
    return _helpers(ctx)["day_name"](start if current.fields.all_day else start.date())


def _render_delete(ctx: Context, current, form, status: int = 200) -> Response:
    return ctx.render("agenda_delete.html", status, path="/agenda", current=current, form=form,
                      href=event_path(current.calendar.ref, current.uid),
                      suffix=_occurrence_query(current.occurrence), occurrence_day=_occurrence_day(ctx, current))


async def delete_page(ctx: Context) -> Response:
    current = await _editable(ctx)
    if current is None:
        return ctx.not_found()
    return _render_delete(ctx, current, forms.scope(ctx._))


async def delete(ctx: Context) -> Response:
    """Delete the event, or only the occurrence the page names when the
    form says so (the whole series otherwise)."""
    current = await _editable(ctx)
    if current is None:
        return ctx.not_found()
    occurrence = ""
    if current.occurrence:
        form = forms.scope(ctx._, ctx.form_data())
        if not form.validate():
            return _render_delete(ctx, current, form, 400)
        occurrence = current.occurrence if form.scope.data == "occurrence" else ""
    try:
        written = await asyncio.to_thread(ctx.app.core.agenda.delete, ctx.session.slug, ctx.session.address,
                                          current.calendar.ref, current.uid, actor=ctx.actor, occurrence=occurrence)
    except NotFound:
        return ctx.not_found()
    start = current.fields.start
    return ctx.redirect(_back(start if current.fields.all_day else start.date()) + "?deleted=1"
                        + await agenda_invites.send(ctx, written))

