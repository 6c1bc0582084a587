"""The receiving side's MTA-STS policy, as a sender honours it (RFC 8461).

Before mail leaves for a domain by its MX records, the outbound queue asks
:meth:`Policies.policy_for`. The answer comes from the box database's cache
(:mod:`storage.mtasts`) when the domain's ``_mta-sts`` TXT record still
names the cached ``id``; otherwise the policy is fetched from
``https://mta-sts.<domain>/.well-known/mta-sts.txt`` - the certificate
checked against that name, no redirect followed, at most
:data:`MAX_POLICY_BYTES` - and cached for its ``max_age``.

Section 5.1's rules on failure keep a downgrade from working: with no TXT
record, or when a new policy cannot be fetched, an unexpired cached policy
still applies; a TXT record that is present but cannot be looked up right
now (a timeout) changes nothing cached either. Only a domain that never
had a policy fetched here is treated as having none.

What the queue does with a policy (:func:`mx_matches`, ``enforce`` and
``testing``) is in :mod:`appliance.outbound`; this module only finds it.
Lookups go through the ``[smtp] resolver``, fetches off the loop in a small
thread pool (``http.client``: one GET, nothing else).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.resolver

from storage import mtasts as stsdb

from .mailpolicy import MAX_AGE_LIMIT, MODES, POLICY_LABEL, POLICY_PATH

log = logging.getLogger(__name__)

#: RFC 8461 section 3.3: policy bodies should be no larger than 64 KiB.
MAX_POLICY_BYTES = 64 * 1024
#: MX patterns one policy may list (nothing legitimate comes near it).
MAX_MX = 64
#: Domains whose policy the box remembers at once.
MAX_CACHED = 100_000
#: Policy fetches at once, box-wide.
FETCHERS = 4
#: RFC 8461 section 3.1: ``id`` is 1-32 letters and digits.
_ID = re.compile(r"[A-Za-z0-9]{1,32}")


class PolicyError(ValueError):
    """A policy file that does not follow RFC 8461 section 3.2."""


@dataclass(frozen=True)
class Policy:
    """One domain's policy: ``mode`` is ``enforce``, ``testing`` or ``none``."""

    id: str
    mode: str
    mx: tuple[str, ...]
    max_age: int


def parse(text: str, policy_id: str) -> Policy:
    """The policy in ``text`` (``key: value`` lines, CRLF or LF); unknown
    keys are ignored as section 3.2 asks. Raises :class:`PolicyError`."""
    fields: dict[str, str] = {}
    mx: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise PolicyError(f"not a key: value line: {line[:60]!r}")
        key, value = key.strip(), value.strip()
        if key == "mx":
            if len(mx) >= MAX_MX:
                raise PolicyError(f"more than {MAX_MX} mx lines")
            mx.append(value.lower().rstrip("."))
        else:
            fields.setdefault(key, value)
    if fields.get("version") != "STSv1":
        raise PolicyError("version is not STSv1")
    mode = fields.get("mode", "")
    if mode not in MODES:
        raise PolicyError(f"unknown mode {mode[:20]!r}")
    age = fields.get("max_age", "")
    if not age.isdigit() or len(age) > 10 or not 0 <= int(age) <= MAX_AGE_LIMIT:
        raise PolicyError("max_age is not a number of seconds up to a year")
    if mode != "none" and not mx:
        raise PolicyError("no mx line")
    return Policy(policy_id, mode, tuple(mx), int(age))


def mx_matches(pattern: str, host: str) -> bool:
    """Does MX ``host`` match the policy's ``pattern`` (RFC 8461 section
    4.1: exact, or ``*.`` standing for exactly one leftmost label)?"""
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label) and bool(dot) and rest == pattern[2:]
    return host == pattern


def txt_id(records: list[str]) -> str | None:
    """The ``id`` of the one ``v=STSv1`` record among ``records``; None when
    there is none, several, or it is malformed (section 3.1: no policy)."""
    ours = [r for r in records if r.startswith("v=STSv1")]
    if len(ours) != 1:
        return None
    fields = dict(part.strip().partition("=")[::2] for part in ours[0].split(";") if part.strip())
    value = fields.get("id", "")
    return value if _ID.fullmatch(value) else None


class Policies:
    """See the module doc. ``box`` is the box :class:`storage.database.Database`."""

    def __init__(self, box: Any, resolver: dns.asyncresolver.Resolver, *, port: int = 443,
                 cafile: str | None = None, timeout: float = 30.0):
        self.box = box
        self.resolver = resolver
        self.port = port
        self.cafile = cafile
        self.timeout = timeout
        self._pool = concurrent.futures.ThreadPoolExecutor(FETCHERS, thread_name_prefix="mta-sts")
        self._fetching: dict[str, asyncio.Future] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def policy_for(self, domain: str) -> Policy | None:
        """``domain``'s policy in force now, or None (no policy, or ``none``)."""
        domain = domain.lower().rstrip(".")
        now = time.time()
        cached = await self.box.read("mta-sts policy", lambda c: stsdb.get(c, domain, now))
        policy = Policy(cached[0], cached[1], cached[2], cached[3]) if cached else None
        try:
            answer = await self.resolver.resolve(f"_mta-sts.{domain}", "TXT", search=False)
            current = txt_id([b"".join(r.strings).decode("ascii", "replace") for r in answer])
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            current = None
        except dns.exception.DNSException as exc:
            log.info("%s: _mta-sts lookup failed (%s); the cached policy stands", domain, exc)
            return _in_force(policy)
        if current is None or (policy is not None and policy.id == current):
            return _in_force(policy)
        fetched = await self._fetch_once(domain, current)
        if fetched is None:
            return _in_force(policy)
        return _in_force(fetched)

    async def _fetch_once(self, domain: str, policy_id: str) -> Policy | None:
        # One fetch per domain at a time: a burst of queued mail for a
        # domain waits for the same answer.
        running = self._fetching.get(domain)
        if running is None:
            running = asyncio.ensure_future(self._fetch(domain, policy_id))
            self._fetching[domain] = running
            running.add_done_callback(lambda _f: self._fetching.pop(domain, None))
        return await asyncio.shield(running)

    async def _fetch(self, domain: str, policy_id: str) -> Policy | None:
        host = f"{POLICY_LABEL}.{domain}"
        addresses: list[str] = []
        for rtype in ("A", "AAAA"):
            try:
                answer = await self.resolver.resolve(host, rtype, search=False)
                addresses.extend(r.address for r in answer)
            except dns.exception.DNSException:
                continue
        if not addresses:
            log.info("%s: the policy host %s has no address", domain, host)
            return None
        loop = asyncio.get_running_loop()
        for address in addresses:
            try:
                text = await loop.run_in_executor(self._pool, self._get, host, address)
                policy = parse(text, policy_id)
            except (OSError, ssl.SSLError, http.client.HTTPException, PolicyError, UnicodeDecodeError) as exc:
                log.info("%s: MTA-STS policy not fetched from %s: %s", domain, address, exc)
                continue
            now = time.time()
            await self.box.write("mta-sts policy", lambda c: stsdb.put(
                c, domain, policy.id, policy.mode, policy.mx, policy.max_age, now, MAX_CACHED))
            log.info("%s: MTA-STS policy %s (%s, %d MX patterns, max_age %d)",
                     domain, policy.id, policy.mode, len(policy.mx), policy.max_age)
            return policy
        return None

    def _get(self, host: str, address: str) -> str:
        """GET the policy from ``address`` as ``host`` (runs in the pool)."""
        context = ssl.create_default_context(cafile=self.cafile)
        conn = _PinnedHTTPSConnection(host, address, self.port, timeout=self.timeout, context=context)
        try:
            conn.request("GET", POLICY_PATH, headers={"Host": host, "Accept": "text/plain",
                                                      "User-Agent": "mta-sts"})
            reply = conn.getresponse()
            if reply.status != 200:
                # Section 3.3: redirects are not followed; anything but 200 is no policy.
                raise http.client.HTTPException(f"HTTP {reply.status}")
            media = (reply.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if media != "text/plain":
                raise http.client.HTTPException(f"media type {media or 'missing'}, not text/plain")
            body = reply.read(MAX_POLICY_BYTES + 1)
            if len(body) > MAX_POLICY_BYTES:
                raise http.client.HTTPException(f"policy larger than {MAX_POLICY_BYTES} bytes")
            return body.decode("utf-8")
        finally:
            conn.close()


def _in_force(policy: Policy | None) -> Policy | None:
    return policy if policy is not None and policy.mode != "none" else None


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``host`` at an address found through our resolver: the
    connection goes to ``address``, the TLS name checked is ``host``."""

    def __init__(self, host: str, address: str, port: int, **kwargs: Any):
        super().__init__(host, port, **kwargs)
        self._address = address
        self._tls = kwargs["context"]

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self.host)
