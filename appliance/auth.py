"""Logins, for every protocol: address + password -> :class:`Principal`.

A principal is authenticated once per connection and carries the handle on
its business's file; every later access goes through that handle, so no
protocol code takes a business or a path from the wire.

Failed logins are counted per source address and per account. Past
``[auth] max_failures`` within ``failure_window`` seconds, further attempts
are refused without verifying the password (no CPU spent on a brute force),
and every failure is answered only after a growing delay that is awaited on
the event loop, so nothing else waits. Each failure logs one line of fixed
format that the fail2ban filter in ``systemd/`` matches::

    auth failed: protocol=imap user=alice@example.com source=192.0.2.7
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass

from storage import box as boxdb
from storage import directory
from storage.database import Database
from storage.tenants import TenantHandle, TenantPool

from . import names
from .errors import AuthFailed, InvalidInput, Suspended
from .passwords import MAX_PASSWORD_LENGTH, Hasher

log = logging.getLogger(__name__)

#: Delay before a failure is answered: base * 2**(failures-1), capped.
DELAY_BASE = 0.25
DELAY_CAP = 5.0


@dataclass(frozen=True)
class Principal:
    """An authenticated user of one business."""

    address: str
    user_id: int
    tenant: TenantHandle

    @property
    def slug(self) -> str:
        return self.tenant.slug


class FailureCounter:
    """Failures per key within a sliding window (in memory, bounded)."""

    def __init__(self, window: float, max_keys: int = 100_000):
        self.window = window
        self.max_keys = max_keys
        self._events: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()

    def count(self, key: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        events = self._events.get(key)
        if not events:
            return 0
        while events and now - events[0] > self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return 0
        return len(events)

    def add(self, key: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        events = self._events.setdefault(key, collections.deque(maxlen=1000))
        self._events.move_to_end(key)
        events.append(now)
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return self.count(key, now)

    def clear(self, key: str) -> None:
        self._events.pop(key, None)


class Authenticator:
    def __init__(
        self,
        box: Database,
        pool: TenantPool,
        hasher: Hasher,
        *,
        max_failures: int = 10,
        failure_window: float = 900,
    ):
        self.box = box
        self.pool = pool
        self.hasher = hasher
        self.max_failures = max_failures
        self.failures = FailureCounter(failure_window)

    def throttled(self, address: str, peer: str) -> bool:
        """True when this source or account has failed too often lately."""
        return (
            self.failures.count("ip:" + peer) >= self.max_failures
            or self.failures.count("user:" + address) >= self.max_failures
        )

    def failure_delay(self, address: str, peer: str) -> float:
        n = max(self.failures.count("ip:" + peer), self.failures.count("user:" + address))
        return 0.0 if n == 0 else min(DELAY_CAP, DELAY_BASE * 2 ** (n - 1))

    def record_failure(self, protocol: str, address: str, peer: str) -> None:
        self.failures.add("ip:" + peer)
        self.failures.add("user:" + address)
        # Fixed format, matched by systemd/fail2ban/appliance.conf.
        log.warning("auth failed: protocol=%s user=%s source=%s", protocol, _printable(address), peer)

    async def login(self, address: str, password: str, *, protocol: str, peer: str) -> Principal:
        """Authenticate; raises :class:`AuthFailed` or :class:`Suspended`.

        Every failure is delayed (asynchronously) and logged in the fixed
        format. An unknown address costs the same hash as a wrong password.
        """
        try:
            principal = await self._check(address, password, protocol, peer)
        except AuthFailed:
            clean = address.strip().lower()[:254]
            self.record_failure(protocol, clean, peer)
            await asyncio.sleep(self.failure_delay(clean, peer))
            raise
        self.failures.clear("user:" + principal.address)
        return principal

    async def _check(self, address: str, password: str, protocol: str, peer: str) -> Principal:
        try:
            address = names.address(address)
        except InvalidInput:
            raise AuthFailed("authentication failed") from None
        if len(password) > MAX_PASSWORD_LENGTH or self.throttled(address, peer):
            raise AuthFailed("authentication failed")
        domain = address.rpartition("@")[2]
        slug = await self.box.read("auth domain", lambda c: boxdb.tenant_for_domain(c, domain))
        row = None
        handle = None
        if slug is not None and self.pool.exists(slug):
            handle = self.pool.handle(slug)
            row = await handle.read("auth user", lambda c: directory.login_row(c, address))
        if row is None:
            # Spend the same time as a real check so addresses can't be probed.
            await self.hasher.verify(password, _DUMMY_HASH)
            raise AuthFailed("authentication failed")
        user_id, stored, user_state, tenant_state = row
        ok, new_hash = await self.hasher.verify(password, stored)
        if not ok or user_state != "active":
            raise AuthFailed("authentication failed")
        if tenant_state == "suspended":
            raise Suspended("this business is suspended")
        if new_hash:
            await handle.write(
                "auth upgrade hash", lambda c: directory.replace_hash_if_unchanged(c, user_id, stored, new_hash)
            )
            log.info("%s: password hash upgraded to argon2id", address)
        return Principal(address, user_id, handle)


def _printable(value: str) -> str:
    # A user name comes from the wire: keep the log line one line, and
    # keep it matchable (no spaces).
    return "".join(c if 33 <= ord(c) < 127 else "?" for c in value) or "-"


# An argon2id hash with the default parameters: verifying against it costs
# what a real verification costs; the login fails whatever it returns.
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$2ZtzrlXKWUtpbQ1B6B3DmA$clJWMR3aPSSSvB3dOlNjiZzaY8s3ukH4I4iXvYygj30"
