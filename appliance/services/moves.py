"""Moving a business to another box, with nothing lost.

The sending box (:meth:`Moves.move`):

1. asks the target whether it would take the file (key, slug, room), so
   a refusal costs the business nothing;
2. freezes the business (:mod:`storage.freeze`): from the commit of the
   marker on, every write of every protocol is refused with a temporary
   failure (SMTP ``451 4.3.2``, IMAP ``NO [UNAVAILABLE]``, HTTP ``503``),
   reads are still served, and clients retry;
3. copies the file with SQLite's backup API (a snapshot that holds every
   write ever acknowledged, since none commits after the marker) and
   hashes it;
4. sends it to the target, which checks the hash and the file, imports it
   and serves it before it answers;
5. records the move in the marker: the business stays in this box's
   catalog, frozen, for ``[fleet] grace_days`` - mail still gets ``451``,
   web and DAV requests a redirect to the target - and then
   :meth:`Moves.expire` moves the file to ``removed/``;
6. hands the zones over: once this box's daemon no longer serves them (so
   its catalog zone no longer lists them), asks the target to announce its
   own catalog (:meth:`Moves.announce`), twice a few seconds apart, so
   that secondaries which ignored the target's listing while this box
   still had the zones (RFC 9432 section 5.6: Knot 3.2 has no ``coo``)
   take them from the target at once.

Any failure before the target answered thaws the business here: it is
served as before and the operator gets one line saying why.

The receiving box (:meth:`Moves.check_incoming`, :meth:`Moves.receive`)
takes the file from its provisioning API (``/api/v1/moves/<slug>``).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import logging
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from storage import box as boxdb
from storage import freeze, names
from storage.errors import StorageFull
from storage.tenants import check_file, export_file

from .. import probe
from ..errors import Conflict, InvalidInput, LimitExceeded, NotFound
from ..movewire import MoveFailed, Target
from .base import Stores
from .businesses import Business, Businesses

log = logging.getLogger(__name__)

#: Room a received file needs besides its own size: its WAL while it is
#: migrated and checked, and some left for the businesses already here.
ROOM_FACTOR = 1.1
ROOM_SPARE = 64 << 20
#: Bytes hashed at a time.
CHUNK = 1 << 20
#: How long a move waits for this box's DNS to stop serving the business's
#: zones (the daemon reloads within a second or two) before handing them over.
DROP_WAIT_SECONDS = 30.0
#: Seconds between the two announcements asked of the target: the second
#: covers a secondary that read the first before this box's removal.
ANNOUNCE_AGAIN_SECONDS = 3.0


@dataclass(frozen=True)
class Moved:
    """The outcome of :meth:`Moves.move`."""

    slug: str
    target: str
    bytes: int
    sha256: str
    seconds_frozen: float
    #: Whether the target announced its catalog (step 6 of the module doc).
    handed_over: bool = True

    def as_dict(self) -> dict:
        return {"slug": self.slug, "target": self.target, "bytes": self.bytes, "sha256": self.sha256,
                "seconds_frozen": round(self.seconds_frozen, 3), "handed_over": self.handed_over}


def file_sha256(path: Path) -> bytes:
    """The SHA-256 of the file ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


def parse_repr_digest(header: str) -> bytes:
    """The SHA-256 of a ``Repr-Digest`` field (RFC 9530 section 3:
    ``sha-256=:<base64>:``, maybe among other algorithms). InvalidInput
    when it has none."""
    for member in header.split(","):
        name, _, value = member.strip().partition("=")
        if name.strip().lower() == "sha-256" and value.startswith(":") and value.endswith(":"):
            try:
                raw = base64.b64decode(value[1:-1], validate=True)
            except ValueError:
                break
            if len(raw) == 32:
                return raw
    raise InvalidInput("Repr-Digest must carry the file's sha-256 (RFC 9530)", field="Repr-Digest")


class Moves:
    """Moves between boxes, both sides. See module doc."""

    def __init__(self, stores: Stores, businesses: Businesses):
        self.stores = stores
        self.businesses = businesses

    # -- the sending box -----------------------------------------------------

    def marker(self, slug: str) -> freeze.Marker | None:
        """The business's freeze marker, or None. Raises NotFound."""
        return self.stores.handle(slug).read_sync("freeze marker", freeze.marker)

    def freeze(self, slug: str, target: str, *, actor: str) -> freeze.Marker:
        """Freeze the business for a move to ``target`` (a host name).
        Returns once the marker is committed: no write commits after.
        Raises NotFound."""
        handle = self.stores.handle(slug)
        found = handle.write_sync("freeze", lambda c: freeze.freeze(c, target), frozen_ok=True)
        log.info("business %s frozen by %s for a move to %s", handle.slug, actor, target)
        self.stores.changed("tenant freeze")
        return found

    def thaw(self, slug: str, *, actor: str) -> bool:
        """Lift the marker; False when the business was not frozen."""
        handle = self.stores.handle(slug)
        lifted = handle.write_sync("thaw", freeze.thaw, frozen_ok=True)
        if lifted:
            log.info("business %s thawed by %s", handle.slug, actor)
            self.stores.changed("tenant thaw")
        return lifted

    def snapshot(self, slug: str, target: Path) -> tuple[int, bytes]:
        """Copy the frozen business to the new file ``target`` (backup API)
        and return its size and SHA-256. InvalidInput if not frozen."""
        handle = self.stores.handle(slug)
        if handle.read_sync("freeze marker", freeze.marker) is None:
            raise InvalidInput(f"business {handle.slug} is not frozen: a copy now could miss later writes")
        export_file(self.stores.tenants.get(handle.slug), target)
        return os.path.getsize(target), file_sha256(target)

    def move(self, slug: str, target: Target, *, actor: str,
             progress: Callable[[str, int, int], None] | None = None) -> Moved:
        """Move the business to ``target`` (see module doc).

        ``progress(step, done, total)`` tells each step ("check", "freeze",
        "copy", "send", "done") and, while sending, the bytes sent. Raises
        NotFound, Conflict (already moving), MoveFailed (the target refused
        or could not be reached: the business is thawed and served here).
        """
        def tell(step: str, done: int = 0, total: int = 0) -> None:
            if progress is not None:
                progress(step, done, total)

        handle = self.stores.handle(slug)
        slug = handle.slug
        found = self.marker(slug)
        if found is not None:
            raise Conflict(f"business {slug} is already frozen for a move to {found.target}"
                           + (" (moved)" if found.moved else ""))
        size = self.stores.tenants.path(slug).stat().st_size
        business = self.stores.catalog.find_business_sync(slug)
        domains = business.domains if business is not None else ()
        tell("check", 0, size)
        target.check(slug, size)
        work = self.stores.state_dir / "run"
        work.mkdir(exist_ok=True)
        copy = work / f".move-{slug}-{os.getpid()}.sqlite3"
        copy.unlink(missing_ok=True)
        tell("freeze")
        self.freeze(slug, target.host, actor=actor)
        started = datetime.datetime.now(datetime.timezone.utc)
        try:
            tell("copy")
            size, digest = self.snapshot(slug, copy)
            tell("send", 0, size)
            target.send(slug, copy, digest, lambda sent, total: tell("send", sent, total))
        except BaseException as exc:
            # Nothing reached the target, or it refused: serve here again.
            self.thaw(slug, actor=actor)
            if isinstance(exc, OSError):
                raise MoveFailed(f"cannot copy business {slug}: {exc.strerror or exc}") from None
            raise
        finally:
            copy.unlink(missing_ok=True)
        handle.write_sync("moved", freeze.mark_moved, frozen_ok=True)
        # The daemon reloads: the business's zones leave this box's DNS.
        self.stores.changed("tenant moved")
        frozen = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
        tell("hand over", size, size)
        handed_over = self._hand_over(slug, domains, target)
        tell("done", size, size)
        log.info("business %s moved by %s to %s: %d bytes, sha-256 %s, frozen %.1f s",
                 slug, actor, target.host, size, digest.hex(), frozen)
        return Moved(slug, target.host, size, digest.hex(), frozen, handed_over)

    def _hand_over(self, slug: str, domains: tuple[str, ...], target: Target) -> bool:
        """Step 6 of the module doc; False (and a warning) if the target
        could not announce its catalog."""
        self._wait_dropped(domains)
        try:
            target.announce(slug)
            time.sleep(ANNOUNCE_AGAIN_SECONDS)
            target.announce(slug)
        except MoveFailed as exc:
            log.warning("business %s: the zones' handover to %s failed (%s); the fleet's secondaries take them "
                        "from it when its catalog next changes", slug, target.host, exc)
            return False
        return True

    def _wait_dropped(self, domains: tuple[str, ...]) -> None:
        """Wait (at most :data:`DROP_WAIT_SECONDS`) until this box's running
        daemon answers none of ``domains`` as a zone apex of its own; at
        once when no daemon runs (it reads the files when it starts)."""
        address = probe.listener(self.stores.state_dir, "dns")
        if address is None:
            return
        deadline = time.monotonic() + DROP_WAIT_SECONDS
        while time.monotonic() < deadline:
            if not any(probe.serves_apex(address, domain) for domain in domains):
                return
            time.sleep(0.1)
        log.warning("this box still serves %s after %.0f s", ", ".join(domains), DROP_WAIT_SECONDS)

    def expire(self, now: datetime.datetime | None = None, *, actor: str = "fleet") -> list[Path]:
        """Remove (to ``removed/``) every business that moved away more
        than ``[fleet] grace_days`` ago; returns where their files went."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        grace = datetime.timedelta(days=self.stores.settings.fleet.grace_days)
        gone = []
        for entry in self.businesses.list():
            try:
                found = self.stores.tenants.handle(entry.slug).read_sync("freeze marker", freeze.marker)
            except NotFound:
                continue
            if found is None or not found.moved:
                continue
            if datetime.datetime.fromisoformat(found.moved) + grace <= now:
                gone.append(self.businesses.remove(entry.slug, actor=actor))
        return gone

    # -- the receiving box ---------------------------------------------------

    def check_incoming(self, slug: str, size: int) -> None:
        """Whether a business file of ``size`` bytes for ``slug`` may come.
        Raises InvalidInput (a bad slug), Conflict (the business exists
        here), LimitExceeded (over ``[fleet] max_move_bytes``), StorageFull
        (the state filesystem has no room for it)."""
        slug = names.slug(slug)
        limit = self.stores.settings.fleet.max_move_bytes
        if size < 0:
            raise InvalidInput("bytes must be 0 or more", field="bytes")
        if size > limit:
            raise LimitExceeded(f"the file is larger than this box takes ({limit} bytes)")
        if self.stores.tenants.path(slug).exists() or self.stores.catalog.find_business_sync(slug) is not None:
            raise Conflict(f"business {slug} already exists here")
        free = shutil.disk_usage(self.stores.tenants.directory).free
        if free < size * ROOM_FACTOR + ROOM_SPARE:
            raise StorageFull(f"no room here for {size} bytes ({free} free)")

    def announce(self, slug: str, *, actor: str) -> int:
        """Announce this box's catalog zone again for business ``slug``,
        which moved here (step 6 of the module doc); returns the count of
        announcements. NotFound unless the business is served here."""
        business = self.stores.catalog.find_business_sync(names.slug(slug))
        if business is None:
            raise NotFound(f"no business {slug} here")
        count = self.stores.box.write_sync("announce catalog", boxdb.announce_catalog)
        self.stores.changed("catalog announced")
        log.info("catalog announced for business %s by %s (%d)", business.slug, actor, count)
        return count

    def receive(self, slug: str, spool: Path, digest: bytes, *, actor: str) -> Business:
        """Import the business file ``spool`` (received from another box,
        in the businesses' directory) as ``slug``, once its SHA-256 is
        ``digest`` and it is a sound business file holding ``slug``.

        Changes: the freeze marker the file came with is removed, the file
        is migrated, registered and moved into place; served at once.
        Raises InvalidInput (a damaged copy), IntegrityFailed, Conflict;
        the spool is the caller's to remove when this fails.
        """
        slug = names.slug(slug)
        got = file_sha256(spool)
        if got != digest:
            raise InvalidInput(f"the file arrived damaged: its sha-256 is {got.hex()}, not {digest.hex()}",
                               field="Repr-Digest")
        check_file(spool)
        return self.businesses.adopt_staged(spool, actor=actor, origin="another box", slug=slug, prepare=_unfreeze)


def _unfreeze(path: Path) -> None:
    """Remove the sending box's freeze marker from the received file."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        freeze.thaw(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()


__all__ = ["Moved", "Moves", "MoveFailed", "file_sha256", "parse_repr_digest"]
