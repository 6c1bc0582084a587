"""What our Radicale plugins share: the App, who owns a DAV path, logins,
per-business locks and limits.

Paths (below ``/dav``):

``/<address>/``
    a user's home (principal): ``calendar/``, ``tasks/``, ``contacts/`` and
    any collection the user makes.
``/<slug>/``
    the business's shared area: ``calendar/``, ``projects/`` (tasks),
    ``customers/`` (the address book every member shares). It is listed in
    every member's home too, so clients that look only at the home find it.

An address always holds ``@`` and a slug never does, so the first segment
says which is meant; either way it leads to exactly one business file, and
the rights plugin allows a user only their own home and their own
business's area. Domains are looked up in the App's catalog and logins go
through the App's one login checker (``app.auth``). One :class:`DavBackend`
exists per App (no module state).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.errors import AuthFailed
from storage.names import SLUG_RE
from storage.dav import Limits
from storage.tenants import TenantHandle

from .locks import RWLock

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Owner:
    """The business file behind a path's first segment."""

    handle: TenantHandle
    kind: str  # "user" or "shared"
    name: str  # the address or the slug


class DavBackend:
    """Per-App state of the DAV service, used from the WSGI threads."""

    def __init__(self, app: App):
        self.app = app
        settings = app.settings.dav
        self.max_item_bytes = settings.max_item_bytes
        self.max_instances = settings.max_instances
        self.limits_template = Limits(
            max_items_per_collection=settings.max_items_per_collection,
            max_collections_per_owner=settings.max_collections,
            max_bytes=settings.business_mb * 1024 * 1024,
        )
        self._lock = threading.Lock()
        self._tenant_locks: dict[str, RWLock] = {}
        # The verdict on this request's credentials (see check_login).
        self._request = threading.local()

    # -- where a path leads ---------------------------------------------------

    def slug_for_domain(self, domain: str) -> str | None:
        """The business owning ``domain``, from the App's catalog."""
        business = self.app.catalog.find_sync(domain)
        return business.slug if business is not None else None

    def slug_of_user(self, address: str) -> str | None:
        if "@" not in address:
            return None
        return self.slug_for_domain(address.rpartition("@")[2])

    def owner(self, segment: str) -> Owner | None:
        """The business file behind the first path segment, or None."""
        if "@" in segment:
            slug = self.slug_of_user(segment)
            kind = "user"
        elif SLUG_RE.match(segment):
            slug = segment
            kind = "shared"
        else:
            return None
        if slug is None or not self.app.tenants.exists(slug):
            return None
        return Owner(self.app.tenants.handle(slug), kind, segment)

    def lock(self, slug: str) -> RWLock:
        """The lock of one business's DAV data (Radicale's storage lock)."""
        with self._lock:
            lock = self._tenant_locks.get(slug)
            if lock is None:
                lock = self._tenant_locks[slug] = RWLock()
            return lock

    def limits(self) -> Limits:
        return self.limits_template

    # -- logins ------------------------------------------------------------------

    def check_login(self, login: str, password: str, peer: str) -> str:
        """The user's address if ``login``/``password`` are right, else "";
        raises :class:`appliance.errors.Suspended` for a right password of
        a suspended business.

        Runs in a WSGI thread: a thin facade over the one login checker
        (``app.auth.login_sync``, the same coroutine IMAP and SMTP await,
        run on the loop), with DAV's login cache. A request's credentials
        are checked once: the verdict :meth:`begin_request` stored is
        reused when Radicale asks again for the same request.
        """
        verdict = getattr(self._request, "verdict", None)
        if verdict is not None and verdict[0] == (login.lower(), password):
            return verdict[1]
        try:
            principal = self.app.auth.login_sync(
                self.app.loop, login, password, protocol="dav", peer=peer, cached=True
            )
        except AuthFailed:
            return ""
        return principal.address

    def begin_request(self, login: str, password: str, peer: str) -> str:
        """Check this request's credentials (:meth:`check_login`) and keep
        the verdict for the rest of the request, in this thread."""
        self._request.verdict = None
        address = self.check_login(login, password, peer)
        self._request.verdict = ((login.lower(), password), address)
        return address

    def end_request(self) -> None:
        self._request.verdict = None
