"""The map and news blocks: where the business is, and its dated posts.

A map block links to a map service (OpenStreetMap at the given place, or
the owner's own map) and may show a picture of the library; visitors'
browsers contact no other site unless the owner opts in to OpenStreetMap's
interactive map (``embed: yes``). A news block holds dated posts, newest
first, each with a title, Markdown text and maybe a picture::

    ::: news
    heading: What is new
    --- 2026-12-05 | Open on Sunday
    image: cake.jpg | A raspberry cake
    We open at 8.
    :::

The parsers get the lines of one fenced block; mistakes name their line
as ``sitegen.model`` does for every block.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from dataclasses import dataclass

from storage.errors import InvalidInput, LimitExceeded

from . import markup
from .values import MAX_LINE, MAX_TITLE, https_url, image_name, named_fields, plain

#: Posts of one news block, and the longest text of one post.
MAX_POSTS = 200
MAX_POST_TEXT = 4000
#: A post's text longer than this shows its first paragraph, the rest behind "Read more".
POST_TEASER = 400
#: OpenStreetMap's embeddable map: the one page of another site a built page
#: may frame, only in a map block whose owner chose it (:attr:`Map.embed`).
OSM_EMBED = "https://www.openstreetmap.org/export/embed.html"
_COORD_RE = re.compile(r"^[+-]?[0-9]{1,3}(?:\.[0-9]{1,7})?$")
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
#: The line that starts a post of a news block: ``--- 2026-12-05 | Title``.
POST_RE = re.compile(r"^---\s+(\S+)\s*\|(.*)$")


def coordinate(value: str, what: str) -> str:
    """A latitude (``what`` "latitude": -90 to 90) or longitude (-180 to
    180) in decimal degrees, at most 7 decimals, as typed (a comma works as
    the decimal point)."""
    value = value.strip().replace(",", ".")
    limit = 90 if what == "latitude" else 180
    if not _COORD_RE.match(value) or abs(float(value)) > limit:
        raise InvalidInput(f"invalid {what} {value!r}: decimal degrees between -{limit} and {limit}, e.g. 45.7640")
    return value


def post_date(value: str) -> str:
    """A post's date, ``YYYY-MM-DD``."""
    value = value.strip()
    try:
        if not _DATE_RE.match(value):
            raise ValueError
        datetime.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"invalid date {value!r}: write it as YYYY-MM-DD, e.g. 2026-12-05") from None
    return value


@dataclass(frozen=True)
class Map:
    """Where the business is: an address line, a link to a map service (the
    owner's ``link``, else OpenStreetMap at ``lat``/``lon``), a picture of
    the library (none by default: nothing is fetched from another site)
    and, only when ``embed`` is chosen, OpenStreetMap's interactive map in
    a frame (visitors' browsers then contact openstreetmap.org).
    An empty ``address`` shows the profile's."""

    lat: str = ""
    lon: str = ""
    link: str = ""
    address: str = ""
    image: str = ""
    alt: str = ""
    embed: bool = False
    heading: str = ""
    kind: str = "map"

    @property
    def address_lines(self) -> list[str]:
        return [line.strip() for line in self.address.split(";") if line.strip()]

    @property
    def url(self) -> str:
        """The link visitors follow to the map service."""
        if self.link:
            return self.link
        return f"https://www.openstreetmap.org/?mlat={self.lat}&mlon={self.lon}#map=17/{self.lat}/{self.lon}"

    @property
    def embed_url(self) -> str:
        """OpenStreetMap's embeddable map around the point, with a marker ("" without ``embed``)."""
        if not self.embed:
            return ""
        lat, lon = float(self.lat), float(self.lon)
        box = f"{lon - 0.006:.5f},{lat - 0.003:.5f},{lon + 0.006:.5f},{lat + 0.003:.5f}"
        return f"{OSM_EMBED}?bbox={box}&layer=mapnik&marker={self.lat},{self.lon}"


@dataclass(frozen=True)
class Post:
    """One dated post of a news block; ``markdown`` may be empty."""

    date: str
    title: str
    markdown: str = ""
    image: str = ""
    alt: str = ""

    @property
    def html(self):
        return markup.render(self.markdown)

    @property
    def more(self) -> tuple[str, str]:
        """The text shown at once and the rest ("" when the text is short
        or one paragraph): see :data:`POST_TEASER`."""
        first, _, rest = self.markdown.partition("\n\n")
        if len(self.markdown) <= POST_TEASER or not rest.strip():
            return self.markdown, ""
        return first, rest

    @property
    def lead_html(self):
        return markup.render(self.more[0])

    @property
    def more_html(self):
        return markup.render(self.more[1])

    @property
    def anchor(self) -> str:
        """The post's ``id`` on its page (its date and a digest of its title,
        unique within a block: a date and title appear once)."""
        return f"post-{self.date}-{hashlib.sha256(self.title.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class News:
    """Dated posts, newest first (posts of one day keep their order)."""

    posts: tuple[Post, ...] = ()
    heading: str = ""
    kind: str = "news"



def parse_map(body: list[str], line: int, where: str) -> Map:
    values = named_fields(body, line, where, ("heading", "address", "at", "link", "image", "alt", "embed"))

    def on(key: str) -> str:
        """``where`` and the line of ``key`` (its last, as the last one counts)."""
        offsets = [n for n, text in enumerate(body, start=1) if text.partition(":")[0].strip().lower() == key]
        return f"{where}: line {line + offsets[-1]}" if offsets else where

    lat = lon = ""
    if values.get("at"):
        parts = values["at"].split()
        if len(parts) == 1 and parts[0].count(",") == 1:
            parts = parts[0].split(",")
        parts = [p.strip().rstrip(",") for p in parts if p.strip(" ,")]
        if len(parts) != 2:
            raise InvalidInput(f"{on('at')}: write the place as 'at: LATITUDE, LONGITUDE', e.g. 'at: 45.7640, 4.8357'")
        try:
            lat, lon = coordinate(parts[0], "latitude"), coordinate(parts[1], "longitude")
        except InvalidInput as exc:
            raise InvalidInput(f"{on('at')}: {exc}") from None
    link = ""
    if values.get("link"):
        try:
            link = https_url(values["link"], "link")
        except InvalidInput as exc:
            raise InvalidInput(f"{on('link')}: {exc}") from None
    if not lat and not link:
        raise InvalidInput(f"{where}: give the place with 'at: LATITUDE, LONGITUDE' or a map's address with 'link: https://...'")
    embed = values.get("embed", "no").lower()
    if embed not in ("yes", "no"):
        raise InvalidInput(f"{on('embed')}: 'embed:' is 'yes' or 'no'")
    if embed == "yes" and not lat:
        raise InvalidInput(f"{on('embed')}: an interactive map needs the place as 'at: LATITUDE, LONGITUDE'")
    image = alt = ""
    if values.get("image"):
        image = image_name(values["image"], on("image"))
        alt = plain(values.get("alt", ""), f"{where}: alt", MAX_LINE)
        if not alt:
            raise InvalidInput(f"{on('image')}: describe the picture with 'alt: ...' for people who cannot see it")
    elif values.get("alt"):
        raise InvalidInput(f"{on('alt')}: 'alt:' describes a picture; say which with 'image: NAME'")
    address = plain(values.get("address", ""), f"{where}: address", 300)
    if len([p for p in address.split(";") if p.strip()]) > 6:
        raise InvalidInput(f"{where}: the address has more than 6 lines (lines are separated by ';')")
    return Map(lat, lon, link, address, image, alt, embed == "yes",
               plain(values.get("heading", ""), f"{where}: heading", MAX_TITLE))


def parse_news(body: list[str], line: int, where: str) -> News:
    heading = ""
    posts: list[Post] = []
    current: tuple[int, str, str] | None = None
    text: list[str] = []

    def close() -> None:
        if current is None:
            return
        at, date, title = current
        lines = list(text)
        image = alt = ""
        image_line = at + 1
        while lines and not lines[0].strip():
            lines.pop(0)
            image_line += 1
        if lines and lines[0].strip().lower().startswith("image:"):
            name, _, alt = lines.pop(0).strip()[6:].partition("|")
            image = image_name(name.strip(), f"{where}: line {image_line}")
            alt = plain(alt, f"{where}: line {image_line}: alt", MAX_LINE)
            if not alt:
                raise InvalidInput(f"{where}: line {image_line}: write 'image: picture.jpg | what it shows' "
                                   "(the description is required)")
        markdown = "\n".join(lines).strip("\n")
        if len(markdown) > MAX_POST_TEXT:
            raise LimitExceeded(f"{where}: the post on line {at} has {len(markdown)} characters; at most {MAX_POST_TEXT}")
        posts.append(Post(date, title, markdown, image, alt))

    for offset, raw in enumerate(body, start=1):
        match = POST_RE.match(raw.strip())
        if match:
            close()
            at = line + offset
            try:
                date = post_date(match.group(1))
            except InvalidInput as exc:
                raise InvalidInput(f"{where}: line {at}: {exc}") from None
            title = plain(match.group(2), f"{where}: line {at}: title", MAX_TITLE)
            if not title:
                raise InvalidInput(f"{where}: line {at}: the post has no title; write '--- {date} | Title'")
            current, text = (at, date, title), []
            if len(posts) >= MAX_POSTS:
                raise LimitExceeded(f"{where}: more than {MAX_POSTS} posts; remove the oldest")
        elif current is not None:
            text.append(raw)
        elif raw.strip():
            key, sep, value = raw.partition(":")
            if not sep or key.strip().lower() != "heading" or heading:
                raise InvalidInput(
                    f"{where}: line {line + offset}: expected 'heading:' or a post's first line '--- YYYY-MM-DD | Title'")
            heading = plain(value, f"{where}: heading", MAX_TITLE)
    close()
    seen: set[tuple[str, str]] = set()
    for post in posts:
        if (post.date, post.title) in seen:
            raise InvalidInput(f"{where}: two posts of {post.date} are called {post.title!r}; rename one")
        seen.add((post.date, post.title))
    return News(tuple(sorted(posts, key=lambda post: post.date, reverse=True)), heading)
