"""The operators' "Box status" page: what ``appliance check`` says, the
box's own checks and the world's view, each row with its status, subject,
message and fix, grouped by check as the CLI prints them.

Both the page and the CLI call :mod:`appliance.services.boxstatus`
(``app.box_status``, on its own thread). Loading the page shows the last
report while it is fresh (no new lookups on a reload); "Check again" runs
every check anew and comes back to the page.
"""

from __future__ import annotations

from appliance.services.boxstatus import Report, groups

from .core import Context, Response

PATH = "/operator/status"


def _sections(ctx: Context, report: Report) -> list[dict]:
    """The page's two sections, each with its groups of rows."""
    _ = ctx._
    sections = [{"id": "local", "title": _("On the box"), "groups": groups(report.local)}]
    if report.outside is not None:
        sections.append({"id": "outside", "title": _("As the world sees the box"), "groups": groups(report.outside)})
    return sections


def _status_label(ctx: Context) -> dict[str, str]:
    _ = ctx._
    return {"ok": _("OK"), "warn": _("Warning"), "fail": _("Failed")}


async def page(ctx: Context) -> Response:
    report = await ctx.app.box_status.recent_async()
    counts = {status: sum(r.status == status for r in report.results) for status in ("ok", "warn", "fail")}
    return ctx.render("operator_status.html", sections=_sections(ctx, report), labels=_status_label(ctx),
                      counts=counts, checked_at=report.checked_at.replace("T", " ").replace("+00:00", " UTC"))


async def check_again(ctx: Context) -> Response:
    await ctx.app.box_status.run_async()
    return ctx.redirect(PATH)
