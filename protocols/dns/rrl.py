"""Response rate limiting against amplification (as NSD's RRL does).

A UDP answer is charged to a token bucket keyed by the source prefix (/24
for IPv4, /56 for IPv6: one attacker spoofing one victim's network shares
it) and the kind of answer (positive, NODATA, NXDOMAIN, referral, error),
so a flood of one kind does not silence the others. A bucket holds at most
``rate`` tokens and refills ``rate`` per second. An answer with no token
left is dropped, except every ``slip``-th, which goes out truncated (TC=1,
the question only): too small to amplify, enough for a real resolver to
retry over TCP, which rate limiting never touches.

Memory is bounded: at most ``max_prefixes`` buckets; the oldest is
forgotten first.
"""

from __future__ import annotations

import ipaddress
import time

KIND_ANSWER, KIND_NODATA, KIND_NXDOMAIN, KIND_REFERRAL, KIND_ERROR = range(5)

#: What :meth:`RateLimiter.check` decides.
SEND, DROP, SLIP = 0, 1, 2


def answer_kind(wire: bytes) -> int:
    """Classify a finished answer from its header alone."""
    rcode = wire[3] & 0x0F
    if rcode == 3:
        return KIND_NXDOMAIN
    if rcode:
        return KIND_ERROR
    if wire[6] or wire[7]:
        return KIND_ANSWER
    return KIND_NODATA if wire[2] & 0x04 else KIND_REFERRAL  # AA set: NODATA


def prefix(address: str) -> str:
    """The source network an answer is charged to."""
    if ":" in address:
        return str(ipaddress.IPv6Network((address.partition("%")[0], 56), strict=False).network_address)
    return address.rpartition(".")[0]


class RateLimiter:
    """Token buckets per (prefix, kind). ``check`` is called per UDP answer."""

    def __init__(self, rate: int, slip: int, max_prefixes: int, exempt_loopback: bool, clock=time.monotonic):
        self.rate = float(rate)
        self.slip = slip
        self.max_prefixes = max_prefixes
        self.exempt_loopback = exempt_loopback
        self.clock = clock
        # key -> [tokens, last refill time, answers dropped so far]
        self.buckets: dict[tuple[str, int], list] = {}
        self.dropped = 0
        self.slipped = 0

    def check(self, address: str, wire: bytes) -> int:
        if self.exempt_loopback and (address.startswith("127.") or address == "::1"):
            return SEND
        key = (prefix(address), answer_kind(wire))
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.max_prefixes:
                # dicts keep insertion order: the first key is the oldest.
                del self.buckets[next(iter(self.buckets))]
            self.buckets[key] = [self.rate - 1.0, now, 0]
            return SEND
        tokens = min(self.rate, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return SEND
        bucket[0] = tokens
        bucket[2] += 1
        if self.slip and bucket[2] % self.slip == 0:
            self.slipped += 1
            return SLIP
        self.dropped += 1
        return DROP


def truncated(wire: bytes, qend: int) -> bytes:
    """``wire`` cut to its header and question, with TC set and no records."""
    out = bytearray(wire[:qend])
    out[2] |= 0x02
    out[6:12] = b"\x00" * 6
    return bytes(out)
