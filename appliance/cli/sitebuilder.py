"""``appliance site ...``: the site builder's commands
(``appliance.services.sitebuilder``).

:func:`register` adds the builder's actions to the subparsers of the ``site``
command (which :mod:`.site` creates, next to upload and download):

* ``themes`` - the themes there are;
* ``init SLUG --theme NAME [--name TEXT]`` - start a site with a home page;
* ``theme SLUG NAME`` - switch theme;
* ``profile SLUG [--set KEY=VALUE ...] [--logo FILE]`` - show or change the
  business profile (name, tagline, colours, address, phone, ...);
* ``page add|edit SLUG PAGE [FILE]`` (the text from FILE, or from standard
  input when FILE is ``-`` or left out), ``page show|remove SLUG PAGE``,
  ``page restore SLUG PAGE`` (a page removed since the last build),
  ``page list SLUG``;
* ``nav SLUG [PAGE ...]`` - show, or set, which pages the menu lists in
  which order;
* ``image add SLUG FILE [--name NAME] [--alt TEXT]`` (made as the panel's
  picture library makes a photo: resized, re-encoded, its EXIF and GPS
  position removed), ``image list SLUG``, ``image remove SLUG NAME``;
* ``build SLUG`` - render every page and publish the result atomically.

Listings take ``--json``. Bad input is one line naming what is wrong, and
changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import BinaryIO

from appliance.errors import InvalidInput, LimitExceeded
from appliance.services.imagelibrary import Upload
from sitegen import images, model, photos

from .common import add_json, table


def register(actions: argparse._SubParsersAction) -> None:
    """Add the builder's actions to the ``site`` command's ``actions``."""
    a = actions.add_parser("themes", help="the themes a site can use")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.site_builder.themes(), lambda r: table(r, ("name", "description"))
    ))

    a = actions.add_parser("init", help="start a business's site with a theme and a home page")
    a.add_argument("slug")
    a.add_argument("--theme", required=True, help="theme name (see 'appliance site themes')")
    a.add_argument("--name", help="the business name the site shows (default: the business's display name)")
    a.set_defaults(handler=lambda ctx: ctx.core.site_builder.start(
        ctx.args.slug, ctx.args.theme, ctx.args.name, actor=ctx.actor
    ))

    a = actions.add_parser("theme", help="switch the site to another theme")
    a.add_argument("slug")
    a.add_argument("theme")
    a.set_defaults(handler=lambda ctx: ctx.core.site_builder.set_theme(ctx.args.slug, ctx.args.theme, actor=ctx.actor))

    a = actions.add_parser("profile", help="show or change the business profile the site shows")
    a.add_argument("slug")
    a.add_argument(
        "--set", dest="changes", action="append", default=[], metavar="KEY=VALUE",
        help=f"set a key ({', '.join(model.PROFILE_KEYS)}); an empty value clears it; hours and address lines are separated by ';'",
    )
    a.add_argument("--logo", metavar="FILE", help="a PNG, JPEG, GIF or WebP picture for the logo")
    add_json(a)
    a.set_defaults(handler=_profile)

    page = actions.add_parser("page", help="pages of the site: add, edit, show, remove, list")
    pages = page.add_subparsers(dest="page_action", metavar="ACTION", required=True)
    for verb, text in (("add", "add a page"), ("edit", "replace a page's text")):
        a = pages.add_parser(verb, help=f"{text}, from FILE or standard input")
        a.add_argument("slug")
        a.add_argument("page", help="the page's name, e.g. home, prices, contact")
        a.add_argument("file", nargs="?", default="-", help="the page's text; '-' or nothing reads standard input")
        a.set_defaults(handler=_page_put, create=verb == "add")
    a = pages.add_parser("show", help="print a page's text (to edit it and 'page edit' it back)")
    a.add_argument("slug")
    a.add_argument("page")
    a.set_defaults(handler=_page_show)
    a = pages.add_parser("remove", help="remove a page (it can be restored until the next build)")
    a.add_argument("slug")
    a.add_argument("page")
    a.set_defaults(handler=lambda ctx: ctx.core.site_builder.remove_page(ctx.args.slug, ctx.args.page, actor=ctx.actor))
    a = pages.add_parser("restore", help="put back a page removed since the last build")
    a.add_argument("slug")
    a.add_argument("page")
    a.set_defaults(handler=lambda ctx: ctx.core.site_builder.restore_page(ctx.args.slug, ctx.args.page, actor=ctx.actor))
    a = pages.add_parser("list", help="pages in menu order")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.site_builder.pages(ctx.args.slug), lambda r: table(r, ("name", "title", "nav", "path", "updated"))
    ))

    a = actions.add_parser("nav", help="show the menu, or set it to PAGE... in that order")
    a.add_argument("slug")
    a.add_argument("pages", nargs="*", metavar="PAGE")
    add_json(a)
    a.set_defaults(handler=_nav)

    image = actions.add_parser("image", help="pictures pages can show: add, list, remove")
    imgs = image.add_subparsers(dest="image_action", metavar="ACTION", required=True)
    a = imgs.add_parser("add", help="store a picture (or replace one of the same name)")
    a.add_argument("slug")
    a.add_argument("file")
    a.add_argument("--name", help="the name pages use (default: the file's name, lower-cased, with the"
                   " extension of the picture made: a HEIC becomes a .jpg)")
    a.add_argument("--alt", help="what the picture shows, for people who cannot see it")
    a.set_defaults(handler=_image_add)
    a = imgs.add_parser("list", help="stored pictures")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.site_builder.images(ctx.args.slug), lambda r: table(r, ("name", "type", "width", "height", "bytes"))
    ))
    a = imgs.add_parser("remove", help="remove a picture no page uses")
    a.add_argument("slug")
    a.add_argument("name")
    a.set_defaults(handler=lambda ctx: ctx.core.site_builder.remove_image(ctx.args.slug, ctx.args.name, actor=ctx.actor))

    a = actions.add_parser("build", help="render the site from its pages and publish it")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.site_builder.build(ctx.args.slug, actor=ctx.actor),
        lambda r: f"published version {r['version']}: {r['files']} files, {r['bytes']} bytes, {r['url']}",
    ))


def read_input(path: str, limit: int, what: str, stdin: BinaryIO | None = None) -> bytes:
    """At most ``limit`` bytes of ``path`` ('-' is standard input); more is an error."""
    try:
        if path == "-":
            data = (stdin or sys.stdin.buffer).read(limit + 1)
        else:
            with open(path, "rb") as fh:
                data = fh.read(limit + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise LimitExceeded(f"{what} {path} is larger than {limit // 1024} KiB")
    return data


def _text(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text") from None


def _profile(ctx) -> None:
    changes: dict[str, str] = {}
    for item in ctx.args.changes:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--set {item!r}: write KEY=VALUE, e.g. --set phone='+49 30 1234567'")
        changes[key.strip().lower()] = value
    logo = read_input(ctx.args.logo, images.MAX_IMAGE_BYTES, "image") if ctx.args.logo else None
    profile = ctx.core.site_builder.change_profile(
        ctx.args.slug, changes, logo, ctx.args.logo or "logo", actor=ctx.actor
    )
    ctx.emit(profile, lambda p: "\n".join(f"{k}: {p.get(k) or '-'}" for k in model.PROFILE_KEYS))


def _page_put(ctx) -> None:
    name = model.page_name(ctx.args.page)
    source = _text(read_input(ctx.args.file, model.MAX_PAGE_BYTES, "page"), ctx.args.file)
    ctx.core.site_builder.put_page(ctx.args.slug, name, source, create=ctx.args.create, actor=ctx.actor)


def _page_show(ctx) -> None:
    source = ctx.core.site_builder.page(ctx.args.slug, ctx.args.page)
    sys.stdout.write(source if source.endswith("\n") else source + "\n")


def _nav(ctx) -> None:
    builder = ctx.core.site_builder
    if ctx.args.pages:
        menu = builder.set_menu(ctx.args.slug, ctx.args.pages, actor=ctx.actor)
    else:
        menu = builder.menu(ctx.args.slug)
    ctx.emit(
        menu,
        lambda rs: "\n".join(f"{i}. {r['menu']} ({r['path']})" for i, r in enumerate(rs, 1)) or "(the menu is empty)",
    )


def _image_add(ctx) -> None:
    # The name is checked before the file is read, as it always was.
    name = images.name(ctx.args.name) if ctx.args.name else None
    data = read_input(ctx.args.file, photos.MAX_UPLOAD_BYTES, "image")
    # The panel's library makes the picture: resized, re-encoded, no EXIF.
    upload = Upload(Path(ctx.args.file).name, data, ctx.args.alt or "")
    ctx.core.image_library.put(ctx.args.slug, upload, name, actor=ctx.actor)
