"""A ready-made website instead of the builder: the owner uploads a zip
archive of the site (made with any tool), and it is published as it is.

The archive comes as ``multipart/form-data`` (``rights.UPLOADS`` bounds the
request; a larger one is not read, and this page says so) and goes to the sites service's ``upload`` on a thread, the one
the CLI's ``appliance site upload`` calls: every check on the archive
(paths, links, sizes, zip bombs, the plan's web space) is made there,
before anything is stored. The builder's pages stay as they were (pages
removed from the draft stay restorable); publishing them from the website
page switches the site back.
"""

from __future__ import annotations

import asyncio
import io
import logging

from appliance.errors import InvalidInput, LimitExceeded, NotFound

from . import rights
from .account import _size
from .core import Context, Response

log = logging.getLogger(__name__)

#: The route and the field of the form that carries the archive.
ROUTE = "/website/upload"
FIELD = "site"


async def _page(ctx: Context, status: int = 200, *, error: str = "", detail: str = "", notice: str = "") -> Response:
    slug = ctx.session.slug
    overview = await asyncio.to_thread(ctx.app.core.site_builder.overview, slug)
    used, limit = overview.published_bytes, overview.limit_bytes
    percent = min(100, round(100 * used / limit)) if limit else 100
    live = next((v for v in overview.versions if v["live"]), None)
    return ctx.render("website_upload.html", status, path="/website", site=overview,
                      uploaded=bool(live and live["source"] == "upload"), used=_size(ctx, used),
                      limit=_size(ctx, limit), percent=percent,
                      max_size=_size(ctx, rights.UPLOADS[ROUTE].max_bytes),
                      error=error, detail=detail, notice=notice)


async def form(ctx: Context) -> Response:
    return await _page(ctx)


async def upload(ctx: Context) -> Response:
    if ctx.request.too_large:
        # Refused unread by the web server (``rights.UPLOADS`` limit): this
        # page only says so, beside the field.
        return await _page(ctx, 413, error=ctx._(
            "The file is larger than the %(size)s the panel accepts. Nothing is stored.",
            size=_size(ctx, rights.UPLOADS[ROUTE].max_bytes)))
    files = ctx.request.files.get(FIELD, [])
    if len(files) != 1 or not files[0].data:
        return await _page(ctx, 400, error=ctx._("Choose the zip archive of your site."))
    archive = files[0]
    slug = ctx.session.slug
    try:
        published = await asyncio.to_thread(ctx.app.core.sites.upload, slug, io.BytesIO(archive.data),
                                            actor=ctx.session.address)
    except LimitExceeded as exc:
        limit = await asyncio.to_thread(ctx.app.core.sites.web_space, slug)
        return await _page(ctx, 400, error=ctx._(
            "The site in this archive does not fit in the %(limit)s of web space in your plan, or has too many files. Nothing is stored.",
            limit=_size(ctx, limit)), detail=str(exc))
    except (InvalidInput, NotFound) as exc:
        return await _page(ctx, 400, error=ctx._(
            "%(file)s is not a zip archive of a website we can publish. Nothing is stored.",
            file=archive.filename or "?"), detail=str(exc))
    ctx.panel.site_published(slug)
    log.info("%s: %s uploaded the site of %s, version %d", ctx.request.peer, ctx.session.address, slug,
             published.version)
    return await _page(ctx, notice=ctx._("Published: version %(version)d is on your site now.",
                                         version=published.version))
