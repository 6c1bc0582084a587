"""Logins, for every protocol and front end: address + password ->
:class:`Principal`. This is the one login checker: IMAP, SMTP AUTH, DAV
(through :meth:`Authenticator.login_sync`, from its WSGI threads) and the
panel all call it, so suspension, throttling, the hash upgrade, the
fail2ban line, app passwords and two-step sign-in exist once.

Which secret opens what:

* the panel (``protocol="panel"``) takes the user's own password only,
  never an app password; for a user with two-step sign-in on, the
  principal it returns has ``two_step`` set and the panel must have a code
  accepted by :meth:`Authenticator.second_factor` before it starts a
  session;
* every other protocol (IMAP, SMTP AUTH, DAV) takes the user's app
  passwords (:mod:`appliance.apppasswords`) always, and their own password
  only while two-step sign-in is off: a password alone must not open the
  mail of someone who asked for two steps. Refusing it is the same failure
  as a wrong password (same line, same delay, the same hash spent).

A principal is authenticated once per connection and carries the handle on
its business's file; every later access goes through that handle, so no
protocol code takes a business or a path from the wire.

Throttling (:mod:`appliance.throttle`) counts failed logins, per source
address (IPv6 per /64) and per account, within ``[auth] failure_window``
(as fail2ban and Dovecot's auth penalty do); a successful login is never
counted against anyone:

* a source with ``max_failures`` failures is refused without a password
  check;
* an account with as many is refused the same way, except from a source
  that signed in to it within ``known_source_days``: strangers guessing at
  an account cannot lock its real user out;
* an attempt starts only while failures + attempts in flight stay under
  ``max_failures`` for its source (and account); otherwise it waits for
  one in flight to settle and looks again, so parallel guesses never get
  more checks than sequential ones, while many devices behind one address
  logging in at once with the right password all get in (past
  ``max_waiting`` waiters, strangers are turned away with :class:`Busy`);
* at most ``hash_threads`` verifications run at once, at most
  ``verify_per_account`` for one account; the rest wait in line (known
  sources first), and past ``max_waiting`` strangers are turned away;
* every failure is answered after a growing delay awaited on the event
  loop, so nothing else waits (threads skip it: the throttle above already
  refuses their next attempts without hashing).

Each failure logs one line of fixed format that the fail2ban filter in
``systemd/`` matches::

    auth failed: protocol=imap user=alice@example.com source=192.0.2.7

A correct password for a suspended business raises :class:`Suspended`
on every protocol (only after the password was right, so nobody learns
that a business is suspended without its password).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import hashlib
import hmac
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage import credentials, directory, freeze
from storage.errors import Frozen
from storage.tenants import TenantHandle, TenantPool

from storage import names
from . import apppasswords, twofactor
from .catalog import Catalog
from .errors import AuthFailed, InvalidInput, Suspended
from .metrics import Metrics
from .passwords import MAX_PASSWORD_LENGTH, Hasher
from .throttle import Busy, FailureCounter, InFlight, KnownSources, VerifyQueue, source_key

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

#: Delay before a failure is answered: base * 2**(failures-1), capped.
DELAY_BASE = 0.25
DELAY_CAP = 5.0
#: How long a thread waits for a login on the loop before giving up.
SYNC_TIMEOUT = 30.0
#: Successful logins remembered at most by :class:`LoginCache`.
LOGIN_CACHE_SIZE = 10_000
#: The one front end that takes the user's own password only.
PANEL = "panel"
#: An app password's "last used" is written at most this often (seconds).
APP_USED_EVERY = 60.0

__all__ = ["Authenticator", "Busy", "LoginCache", "Principal"]


@dataclass(frozen=True)
class Principal:
    """An authenticated user of one business."""

    address: str
    user_id: int
    tenant: TenantHandle
    #: Two-step sign-in is on: a panel sign-in is only half done.
    two_step: bool = False

    @property
    def slug(self) -> str:
        return self.tenant.slug


class LoginCache:
    """address + password digest -> the stored hash it verified against.

    For clients that log in on every request (DAV): a hit skips the hash.
    A hit counts only while the stored hash is unchanged, so a new password
    (or a removed user) ends it at once; entries expire after ``ttl``.
    The password itself is never kept: only an HMAC under a key that lives
    as long as the process. Consulted only after the throttle admitted the
    attempt, so it is never a free oracle for guesses.
    """

    def __init__(self, ttl: float, size: int = LOGIN_CACHE_SIZE):
        self.ttl = ttl
        self.size = size
        self._key = secrets.token_bytes(32)
        self._entries: collections.OrderedDict[tuple[str, bytes], tuple[str, float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

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


class Authenticator:
    """The one login checker. See module doc."""

    def __init__(
        self,
        catalog: Catalog,
        pool: TenantPool,
        hasher: Hasher,
        *,
        max_failures: int = 10,
        failure_window: float = 900,
        hash_slots: int = 2,
        verify_per_account: int = 1,
        max_waiting: int = 64,
        known_source_seconds: float = 30 * 86_400,
        cache_seconds: float = 0,
        metrics: Metrics | None = None,
    ):
        self.catalog = catalog
        #: Logins counted by protocol and result.
        self.metrics = metrics if metrics is not None else Metrics()
        self.pool = pool
        self.hasher = hasher
        self.max_failures = max_failures
        self.failures = FailureCounter(failure_window)
        self.known = KnownSources(known_source_seconds)
        self.queue = VerifyQueue(hash_slots, verify_per_account, max_waiting)
        self.cache = LoginCache(cache_seconds)
        self.in_flight = InFlight(max_waiting)

    @classmethod
    def from_settings(cls, settings: "Settings", catalog: Catalog, pool: TenantPool, hasher: Hasher,
                      metrics: Metrics | None = None) -> "Authenticator":
        auth = settings.auth
        return cls(
            catalog,
            pool,
            hasher,
            max_failures=auth.max_failures,
            failure_window=auth.failure_window,
            hash_slots=auth.hash_threads,
            verify_per_account=auth.verify_per_account,
            max_waiting=auth.max_waiting,
            known_source_seconds=auth.known_source_days * 86_400,
            cache_seconds=settings.dav.login_cache_seconds,
            metrics=metrics,
        )

    # -- the throttle ------------------------------------------------------

    def throttled(self, address: str, peer: str) -> bool:
        """True when this source, or this account for this source, has
        ``max_failures`` failures within the window: refused unchecked."""
        source = source_key(peer)
        if self.failures.count("ip:" + source) >= self.max_failures:
            return True
        if (address, source) in self.known:
            return False
        return self.failures.count("user:" + address) >= self.max_failures

    @contextlib.asynccontextmanager
    async def attempt(self, address: str, peer: str):
        """Admit one check of ``address``'s secret from ``peer``, held in
        flight for the ``async with`` body; yields whether the source is
        known to the account.

        Raises :class:`AuthFailed` (not yet counted: the caller records the
        failure) when :meth:`throttled`; waits while failures + attempts in
        flight would reach ``max_failures``; raises :class:`Busy` when too
        many attempts wait. A caller records a failure after the body
        without awaiting in between, so a waiter never sees neither.
        """
        source = source_key(peer)
        source_key_, account_key = "ip:" + source, "user:" + address
        known = (address, source) in self.known
        checked = (source_key_,) if known else (source_key_, account_key)
        while True:
            if self.throttled(address, peer):
                raise AuthFailed("authentication failed")
            if all(self.failures.count(k) + self.in_flight[k] < self.max_failures for k in checked):
                break
            await self.in_flight.settled(urgent=known)
        keys = (source_key_, account_key)
        self.in_flight.add(keys)
        try:
            yield known
        finally:
            self.in_flight.remove(keys)

    def failure_delay(self, address: str, peer: str) -> float:
        source = source_key(peer)
        n = max(self.failures.count("ip:" + source), self.failures.count("user:" + address))
        return 0.0 if n == 0 else min(DELAY_CAP, DELAY_BASE * 2 ** (n - 1))

    def record_failure(self, protocol: str, address: str, peer: str) -> None:
        self.failures.add("ip:" + source_key(peer))
        self.failures.add("user:" + address)
        # Fixed format, matched by systemd/fail2ban/appliance.conf.
        log.warning("auth failed: protocol=%s user=%s source=%s", protocol, _printable(address), peer)

    # -- logging in --------------------------------------------------------

    async def login(
        self, address: str, password: str, *, protocol: str, peer: str, delay: bool = True, cached: bool = False
    ) -> Principal:
        """Authenticate; raises :class:`AuthFailed` (:class:`Busy` when the
        queue is full) or :class:`Suspended`.

        Every failure is logged in the fixed format and, with ``delay``,
        answered after the throttle's delay (awaited, on the loop). An
        unknown address costs the same hash as a wrong password. With
        ``cached``, a login repeated within ``[dav] login_cache_seconds``
        skips the hash (see :class:`LoginCache`).
        """
        clean = address.strip().lower()[:254]
        try:
            principal = await self._attempt(address, password, source_key(peer), cached, protocol)
        except Busy:
            log.info("%s: login for %s refused: too many logins waiting", peer, _printable(clean))
            raise
        except AuthFailed:
            # No await between the attempt leaving "in flight" and this:
            # a parallel attempt sees one or the other, never neither.
            self.record_failure(protocol, clean, peer)
            self.metrics.login(protocol, False)
            if delay:
                await asyncio.sleep(self.failure_delay(clean, peer))
            raise
        self.metrics.login(protocol, True)
        return principal

    def login_sync(
        self,
        loop: asyncio.AbstractEventLoop | None,
        address: str,
        password: str,
        *,
        protocol: str,
        peer: str,
        cached: bool = False,
        timeout: float = SYNC_TIMEOUT,
    ) -> Principal:
        """:meth:`login` for a thread that is not the loop's (DAV's WSGI
        threads): the same coroutine, run on ``loop``, waited for here.

        A failure is answered without the delay (a pool thread must not
        sleep); the throttle refuses the source's next attempts without
        hashing instead. A login still waiting after ``timeout`` seconds is
        cancelled and raises :class:`Busy`.
        """
        coro = self.login(address, password, protocol=protocol, peer=peer, delay=False, cached=cached)
        if loop is None or not loop.is_running():
            return asyncio.run(coro)  # no daemon loop (a script, the CLI)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            coro.close()
            raise RuntimeError("login_sync called on the event loop; await login() there")
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise Busy("login took too long; try again later") from None

    async def _attempt(self, address: str, password: str, source: str, cached: bool, protocol: str) -> Principal:
        try:
            address = names.address(address)
        except InvalidInput:
            raise AuthFailed("authentication failed") from None
        if len(password) > MAX_PASSWORD_LENGTH:
            raise AuthFailed("authentication failed")
        async with self.attempt(address, source) as known:
            principal = await self._check(address, password, known, cached, protocol)
        self.known.add(address, source)
        return principal

    async def _verify(self, address: str, password: str, stored: str, known: bool) -> tuple[bool, str | None]:
        """One hash, through the queue. If the caller goes away meanwhile,
        the slot is held until the thread has really finished."""
        await self.queue.acquire(address, urgent=known)
        task = asyncio.ensure_future(self.hasher.verify(password, stored))

        def done(t: asyncio.Future) -> None:
            self.queue.release(address)
            if not t.cancelled():
                t.exception()  # retrieved, even when nobody awaits it any more

        task.add_done_callback(done)
        return await asyncio.shield(task)

    async def _check(self, address: str, password: str, known: bool, cached: bool, protocol: str) -> Principal:
        business = await self.catalog.find(address.rpartition("@")[2])
        row = None
        handle = None
        # The panel never takes an app password: don't even look one up.
        app_digest = None if protocol == PANEL else apppasswords.digest(password)

        def read(conn) -> tuple | None:
            found = directory.login_row(conn, address)
            if found is None:
                return None
            app = credentials.find_app_password(conn, found[0], app_digest) if app_digest else None
            return (*found, credentials.is_on(conn, found[0]), app, freeze.marker(conn))

        if business is not None and self.pool.exists(business.slug):
            handle = self.pool.handle(business.slug)
            row = await handle.read("auth user", read)
        if row is None:
            # Spend the same time as a real check so addresses can't be probed.
            await self._verify(address, password, _DUMMY_HASH, known)
            raise AuthFailed("authentication failed")
        user_id, stored, user_state, tenant_state, two_step, app, marker = row
        new_hash = None
        if app is not None:
            # Looked up by digest on every login, never cached: a revoked
            # app password fails from the next request on.
            ok = True
        elif two_step and protocol != PANEL:
            # The own password is refused here whatever it is; the hash is
            # spent all the same, so this answer says nothing about it.
            await self._verify(address, password, _DUMMY_HASH, known)
            ok = False
        elif cached and self.cache.hit(address, password, stored):
            ok = True
        else:
            ok, new_hash = await self._verify(address, password, stored, known)
        if not ok or user_state != "active":
            raise AuthFailed("authentication failed")
        if tenant_state == "suspended":
            raise Suspended("this business is suspended")
        if marker is not None and marker.moved:
            # Served by another box now: what is here is no longer current.
            raise Frozen(marker.target, moved=True)
        if new_hash:
            try:
                await handle.write(
                    "auth upgrade hash", lambda c: directory.replace_hash_if_unchanged(c, user_id, stored, new_hash)
                )
            except Frozen:
                pass  # moving to another box: upgraded at a later login there
            else:
                log.info("%s: password hash upgraded to argon2id", address)
                stored = new_hash
        if app is not None:
            await self._app_used(handle, app)
        elif cached:
            self.cache.remember(address, password, stored)
        return Principal(address, user_id, handle, two_step=two_step)

    async def _app_used(self, handle: TenantHandle, app: tuple[str, float | None]) -> None:
        ref, last_used = app
        now = time.time()
        if last_used is None or now - last_used >= APP_USED_EVERY:
            try:
                await handle.write("app password used", lambda c: credentials.app_password_used(c, ref, now))
            except Frozen:
                pass  # moving to another box: a sign of life, not worth refusing the login for

    # -- the second factor -------------------------------------------------

    async def second_factor(self, slug: str, user_id: int, address: str, code: str, *, peer: str,
                            protocol: str = PANEL) -> None:
        """Accept one code of the user ``user_id`` of business ``slug``,
        whose password was right: a current TOTP code never used before, or
        an unused recovery code, which is then spent. Raises
        :class:`AuthFailed` otherwise, counted by the throttle like a wrong
        password (fixed log line, delay); a source or account over the limit
        is refused without a check."""
        code = code[: twofactor.MAX_CODE_LENGTH]

        def spend(conn) -> bool:
            state = credentials.two_step(conn, user_id)
            if state is None or not state["enabled"]:
                return False
            step = twofactor.verify(state["secret"], code, state["last_step"])
            if step is not None:
                return credentials.use_step(conn, user_id, step)
            return credentials.use_recovery_code(conn, user_id, twofactor.recovery_hash(code))

        try:
            async with self.attempt(address, peer):
                if self.pool.exists(slug) and await self.pool.handle(slug).write("auth second factor", spend):
                    return
        except Busy:
            raise
        except AuthFailed:
            pass
        self.record_failure(protocol, address, peer)
        await asyncio.sleep(self.failure_delay(address, peer))
        raise AuthFailed("authentication failed")

    async def confirm(self, address: str, password: str, code: str | None, *, peer: str) -> Principal:
        """A signed-in user proves it is them again before a sensitive
        change: their own password (as the panel's sign-in takes it) and,
        when two-step sign-in is on, a code (:meth:`second_factor`).
        Raises :class:`AuthFailed` (or :class:`Suspended`)."""
        principal = await self.login(address, password, protocol=PANEL, peer=peer)
        if principal.two_step:
            await self.second_factor(principal.slug, principal.user_id, principal.address, code or "", peer=peer)
        return principal


def _printable(value: str) -> str:
    # A user name comes from the wire: keep the log line one line, and
    # keep it matchable (no spaces).
    return "".join(c if 33 <= ord(c) < 127 else "?" for c in value) or "-"


# An argon2id hash with the default parameters: verifying against it costs
# what a real verification costs; the login fails whatever it returns.
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$2ZtzrlXKWUtpbQ1B6B3DmA$clJWMR3aPSSSvB3dOlNjiZzaY8s3ukH4I4iXvYygj30"
