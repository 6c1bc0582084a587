"""The Sender Rewriting Scheme: return addresses for mail the box forwards.

Mail a user's rules redirect outside the box keeps its content but not its
envelope sender: sent on as ``joe@remote.example`` from our addresses it
would fail the SPF check of ``remote.example`` at the destination. The
envelope sender becomes an address of the forwarding user's domain that
encodes the original (the SRS0/SRS1 forms of the scheme's paper, as
Postfix's postsrsd and Exim write them)::

    SRS0=HHHHHHHH=TT=remote.example=joe@acme.example
    SRS1=HHHHHHHH=first.example==HHHHHHHH=TT=remote.example=joe@acme.example

``TT`` is the day it was made (days since the epoch modulo 1024, two
base32 letters) and ``HHHHHHHH`` an HMAC-SHA256 of the rest under the
box's secret (40 bits, base32: a case-blind MTA on the way changes
nothing). A bounce sent to such an address comes back to our MX, which
checks the hash and the age (:meth:`Srs.reverse`) and sends it on to the
original sender; a forged, altered or expired address is refused at RCPT.
An address already in SRS1 form keeps its first forwarder and gets a new
hash, so the chain never grows.

This is our own small implementation rather than ``srslib`` or ``pysrs``:
both are single-author packages last released years ago; the scheme is
sixty lines of HMAC and string handling, and here it keeps its secrets in
the box database, rotated (:func:`storage.srs.rotate`) with the old ones
verifying for ``[srs] max_age_days`` more.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from typing import Any, Sequence

from storage import box as boxdb
from storage import srs as srsdb

from .errors import NotFound

log = logging.getLogger(__name__)

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
#: Days a timestamp counts before it wraps (two base32 letters).
_WRAP = 1024
#: Base32 letters of the hash: 40 bits.
HASH_LENGTH = 8
#: RFC 5321 section 4.5.3.1.3: a path is at most 256 octets with its
#: brackets; an address longer than that is not made.
MAX_ADDRESS = 254

_SRS = re.compile(r"^srs[01][=+-]", re.IGNORECASE)
_SRS0 = re.compile(r"^SRS0[=+-]([^=]+)=([^=]{2})=([^=]+)=(.+)$", re.IGNORECASE)
_SRS1 = re.compile(r"^SRS1[=+-]([^=]+)=([^=]+)=(=.+)$", re.IGNORECASE)


class SrsInvalid(NotFound):
    """An address in SRS form that we did not make, was altered, or has
    expired: no one receives mail there."""


def looks_like(address: str) -> bool:
    """Whether the local part of ``address`` is in SRS0 or SRS1 form."""
    return bool(_SRS.match(address))


class Codec:
    """SRS with a fixed list of secrets (the first signs, all verify)."""

    def __init__(self, secrets: Sequence[str], max_age_days: int):
        if not secrets:
            raise ValueError("SRS needs at least one secret")
        self.keys = [s.encode() for s in secrets]
        self.max_age_days = max_age_days

    def _hash(self, key: bytes, *parts: str) -> str:
        digest = hmac.new(key, "".join(parts).lower().encode("utf-8", "surrogateescape"), hashlib.sha256).digest()
        return base64.b32encode(digest)[:HASH_LENGTH].decode()

    def _check(self, given: str, *parts: str) -> bool:
        given = given.upper()
        return any(hmac.compare_digest(given, self._hash(key, *parts)) for key in self.keys)

    def forward(self, sender: str, domain: str, now: float | None = None) -> str | None:
        """The SRS address of ``domain`` that stands for ``sender``, or None
        when ``sender`` needs none (the null sender, an address of
        ``domain`` itself) or the result would be too long."""
        local, at, sender_domain = sender.rpartition("@")
        if not at or not local or not sender_domain or sender_domain.lower() == domain.lower():
            return None
        m0, m1 = _SRS0.match(local), _SRS1.match(local)
        if m1:
            # Already forwarded twice: keep the first forwarder, sign anew.
            first, opaque = m1.group(2), m1.group(3)
            rewritten = f"SRS1={self._hash(self.keys[0], first, opaque)}={first}={opaque}"
        elif m0:
            opaque = "=" + local[5:]
            rewritten = f"SRS1={self._hash(self.keys[0], sender_domain, opaque)}={sender_domain}={opaque}"
        else:
            stamp = _stamp(now)
            rewritten = f"SRS0={self._hash(self.keys[0], stamp, sender_domain, local)}={stamp}={sender_domain}={local}"
        address = f"{rewritten}@{domain}"
        return address if len(address) <= MAX_ADDRESS else None

    def reverse(self, address: str, now: float | None = None) -> str:
        """The address an SRS address of ours stands for (for SRS1, the
        first forwarder's SRS0 address); SrsInvalid if the hash does not
        verify under any kept secret or the timestamp is too old."""
        local = address.rpartition("@")[0]
        m1 = _SRS1.match(local)
        if m1:
            given, first, opaque = m1.groups()
            if not self._check(given, first, opaque):
                raise SrsInvalid("invalid forwarding address")
            return f"SRS0{opaque}@{first}"
        m0 = _SRS0.match(local)
        if not m0:
            raise SrsInvalid("invalid forwarding address")
        given, stamp, domain, original = m0.groups()
        if not self._check(given, stamp.upper(), domain, original):
            raise SrsInvalid("invalid forwarding address")
        age = _age(stamp, now)
        if age is None or age > self.max_age_days:
            raise SrsInvalid("expired forwarding address")
        return f"{original}@{domain}"


def _stamp(now: float | None) -> str:
    day = int((time.time() if now is None else now) // 86_400) % _WRAP
    return _BASE32[day // 32] + _BASE32[day % 32]


def _age(stamp: str, now: float | None) -> int | None:
    stamp = stamp.upper()
    if any(c not in _BASE32 for c in stamp):
        return None
    made = _BASE32.index(stamp[0]) * 32 + _BASE32.index(stamp[1])
    today = int((time.time() if now is None else now) // 86_400) % _WRAP
    return (today - made) % _WRAP


class Srs:
    """The box's SRS: the secrets read from the box database (made on
    first use), reloaded when the box changes (a rotation by the CLI).

    :meth:`forward` and :meth:`reverse` are plain CPU work on what is in
    memory: safe on the loop and in worker threads."""

    def __init__(self, box: Any, settings: Any):
        self.box = box
        self.enabled = bool(settings.enabled)
        self.max_age_days = int(settings.max_age_days)
        self._codec: Codec | None = None

    @property
    def keep_seconds(self) -> float:
        return self.max_age_days * 86_400.0

    async def load(self) -> None:
        """Read the secrets (making the first one if there is none)."""
        keep = self.keep_seconds

        def read(conn: Any) -> list[str]:
            srsdb.ensure(conn)
            srsdb.expire(conn, keep_seconds=keep)
            return srsdb.current(conn)

        self._codec = Codec(await self.box.write("srs secrets", read), self.max_age_days)

    def rotate(self) -> int:
        """Make a new signing secret (blocking; for the CLI). Returns how
        many secrets verify now."""
        keep = self.keep_seconds

        def write(conn: Any) -> int:
            srsdb.rotate(conn, keep_seconds=keep)
            boxdb.bump_generation(conn)  # the daemon reloads its secrets
            return len(srsdb.current(conn))

        return self.box.write_sync("srs rotate", write)

    def forward(self, sender: str, domain: str) -> str:
        """The envelope sender to forward ``sender``'s mail with from
        ``domain``: its SRS address, or ``sender`` itself when SRS is off,
        not loaded, or not needed (see :meth:`Codec.forward`)."""
        if not self.enabled or self._codec is None or not sender:
            return sender
        return self._codec.forward(sender, domain) or sender

    def reverse(self, address: str) -> str:
        """See :meth:`Codec.reverse`; SrsInvalid also when SRS is off."""
        if not self.enabled or self._codec is None:
            raise SrsInvalid("invalid forwarding address")
        return self._codec.reverse(address)
