"""The owner's plan page: the business's use of each limit of its plan,
as meters with their numbers, and a plain warning near or at a limit
(the thresholds are the service's: ``app.core.plan_usage``). The overview
shows owners the same warnings (:func:`warnings`)."""

from __future__ import annotations

import asyncio

from appliance.services.planuse import Meter, PlanUse

from .core import Context, Response


def _figure(ctx: Context, meter: Meter, value: int) -> str:
    if meter.unit == "bytes":
        from .account import _size  # one way of writing sizes for the whole panel
        return _size(ctx, value)
    return str(value)


def warning(ctx: Context, meter: Meter) -> str:
    """The plain-language warning of a meter near or at its limit."""
    at = meter.level == "at"
    if meter.name == "people":
        if at:
            return ctx._("Your plan allows no more people. Remove someone, or ask your provider for a larger plan.")
        if meter.left == 1:
            return ctx._("You have 1 person left on your plan.")
        return ctx._("You have %(left)d people left on your plan.", left=meter.left)
    if meter.name == "mailbox":
        if at:
            return ctx._("Your mailboxes are full: new mail is refused until you delete some, or get a larger plan.")
        return ctx._("Your mailboxes are nearly full: %(left)s left. Delete old mail, or ask your provider for a larger plan.",
                     left=_figure(ctx, meter, meter.left))
    if meter.name == "web":
        if at:
            return ctx._("Your website uses all its space: a larger website cannot be published.")
        return ctx._("Your website is near its space limit: %(left)s left.", left=_figure(ctx, meter, meter.left))
    if at:
        return ctx._("Your business has sent all its messages for today: more can be sent tomorrow.")
    return ctx._("Your business can send %(left)d more messages today.", left=meter.left)


def meter_labels(ctx: Context) -> dict[str, str]:
    """What each limit of a plan is called on the pages (by meter name)."""
    return {
        "people": ctx._("People"),
        "mailbox": ctx._("Mailbox storage"),
        "web": ctx._("Web space"),
        "messages": ctx._("Messages sent today"),
    }


def _label(ctx: Context, meter: Meter) -> str:
    return meter_labels(ctx).get(meter.name, meter.name)


async def use(ctx: Context) -> PlanUse:
    return await asyncio.to_thread(ctx.app.core.plan_usage.show, ctx.session.slug)


async def warnings(ctx: Context) -> list[str]:
    """The warnings of the business's meters near or at their limits."""
    return [warning(ctx, m) for m in (await use(ctx)).warnings]


async def page(ctx: Context) -> Response:
    plan = await use(ctx)
    meters = [
        {"id": f"meter-{m.name}", "label": _label(ctx, m), "percent": m.percent, "level": m.level,
         "text": ctx._("%(used)s of %(limit)s", used=_figure(ctx, m, m.used), limit=_figure(ctx, m, m.limit)),
         "warning": warning(ctx, m) if m.level != "ok" else ""}
        for m in plan.meters
    ]
    return ctx.render("plan.html", plan=plan.plan, meters=meters,
                      mailbox_size=_figure(ctx, plan.meters[1], plan.mailbox_bytes))
