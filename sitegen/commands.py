"""``appliance site ...``: the site builder's commands.

:func:`register` adds the builder's actions to the subparsers of the ``site``
command (which ``appliance.cli.site`` creates, next to upload and download):

* ``themes`` - the themes there are;
* ``init SLUG --theme NAME [--name TEXT]`` - start a site with a home page;
* ``theme SLUG NAME`` - switch theme;
* ``profile SLUG [--set KEY=VALUE ...] [--logo FILE]`` - show or change the
  business profile (name, tagline, colours, address, phone, ...);
* ``page add|edit SLUG PAGE [FILE]`` (the text from FILE, or from standard
  input when FILE is ``-`` or left out), ``page show|remove SLUG PAGE``,
  ``page list SLUG``;
* ``nav SLUG [PAGE ...]`` - show, or set, which pages the menu lists in
  which order;
* ``image add SLUG FILE [--name NAME]``, ``image list SLUG``,
  ``image remove SLUG NAME``;
* ``build SLUG`` - render every page and publish the result atomically.

Listings take ``--json``. Bad input is one line naming what is wrong, and
changes nothing.
"""

from __future__ import annotations

import argparse
import datetime
import sqlite3
import sys
from pathlib import Path
from typing import Any, BinaryIO

from appliance.cli.common import add_json, table
from storage.errors import InvalidInput, LimitExceeded, NotFound
from storage import directory, sites
from storage import sitegen as store

from . import build as builder
from . import images, model, render

#: The starter home page ``site init`` writes; the owner replaces it.
STARTER_HOME = """---
title: Home
---
::: heading
Welcome
{lead}
:::

Write here what your business does, for whom, and why people like it.
A blank line starts a new paragraph; **two stars** make text bold, and
lines that start with "- " make a list.

::: contact
:::
"""


def register(actions: argparse._SubParsersAction) -> None:
    """Add the builder's actions to the ``site`` command's ``actions``."""
    a = actions.add_parser("themes", help="the themes a site can use")
    add_json(a)
    a.set_defaults(handler=_themes)

    a = actions.add_parser("init", help="start a business's site with a theme and a home page")
    a.add_argument("slug")
    a.add_argument("--theme", required=True, help="theme name (see 'appliance site themes')")
    a.add_argument("--name", help="the business name the site shows (default: the business's display name)")
    a.set_defaults(handler=_init)

    a = actions.add_parser("theme", help="switch the site to another theme")
    a.add_argument("slug")
    a.add_argument("theme")
    a.set_defaults(handler=_set_theme)

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
    a = pages.add_parser("remove", help="remove a page")
    a.add_argument("slug")
    a.add_argument("page")
    a.set_defaults(handler=_page_remove)
    a = pages.add_parser("list", help="pages in menu order")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=_page_list)

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
    a.add_argument("--name", help="the name pages use (default: the file's name, lower-cased)")
    a.set_defaults(handler=_image_add)
    a = imgs.add_parser("list", help="stored pictures")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=_image_list)
    a = imgs.add_parser("remove", help="remove a picture no page uses")
    a.add_argument("slug")
    a.add_argument("name")
    a.set_defaults(handler=_image_remove)

    a = actions.add_parser("build", help="render the site from its pages and publish it")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=_build)


# -- helpers -----------------------------------------------------------------------------


def _read(path: str, limit: int, what: str, stdin: BinaryIO | None = None) -> bytes:
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


def _check_images(conn: sqlite3.Connection, page: model.Page) -> None:
    stored = {r["name"] for r in store.list_images(conn)}
    for file in sorted(page.images() - stored):
        raise NotFound(f"page {page.name} shows image {file}, which is not stored; add it with 'appliance site image add'")


def _page_rows(conn: sqlite3.Connection) -> list[dict]:
    rows = []
    for row in store.list_pages(conn):
        try:
            page = model.parse_page(row["name"], row["source"])
            title, menu = page.title, page.menu
        except InvalidInput:
            title = menu = "(needs fixing)"
        rows.append({
            "name": row["name"], "title": title, "menu": menu, "nav": row["nav"],
            "path": model.page_path(row["name"]), "bytes": len(row["source"].encode()), "updated": row["updated"],
        })
    return rows


# -- handlers -----------------------------------------------------------------------------


def _themes(ctx) -> None:
    rows = [{"name": t.name, "title": t.title, "description": t.description} for t in render.themes().values()]
    ctx.emit(rows, lambda r: table(r, ("name", "description")))


def _init(ctx) -> None:
    start_site(ctx.app.provisioning.handle(ctx.args.slug), ctx.args.theme, ctx.args.name)


def start_site(handle: Any, theme_name: str, name: str | None = None) -> None:
    """Start the site of the business behind ``handle``: ``theme_name``, a
    profile named ``name`` (default: the business's name) and a starter home
    page. Conflict when it already has a site."""
    theme = render.theme(theme_name)

    def init(conn: sqlite3.Connection) -> None:
        profile = model.set_profile(model.Profile(name="-"), {"name": name if name is not None else directory.get_tenant(conn).name})
        lead = "Tell visitors in one or two sentences what you do and for whom."
        store.init_site(conn, theme.name, profile.to_dict(), {model.HOME: STARTER_HOME.format(lead=lead)})

    handle.write_sync("site init", init)


def _set_theme(ctx) -> None:
    theme = render.theme(ctx.args.theme)
    ctx.app.provisioning.handle(ctx.args.slug).write_sync("site theme", lambda c: store.set_theme(c, theme.name))


def _profile(ctx) -> None:
    changes: dict[str, str] = {}
    for item in ctx.args.changes:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"--set {item!r}: write KEY=VALUE, e.g. --set phone='+49 30 1234567'")
        changes[key.strip().lower()] = value
    logo = None
    if ctx.args.logo:
        data = _read(ctx.args.logo, images.MAX_IMAGE_BYTES, "image")
        info = images.inspect(data, ctx.args.logo)
        logo = (f"logo.{images.EXTENSIONS[info.type][0]}", info, data)
        changes["logo"] = logo[0]
    handle = ctx.app.provisioning.handle(ctx.args.slug)

    def change(conn: sqlite3.Connection) -> dict:
        old_logo = store.get_profile(conn).get("logo") or ""
        profile = model.set_profile(model.Profile.from_dict(store.get_profile(conn)), changes)
        if logo is not None:
            name, info, data = logo
            limit = directory.get_tenant(conn).plan.web_bytes
            store.put_image(conn, name, info.type, info.width, info.height, data, limit_bytes=limit)
        store.set_profile(conn, profile.to_dict())
        # A logo of another type has another name: the one it replaces goes,
        # unless a page shows it too (it was added under that name).
        if logo is not None and old_logo.startswith("logo.") and old_logo != logo[0] and not _used_by(conn, old_logo):
            store.remove_image(conn, old_logo, [])
        return profile.to_dict()

    if changes:
        profile = handle.write_sync("site profile", change)
    else:
        profile = handle.read_sync("site profile", store.get_profile)
    ctx.emit(profile, lambda p: "\n".join(f"{k}: {p.get(k) or '-'}" for k in model.PROFILE_KEYS))


def _page_put(ctx) -> None:
    name = model.page_name(ctx.args.page)
    source = _text(_read(ctx.args.file, model.MAX_PAGE_BYTES, "page"), ctx.args.file)
    page = model.parse_page(name, source)

    def put(conn: sqlite3.Connection) -> None:
        _check_images(conn, page)
        store.put_page(conn, name, source, create=ctx.args.create)

    ctx.app.provisioning.handle(ctx.args.slug).write_sync("site page", put)


def _page_show(ctx) -> None:
    name = model.page_name(ctx.args.page)
    source = ctx.app.provisioning.handle(ctx.args.slug).read_sync("site page", lambda c: store.get_page(c, name))
    sys.stdout.write(source if source.endswith("\n") else source + "\n")


def _page_remove(ctx) -> None:
    name = model.page_name(ctx.args.page)
    ctx.app.provisioning.handle(ctx.args.slug).write_sync("site page remove", lambda c: store.remove_page(c, name))


def _page_list(ctx) -> None:
    rows = ctx.app.provisioning.handle(ctx.args.slug).read_sync("site pages", _page_rows)
    ctx.emit(rows, lambda r: table(r, ("name", "title", "nav", "path", "updated")))


def _nav(ctx) -> None:
    handle = ctx.app.provisioning.handle(ctx.args.slug)
    if ctx.args.pages:
        wanted = [model.page_name(p) for p in ctx.args.pages]
        handle.write_sync("site nav", lambda c: store.set_nav(c, wanted))
    rows = [r for r in handle.read_sync("site pages", _page_rows) if r["nav"] is not None]
    ctx.emit(
        [{"name": r["name"], "menu": r["menu"], "path": r["path"]} for r in rows],
        lambda rs: "\n".join(f"{i}. {r['menu']} ({r['path']})" for i, r in enumerate(rs, 1)) or "(the menu is empty)",
    )


def _image_add(ctx) -> None:
    name = images.name(ctx.args.name or Path(ctx.args.file).name)
    data = _read(ctx.args.file, images.MAX_IMAGE_BYTES, "image")
    info = images.inspect(data, ctx.args.file)
    if not images.matches_name(info, name):
        raise InvalidInput(f"{ctx.args.file} is a {info.type} image; name it .{images.EXTENSIONS[info.type][0]}")

    def add(conn: sqlite3.Connection) -> None:
        limit = directory.get_tenant(conn).plan.web_bytes
        store.put_image(conn, name, info.type, info.width, info.height, data, limit_bytes=limit)

    ctx.app.provisioning.handle(ctx.args.slug).write_sync("site image", add)


def _image_list(ctx) -> None:
    rows = ctx.app.provisioning.handle(ctx.args.slug).read_sync("site images", store.list_images)
    ctx.emit(rows, lambda r: table(r, ("name", "type", "width", "height", "bytes")))


def _image_remove(ctx) -> None:
    name = images.name(ctx.args.name)

    def remove(conn: sqlite3.Connection) -> None:
        store.remove_image(conn, name, _used_by(conn, name))

    ctx.app.provisioning.handle(ctx.args.slug).write_sync("site image remove", remove)


def _used_by(conn: sqlite3.Connection, name: str) -> list[str]:
    """What shows image ``name``: "the logo" and "page X" for each page."""
    used_by = []
    if store.get_profile(conn).get("logo") == name:
        used_by.append("the logo")
    for row in store.list_pages(conn):
        try:
            if name in model.parse_page(row["name"], row["source"]).images():
                used_by.append(f"page {row['name']}")
        except InvalidInput:
            if name in row["source"]:
                used_by.append(f"page {row['name']}")
    return used_by


def _site_address(domains: list[dict]) -> str:
    """The site's canonical address: its own domain if it has one, else the free one."""
    own = [d["name"] for d in domains if d["kind"] == "own"]
    free = [d["name"] for d in domains if d["kind"] == "free"]
    return f"https://{(own or free)[0]}"


def _build(ctx) -> None:
    result = build_site(ctx.app.provisioning.handle(ctx.args.slug))
    ctx.emit(result, lambda r: f"published version {r['version']}: {r['files']} files, {r['bytes']} bytes, {r['url']}")


def build_site(handle: Any) -> dict:
    """Render the site of the business behind ``handle`` and publish it
    atomically within its plan's web space; returns version, files, bytes, url."""
    src, tenant, domains = handle.read_sync(
        "site sources", lambda c: (store.sources(c), directory.get_tenant(c), directory.list_domains(c))
    )
    base_url = _site_address(domains)
    files = builder.build(src, base_url=base_url, year=datetime.date.today().year)

    def publish(conn: sqlite3.Connection) -> int:
        version = sites.publish(conn, files, limit_bytes=tenant.plan.web_bytes, source="builder")
        store.mark_built(conn, version)
        return version

    version = handle.write_sync("site build", publish)
    return {"version": version, "files": len(files), "bytes": sum(len(b) for b in files.values()), "url": base_url + "/"}
