"""What the login checker (:mod:`appliance.auth`) counts and queues, in
memory and bounded:

* :class:`FailureCounter` - failed logins per key (a source, an account)
  within a sliding window;
* :class:`KnownSources` - (account, source) pairs that signed in lately,
  so a real user still gets in while strangers guess at the account (the
  way Dovecot's auth penalty spares known clients and Stalwart's
  fail2ban-style blocking works per source);
* :class:`InFlight` - attempts being checked per key, and the attempts
  that wait for them to settle before they may start;
* :class:`TokenBucket` - requests per key at a steady rate with a burst
  (the provisioning API's per-key limit);
* :class:`VerifyQueue` - at most N password verifications at once in
  total and M per account; the rest wait in line, known sources first, and
  past a bound strangers are turned away at once (a queue, not more
  threads: the hash threads are never oversubscribed).

Every structure here lives on the event loop; nothing in it locks.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import ipaddress
import itertools
import time

from .errors import AuthFailed

#: Keys remembered at most by each structure (oldest forgotten first).
MAX_KEYS = 100_000
#: IPv6 sources are counted per /64: one host usually holds a whole /64.
IPV6_PREFIX = 64


class Busy(AuthFailed):
    """Too many logins wait for a verification: try again later. Not a
    wrong password, so it is neither counted nor logged as one."""


def source_key(peer: str) -> str:
    """The throttle's name for a client address: an IPv4 address as is
    (IPv4-mapped IPv6 too), an IPv6 address as its /64, anything else
    (``-``, a Unix socket) verbatim."""
    try:
        address = ipaddress.ip_address(peer.strip("[]").split("%", 1)[0])
    except ValueError:
        return peer
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)


class FailureCounter:
    """Failures per key within a sliding window (in memory, bounded)."""

    def __init__(self, window: float, max_keys: int = MAX_KEYS):
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


class InFlight:
    """Attempts being checked per key, and a bounded line of attempts
    waiting for one of them to settle.

    The login checker admits an attempt only while failures + attempts in
    flight stay under the limit, so parallel guesses cannot outrun the
    failure counter. An attempt that finds no room waits here (it is not
    refused): a correct login only ever waits for the ones ahead of it,
    and a wrong one is refused once the failures are counted.
    """

    def __init__(self, max_waiting: int):
        self.max_waiting = max_waiting
        self._counts: collections.Counter[str] = collections.Counter()
        self._waiters: list[asyncio.Future] = []

    def __getitem__(self, key: str) -> int:
        return self._counts[key]

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def add(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._counts[key] += 1

    def remove(self, keys: tuple[str, ...]) -> None:
        """One attempt settled: every waiter looks again (the caller
        records a failure before it next awaits, so they see it)."""
        for key in keys:
            self._counts[key] -= 1
            if self._counts[key] <= 0:
                del self._counts[key]
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def settled(self, urgent: bool = False) -> None:
        """Wait until some attempt settles; raises :class:`Busy` at once
        when ``max_waiting`` others already wait and this one is not
        ``urgent``."""
        if not urgent and len(self._waiters) >= self.max_waiting:
            raise Busy("too many logins at once; try again later")
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        finally:
            if not future.done():
                future.cancel()
            try:
                self._waiters.remove(future)
            except ValueError:
                pass


class TokenBucket:
    """Requests per key: ``burst`` at once, then ``rate`` a second (in
    memory, bounded; a key forgotten starts with a full bucket)."""

    def __init__(self, rate: float, burst: int, max_keys: int = MAX_KEYS):
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one request of ``key``: 0 when allowed, else the seconds
        until one is allowed (nothing is spent then)."""
        now = time.monotonic() if now is None else now
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


class KnownSources:
    """(account, source) pairs that signed in within ``ttl`` seconds."""

    def __init__(self, ttl: float, max_pairs: int = MAX_KEYS):
        self.ttl = ttl
        self.max_pairs = max_pairs
        self._pairs: collections.OrderedDict[tuple[str, str], float] = collections.OrderedDict()

    def __contains__(self, pair: tuple[str, str]) -> bool:
        expires = self._pairs.get(pair)
        if expires is None:
            return False
        if expires < time.monotonic():
            del self._pairs[pair]
            return False
        return True

    def add(self, account: str, source: str) -> None:
        pair = (account, source)
        self._pairs[pair] = time.monotonic() + self.ttl
        self._pairs.move_to_end(pair)
        while len(self._pairs) > self.max_pairs:
            self._pairs.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pairs)


class VerifyQueue:
    """Slots for password verifications: ``slots`` at once in total,
    ``per_key`` at once per account. Waiters are served in order, those
    marked ``urgent`` (a known source) before the others; a waiter whose
    account is at its cap lets the next one pass."""

    def __init__(self, slots: int, per_key: int, max_waiting: int):
        self.slots = slots
        self.per_key = per_key
        self.max_waiting = max_waiting
        self.running = 0
        self._by_key: collections.Counter[str] = collections.Counter()
        # Sorted (rank, seq, key, future); seq is unique, so futures are
        # never compared.
        self._waiting: list[tuple[int, int, str, asyncio.Future]] = []
        self._seq = itertools.count()
        #: Verifications started, in total (for tests and metrics).
        self.started = 0

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def acquire(self, key: str, urgent: bool = False) -> None:
        """Wait for a slot for ``key``; raises :class:`Busy` at once when
        ``max_waiting`` others already wait and this one is not urgent."""
        if not urgent and len(self._waiting) >= self.max_waiting:
            raise Busy("too many logins at once; try again later")
        future = asyncio.get_running_loop().create_future()
        entry = (0 if urgent else 1, next(self._seq), key, future)
        bisect.insort(self._waiting, entry)
        self._wake()
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(key)  # granted just before the cancellation
            else:
                try:
                    self._waiting.remove(entry)
                except ValueError:
                    pass
            raise

    def release(self, key: str) -> None:
        self.running -= 1
        self._by_key[key] -= 1
        if self._by_key[key] <= 0:
            del self._by_key[key]
        self._wake()

    def _wake(self) -> None:
        i = 0
        while self.running < self.slots and i < len(self._waiting):
            _rank, _seq, key, future = self._waiting[i]
            if future.done():  # cancelled while waiting
                del self._waiting[i]
                continue
            if self._by_key[key] >= self.per_key:
                i += 1
                continue
            del self._waiting[i]
            self.running += 1
            self._by_key[key] += 1
            self.started += 1
            future.set_result(None)
