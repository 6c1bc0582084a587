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
business's area. One :class:`DavBackend` exists per App (no module state).
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from appliance import names
from appliance.errors import InvalidInput
from appliance.names import SLUG_RE
from appliance.passwords import CONTEXT, MAX_PASSWORD_LENGTH
from storage import box as boxdb
from storage import directory
from storage.dav import Limits
from storage.tenants import TenantHandle

from .locks import RWLock

log = logging.getLogger(__name__)

#: Successful logins remembered at most (oldest forgotten first).
LOGIN_CACHE_SIZE = 10_000
#: Domain -> business lookups remembered at most.
DOMAIN_CACHE_SIZE = 100_000


@dataclass(frozen=True)
class Owner:
    """The business file behind a path's first segment."""

    handle: TenantHandle
    kind: str  # "user" or "shared"
    name: str  # the address or the slug


class LoginCache:
    """address + password digest -> the stored hash it verified against.

    A hit counts only while the stored hash is unchanged, so a new password
    (or a removed user) ends it at once; entries expire after ``ttl``.
    The password itself is never kept: only an HMAC under a key that lives
    as long as the process.
    """

    def __init__(self, ttl: float, size: int = LOGIN_CACHE_SIZE):
        self.ttl = ttl
        self.size = size
        self._key = secrets.token_bytes(32)
        self._entries: collections.OrderedDict[tuple[str, bytes], tuple[str, float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def hit(self, address: str, password: str, stored_hash: str) -> bool:
        if self.ttl <= 0:
            return False
        key = (address, self._digest(password))
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False
            cached_hash, expires = entry
            if expires < time.monotonic() or not hmac.compare_digest(cached_hash, stored_hash):
                del self._entries[key]
                return False
            return True

    def remember(self, address: str, password: str, stored_hash: str) -> None:
        if self.ttl <= 0:
            return
        key = (address, self._digest(password))
        with self._lock:
            self._entries[key] = (stored_hash, time.monotonic() + self.ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


class DavBackend:
    """Per-App state of the DAV service, used from the WSGI threads."""

    def __init__(self, app: Any):
        self.app = app
        settings = app.settings.dav
        self.max_item_bytes = settings.max_item_bytes
        self.max_instances = settings.max_instances
        self.limits_template = Limits(
            max_items_per_collection=settings.max_items_per_collection,
            max_collections_per_owner=settings.max_collections,
            max_bytes=settings.business_mb * 1024 * 1024,
        )
        self.logins = LoginCache(settings.login_cache_seconds)
        self._domains: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._domains_generation = None
        self._lock = threading.Lock()
        self._tenant_locks: dict[str, RWLock] = {}
        self._dummy_hash: str | None = None

    # -- where a path leads ---------------------------------------------------

    def slug_for_domain(self, domain: str) -> str | None:
        """The business owning ``domain`` (positive answers cached until the
        box catalog changes; negative ones never, so a new business works at
        once)."""
        generation = getattr(self.app, "generation", None)
        with self._lock:
            if generation != self._domains_generation:
                self._domains.clear()
                self._domains_generation = generation
            slug = self._domains.get(domain)
        if slug is not None:
            return slug
        slug = self.app.box.read_sync("dav domain", lambda c: boxdb.tenant_for_domain(c, domain))
        if slug is not None:
            with self._lock:
                self._domains[domain] = slug
                while len(self._domains) > DOMAIN_CACHE_SIZE:
                    self._domains.popitem(last=False)
        return slug

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

    def _on_loop(self, fn: Callable, *args: Any) -> Any:
        """Run ``fn`` on the event loop (where the throttle's state lives)."""
        loop = self.app.loop
        if loop is None or not loop.is_running():
            return fn(*args)
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def _soon(self, fn: Callable, *args: Any) -> None:
        loop = self.app.loop
        if loop is None or not loop.is_running():
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def check_login(self, login: str, password: str, peer: str) -> str:
        """The user's address if ``login``/``password`` are right, else "".

        Runs in a WSGI thread. Uses the same throttle as every other
        protocol, but a failure is answered at once: the throttle refuses
        further attempts without hashing, so nothing needs to sleep here.
        """
        auth = self.app.auth
        try:
            address = names.address(login)
        except InvalidInput:
            self._soon(auth.record_failure, "dav", login.strip().lower()[:254], peer)
            return ""
        if len(password) > MAX_PASSWORD_LENGTH or self._on_loop(auth.throttled, address, peer):
            self._soon(auth.record_failure, "dav", address, peer)
            return ""
        slug = self.slug_of_user(address)
        row = None
        handle = None
        if slug is not None and self.app.tenants.exists(slug):
            handle = self.app.tenants.handle(slug)
            row = handle.read_sync("dav auth user", lambda c: directory.login_row(c, address))
        if row is None:
            # Same cost as a real check, so addresses cannot be probed.
            self.app.hasher.verify_sync(password, self._dummy())
            self._soon(auth.record_failure, "dav", address, peer)
            return ""
        user_id, stored, user_state, tenant_state = row
        if user_state != "active" or tenant_state != "active":
            self._soon(auth.record_failure, "dav", address, peer)
            return ""
        if self.logins.hit(address, password, stored):
            return address
        ok, new_hash = self.app.hasher.verify_sync(password, stored)
        if not ok:
            self._soon(auth.record_failure, "dav", address, peer)
            return ""
        if new_hash:
            handle.write_sync(
                "dav auth upgrade hash", lambda c: directory.replace_hash_if_unchanged(c, user_id, stored, new_hash)
            )
            stored = new_hash
        self.logins.remember(address, password, stored)
        self._soon(auth.failures.clear, "user:" + address)
        return address

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = CONTEXT.hash(secrets.token_hex(16))
        return self._dummy_hash
