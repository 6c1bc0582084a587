"""The website's image library in the owner's editor: upload pictures
(several at once, each with what it shows), see each one with its size and
the space it takes, change its alt text, remove it (refused while the site
shows it, naming where).

Uploads come as ``multipart/form-data`` (a plain ``<input type=file
multiple>``; ``rights.UPLOADS`` bounds the request); the pictures are
processed by the image library service on a thread (Pillow: resizing,
re-encoding, metadata removed), which stores all or nothing. A picture the
owner's own library does not have is the panel's 404.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from appliance.services.imagelibrary import MAX_ALT, MAX_FILES, PictureRefused, Upload
from sitegen import photos

from . import website, website_forms
from . import website_image_forms as forms
from .account import _size
from .core import Context, Response

log = logging.getLogger(__name__)

#: The field of the upload form that carries the pictures.
FILES_FIELD = "pictures"


def _library(ctx: Context) -> Any:
    return ctx.app.core.image_library


async def _call(method, *args: Any, **kw: Any) -> Any:
    return await asyncio.to_thread(method, *args, **kw)


def where_used(ctx: Context, used_by: list[str]) -> str:
    """What shows a picture ("the logo", "page X"), in the user's language."""
    shown = [ctx._("the logo") if u == "the logo" else ctx._("page %(name)s", name=u.removeprefix("page "))
             for u in used_by]
    return ", ".join(shown)


async def _page(ctx: Context, status: int = 200, *, form=None, file_errors: list[str] | None = None,
                notice: str = "", problem: str = "", detail: str = "") -> Response:
    slug = ctx.session.slug
    try:
        pictures = await _call(_library(ctx).pictures, slug)
    except NotFound:
        return ctx.redirect("/website")
    overview = await _call(ctx.app.core.site_builder.overview, slug)
    used = overview.published_bytes + overview.image_bytes
    limit = overview.limit_bytes
    percent = min(100, round(100 * used / limit)) if limit else 100
    rows = [(p, _size(ctx, p.bytes), where_used(ctx, p.used_by)) for p in pictures]
    return ctx.render("website_images.html", status, path="/website", pictures=rows,
                      form=form or forms.upload(ctx._), file_errors=file_errors or [],
                      images_size=_size(ctx, overview.image_bytes), site_size=_size(ctx, overview.published_bytes),
                      limit=_size(ctx, limit), percent=percent, max_files=MAX_FILES,
                      max_megabytes=photos.MAX_UPLOAD_BYTES // (1024 * 1024),
                      notice=notice, problem=problem, detail=detail)


async def library(ctx: Context) -> Response:
    return await _page(ctx)


async def upload(ctx: Context) -> Response:
    form = forms.upload(ctx._, ctx.form_data())
    files = sorted(ctx.request.files.get(FILES_FIELD, []), key=lambda u: u.filename.lower())
    if not files:
        form.validate()
        return await _page(ctx, 400, form=form, file_errors=[ctx._("Choose at least one picture.")])
    if not form.validate():
        return await _page(ctx, 400, form=form)
    alts = [line.strip() for line in (form.alts.data or "").splitlines() if line.strip()]
    if len(alts) != len(files):
        form.alts.errors.append(ctx._("You chose %(files)d pictures and wrote %(lines)d descriptions: write one line for each picture.",
                                      files=len(files), lines=len(alts)))
        return await _page(ctx, 400, form=form)
    if any(len(a) > MAX_ALT for a in alts):
        form.alts.errors.append(ctx._("Each description may have at most %(max)d characters.", max=MAX_ALT))
        return await _page(ctx, 400, form=form)
    uploads = [Upload(f.filename, f.data, a) for f, a in zip(files, alts)]
    try:
        names = await _call(_library(ctx).add, ctx.session.slug, uploads, actor=ctx.session.address)
    except NotFound:
        return ctx.redirect("/website")
    except PictureRefused as exc:
        if exc.limit:
            message = ctx._("%(file)s is too large: a picture may have at most %(megabytes)d MB and %(pixels)d million pixels. Nothing is stored.",
                            file=exc.filename, megabytes=photos.MAX_UPLOAD_BYTES // (1024 * 1024),
                            pixels=photos.MAX_PIXELS // 1_000_000)
        else:
            message = ctx._("%(file)s is not a JPEG, PNG, WebP or HEIC picture. Nothing is stored.", file=exc.filename)
        return await _page(ctx, 400, form=form, file_errors=[message])
    except LimitExceeded as exc:
        return await _page(ctx, 400, form=form, file_errors=[
            ctx._("The pictures do not fit in your plan's web space (or your library is full). Nothing is stored.")],
            detail=str(exc))
    except InvalidInput as exc:
        return await _page(ctx, 400, form=form, file_errors=[ctx._("The pictures cannot be added. Nothing is stored.")],
                           detail=str(exc))
    log.info("%s: %s added %d pictures to the library of %s", ctx.request.peer, ctx.session.address,
             len(names), ctx.session.slug)
    return await _page(ctx, notice=ctx._("Added to your library: %(names)s.", names=", ".join(names)))


async def _own(ctx: Context) -> Any:
    """The owner's own picture ``{image}``, or None."""
    try:
        return await _call(_library(ctx).picture, ctx.session.slug, ctx.params["image"])
    except (NotFound, InvalidInput):
        return None


async def _file(ctx: Context, phone: bool) -> Response:
    try:
        ctype, data = await _call(_library(ctx).file, ctx.session.slug, ctx.params["image"], phone)
    except (NotFound, InvalidInput):
        return ctx.not_found()
    return Response(200, data, ctype, [("Cache-Control", "private, no-cache")])


async def file(ctx: Context) -> Response:
    """The picture as stored (its large variant)."""
    return await _file(ctx, False)


async def phone_file(ctx: Context) -> Response:
    """The picture's phone variant (the library's thumbnails)."""
    return await _file(ctx, True)


async def set_alt(ctx: Context) -> Response:
    picture = await _own(ctx)
    if picture is None:
        return ctx.not_found()
    form = forms.alt(ctx._, ctx.form_data())
    if not form.validate():
        return await _page(ctx, 400, problem=ctx._("%(name)s: %(error)s", name=picture.name, error=form.alt.errors[0]))
    try:
        await _call(_library(ctx).set_alt, ctx.session.slug, picture.name, form.alt.data, actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    except InvalidInput:
        return await _page(ctx, 400, problem=ctx._("%(name)s: describe the picture in one line.", name=picture.name))
    return await _page(ctx, notice=ctx._("Saved the description of %(name)s.", name=picture.name))


async def remove(ctx: Context) -> Response:
    picture = await _own(ctx)
    if picture is None:
        return ctx.not_found()
    try:
        await _call(_library(ctx).remove, ctx.session.slug, picture.name, actor=ctx.session.address)
    except NotFound:
        return ctx.not_found()
    except Conflict:
        return await _page(ctx, 409, problem=ctx._("%(name)s is still shown on your site (%(where)s): take it off there first.",
                                                   name=picture.name, where=where_used(ctx, picture.used_by)))
    return await _page(ctx, notice=ctx._("Removed %(name)s from your library.", name=picture.name))


async def logo(ctx: Context) -> Response:
    """The business profile's logo: one picture, made a PNG of at most
    ``sitegen.photos.LOGO`` pixels by the site builder."""
    slug = ctx.session.slug
    files = ctx.request.files.get("logo", [])
    error = ""
    if len(files) != 1:
        error = ctx._("Choose a picture.")
    else:
        try:
            await _call(ctx.app.core.site_builder.set_logo, slug, files[0].data, files[0].filename,
                        actor=ctx.session.address)
        except NotFound:
            return ctx.redirect("/website")
        except LimitExceeded:
            error = ctx._("The logo is too large for a picture or for your plan's web space. Nothing is stored.")
        except InvalidInput:
            error = ctx._("%(file)s is not a JPEG, PNG, WebP or HEIC picture. Nothing is stored.", file=files[0].filename)
    try:
        values = await _call(ctx.app.core.site_builder.profile, slug)
    except NotFound:
        return ctx.redirect("/website")
    return website.profile_view(ctx, website_forms.profile(ctx._, values=values), 400 if error else 200,
                                logo=values.get("logo") or "", logo_error=error, logo_saved=not error)
