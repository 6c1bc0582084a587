"""The reseller's brand in the panel: the stylesheet and logo every page
loads, and the operators' page that changes them.

The brand in force comes from ``app.core.brand`` (memory, so every page
can ask). The operators' page calls the same service on a thread; a value
the service refuses is shown beside its field and nothing is stored. The
stylesheet and the logo are served under addresses that carry the brand's
version (``?v=``), so a change shows on the next page without waiting for
a browser's cache.
"""

from __future__ import annotations

import asyncio

from appliance import brandrules
from appliance.errors import InvalidInput, LimitExceeded
from appliance.services.operators import actor
from sitegen import photos

from . import brand_forms
from .core import Context, Response

#: The field of the logo form.
LOGO_FIELD = "logo"
#: How a browser may keep the stylesheet and logo (their address changes with them).
_CACHE = [("cache-control", "no-cache")]


async def stylesheet(ctx: Context) -> Response:
    return Response(200, ctx.app.core.brand.current().css().encode(), "text/css; charset=utf-8", list(_CACHE))


async def logo(ctx: Context) -> Response:
    """The logo as a PNG; with none, the panel's own icon."""
    png = ctx.app.core.brand.current().logo
    if png is None:
        body, content_type = ctx.panel.static["favicon.svg"]
        return Response(200, body, content_type, list(_CACHE))
    return Response(200, png, "image/png", list(_CACHE))


def _values(ctx: Context) -> dict[str, str]:
    brand = ctx.app.core.brand.current()
    return {"name": brand.name, "colour": brand.colour, "support_email": brand.support_email,
            "support_url": brand.support_url}


def _page(ctx: Context, status: int = 200, *, form=None, logo_error: str = "", saved: str = "") -> Response:
    return ctx.render("operator_brand.html", status, form=form or brand_forms.brand(ctx._, values=_values(ctx)),
                      logo_error=logo_error, saved=saved, logo_pixels=photos.LOGO,
                      logo_kilobytes=brandrules.MAX_LOGO_BYTES // 1024)


async def page(ctx: Context) -> Response:
    return _page(ctx)


def _field_error(ctx: Context, field: str | None) -> str:
    return {
        "name": ctx._("Enter a name of at most %(max)d characters.", max=brandrules.MAX_NAME),
        "colour": ctx._("This colour is unreadable with white text or on the panel's light background (at least 4.5:1 "
                        "contrast is needed): choose a darker one, written #rrggbb."),
        "support_email": ctx._("Enter an e-mail address such as help@example.com, or nothing."),
        "support_url": ctx._("Enter a web address starting with https://, or nothing."),
    }.get(field or "", ctx._("This cannot be stored."))


async def save(ctx: Context) -> Response:
    form = brand_forms.brand(ctx._, ctx.form_data())
    if not form.validate():
        return _page(ctx, 400, form=form)
    try:
        await asyncio.to_thread(ctx.app.core.brand.set, name=form.name.data, colour=form.colour.data or "",
                                support_email=form.support_email.data or "", support_url=form.support_url.data or "",
                                actor=actor(ctx.operator.name))
    except InvalidInput as exc:
        target = getattr(form, exc.field, None) if exc.field else None
        (target or form.name).errors.append(_field_error(ctx, exc.field))
        return _page(ctx, 400, form=form)
    return _page(ctx, saved=ctx._("The brand is saved: every page shows it now."))


async def upload_logo(ctx: Context) -> Response:
    files = ctx.request.files.get(LOGO_FIELD, [])
    error = ""
    if ctx.request.too_large:
        error = ctx._("This file is larger than %(kilobytes)d KB. Nothing is stored.",
                      kilobytes=brandrules.MAX_LOGO_BYTES // 1024)
    elif len(files) != 1 or not files[0].data:
        error = ctx._("Choose a picture.")
    else:
        upload = files[0]
        try:
            await asyncio.to_thread(ctx.app.core.brand.set_logo, upload.data, upload.filename,
                                    actor=actor(ctx.operator.name))
        except LimitExceeded:
            error = ctx._("%(file)s is too large: a logo may have at most %(kilobytes)d KB. Nothing is stored.",
                          file=upload.filename, kilobytes=brandrules.MAX_LOGO_BYTES // 1024)
        except InvalidInput:
            error = ctx._("%(file)s is not a JPEG, PNG, WebP or HEIC picture (SVG is not taken). Nothing is stored.",
                          file=upload.filename)
    if error:
        return _page(ctx, 400, logo_error=error)
    return _page(ctx, saved=ctx._("The logo is saved: every page shows it now."))


async def remove_logo(ctx: Context) -> Response:
    await asyncio.to_thread(ctx.app.core.brand.remove_logo, actor=actor(ctx.operator.name))
    return _page(ctx, saved=ctx._("The uploaded logo is removed."))
