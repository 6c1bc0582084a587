"""The agenda: a week or a month of the business's shared calendar and the
user's own, with previous/next/today links (``app.core.agenda`` reads the
events). A week is an ISO week (``/agenda/week/2026-W50``, or
``/agenda?week=2026-W50`` from the week picker); a month shows the whole
weeks that hold it. Each day is a list, so a phone shows one under another.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from appliance.errors import NotFound

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
    return ctx.render("agenda.html", path="/agenda", view=view, mode="week", first=monday, weeks=[days],
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

    return {"day_name": day_name, "month_name": month_name, "hours": hours}
