"""The operators' usage page: the monthly usage report resellers bill from,
for a month chosen with a month picker, and its CSV download.

Both call the service ``appliance usage report`` and the API call
(``app.core.usage.report``, on a thread); the CSV is the same bytes as
theirs.
"""

from __future__ import annotations

import asyncio

from wtforms import Form, StringField
from wtforms.validators import Optional, Regexp, ValidationError

from appliance.errors import InvalidInput
from appliance.services.usage import check_month, today

from . import forms
from .core import Context, Response
from .operator_pages import _size

CSV_TYPE = "text/csv; charset=utf-8"


def month_form(_: forms.Gettext, data: forms.FormData | None = None) -> Form:
    class UsageMonth(Form):
        month = StringField(_("Month"), [
            Optional(),
            Regexp(r"^[0-9]{4}-[0-9]{2}$", message=_("Give a month as YYYY-MM, for example 2026-11.")),
        ], render_kw={"type": "month", "min": "2000-01"})

        def validate_month(form, field) -> None:  # noqa: N805 - WTForms' inline validator
            if field.data:
                try:
                    check_month(field.data)
                except InvalidInput:
                    raise ValidationError(_("Give a month as YYYY-MM, for example 2026-11.")) from None

    return UsageMonth(data)


def _month(ctx: Context) -> tuple[Form, str | None]:
    """The form of the query and its month (None: the query is invalid)."""
    form = month_form(ctx._, ctx.query_data())
    if not form.validate():
        # A month picker cannot hold what was typed (HTML's month value):
        # a text field shows it again beside the reason.
        form.month.render_kw = {"type": "text"}
        return form, None
    if not form.month.data:
        form.month.data = today()[:7]
    return form, form.month.data


async def page(ctx: Context) -> Response:
    form, month = _month(ctx)
    if month is None:
        return ctx.render("operator_usage.html", 400, form=form, month=None, rows=[])
    report = await asyncio.to_thread(ctx.app.core.usage.report, month)
    rows = [{**row, "storage": _size(ctx, row["peak_storage_bytes"]), "served": _size(ctx, row["web_bytes"])}
            for row in report.rows()]
    return ctx.render("operator_usage.html", form=form, month=month, rows=rows)


async def download(ctx: Context) -> Response:
    form, month = _month(ctx)
    if month is None:
        return ctx.render("operator_usage.html", 400, form=form, month=None, rows=[])
    report = await asyncio.to_thread(ctx.app.core.usage.report, month)
    return Response(200, report.csv_bytes(), CSV_TYPE, headers=[
        ("content-disposition", f'attachment; filename="usage-{month}.csv"'), ("cache-control", "no-store")])
