"""The reseller's brand: what the box calls itself on its pages and in the
mail it writes.

Each value comes from an operator's change in the panel (the box database,
:mod:`storage.brand`) when there is one, else from ``[brand]`` in the
settings, else from a neutral default: the box's host name, the panel's
own colour, no logo, no support contact. Never this project's name.

:meth:`Brands.current` answers from memory once loaded (the panel asks on
every page, on the event loop); the first call reads the box database and
the settings' logo file, which the daemon does before it serves. A change
made through this process (the panel's operator pages) replaces the value
in memory after the commit, so the next page shows it; a change made by
another (the CLI) moves the box generation in the same transaction, and the
daemon's generation watcher calls :meth:`Brands.refresh`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from storage import box as boxdb
from storage import brand as rows

from .. import brandrules
from ..errors import ApplianceError
from .base import Stores

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Brand:
    """The brand in force. ``logo`` is a PNG, or None; ``uploaded``: it is
    an operator's upload (not the settings' file)."""

    name: str
    colour: str
    support_email: str
    support_url: str
    logo: bytes | None
    uploaded: bool = False

    @property
    def version(self) -> str:
        """Changes whenever anything shown changes: the stylesheet's and the
        logo's addresses carry it, so a browser never shows a stale one."""
        digest = hashlib.sha256()
        for part in (self.name, self.colour, self.support_email, self.support_url):
            digest.update(part.encode() + b"\0")
        digest.update(self.logo or b"")
        return digest.hexdigest()[:12]

    def as_dict(self) -> dict:
        """What ``--json`` prints: the values, the logo's size, the version."""
        return {"name": self.name, "colour": self.colour, "support_email": self.support_email,
                "support_url": self.support_url, "logo_bytes": len(self.logo or b""), "uploaded_logo": self.uploaded,
                "version": self.version}

    def css(self) -> str:
        """The panel's stylesheet addition: its primary colour."""
        return f":root{{--accent:{self.colour}}}\n"


@dataclass(frozen=True)
class Configured:
    """What the settings say, before an operator's changes ("" = unset)."""

    name: str
    colour: str
    support_email: str
    support_url: str
    logo_path: str


class Brands:
    """See module doc. Safe from threads; :meth:`current` never blocks once loaded."""

    def __init__(self, stores: Stores):
        self.stores = stores
        self._current: Brand | None = None
        self._lock = threading.Lock()

    def configured(self) -> Configured:
        section = self.stores.settings.brand
        return Configured(section.name, section.colour, section.support_email, section.support_url, section.logo)

    def current(self) -> Brand:
        """The brand in force (module doc)."""
        brand = self._current
        if brand is None:
            with self._lock:
                if self._current is None:
                    self._current = self._load()
                brand = self._current
        return brand

    def set(self, *, name: str, colour: str, support_email: str, support_url: str, actor: str) -> Brand:
        """Store an operator's brand; "" for ``colour``, ``support_email``
        or ``support_url`` clears it (no support contact; the default
        colour), and the settings no longer decide those values. Checks
        each value (:mod:`appliance.brandrules`); raises InvalidInput with
        ``field`` naming the first bad one, and then changes nothing."""
        values = {
            "name": brandrules.name(name),
            "colour": brandrules.colour(colour) if colour.strip() else "",
            "support_email": brandrules.support_email(support_email),
            "support_url": brandrules.support_url(support_url),
        }
        self._write("brand set", lambda c: rows.set_fields(c, values, _now()))
        log.info("%s: brand set to %r (colour %s)", actor, values["name"], values["colour"] or "default")
        return self._reload()

    def set_logo(self, data: bytes, filename: str, *, actor: str) -> Brand:
        """Store ``data`` as the logo, made a PNG (:func:`brandrules.logo`).
        Raises LimitExceeded (too many bytes or pixels) or InvalidInput
        (not a JPEG, PNG, WebP or HEIC picture: SVG among others), and then
        changes nothing."""
        png = brandrules.logo(data, filename or "the logo")
        self._write("brand logo", lambda c: rows.set_logo(c, png, _now()))
        log.info("%s: brand logo set (%d bytes as PNG)", actor, len(png))
        return self._reload()

    def remove_logo(self, *, actor: str) -> Brand:
        """Forget the uploaded logo: the settings' logo (if any) is shown again."""
        self._write("brand logo remove", lambda c: rows.set_logo(c, None, _now()))
        log.info("%s: brand logo removed", actor)
        return self._reload()

    def refresh(self) -> Brand:
        """Read the brand again (another process may have changed it)."""
        return self._reload()

    def _write(self, desc: str, change) -> None:
        def write(conn) -> None:
            change(conn)
            boxdb.bump_generation(conn)

        self.stores.box.write_sync(desc, write)

    def _reload(self) -> Brand:
        # Read and installed under the lock: of two changes made at once,
        # the value installed last was read after both commits.
        with self._lock:
            brand = self._current = self._load()
        return brand

    def _load(self) -> Brand:
        stored = self.stores.box.read_sync("brand", rows.get)
        conf = self.configured()

        def pick(key: str, configured: str) -> str:
            value = stored.get(key)
            return configured if value is None else value

        logo = stored.get("logo")
        uploaded = logo is not None
        if logo is None and conf.logo_path:
            logo = self._settings_logo(conf.logo_path)
        return Brand(
            name=pick("name", conf.name) or self.stores.settings.box.hostname,
            colour=pick("colour", conf.colour) or brandrules.DEFAULT_COLOUR,
            support_email=pick("support_email", conf.support_email),
            support_url=pick("support_url", conf.support_url),
            logo=logo,
            uploaded=uploaded,
        )

    @staticmethod
    def _settings_logo(path: str) -> bytes | None:
        # Checked when the settings were loaded; a file changed or removed
        # since then costs the logo, not the panel.
        try:
            with open(path, "rb") as fh:
                return brandrules.logo(fh.read(brandrules.MAX_LOGO_BYTES + 1), path)
        except (OSError, ApplianceError) as exc:
            log.warning("[brand] logo %s cannot be shown: %s", path, exc)
            return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
