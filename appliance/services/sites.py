"""Sites: a business's published website (uploads, downloads, what is live).

Every upload is published as one new version in one transaction: a refusal
changes nothing, and visitors see the old version or the new one. The site
builder's sources are :mod:`.sitebuilder`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Mapping

from storage import directory, sites

from ..errors import InvalidInput, NotFound
from . import siteupload
from .base import Stores


@dataclass(frozen=True)
class Published:
    """A version just published."""

    slug: str
    version: int
    files: int
    bytes: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SiteFile:
    path: str
    bytes: int
    type: str
    gzip_bytes: int | None


@dataclass(frozen=True)
class SiteSummary:
    """The live version (0: none), its files and the plan's web space."""

    version: int
    published: str | None
    source: str | None  # upload | builder
    files: list[SiteFile]
    bytes: int
    limit_bytes: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Version:
    """A published version kept to roll back to (``live``: the one served)."""

    version: int
    created: str
    source: str  # upload | builder
    files: int
    bytes: int
    live: bool

    def as_dict(self) -> dict:
        return asdict(self)


class Sites:
    def __init__(self, stores: Stores):
        self.stores = stores

    def web_space(self, slug: str) -> int:
        """The plan's web space of business ``slug`` in bytes."""
        return self.stores.handle(slug).read_sync("web space", lambda c: directory.limits(c).web_bytes)

    def publish(self, slug: str, files: Mapping[str, bytes], *, source: str = "upload", actor: str) -> Published:
        """Publish ``files`` (path -> bytes) as the business's website.

        Checks: every path (``storage.sites.check_path``), the file count,
        and the total against the plan's web space. Changes: one new live
        version, in one transaction. Raises InvalidInput, LimitExceeded,
        NotFound.
        """
        handle = self.stores.handle(slug)

        def publish(conn: sqlite3.Connection) -> int:
            limit = directory.limits(conn).web_bytes
            version = sites.publish(conn, files, limit_bytes=limit, source=source)
            total = sum(len(b) for b in files.values())
            directory.audit(conn, actor, "site.publish", f"version {version}: {len(files)} files, {total} bytes")
            return version

        version = handle.write_sync("site upload", publish)
        return Published(handle.slug, version, len(files), sum(len(b) for b in files.values()))

    def upload(self, slug: str, source: str | Path | BinaryIO, *, actor: str) -> Published:
        """Publish the directory or zip archive ``source``: a local path,
        or a seekable binary stream of a zip archive (a file sent to the
        panel).

        Checks: see :mod:`.siteupload` (links, paths, sizes, zip bombs),
        before anything is written; then :meth:`publish`. The builder's
        draft, its removed pages included, stays as it was
        (``SiteBuilder.remove_page`` says why). Raises InvalidInput,
        LimitExceeded, NotFound.
        """
        limit = self.web_space(slug)
        if hasattr(source, "read"):
            return self.publish(slug, siteupload.read_zip(source, limit), source="upload", actor=actor)
        source = Path(source)
        try:
            if source.is_symlink():
                raise InvalidInput(f"{source} is a symbolic link")
            if source.is_dir():
                files = siteupload.read_directory(source, limit)
            elif source.is_file():
                files = siteupload.read_zip(source, limit)
            else:
                raise NotFound(f"no directory or zip archive {source}")
        except OSError as exc:
            raise InvalidInput(f"cannot read {exc.filename or source}: {exc.strerror or exc}") from None
        return self.publish(slug, files, source="upload", actor=actor)

    def files(self, slug: str) -> dict[str, bytes]:
        """Every file of the live version. Raises NotFound when nothing is
        published."""
        handle = self.stores.handle(slug)
        files = handle.read_sync("site download", sites.files_of)
        if not files:
            raise NotFound(f"{handle.slug} has no published website")
        return files

    def summary(self, slug: str) -> SiteSummary:
        """What is live, and the web space used. Raises InvalidInput, NotFound."""
        s = self.stores.handle(slug).read_sync("site show", sites.summary)
        files = [SiteFile(f["path"], f["bytes"], f["type"], f["gzip_bytes"]) for f in s["files"]]
        return SiteSummary(s["version"], s["published"], s["source"], files, s["bytes"], s["limit_bytes"])

    def versions(self, slug: str) -> list[Version]:
        """The published versions kept (the last ``storage.sites.KEEP_VERSIONS``
        that fit in the web space), newest first. Raises InvalidInput, NotFound."""
        return [Version(**v) for v in self.stores.handle(slug).read_sync("site versions", sites.versions)]

    def roll_back(self, slug: str, version: int, *, actor: str) -> None:
        """Serve the kept ``version`` again, at once and whole; newer versions
        stay kept. The builder's draft, its removed pages included, stays
        as it was (``SiteBuilder.remove_page`` says why). Raises NotFound
        for a version not kept."""

        def back(conn: sqlite3.Connection) -> None:
            sites.roll_back(conn, version)
            directory.audit(conn, actor, "site.rollback", f"version {version}")

        self.stores.handle(slug).write_sync("site roll back", back)
