"""``appliance brand ...``: the reseller's brand (``appliance.services.brand``),
as the operators' Brand page changes it; a running daemon shows a change
within a second or two."""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance import brandrules
from appliance.errors import ApplianceError

from .common import add_json


def _show(brand: dict) -> str:
    logo = f"{brand['logo_bytes']} bytes" + (" (uploaded)" if brand["uploaded_logo"] else "") if brand["logo_bytes"] else "none"
    return "\n".join([
        f"name:          {brand['name']}",
        f"colour:        {brand['colour']}",
        f"support email: {brand['support_email'] or '-'}",
        f"support link:  {brand['support_url'] or '-'}",
        f"logo:          {logo}",
    ])


def _set(ctx) -> None:
    service = ctx.core.brand
    now = service.current()
    a = ctx.args
    ctx.emit(service.set(
        name=now.name if a.name is None else a.name,
        colour=now.colour if a.colour is None else a.colour,
        support_email=now.support_email if a.support_email is None else a.support_email,
        support_url=now.support_url if a.support_url is None else a.support_url,
        actor=ctx.actor,
    ), _show)


def _logo(ctx) -> None:
    service = ctx.core.brand
    if ctx.args.remove:
        ctx.emit(service.remove_logo(actor=ctx.actor), _show)
        return
    if ctx.args.file is None:
        raise ApplianceError("give a picture file, or --remove")
    path = Path(ctx.args.file)
    try:
        with open(path, "rb") as fh:
            data = fh.read(brandrules.MAX_LOGO_BYTES + 1)
    except OSError as exc:
        raise ApplianceError(f"cannot read {path}: {exc.strerror}") from None
    ctx.emit(service.set_logo(data, path.name, actor=ctx.actor), _show)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("brand", help="the name, logo, colour and support contact the box shows")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("show", help="the brand in force")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(ctx.core.brand.current(), _show))

    a = s.add_parser("set", help="change the brand (what is not given stays); wins over [brand] in the config")
    a.add_argument("--name")
    a.add_argument("--colour", help="#rrggbb, readable with white text; empty: the panel's own")
    a.add_argument("--support-email", help="empty: none")
    a.add_argument("--support-url", help="https://...; empty: none")
    add_json(a)
    a.set_defaults(handler=_set)

    a = s.add_parser("logo", help="upload a logo (JPEG, PNG, WebP or HEIC; never SVG), or --remove it")
    a.add_argument("file", nargs="?")
    a.add_argument("--remove", action="store_true", help="forget the uploaded logo ([brand] logo shows again)")
    add_json(a)
    a.set_defaults(handler=_logo)
