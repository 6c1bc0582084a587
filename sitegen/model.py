"""What a site is made of: the business profile and pages of blocks.

A page is a small text file an owner can write in any editor::

    ---
    title: Our prices
    menu: Prices
    description: What a cut, a colour or a blow-dry costs.
    ---
    Plain Markdown here is a text block.

    ::: services
    - Haircut | 25 EUR | Wash, cut and blow-dry
    - Colour | from 60 EUR
    :::

The front matter (between ``---`` lines) is optional. Outside fences the text
is Markdown; a fence ``::: TYPE`` ... ``:::`` holds one block of another type
(:data:`BLOCK_TYPES`). Everything is checked here, with the line number of the
mistake; what passes is safe to render (text is sanitised in ``markup``,
everything else is escaped by the templates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from typing import Mapping, Union

from storage import names
from storage.errors import InvalidInput, LimitExceeded

from . import images, markup, mapnews, palette
from .mapnews import (MAX_POST_TEXT, MAX_POSTS, OSM_EMBED, POST_TEASER, Map, News,  # noqa: F401 - the model's names
                      Post, coordinate, post_date)
from .values import MAX_LINE, MAX_TITLE, https_url  # noqa: F401 - the model's names
from .values import image_name as _image_name
from .values import named_fields as _fields
from .values import plain as _plain

#: Largest page source, in bytes.
MAX_PAGE_BYTES = 64 * 1024
MAX_BLOCKS = 60
MAX_GALLERY = 48
MAX_SERVICES = 100
MAX_MENU = 30
MAX_DESCRIPTION = 300
MAX_HOURS = 14

PAGE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
#: Names that would collide with files every build writes.
RESERVED_PAGES = frozenset({"images", "assets", "404", "style", "sitemap", "robots", "favicon"})
HOME = "home"

BLOCK_TYPES = ("heading", "text", "image", "gallery", "services", "contact", "contact-form", "map", "news")

_FENCE_OPEN = re.compile(r"^:::\s*([A-Za-z-]+)\s*$")
_FENCE_CLOSE = re.compile(r"^:::\s*$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().\-/]{2,30}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


def page_name(value: str) -> str:
    """A page's name (its address on the site): ``home`` or ``a-z 0-9 -``."""
    value = value.strip().lower()
    if not PAGE_RE.match(value):
        raise InvalidInput(f"invalid page name {value!r}: use 1-40 of a-z, 0-9 and -, e.g. 'prices'")
    if value in RESERVED_PAGES:
        raise InvalidInput(f"page name {value!r} is reserved; choose another")
    return value


def page_path(name: str) -> str:
    """The URL path of a page: ``/`` for home, else ``/name/``."""
    return "/" if name == HOME else f"/{name}/"


# -- the business profile ----------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """The business as its site shows it. Empty strings mean "not given"."""

    name: str
    tagline: str = ""
    logo: str = ""
    colour: str = ""
    accent: str = ""
    address: str = ""
    phone: str = ""
    email: str = ""
    hours: str = ""
    map: str = ""
    language: str = "en"

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, str]) -> "Profile":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def address_lines(self) -> list[str]:
        return [line.strip() for line in self.address.split(";") if line.strip()]

    @property
    def hours_lines(self) -> list[str]:
        return [line.strip() for line in self.hours.split(";") if line.strip()]

    @property
    def tel(self) -> str:
        """The phone number as a ``tel:`` URI (RFC 3966 global number digits)."""
        return "tel:" + re.sub(r"[^0-9+]", "", self.phone) if self.phone else ""


#: Profile keys an owner may set with ``--set key=value``.
PROFILE_KEYS = tuple(f.name for f in fields(Profile))


def set_profile(profile: Profile, changes: Mapping[str, str]) -> Profile:
    """``profile`` with ``changes`` applied, each value checked; "" clears a key."""
    values: dict[str, str] = {}
    for key, raw in changes.items():
        if key not in PROFILE_KEYS:
            raise InvalidInput(f"unknown profile key {key!r} (known: {', '.join(PROFILE_KEYS)})")
        values[key] = check_profile_value(key, raw)
    return replace(profile, **values)


def check_profile_value(key: str, raw: str) -> str:
    """One profile value, normalised, or :class:`InvalidInput` naming the key."""
    raw = raw.strip()
    if key == "name":
        return _plain(raw, "name", 100, required=True)
    if not raw:
        return "en" if key == "language" else ""
    if key == "tagline":
        return _plain(raw, "tagline", 200)
    if key == "logo":
        return images.name(raw)
    if key in ("colour", "accent"):
        return palette.parse(raw)
    if key == "address":
        value = _plain(raw, "address", 300)
        if len([p for p in value.split(";") if p.strip()]) > 6:
            raise InvalidInput("address has more than 6 lines (lines are separated by ';')")
        return value
    if key == "phone":
        if not _PHONE_RE.match(raw):
            raise InvalidInput(f"invalid phone number {raw!r}: digits, spaces and + ( ) - . / only")
        return raw
    if key == "email":
        return names.address(raw)
    if key == "hours":
        value = _plain(raw, "hours", 600)
        lines = [p for p in value.split(";") if p.strip()]
        if len(lines) > MAX_HOURS or any(len(p.strip()) > 80 for p in lines):
            raise InvalidInput(f"hours: at most {MAX_HOURS} lines of 80 characters, separated by ';'")
        return value
    if key == "map":
        return https_url(raw, "map")
    if key == "language":
        if not _LANG_RE.match(raw):
            raise InvalidInput(f"invalid language {raw!r}: a language tag such as en, de or fr-CA")
        return raw
    raise InvalidInput(f"unknown profile key {key!r}")


# -- blocks ----------------------------------------------------------------------


@dataclass(frozen=True)
class Heading:
    title: str
    lead: str = ""
    kind: str = "heading"


@dataclass(frozen=True)
class Text:
    markdown: str
    kind: str = "text"

    @property
    def html(self):
        return markup.render(self.markdown)


@dataclass(frozen=True)
class Image:
    file: str
    alt: str
    caption: str = ""
    kind: str = "image"


@dataclass(frozen=True)
class GalleryItem:
    file: str
    alt: str


@dataclass(frozen=True)
class Gallery:
    items: tuple[GalleryItem, ...]
    kind: str = "gallery"


@dataclass(frozen=True)
class Service:
    name: str
    price: str = ""
    description: str = ""


@dataclass(frozen=True)
class Services:
    items: tuple[Service, ...]
    kind: str = "services"


@dataclass(frozen=True)
class Contact:
    markdown: str = ""
    kind: str = "contact"

    @property
    def html(self):
        return markup.render(self.markdown)


@dataclass(frozen=True)
class ContactForm:
    """A form visitors send a message with. ``mailbox`` is the business's
    address that receives it: it is never written into the built page (the
    form names its page and its number there, and the server looks the
    address up); that it belongs to the business is checked where the
    block is saved and again where a message is delivered."""

    mailbox: str
    heading: str = ""
    kind: str = "contact-form"


Block = Union[Heading, Text, Image, Gallery, Services, Contact, ContactForm, Map, News]


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    menu: str
    description: str
    blocks: tuple[Block, ...] = field(default=())

    @property
    def path(self) -> str:
        return page_path(self.name)

    def images(self) -> set[str]:
        """Names of the stored images this page shows."""
        used: set[str] = set()
        for block in self.blocks:
            if isinstance(block, Image):
                used.add(block.file)
            elif isinstance(block, Gallery):
                used.update(item.file for item in block.items)
            elif isinstance(block, Map) and block.image:
                used.add(block.image)
            elif isinstance(block, News):
                used.update(post.image for post in block.posts if post.image)
        return used

    def posts(self) -> list[Post]:
        """The posts of the page's news blocks, newest first."""
        found = [post for block in self.blocks if isinstance(block, News) for post in block.posts]
        return sorted(found, key=lambda post: post.date, reverse=True)

    def has_news(self) -> bool:
        return any(isinstance(block, News) for block in self.blocks)

    @property
    def feed_path(self) -> str:
        """Where the Atom feed of the page's news is (only pages with posts have one)."""
        return self.path + "feed.atom"

    def contact_forms(self) -> tuple[ContactForm, ...]:
        """The page's contact forms in page order: the first is number 1."""
        return tuple(b for b in self.blocks if isinstance(b, ContactForm))

    def contact_form(self, number: int) -> ContactForm | None:
        """The ``number``-th contact form of the page (1 = the first), or None."""
        found = self.contact_forms()
        return found[number - 1] if 1 <= number <= len(found) else None


# -- parsing ------------------------------------------------------------------------


def parse_page(name: str, source: str, *, front_matter: bool = True) -> Page:
    """Parse a page's source (see module doc); :class:`InvalidInput` says where it is wrong.

    Without ``front_matter`` the source is only the blocks (a page's body,
    as an editor shows it), so line numbers in errors count from its top.
    """
    name = page_name(name)
    if len(source.encode()) > MAX_PAGE_BYTES:
        raise LimitExceeded(f"page {name} is {len(source.encode())} bytes; at most {MAX_PAGE_BYTES // 1024} KiB")
    if "\x00" in source:
        raise InvalidInput(f"page {name}: the text contains a NUL character")
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    meta, start = _front_matter(name, lines) if front_matter else ({}, 0)
    default_title = "Home" if name == HOME else name.replace("-", " ").capitalize()
    title = _plain(meta.get("title", default_title), f"page {name}: title", MAX_TITLE, required=True)
    menu = _plain(meta.get("menu", title), f"page {name}: menu", MAX_MENU, required=True)
    description = _plain(meta.get("description", ""), f"page {name}: description", MAX_DESCRIPTION)

    blocks: list[Block] = []
    loose: list[str] = []
    open_kind: str | None = None
    open_line = 0
    body: list[str] = []
    for number, line in enumerate(lines[start:], start=start + 1):
        if open_kind is None:
            match = _FENCE_OPEN.match(line)
            if match:
                _flush_text(loose, blocks)
                loose = []
                open_kind, open_line, body = match.group(1).lower(), number, []
                if open_kind not in BLOCK_TYPES:
                    raise InvalidInput(
                        f"page {name}, line {number}: unknown block type {open_kind!r} (known: {', '.join(BLOCK_TYPES)})"
                    )
            elif _FENCE_CLOSE.match(line):
                raise InvalidInput(f"page {name}, line {number}: ':::' closes no block")
            else:
                loose.append(line)
        elif _FENCE_CLOSE.match(line):
            blocks.append(_block(name, open_kind, open_line, body))
            open_kind = None
        elif _FENCE_OPEN.match(line):
            raise InvalidInput(
                f"page {name}, line {number}: block {open_kind!r} opened on line {open_line} is not closed with ':::'"
            )
        else:
            body.append(line)
    if open_kind is not None:
        raise InvalidInput(f"page {name}, line {open_line}: block {open_kind!r} is never closed with ':::'")
    _flush_text(loose, blocks)
    if len(blocks) > MAX_BLOCKS:
        raise LimitExceeded(f"page {name} has {len(blocks)} blocks; at most {MAX_BLOCKS}")
    return Page(name, title, menu, description, tuple(blocks))


def page_body(name: str, source: str) -> str:
    """The part of a page's source after its front matter (the blocks), as written."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    _, start = _front_matter(name, lines)
    return "\n".join(lines[start:]).strip("\n")


def compose(title: str, menu: str, description: str, body: str) -> str:
    """A page's source from its title, menu label, description and body.

    The values go into the front matter on one line each (whitespace,
    newlines included, is folded as :func:`parse_page` folds it); an empty
    menu label means "the title". The result is not checked: parse it.
    """
    meta = [("title", title), ("menu", menu), ("description", description)]
    head = "".join(f"{key}: {' '.join(value.split())}\n" for key, value in meta if value.strip())
    body = body.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    return f"---\n{head}---\n{body}\n" if body else f"---\n{head}---\n"


def _front_matter(name: str, lines: list[str]) -> tuple[dict[str, str], int]:
    if not lines or lines[0].strip() != "---":
        return {}, 0
    meta: dict[str, str] = {}
    for index in range(1, min(len(lines), 20)):
        line = lines[index]
        if line.strip() == "---":
            return meta, index + 1
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep or key not in ("title", "menu", "description"):
            raise InvalidInput(
                f"page {name}, line {index + 1}: expected 'title:', 'menu:' or 'description:' in the part between '---' lines"
            )
        meta[key] = value.strip()
    raise InvalidInput(f"page {name}, line 1: the '---' part at the top is not closed with another '---' line")


def _flush_text(lines: list[str], blocks: list[Block]) -> None:
    text = "\n".join(lines).strip("\n")
    if text.strip():
        if len(text) > markup.MAX_TEXT:
            raise LimitExceeded(f"a text block is {len(text)} characters; at most {markup.MAX_TEXT}")
        blocks.append(Text(text))


def _items(body: list[str]) -> list[tuple[int, list[str]]]:
    """Non-empty lines of a list block, without a leading '-' or '*', split at '|'."""
    out = []
    for offset, line in enumerate(body, start=1):
        text = line.strip()
        if not text:
            continue
        if text[:2] in ("- ", "* "):
            text = text[2:]
        out.append((offset, [part.strip() for part in text.split("|")]))
    return out


def _block(page: str, kind: str, line: int, body: list[str]) -> Block:
    where = f"page {page}, {kind} block on line {line}"
    if kind == "text":
        text = "\n".join(body).strip("\n")
        if not text.strip():
            raise InvalidInput(f"{where}: the block is empty")
        if len(text) > markup.MAX_TEXT:
            raise LimitExceeded(f"{where}: {len(text)} characters; at most {markup.MAX_TEXT}")
        return Text(text)
    if kind == "contact":
        text = "\n".join(body).strip("\n")
        if len(text) > markup.MAX_TEXT:
            raise LimitExceeded(f"{where}: {len(text)} characters; at most {markup.MAX_TEXT}")
        return Contact(text)
    if kind == "contact-form":
        values = _fields(body, line, where, ("to", "heading"))
        if not values.get("to"):
            raise InvalidInput(f"{where}: say which address receives the messages with 'to: ADDRESS'")
        try:
            mailbox = names.address(values["to"])
        except InvalidInput:
            raise InvalidInput(f"{where}: 'to:' must be an e-mail address of the business") from None
        return ContactForm(mailbox, _plain(values.get("heading", ""), f"{where}: heading", MAX_TITLE))
    if kind == "map":
        return mapnews.parse_map(body, line, where)
    if kind == "news":
        return mapnews.parse_news(body, line, where)
    if kind == "heading":
        parts = [ln.strip() for ln in body if ln.strip()]
        if not parts:
            raise InvalidInput(f"{where}: write the heading on the first line")
        title = _plain(parts[0].lstrip("#"), f"{where}: heading", MAX_TITLE, required=True)
        lead = _plain(" ".join(parts[1:]), f"{where}: text under the heading", 600)
        return Heading(title, lead)
    if kind == "image":
        values = _fields(body, line, where, ("file", "alt", "caption"))
        if not values.get("file"):
            raise InvalidInput(f"{where}: say which picture with 'file: NAME'")
        if not values.get("alt"):
            raise InvalidInput(
                f"{where}: describe the picture with 'alt: ...' for people who cannot see it"
            )
        return Image(
            _image_name(values["file"], where),
            _plain(values["alt"], f"{where}: alt", MAX_LINE, required=True),
            _plain(values.get("caption", ""), f"{where}: caption", MAX_LINE),
        )
    if kind == "gallery":
        items = []
        for offset, parts in _items(body):
            if len(parts) != 2 or not parts[1]:
                raise InvalidInput(
                    f"{where}: line {line + offset}: write '- picture.jpg | what it shows' (the description is required)"
                )
            items.append(GalleryItem(_image_name(parts[0], where), _plain(parts[1], f"{where}: description", MAX_LINE)))
        if not items:
            raise InvalidInput(f"{where}: list the pictures, one '- picture.jpg | what it shows' per line")
        if len(items) > MAX_GALLERY:
            raise LimitExceeded(f"{where}: {len(items)} pictures; at most {MAX_GALLERY}")
        return Gallery(tuple(items))
    if kind == "services":
        services = []
        for offset, parts in _items(body):
            if len(parts) > 3 or not parts[0]:
                raise InvalidInput(f"{where}: line {line + offset}: write '- name | price | description'")
            parts += [""] * (3 - len(parts))
            services.append(
                Service(
                    _plain(parts[0], f"{where}: name", MAX_LINE, required=True),
                    _plain(parts[1], f"{where}: price", 40),
                    _plain(parts[2], f"{where}: description", MAX_LINE),
                )
            )
        if not services:
            raise InvalidInput(f"{where}: list the services, one '- name | price | description' per line")
        if len(services) > MAX_SERVICES:
            raise LimitExceeded(f"{where}: {len(services)} services; at most {MAX_SERVICES}")
        return Services(tuple(services))
    raise InvalidInput(f"{where}: unknown block type")


# -- writing ------------------------------------------------------------------------


def block_source(block: Block) -> str:
    """One block in the page format, fenced (see module doc).

    The result is not checked: a value holding a line ``:::`` or, in a
    list block, a ``|`` would read back differently; :func:`page_source`
    catches that.
    """
    if isinstance(block, Heading):
        body = [block.title] + ([block.lead] if block.lead else [])
    elif isinstance(block, (Text, Contact)):
        body = [block.markdown] if block.markdown else []
    elif isinstance(block, ContactForm):
        body = [f"to: {block.mailbox}"] + ([f"heading: {block.heading}"] if block.heading else [])
    elif isinstance(block, Image):
        body = [f"file: {block.file}", f"alt: {block.alt}"] + ([f"caption: {block.caption}"] if block.caption else [])
    elif isinstance(block, Gallery):
        body = [f"- {item.file} | {item.alt}" for item in block.items]
    elif isinstance(block, Map):
        body = [f"{key}: {value}" for key, value in (
            ("heading", block.heading), ("address", block.address),
            ("at", f"{block.lat}, {block.lon}" if block.lat else ""), ("link", block.link),
            ("image", block.image), ("alt", block.alt), ("embed", "yes" if block.embed else "")) if value]
    elif isinstance(block, News):
        body = [f"heading: {block.heading}"] if block.heading else []
        for post in block.posts:
            body.append(f"--- {post.date} | {post.title}")
            if post.image:
                body.append(f"image: {post.image} | {post.alt}")
            if post.markdown:
                body.append(post.markdown)
    elif isinstance(block, Services):
        body = []
        for s in block.items:
            parts = [s.name, s.price, s.description]
            while parts[-1] == "":  # the name is never empty
                parts.pop()
            body.append("- " + " | ".join(parts))
    else:
        raise InvalidInput(f"unknown block type {getattr(block, 'kind', '?')!r}")
    return "\n".join([f"::: {block.kind}", *body, ":::"])


def page_source(page: Page) -> str:
    """``page`` in the page format, checked: it must read back as the very
    same page, else :class:`InvalidInput` (a value the format cannot hold)."""
    body = "\n\n".join(block_source(b) for b in page.blocks)
    menu = page.menu if page.menu != page.title else ""
    source = compose(page.title, menu, page.description, body)
    if parse_page(page.name, source) != page:
        raise InvalidInput(f"page {page.name}: a value holds a line ':::' or, in a list, a '|'; remove it")
    return source


#: Blocks an editor makes from a form's values.
FORM_BLOCKS = ("heading", "text", "services", "contact", "image", "gallery", "contact-form", "map", "news")

#: The fields of one post in an editor's values: ``posts-N-KEY``.
_POST_FIELD = re.compile(r"^posts-([0-9]{1,4})-(date|title|text|image|alt)$")


def block_from_fields(kind: str, fields: Mapping[str, str], page: str = HOME) -> Block:
    """A block of ``kind`` (:data:`FORM_BLOCKS`) from an editor's values,
    read exactly as the page format reads it: ``title`` and ``lead``
    (heading), ``markdown`` (text, contact), ``items`` (services, one
    ``name | price | description`` a line; gallery, one ``file | alt`` a
    line), ``file``, ``alt`` and ``caption`` (image), ``mailbox`` and
    ``heading`` (contact-form); ``heading``, ``address`` (one line a
    line), ``lat``, ``lon``, ``link``, ``image``, ``alt`` and ``embed``
    (``yes``) (map); ``heading`` and, for each post N from 0,
    ``posts-N-date``, ``-title``, ``-text``, ``-image`` and ``-alt`` (news).
    :class:`InvalidInput` says what
    is wrong; its line numbers count the block's opening line as line 1.
    """
    if kind not in FORM_BLOCKS:
        raise InvalidInput(f"unknown block type {kind!r} (known: {', '.join(FORM_BLOCKS)})")

    def value(key: str) -> str:
        return (fields.get(key) or "").replace("\r\n", "\n").replace("\r", "\n").strip("\n")

    if kind == "heading":
        title, lead = " ".join(value("title").split()), " ".join(value("lead").split())
        if not title:
            raise InvalidInput(f"page {page}, heading block: write the heading")
        body = [title] + ([lead] if lead else [])
    elif kind == "image":
        body = [f"{key}: {' '.join(value(key).split())}" for key in ("file", "alt", "caption") if value(key).strip()]
    elif kind == "gallery":
        body = ["- " + line.strip().removeprefix("- ") for line in value("items").split("\n") if line.strip()]
    elif kind == "contact-form":
        mailbox, heading = " ".join(value("mailbox").split()), " ".join(value("heading").split())
        body = [f"to: {mailbox}"] + ([f"heading: {heading}"] if heading else [])
    elif kind == "map":
        one = {key: " ".join(value(key).split()) for key in ("heading", "lat", "lon", "link", "image", "alt")}
        one["address"] = "; ".join(ln.strip() for ln in value("address").split("\n") if ln.strip())
        one["at"] = f"{one['lat']}, {one['lon']}" if one["lat"] or one["lon"] else ""
        one["embed"] = "yes" if value("embed").strip().lower() in ("yes", "y", "true", "1") else ""
        body = [f"{key}: {one[key]}" for key in ("heading", "address", "at", "link", "image", "alt", "embed") if one[key]]
    elif kind == "news":
        heading = " ".join(value("heading").split())
        body = [f"heading: {heading}"] if heading else []
        numbers = sorted({int(m.group(1)) for m in map(_POST_FIELD.match, fields) if m})
        if len(numbers) > MAX_POSTS:
            raise LimitExceeded(f"page {page}, news block: {len(numbers)} posts; at most {MAX_POSTS}")
        for n in numbers:
            title = " ".join(value(f"posts-{n}-title").split())
            date = value(f"posts-{n}-date").strip()
            if not title:
                raise InvalidInput(f"page {page}, news block: post {n + 1} has no title")
            body.append(f"--- {date or '?'} | {title}")
            image = " ".join(value(f"posts-{n}-image").split())
            if image:
                body.append(f"image: {image} | {' '.join(value(f'posts-{n}-alt').split())}")
            elif value(f"posts-{n}-text").lstrip().lower().startswith("image:"):
                raise InvalidInput(f"page {page}, news block: post {n + 1}: the text cannot start with 'image:'")
            body += value(f"posts-{n}-text").split("\n")
            if any(mapnews.POST_RE.match(ln.strip()) for ln in value(f"posts-{n}-text").split("\n")):
                raise InvalidInput(f"page {page}, news block: post {n + 1}: a line of the text starts like a new post ('--- ')")
    else:
        body = value("markdown" if kind in ("text", "contact") else "items").split("\n")
    if any(_FENCE_OPEN.match(line) or _FENCE_CLOSE.match(line) for line in body):
        raise InvalidInput(f"page {page}, {kind} block: a line ':::' or '::: type' cannot be in a block")
    parsed = parse_page(page, "\n".join([f"::: {kind}", *body, ":::"]), front_matter=False)
    return parsed.blocks[0]


def block_fields(block: Block) -> dict[str, str]:
    """The values an editor's form shows for ``block`` (the inverse of
    :func:`block_from_fields`)."""
    if isinstance(block, Heading):
        return {"title": block.title, "lead": block.lead}
    if isinstance(block, (Text, Contact)):
        return {"markdown": block.markdown}
    if isinstance(block, ContactForm):
        return {"mailbox": block.mailbox, "heading": block.heading}
    if isinstance(block, Services):
        return {"items": "\n".join(line[2:] for line in block_source(block).split("\n")[1:-1])}
    if isinstance(block, Image):
        return {"file": block.file, "alt": block.alt, "caption": block.caption}
    if isinstance(block, Gallery):
        return {"items": "\n".join(f"{item.file} | {item.alt}" for item in block.items)}
    if isinstance(block, Map):
        return {"heading": block.heading, "address": "\n".join(block.address_lines), "lat": block.lat,
                "lon": block.lon, "link": block.link, "image": block.image, "alt": block.alt,
                "embed": "yes" if block.embed else ""}
    if isinstance(block, News):
        values = {"heading": block.heading}
        for n, post in enumerate(block.posts):
            values.update({f"posts-{n}-date": post.date, f"posts-{n}-title": post.title,
                           f"posts-{n}-text": post.markdown, f"posts-{n}-image": post.image,
                           f"posts-{n}-alt": post.alt})
        return values
    raise InvalidInput(f"a {block.kind} block has no form yet; edit the page's text")
