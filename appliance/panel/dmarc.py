"""The owners' DMARC reports page: what receivers said, over the last 7,
30 or 90 days, about mail that claimed to come from the business's
domains, and one report in detail.

Everything shown is read from the signed-in business's own file
(:mod:`storage.dmarcreports`, filled at delivery by
:mod:`appliance.dmarcreports`) and summed up by
:func:`appliance.dmarcreports.summarise`; nothing here writes.
"""

from __future__ import annotations

import datetime
import time
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from appliance import dmarcreports
from storage import dmarcreports as dmarcdb

from .core import Context, Response

PAGE = "/mail/dmarc"
#: The periods the page offers, in days; the first is the default.
PERIODS = (30, 7, 90)
#: Reports listed under the summary (the newest).
MAX_LISTED = 200


def _period(ctx: Context) -> int:
    asked = ctx.query_data().get("days", "")
    return int(asked) if asked in {str(p) for p in PERIODS} else PERIODS[0]


def _helpers(ctx: Context) -> dict[str, Any]:
    lang = ctx.lang

    def number(value: int) -> str:
        return format_decimal(value, locale=lang)

    def day(seconds: int) -> str:
        when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
        return format_date(when, format="medium", locale=lang)

    def moment(seconds: int) -> str:
        when = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
        return format_datetime(when, format="medium", tzinfo=datetime.timezone.utc, locale=lang) + " UTC"

    return {"number": number, "day": day, "moment": moment}


def _settings(ctx: Context) -> dict[str, Any]:
    dns = ctx.app.settings.dns
    return {"reports_on": bool(dns.dmarc_reports and dns.reports_local_part), "local_part": dns.reports_local_part}


async def page(ctx: Context) -> Response:
    days = _period(ctx)
    since = int(time.time()) - days * 86400
    handle = ctx.app.tenants.handle(ctx.session.slug)

    def read(conn) -> tuple[list, list, int]:
        return (dmarcdb.totals_since(conn, since), dmarcdb.reports_since(conn, since, MAX_LISTED),
                dmarcdb.count(conn))

    totals, reports, kept = await handle.read("panel dmarc", read)
    return ctx.render("dmarc.html", path=PAGE, days=days, periods=sorted(PERIODS),
                      summaries=dmarcreports.summarise(totals, reports), reports=reports, kept=kept,
                      **_settings(ctx), **_helpers(ctx))


async def report_page(ctx: Context) -> Response:
    number = int(ctx.params["report"])
    handle = ctx.app.tenants.handle(ctx.session.slug)
    found = await handle.read("panel dmarc report", lambda c: dmarcdb.report(c, number))
    if found is None:
        return ctx.not_found()
    report, records = found
    return ctx.render("dmarc_report.html", path=PAGE, report=report, records=records, **_helpers(ctx))
