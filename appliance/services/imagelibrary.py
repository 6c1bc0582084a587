"""The website's image library: a business's pictures, with their alt text
and the small variants phones are given.

Pictures come as phones take them (a JPEG, PNG, WebP or HEIC of a few MB) and are
stored as :mod:`sitegen.photos` makes them: upright, resized to a large and
a phone variant, re-encoded, with no EXIF or other metadata. They live in
the site builder's sources (``storage.sitegen``), the draft: a build copies
those the pages and the logo show into the published version.

Web space: the library (every variant) and the live site together stay
within the plan's web space; an upload that would not fit is refused whole.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from sitegen import images, model, photos
from storage import directory, sites
from storage import sitegen as store

from ..errors import InvalidInput, LimitExceeded, NotFound
from .base import Stores

#: Most pictures one upload may carry (the panel's form allows as many).
MAX_FILES = 10
#: Longest alt text, in characters.
MAX_ALT = model.MAX_LINE

_NOT_NAME = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True)
class Upload:
    """One picture to add: the name it had on the owner's device, its
    bytes, and what it shows (the alt text)."""

    filename: str
    data: bytes
    alt: str


@dataclass(frozen=True)
class Picture:
    """A picture of the library as its page lists it."""

    name: str
    type: str
    width: int
    height: int
    phone_width: int | None
    phone_height: int | None
    bytes: int  # every variant together
    alt: str
    updated: str
    used_by: list[str]


class PictureRefused(InvalidInput):
    """One picture of an upload is refused: ``filename`` says which, the
    message why. Nothing of the upload is stored."""

    def __init__(self, filename: str, message: str, *, limit: bool = False):
        super().__init__(message)
        self.filename = filename
        self.limit = limit


def used_by(conn: sqlite3.Connection, name: str) -> list[str]:
    """What shows image ``name``: "the logo" and "page X" for each page."""
    found = []
    if store.get_profile(conn).get("logo") == name:
        found.append("the logo")
    for row in store.list_pages(conn):
        try:
            if name in model.parse_page(row["name"], row["source"]).images():
                found.append(f"page {row['name']}")
        except InvalidInput:
            if name in row["source"]:
                found.append(f"page {row['name']}")
    return found


def alt_text(value: str) -> str:
    """An alt text as stored: one line, 1 to :data:`MAX_ALT` characters."""
    value = " ".join(value.split())
    if not value:
        raise InvalidInput("describe what the picture shows, for people who cannot see it")
    if len(value) > MAX_ALT:
        raise InvalidInput(f"the description is {len(value)} characters; at most {MAX_ALT}")
    return value


def _stem(filename: str) -> str:
    base = filename.replace("\\", "/").rpartition("/")[2].rpartition(".")[0] or filename
    stem = _NOT_NAME.sub("-", base.lower()).strip("-_")[:60].strip("-_")
    return stem or "picture"


def _free_name(taken: set[str], stem: str, ext: str) -> str:
    name, n = f"{stem}.{ext}", 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}.{ext}"
    return images.name(name)


def _process(upload: Upload, alt_required: bool = True) -> tuple[str, photos.Photo]:
    """(The alt text, the picture made) of ``upload``; raises PictureRefused."""
    try:
        alt = alt_text(upload.alt) if alt_required or upload.alt.strip() else ""
    except InvalidInput as exc:
        raise PictureRefused(upload.filename, str(exc)) from None
    try:
        return alt, photos.process(upload.data, upload.filename)
    except LimitExceeded as exc:
        raise PictureRefused(upload.filename, str(exc), limit=True) from None
    except InvalidInput as exc:
        raise PictureRefused(upload.filename, str(exc)) from None


class ImageLibrary:
    """Every method raises InvalidInput (bad slug or value) and NotFound (no
    such business, no site yet, or no such picture) besides what it names;
    a failure changes nothing."""

    def __init__(self, stores: Stores):
        self.stores = stores

    def pictures(self, slug: str) -> list[Picture]:
        """Every picture, by name, with what uses it."""

        def read(conn: sqlite3.Connection) -> list[Picture]:
            return [Picture(r["name"], r["type"], r["width"], r["height"], r["phone_width"], r["phone_height"],
                            r["bytes"], r["alt"], r["updated"], used_by(conn, r["name"]))
                    for r in store.list_images(conn)]

        return self.stores.handle(slug).read_sync("image library", read)

    def picture(self, slug: str, name: str) -> Picture:
        """One picture. Raises NotFound."""
        image_name = images.name(name)
        for picture in self.pictures(slug):
            if picture.name == image_name:
                return picture
        raise NotFound(f"no image {image_name}")

    def file(self, slug: str, name: str, phone: bool = False) -> tuple[str, bytes]:
        """(content type, bytes) of a picture, or of its phone variant."""
        image_name = images.name(name)
        return self.stores.handle(slug).read_sync("image file", lambda c: store.image_file(c, image_name, phone))

    def add(self, slug: str, uploads: list[Upload], *, actor: str) -> list[str]:
        """Add every picture of ``uploads``, each under a new name made
        from its file name; returns the names, in order.

        Checks, before anything is stored: at most :data:`MAX_FILES`; each
        alt text; each file as :func:`sitegen.photos.process` does (a JPEG,
        PNG, WebP or HEIC picture within its limits); then that the library and
        the live site fit the plan's web space and the library's count.
        Raises PictureRefused (naming the file), LimitExceeded. CPU-bound:
        call it off the event loop.
        """
        if not uploads:
            raise InvalidInput("choose at least one picture")
        if len(uploads) > MAX_FILES:
            raise LimitExceeded(f"at most {MAX_FILES} pictures at once")
        processed = [(upload.filename, *_process(upload)) for upload in uploads]

        def add(conn: sqlite3.Connection) -> list[str]:
            limit = directory.limits(conn).web_bytes
            live = sites.summary(conn)["bytes"]
            taken = {r["name"] for r in store.list_images(conn)}
            names = []
            for filename, alt, photo in processed:
                name = _free_name(taken, _stem(filename), photo.extension)
                taken.add(name)
                large, phone = photo.large, photo.phone
                try:
                    store.put_image(conn, name, photo.type, large.width, large.height, large.data,
                                    limit_bytes=max(0, limit - live), alt=alt,
                                    phone=(phone.width, phone.height, phone.data), replace=False)
                except LimitExceeded:
                    raise LimitExceeded(
                        f"{filename} does not fit in the plan's web space of {limit // 2**20} MiB"
                        " (the live site and the pictures together)") from None
                directory.audit(conn, actor, "site.image.add", name)
                names.append(name)
            return names

        return self.stores.handle(slug).write_sync("image library add", add)

    def put(self, slug: str, upload: Upload, name: str | None = None, *, actor: str) -> str:
        """Store one picture under ``name``, replacing a picture of that
        name (the operator's ``appliance site image add``); returns the name.

        The default name is the file's, lower-cased, ending in the extension
        of the picture made (``IMG_1.HEIC`` is stored as ``img_1.jpg``); a
        name given must end so. The picture is checked and made as
        :meth:`add` makes it (no EXIF, no GPS position); its alt text may be
        empty (the blocks that show it give theirs). Raises PictureRefused,
        LimitExceeded. CPU-bound: call it off the event loop.
        """
        alt, photo = _process(upload, alt_required=False)
        if name is None:
            base = upload.filename.replace("\\", "/").rpartition("/")[2]
            name = f"{base.rpartition('.')[0] or base}.{photo.extension}"
        image_name = images.name(name)
        if image_name.rpartition(".")[2] not in images.EXTENSIONS[photo.type]:
            raise InvalidInput(f"{upload.filename} is made a {photo.type} picture; name it .{photo.extension}")

        def put(conn: sqlite3.Connection) -> None:
            limit = directory.limits(conn).web_bytes
            live = sites.summary(conn)["bytes"]
            large, phone = photo.large, photo.phone
            try:
                replaced = store.put_image(conn, image_name, photo.type, large.width, large.height, large.data,
                                           limit_bytes=max(0, limit - live), alt=alt,
                                           phone=(phone.width, phone.height, phone.data))
            except LimitExceeded:
                raise LimitExceeded(
                    f"{upload.filename} does not fit in the plan's web space of {limit // 2**20} MiB"
                    " (the live site and the pictures together)") from None
            directory.audit(conn, actor, "site.image.replace" if replaced else "site.image.add", image_name)

        self.stores.handle(slug).write_sync("image library put", put)
        return image_name

    def set_alt(self, slug: str, name: str, alt: str, *, actor: str) -> None:
        """Change a picture's alt text (blocks added later take it; blocks
        already on a page keep their own). Raises NotFound."""
        image_name, text = images.name(name), alt_text(alt)

        def change(conn: sqlite3.Connection) -> None:
            store.set_alt(conn, image_name, text)
            directory.audit(conn, actor, "site.image.alt", image_name)

        self.stores.handle(slug).write_sync("image library alt", change)

    def remove(self, slug: str, name: str, *, actor: str) -> None:
        """Remove a picture. Raises Conflict, naming what shows it, while
        the logo or a page does."""
        image_name = images.name(name)

        def remove(conn: sqlite3.Connection) -> None:
            store.remove_image(conn, image_name, used_by(conn, image_name))
            directory.audit(conn, actor, "site.image.remove", image_name)

        self.stores.handle(slug).write_sync("image library remove", remove)

    def alts(self, slug: str) -> dict[str, str]:
        """Each picture's alt text, by name (for the blocks' forms)."""
        return {p.name: p.alt for p in self.pictures(slug)}
