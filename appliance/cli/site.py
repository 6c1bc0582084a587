"""``appliance site upload|download|show ...``: a business's website
(``appliance.services.sites``).

``upload`` reads a directory or a zip archive whole and refuses anything
that could reach outside the site or blow up on the way in, then publishes
it as one new version: a refusal changes nothing, and visitors see the old
version or the new one.

The site builder's commands (``init``, ``page``, ``build``...) are added to
the same ``site`` command by :mod:`.sitebuilder`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.services import siteupload

from . import sitebuilder
from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("site", help="websites")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = actions.add_parser("upload", help="publish a directory or zip archive as the business's website")
    a.add_argument("slug")
    a.add_argument("source", metavar="DIR|ZIP")
    add_json(a)
    a.set_defaults(handler=_upload)

    a = actions.add_parser("download", help="save the published website as a zip archive")
    a.add_argument("slug")
    a.add_argument("target", metavar="ZIP")
    add_json(a)
    a.set_defaults(handler=_download)

    a = actions.add_parser("show", help="the published version, its files and the web space used")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(ctx.core.sites.summary(ctx.args.slug), _plain_show))

    sitebuilder.register(actions)


def _upload(ctx) -> None:
    ctx.emit(
        ctx.core.sites.upload(ctx.args.slug, ctx.args.source, actor=ctx.actor),
        lambda r: f"published {r['slug']} version {r['version']}: {r['files']} files, {r['bytes']} bytes",
    )


def _download(ctx) -> None:
    slug = ctx.args.slug
    files = ctx.core.sites.files(slug)
    target = Path(ctx.args.target)
    siteupload.write_zip(files, target)
    ctx.emit(
        {"slug": slug.strip(), "file": str(target), "files": len(files), "bytes": sum(map(len, files.values()))},
        lambda r: f"saved {r['files']} files ({r['bytes']} bytes) to {r['file']}",
    )


def _plain_show(s: dict) -> str:
    if not s["version"]:
        return f"no website published (web space {s['limit_bytes']} bytes)"
    head = (
        f"version {s['version']} published {s['published']} ({s['source']}): {len(s['files'])} files,"
        f" {s['bytes']} of {s['limit_bytes']} bytes"
    )
    return head + "\n" + table(s["files"], ("path", "bytes", "gzip_bytes", "type"))
