"""The site builder's sources: theme, business profile, pages of blocks,
pictures and menu, and building them into the published website.

The builder itself (themes, page model, rendering) is :mod:`sitegen`; this
service checks what the owner gives it with that model, keeps the sources
in the business's file (``storage.sitegen``) and publishes builds.
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping

from sitegen import build as builder
from sitegen import images, model, photos, render
from storage import directory, sites
from storage import sitegen as store

from ..errors import Conflict, InvalidInput, LimitExceeded, NotFound
from .base import Stores
from .contactform import business_addresses
from .draftcache import DraftCache
from .imagelibrary import used_by

#: The starter home page ``start`` writes; the owner replaces it.
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
STARTER_LEAD = "Tell visitors in one or two sentences what you do and for whom."


@dataclass(frozen=True)
class Theme:
    name: str
    title: str
    description: str


@dataclass(frozen=True)
class PageInfo:
    name: str
    title: str
    menu: str
    nav: int | None  # place in the menu (None: not in it)
    path: str
    bytes: int
    updated: str


@dataclass(frozen=True)
class Overview:
    """The site at a glance, for its editor: whether it is started, its
    theme, its pages (in menu order), what is published and the web space."""

    started: bool
    theme: str | None
    pages: list[PageInfo]
    published_version: int  # 0: nothing published
    published: str | None
    published_bytes: int
    image_bytes: int
    limit_bytes: int
    address: str  # where the site is served, e.g. https://bakery.example
    versions: list[dict]  # kept published versions, newest first (storage.sites.versions)


@dataclass(frozen=True)
class RemovedPage:
    """A page removed since the last build, which can be restored."""

    name: str
    title: str
    removed: str


@dataclass(frozen=True)
class PageText:
    """One page as its editor shows it: name, title, menu label,
    description and the body (the blocks, in the page format)."""

    name: str
    title: str
    menu: str
    description: str
    body: str
    in_menu: bool
    blocks: tuple  # sitegen.model blocks, in page order


@dataclass(frozen=True)
class MenuItem:
    name: str
    menu: str
    path: str


@dataclass(frozen=True)
class Built:
    """A build just published."""

    version: int
    files: int
    bytes: int
    url: str

    def as_dict(self) -> dict:
        return asdict(self)


def _title(name: str, source: str) -> str:
    try:
        return model.parse_page(name, source).title
    except InvalidInput:
        return "(needs fixing)"


def _page_rows(conn: sqlite3.Connection) -> list[PageInfo]:
    rows = []
    for row in store.list_pages(conn):
        try:
            page = model.parse_page(row["name"], row["source"])
            title, menu = page.title, page.menu
        except InvalidInput:
            title = menu = "(needs fixing)"
        rows.append(PageInfo(row["name"], title, menu, row["nav"], model.page_path(row["name"]),
                             len(row["source"].encode()), row["updated"]))
    return rows


def _at(blocks: list, index: int, page: str) -> None:
    if not 1 <= index <= len(blocks):
        raise NotFound(f"page {page} has no block {index}")


def _check_images(conn: sqlite3.Connection, page: model.Page) -> None:
    stored = {r["name"] for r in store.list_images(conn)}
    for file in sorted(page.images() - stored):
        raise NotFound(f"page {page.name} shows image {file}, which is not stored; add it with 'appliance site image add'")


def _check_mailboxes(conn: sqlite3.Connection, page: model.Page) -> None:
    """Every contact form of ``page`` sends to an address of this business."""
    forms = [b for b in page.blocks if isinstance(b, model.ContactForm)]
    if forms:
        known = set(business_addresses(conn))
        for form in forms:
            if form.mailbox not in known:
                raise InvalidInput(f"page {page.name}: a contact form sends to {form.mailbox}, "
                                   "which is not an address of this business")


def _image(data: bytes, label: str) -> images.ImageInfo:
    if len(data) > images.MAX_IMAGE_BYTES:
        raise LimitExceeded(f"image {label} is larger than {images.MAX_IMAGE_BYTES // 1024} KiB")
    return images.inspect(data, label)


def site_address(domains: list[dict]) -> str:
    """The site's canonical address: its own domain if it has one, else the free one."""
    own = [d["name"] for d in domains if d["kind"] == "own"]
    free = [d["name"] for d in domains if d["kind"] == "free"]
    return f"https://{(own or free)[0]}"


class SiteBuilder:
    """Every method raises InvalidInput (bad slug or value) and NotFound (no
    such business, or no site yet where one is needed) besides what it
    names; a failure changes nothing."""

    def __init__(self, stores: Stores, drafts: DraftCache | None = None):
        self.stores = stores
        #: The builds :meth:`preview` made lately, by business, theme and draft stamp.
        self.drafts = drafts if drafts is not None else DraftCache()

    def themes(self) -> list[Theme]:
        """The themes a site can use."""
        return [Theme(t.name, t.title, t.description) for t in render.themes().values()]

    def start(self, slug: str, theme: str, name: str | None = None, *, actor: str) -> None:
        """Start the business's site: ``theme``, a profile named ``name``
        (default: the business's display name) and a starter home page.
        Raises Conflict when it already has a site."""
        the_theme = render.theme(theme)

        def init(conn: sqlite3.Connection) -> None:
            shown = name if name is not None else directory.get_tenant(conn).name
            profile = model.set_profile(model.Profile(name="-"), {"name": shown})
            store.init_site(conn, the_theme.name, profile.to_dict(), {model.HOME: STARTER_HOME.format(lead=STARTER_LEAD)})
            directory.audit(conn, actor, "site.init", the_theme.name)

        self.stores.handle(slug).write_sync("site init", init)

    def set_theme(self, slug: str, theme: str, *, actor: str) -> None:
        """Switch the site to ``theme`` (the next build shows it)."""
        the_theme = render.theme(theme)

        def change(conn: sqlite3.Connection) -> None:
            store.set_theme(conn, the_theme.name)
            directory.audit(conn, actor, "site.theme", the_theme.name)

        self.stores.handle(slug).write_sync("site theme", change)

    def profile(self, slug: str) -> dict:
        """The business profile the site shows (keys: ``sitegen.model.PROFILE_KEYS``)."""
        return self.stores.handle(slug).read_sync("site profile", store.get_profile)

    def change_profile(self, slug: str, changes: Mapping[str, str], logo: bytes | None = None,
                       logo_label: str = "logo", *, actor: str) -> dict:
        """Change profile keys (an empty value clears one) and, with
        ``logo``, store that picture as the logo; returns the profile.

        Checks: every key and value (``sitegen.model``); the logo is a PNG,
        JPEG, GIF or WebP of at most 2 MiB and the pictures fit the plan's
        web space. A logo of another type replaces the old logo picture
        unless a page shows that one too. Raises LimitExceeded too.
        """
        changes = {k.strip().lower(): v for k, v in changes.items()}
        new_logo = None
        if logo is not None:
            info = _image(logo, logo_label)
            new_logo = (f"logo.{images.EXTENSIONS[info.type][0]}", info)
            changes["logo"] = new_logo[0]
        handle = self.stores.handle(slug)
        if not changes:
            return self.profile(slug)

        def change(conn: sqlite3.Connection) -> dict:
            old_logo = store.get_profile(conn).get("logo") or ""
            profile = model.set_profile(model.Profile.from_dict(store.get_profile(conn)), changes)
            if new_logo is not None:
                name, info = new_logo
                limit = directory.limits(conn).web_bytes
                store.put_image(conn, name, info.type, info.width, info.height, logo, limit_bytes=limit)
            store.set_profile(conn, profile.to_dict())
            # A logo of another type has another name: the one it replaces goes,
            # unless a page shows it too (it was added under that name).
            if new_logo is not None and old_logo.startswith("logo.") and old_logo != new_logo[0] and not used_by(conn, old_logo):
                store.remove_image(conn, old_logo, [])
            directory.audit(conn, actor, "site.profile", " ".join(sorted(changes)))
            return profile.to_dict()

        return handle.write_sync("site profile", change)

    def set_logo(self, slug: str, data: bytes, filename: str = "logo", *, actor: str) -> dict:
        """Make the picture ``data`` the logo: checked, turned upright,
        resized and converted to PNG by :func:`sitegen.photos.logo` (SVG
        and anything else refused), then stored as :meth:`change_profile`
        stores a logo. Returns the profile. Raises LimitExceeded too.
        CPU-bound: call it off the event loop."""
        png = photos.logo(data, filename)
        return self.change_profile(slug, {}, logo=png.data, logo_label=filename, actor=actor)

    # -- pages -------------------------------------------------------------------------

    def put_page(self, slug: str, page: str, source: str, *, create: bool, actor: str) -> None:
        """Add (``create``) or replace a page's text.

        Checks: the page name; the text parses (``sitegen.model``, at most
        64 KiB); every picture it shows is stored; every contact form sends
        to an address of the business. Raises Conflict (add: it
        exists), NotFound (edit: it does not), LimitExceeded.
        """
        name = model.page_name(page)
        if len(source.encode()) > model.MAX_PAGE_BYTES:
            raise LimitExceeded(f"page {name} is larger than {model.MAX_PAGE_BYTES // 1024} KiB")
        parsed = model.parse_page(name, source)

        def put(conn: sqlite3.Connection) -> None:
            _check_images(conn, parsed)
            _check_mailboxes(conn, parsed)
            store.put_page(conn, name, source, create=create)
            directory.audit(conn, actor, "site.page.add" if create else "site.page.edit", name)

        self.stores.handle(slug).write_sync("site page", put)

    def page(self, slug: str, page: str) -> str:
        """A page's text, as stored."""
        name = model.page_name(page)
        return self.stores.handle(slug).read_sync("site page", lambda c: store.get_page(c, name))

    def remove_page(self, slug: str, page: str, *, actor: str) -> None:
        """Remove a page (and its place in the menu); it can be restored
        (:meth:`restore_page`) until the next :meth:`build`. Raises Conflict
        for the home page, which every site needs.

        Only a build of the draft makes a removal final. Publishing a
        ready-made site (``Sites.upload``) and rolling back to a kept
        version (``Sites.roll_back``) leave the removed pages restorable:
        both change what the site serves, not the draft, and the removed
        pages belong to the draft. An owner who uploads a zip for a while,
        or rolls back to look at last week's site, and then comes back to
        the builder finds the draft as it was, pages to restore included;
        ending the offer there would lose pages the owner may still want."""
        name = model.page_name(page)
        if name == model.HOME:
            raise Conflict("the home page cannot be removed; every site has one")

        def remove(conn: sqlite3.Connection) -> None:
            store.remove_page(conn, name)
            directory.audit(conn, actor, "site.page.remove", name)

        self.stores.handle(slug).write_sync("site page remove", remove)

    def removed_pages(self, slug: str) -> list[RemovedPage]:
        """The pages removed since the last build, the latest first (an
        upload or a roll back does not end the offer: see :meth:`remove_page`)."""

        def read(conn: sqlite3.Connection) -> list[RemovedPage]:
            return [RemovedPage(r["name"], _title(r["name"], r["source"]), r["removed"])
                    for r in store.list_removed(conn)] if store.exists(conn) else []

        return self.stores.handle(slug).read_sync("site removed pages", read)

    def restore_page(self, slug: str, page: str, *, actor: str) -> None:
        """Put a page removed since the last build back as it was (last in
        the menu if it was in it).

        Checks: as :meth:`put_page` (the pictures it shows are still
        stored, its contact forms send to addresses of the business).
        Raises NotFound (no such removed page, or a picture it shows is no
        longer stored), Conflict (a page of that name was added since),
        LimitExceeded (the site has as many pages as it may have)."""
        name = model.page_name(page)

        def restore(conn: sqlite3.Connection) -> None:
            parsed = model.parse_page(name, store.removed_page(conn, name)["source"])
            _check_images(conn, parsed)
            _check_mailboxes(conn, parsed)
            store.restore_page(conn, name)
            directory.audit(conn, actor, "site.page.restore", name)

        self.stores.handle(slug).write_sync("site page restore", restore)

    def overview(self, slug: str) -> Overview:
        """The site at a glance (see :class:`Overview`); ``started`` is
        False, with no pages, before :meth:`start`."""

        def read(conn: sqlite3.Connection) -> Overview:
            limit = directory.limits(conn).web_bytes
            live = sites.summary(conn)
            started = store.exists(conn)
            return Overview(
                started, store.get_theme(conn) if started else None, _page_rows(conn) if started else [],
                live["version"], live["published"], live["bytes"],
                sum(i["bytes"] for i in store.list_images(conn)) if started else 0, limit,
                site_address(directory.list_domains(conn)), sites.versions(conn),
            )

        return self.stores.handle(slug).read_sync("site overview", read)

    def page_text(self, slug: str, page: str) -> PageText:
        """A page split for its editor (see :class:`PageText`). Raises
        NotFound, and InvalidInput when its front matter does not parse
        (it was written elsewhere with a mistake)."""
        name = model.page_name(page)

        def read(conn: sqlite3.Connection) -> PageText:
            source = store.get_page(conn, name)
            nav = next(r["nav"] for r in store.list_pages(conn) if r["name"] == name)
            parsed = model.parse_page(name, source)
            return PageText(name, parsed.title, parsed.menu, parsed.description, model.page_body(name, source),
                            nav is not None, parsed.blocks)

        return self.stores.handle(slug).read_sync("site page text", read)

    def add_page(self, slug: str, page: str, title: str, *, actor: str) -> None:
        """Add an empty page ``page`` titled ``title``, last in the menu.

        Checks: as :meth:`put_page`. Raises Conflict (a page of that name
        exists), LimitExceeded.
        """
        self.put_page(slug, page, model.compose(title, "", "", ""), create=True, actor=actor)

    def edit_page(self, slug: str, page: str, title: str, menu: str, description: str, body: str,
                  *, actor: str) -> None:
        """Replace a page's title, menu label (empty: the title),
        description and body (blocks in the page format).

        Checks: as :meth:`put_page`; a mistake in the body names its line
        counted from the top of the body. Raises NotFound, LimitExceeded.
        """
        model.parse_page(model.page_name(page), body, front_matter=False)
        self.put_page(slug, page, model.compose(title, menu, description, body), create=False, actor=actor)

    def move_page(self, slug: str, page: str, up: bool, *, actor: str) -> None:
        """Move a page one place up (or down) in the menu; at the top (or
        the bottom) it stays. Raises NotFound, and InvalidInput for a page
        that is not in the menu."""
        name = model.page_name(page)

        def change(conn: sqlite3.Connection) -> None:
            rows = store.list_pages(conn)
            if name not in {r["name"] for r in rows}:
                raise NotFound(f"no page {name}")
            order = [r["name"] for r in rows if r["nav"] is not None]
            if name not in order:
                raise InvalidInput(f"page {name} is not in the menu")
            at = order.index(name)
            to = at - 1 if up else at + 1
            if 0 <= to < len(order):
                order[at], order[to] = order[to], order[at]
                store.set_nav(conn, order)
                directory.audit(conn, actor, "site.nav", " ".join(order))

        self.stores.handle(slug).write_sync("site nav move", change)

    def show_in_menu(self, slug: str, page: str, shown: bool, *, actor: str) -> None:
        """Put a page at the end of the menu (``shown``) or take it out of
        the menu (it stays on the site). Raises NotFound."""
        name = model.page_name(page)

        def change(conn: sqlite3.Connection) -> None:
            rows = store.list_pages(conn)
            if name not in {r["name"] for r in rows}:
                raise NotFound(f"no page {name}")
            order = [r["name"] for r in rows if r["nav"] is not None and r["name"] != name]
            if shown:
                order.append(name)
            store.set_nav(conn, order)
            directory.audit(conn, actor, "site.nav", " ".join(order))

        self.stores.handle(slug).write_sync("site nav show", change)

    # -- blocks ------------------------------------------------------------------------

    def page_blocks(self, slug: str, page: str) -> model.Page:
        """A page parsed into its blocks. Raises NotFound, and InvalidInput
        when its text has a mistake (written elsewhere)."""
        name = model.page_name(page)
        return self.stores.handle(slug).read_sync(
            "site page blocks", lambda c: model.parse_page(name, store.get_page(c, name)))

    def put_block(self, slug: str, page: str, index: int | None, kind: str, fields: Mapping[str, str],
                  *, actor: str) -> None:
        """Replace block ``index`` (1 = the first) of a page, or with
        ``index`` None add one at the end, from the values of its form:
        ``title`` and ``lead`` (heading), ``markdown`` (text, contact),
        ``items`` (services: one ``name | price | description`` a line),
        ``file``, ``alt`` and ``caption`` (image: an empty alt is the
        library's), ``files`` (gallery: picture names, one a line, each
        shown with the library's alt text), ``mailbox`` and ``heading``
        (contact-form), the map's and the news posts' fields as
        ``sitegen.model.block_from_fields`` names them (a picture's empty
        alt is the library's).

        Checks: the block as the page format reads it
        (``sitegen.model.block_from_fields``), the page's limits, that a
        contact form's mailbox is an address of the business, and that
        the page written back reads the same. Raises NotFound (no such page
        or block), LimitExceeded.
        """
        if kind in ("image", "gallery", "map", "news"):
            fields = self._with_alts(slug, kind, fields)
        block = model.block_from_fields(kind, fields, model.page_name(page))

        def change(blocks: list) -> list:
            if index is None:
                return blocks + [block]
            _at(blocks, index, page)
            blocks[index - 1] = block
            return blocks

        self._write_blocks(slug, page, "edit" if index else "add", change, actor)

    def _with_alts(self, slug: str, kind: str, fields: Mapping[str, str]) -> dict[str, str]:
        """An image, gallery, map or news block's fields with the library's
        alt texts where the owner gave none."""
        alts = self.stores.handle(slug).read_sync(
            "site image alts", lambda c: {r["name"]: r["alt"] for r in store.list_images(c)})
        fields = dict(fields)
        if kind == "image" and not (fields.get("alt") or "").strip():
            fields["alt"] = alts.get((fields.get("file") or "").strip(), "")
        if kind == "gallery" and "files" in fields:
            chosen = [f.strip() for f in (fields.get("files") or "").split("\n") if f.strip()]
            fields["items"] = "\n".join(f"{f} | {alts.get(f, '')}" for f in chosen)
        for key in list(fields):
            if (kind == "map" and key == "image") or (kind == "news" and key.endswith("-image")):
                alt = key[:-len("image")] + "alt"
                if (fields.get(key) or "").strip() and not (fields.get(alt) or "").strip():
                    fields[alt] = alts.get(fields[key].strip(), "")
        return fields

    def change_block(self, slug: str, page: str, index: int, action: str, *, actor: str) -> None:
        """``action`` on block ``index`` (1 = the first) of a page: ``up``,
        ``down`` (at an end it stays), ``duplicate`` (the copy follows it) or
        ``remove``. Raises NotFound (no such page or block), InvalidInput
        (another action), LimitExceeded (a copy past the page's limits)."""
        if action not in ("up", "down", "duplicate", "remove"):
            raise InvalidInput(f"unknown block action {action!r}")

        def change(blocks: list) -> list:
            _at(blocks, index, page)
            at = index - 1
            if action == "remove":
                del blocks[at]
            elif action == "duplicate":
                blocks.insert(at, blocks[at])
            else:
                to = at - 1 if action == "up" else at + 1
                if 0 <= to < len(blocks):
                    blocks[at], blocks[to] = blocks[to], blocks[at]
            return blocks

        self._write_blocks(slug, page, action, change, actor)

    def _write_blocks(self, slug: str, page: str, what: str, change, actor: str) -> None:
        name = model.page_name(page)

        def edit(conn: sqlite3.Connection) -> None:
            current = model.parse_page(name, store.get_page(conn, name))
            changed = replace(current, blocks=tuple(change(list(current.blocks))))
            if len(changed.blocks) > model.MAX_BLOCKS:
                raise LimitExceeded(f"page {name} may have at most {model.MAX_BLOCKS} blocks")
            source = model.page_source(changed)
            if len(source.encode()) > model.MAX_PAGE_BYTES:
                raise LimitExceeded(f"page {name} would be larger than {model.MAX_PAGE_BYTES // 1024} KiB")
            _check_images(conn, changed)
            _check_mailboxes(conn, changed)
            store.put_page(conn, name, source, create=False)
            directory.audit(conn, actor, f"site.block.{what}", name)

        self.stores.handle(slug).write_sync("site page blocks", edit)

    def mailboxes(self, slug: str) -> list[str]:
        """The addresses a contact form of the business may send to."""
        return self.stores.handle(slug).read_sync("site mailboxes", business_addresses)

    def pages(self, slug: str) -> list[PageInfo]:
        """Every page, in menu order (pages with mistakes say "(needs fixing)")."""
        return self.stores.handle(slug).read_sync("site pages", _page_rows)

    def menu(self, slug: str) -> list[MenuItem]:
        """The pages the menu lists, in order."""
        return [MenuItem(p.name, p.menu, p.path) for p in self.pages(slug) if p.nav is not None]

    def set_menu(self, slug: str, pages: list[str], *, actor: str) -> list[MenuItem]:
        """The menu lists ``pages`` in that order; returns it. Raises NotFound
        for a page that does not exist."""
        wanted = [model.page_name(p) for p in pages]

        def change(conn: sqlite3.Connection) -> None:
            store.set_nav(conn, wanted)
            directory.audit(conn, actor, "site.nav", " ".join(wanted))

        self.stores.handle(slug).write_sync("site nav", change)
        return self.menu(slug)

    # -- pictures ----------------------------------------------------------------------

    def images(self, slug: str) -> list[dict]:
        """Stored pictures: name, type, width, height, bytes, updated."""
        return self.stores.handle(slug).read_sync("site images", store.list_images)

    def remove_image(self, slug: str, name: str, *, actor: str) -> None:
        """Remove a picture. Raises Conflict while the logo or a page shows it."""
        image_name = images.name(name)

        def remove(conn: sqlite3.Connection) -> None:
            store.remove_image(conn, image_name, used_by(conn, image_name))
            directory.audit(conn, actor, "site.image.remove", image_name)

        self.stores.handle(slug).write_sync("site image remove", remove)

    # -- building ----------------------------------------------------------------------

    def _build(self, slug: str, theme: str | None = None) -> tuple[dict[str, bytes], Any, str, list[model.Page]]:
        """The draft's files (in ``theme`` instead of its own, if given),
        the business row, the site's address and the pages."""
        src, tenant, domains = self.stores.handle(slug).read_sync(
            "site sources", lambda c: (store.sources(c), directory.get_tenant(c), directory.list_domains(c))
        )
        if theme is not None:
            src = replace(src, theme=render.theme(theme).name)
        base_url = site_address(domains)
        files = builder.build(src, base_url=base_url, year=datetime.date.today().year)
        pages = [model.parse_page(name, source) for name, source in src.pages.items()]  # they built: they parse
        return files, tenant, base_url, pages

    def preview(self, slug: str, theme: str | None = None) -> dict[str, bytes]:
        """The files :meth:`build` would publish now (``{path: bytes}``),
        published nowhere: what the owner sees before publishing; with
        ``theme``, as they would be in that theme (the draft keeps its
        own). Raises InvalidInput (an unknown theme too) and NotFound as
        :meth:`build`.

        Builds are kept (:attr:`drafts`) by business, theme, the draft's
        stamp (``storage.sitegen.draft_stamp``: every write to the draft
        changes it), the site's address and the year: the many files one
        page asks for are built once, and an edit shows at once. The dict
        returned may be shared: do not change it. CPU-bound on a miss:
        call it off the event loop."""
        shown = render.theme(theme).name if theme is not None else None
        stamp, domains = self.stores.handle(slug).read_sync(
            "site draft stamp", lambda c: (store.draft_stamp(c), directory.list_domains(c)))
        key = (slug, shown, stamp, site_address(domains), datetime.date.today().year)
        return self.drafts.get(key, lambda: self._build(slug, shown)[0])

    def build(self, slug: str, *, actor: str) -> Built:
        """Render every page and publish the result atomically.

        Checks: every page parses; every contact form sends to an address
        of the business (one removed since the form was saved is refused
        here); the result fits the plan's web space. Changes: a new live
        version (source ``builder``) with its contact forms recorded
        (``storage.sitegen.put_forms``: what ``/_contact`` answers from);
        earlier ones are kept to roll back to (``storage.sites.KEEP_VERSIONS``,
        within the web space). Raises LimitExceeded too.
        """
        handle = self.stores.handle(slug)
        files, tenant, base_url, pages = self._build(slug)
        total = sum(len(b) for b in files.values())
        forms = [(page.name, number, form.mailbox, form.heading)
                 for page in pages for number, form in enumerate(page.contact_forms(), start=1)]

        def publish(conn: sqlite3.Connection) -> int:
            for page in pages:
                _check_mailboxes(conn, page)
            version = sites.publish(conn, files, limit_bytes=directory.limits(conn).web_bytes, source="builder")
            store.put_forms(conn, version, forms)
            store.mark_built(conn, version)
            directory.audit(conn, actor, "site.publish", f"version {version}: {len(files)} files, {total} bytes")
            return version

        version = handle.write_sync("site build", publish)
        return Built(version, len(files), total, base_url + "/")
