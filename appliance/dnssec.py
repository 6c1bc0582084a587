"""DNSSEC signing of the zones (RFC 4033-4035), with dnspython's primitives.

Each zone is signed with its combined signing key(s) (:mod:`storage.dnssec`):

* :func:`publish_keys` puts the DNSKEY RRset (every key of the zone) and the
  CDS/CDNSKEY RRsets (the keys the parent should point at: RFC 7344, RFC
  8078) into the zone before its serial is assigned, so a key change is a
  content change, and stamps the zone with its signing period
  (:func:`signing_period`): re-signing a zone is a new serial too, and
  secondaries transfer the new signatures.
* :meth:`Signer.sign` adds an RRSIG to every authoritative RRset (not the NS
  of a delegation, not glue) and the NSEC chain (RFC 4034 section 4) with its
  signatures. NSEC, not NSEC3: dnspython signs NSEC3 chains not at all, and
  the names of a small business's zone are on its website and in its mail
  anyway (zone walking reveals little).

Signatures are valid for ``validity`` seconds from the start of the zone's
period; periods last ``validity - refresh`` seconds, so a zone always has at
least ``refresh`` seconds of validity left, and each zone's periods start at
an offset of whole hours derived from its name, so a thousand zones spread
their re-signing over the period, at most one pass an hour. ECDSA signatures are deterministic (RFC 6979): the same
zone, keys and period give the same bytes, so a restart re-signs to
identical records and keeps every serial. Signing is CPU work (about 0.3 ms
per RRset): callers run it in a thread; :class:`Signer` keeps what it signed
and reuses it while the zone's serial, keys and period are unchanged.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import multiprocessing
import threading
from dataclasses import dataclass, field

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from cryptography.hazmat.primitives import serialization

from storage.dnssec import SigningKey

from .zones import NEGATIVE_TTL, TTL, BoxDns, Zone

log = logging.getLogger(__name__)

DAY = 86_400
#: Signatures start this long before their period, for clocks that lag.
CLOCK_SKEW = 3600
#: Flags of a combined signing key: zone key and secure entry point (RFC 4034 2.1.1).
CSK_FLAGS = 257
#: Digest of the DS/CDS records we publish and show: SHA-256 (RFC 4509).
DS_DIGEST = "SHA256"
#: The record types that publish a zone's keys (the box's own, never to be
#: copied to another DNS provider).
KEY_TYPES = ("DNSKEY", "CDS", "CDNSKEY")
#: Keys whose DS belongs at the parent: the one signing and a new one being rolled in.
AT_PARENT = ("active", "published")


@dataclass(frozen=True)
class SignedZone:
    """What :meth:`Signer.sign` adds to a zone, as dnspython rdata.

    ``rrsigs`` maps (owner, covered type) to the RRSIG rdatas of that RRset;
    ``nsec`` maps each owner of the chain to its NSEC rdata; ``nsec_ttl`` is
    their TTL (RFC 9077: the SOA's negative TTL). ``expiration`` is the
    earliest signature expiration (POSIX time)."""

    origin: str
    serial: int
    rrsigs: dict[tuple[str, str], list[dns.rdata.Rdata]]
    nsec: dict[str, dns.rdata.Rdata]
    nsec_ttl: int
    expiration: int
    key_tags: tuple[int, ...] = field(default=())
    #: (owner, type) -> what its RRSIGs signed (TTL and values), so the next
    #: signing in the same period with the same keys reuses them.
    sources: dict[tuple[str, str], tuple] = field(default_factory=dict)


def dnskey(key: SigningKey) -> dns.rdata.Rdata:
    """The DNSKEY rdata of ``key``."""
    return _material(key)[1]


_LOADED: dict[bytes, tuple] = {}
_LOADED_LOCK = threading.Lock()


def _material(key: SigningKey) -> tuple:
    """(private key object, DNSKEY rdata) of ``key``; parsed once per key."""
    with _LOADED_LOCK:
        found = _LOADED.get(key.private_pem)
    if found is None:
        private = serialization.load_pem_private_key(key.private_pem, password=None)
        found = (private, dns.dnssec.make_dnskey(private.public_key(), key.algorithm, flags=CSK_FLAGS))
        with _LOADED_LOCK:
            if len(_LOADED) > 10_000:
                _LOADED.clear()
            _LOADED[key.private_pem] = found
    return found


def signing_period(origin: str, now: float, validity: int, refresh: int) -> int:
    """The start (POSIX seconds) of the signing period of ``origin`` that
    holds ``now``. Periods last ``validity - refresh`` seconds (whole hours),
    offset per zone by whole hours (see the module doc)."""
    length = max(validity - refresh, 3600) // 3600 * 3600
    # Whole hours: the zones whose periods end in one hour are re-signed in
    # one pass (at most one pass an hour, however many zones).
    offset = int.from_bytes(hashlib.sha256(origin.encode()).digest()[:8], "big") % (length // 3600) * 3600
    return int((now - offset) // length * length + offset)


def next_period(origin: str, now: float, validity: int, refresh: int) -> int:
    """When the period after the one holding ``now`` starts."""
    return signing_period(origin, now, validity, refresh) + max(validity - refresh, 3600) // 3600 * 3600


def publish_keys(zone: Zone, keys: list[SigningKey], period: int) -> None:
    """Add DNSKEY, CDS and CDNSKEY of ``keys`` to ``zone`` at its apex and
    stamp it with its signing ``period`` (so its content hash, hence its
    serial, changes when either does)."""
    origin = zone.origin
    for key in keys:
        zone.add(origin, "DNSKEY", dnskey(key).to_text(chunksize=0))
    for key in keys:
        if key.state in AT_PARENT:
            zone.add(origin, "CDNSKEY", dnskey(key).to_text(chunksize=0))
            zone.add(origin, "CDS", dns.dnssec.make_ds(origin + ".", dnskey(key), DS_DIGEST).to_text(chunksize=0))
    zone.signing_period = period


def ds_records(origin: str, keys: list[SigningKey]) -> list[dict]:
    """What an owner gives their registrar, for each key that belongs at
    the parent: key tag, algorithm, digest type and digest (the DS), the
    DNSKEY for registrars that ask for the key, and the record as text."""
    out = []
    for key in keys:
        if key.state not in AT_PARENT:
            continue
        rdata = dnskey(key)
        ds = dns.dnssec.make_ds(origin + ".", rdata, DS_DIGEST)
        out.append({
            "domain": origin, "state": key.state, "key_tag": ds.key_tag, "algorithm": ds.algorithm,
            "digest_type": ds.digest_type, "digest": ds.digest.hex().upper(),
            "ds": f"{origin}. IN DS {ds.to_text(chunksize=0).upper()}",
            "dnskey": f"{origin}. IN DNSKEY {rdata.to_text(chunksize=0)}",
            "public_key": rdata.to_text(chunksize=0).split(" ", 3)[3],
            "flags": rdata.flags,
        })
    return out


class Signer:
    """Signs zones and keeps the last signing of each (see module doc).
    Safe to call from one thread at a time per zone."""

    def __init__(self, validity_days: int, refresh_days: int):
        self.validity = validity_days * DAY
        self.refresh = refresh_days * DAY
        self._done: dict[str, tuple[tuple, SignedZone]] = {}
        self.signed = 0  # zones signed (not reused), for tests and metrics
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._processes = False

    def period(self, origin: str, now: float) -> int:
        return signing_period(origin, now, self.validity, self.refresh)

    def sign(self, zone: Zone, box: BoxDns, keys: list[SigningKey]) -> SignedZone:
        """``zone`` (with :func:`publish_keys` applied and its serial set)
        signed by its ``active`` keys; the DNSKEY RRset by every key."""
        stamp = _stamp(zone, keys)
        done = self._done.get(zone.origin)
        if done is not None and done[0] == stamp:
            return done[1]
        # Same period and keys: the RRsets that did not change keep their
        # signatures (a change in a zone of thousands of RRsets re-signs a few).
        reuse = done[1] if done is not None and done[0][1:] == stamp[1:] else None
        signed = _sign(zone, box, keys, zone.signing_period - CLOCK_SKEW, zone.signing_period + self.validity, reuse)
        self._done[zone.origin] = (stamp, signed)
        self.signed += 1
        return signed

    def sign_all(self, work: list[tuple[Zone, list[SigningKey]]], box: BoxDns) -> dict[str, SignedZone]:
        """:meth:`sign` for many zones at once. When at least
        :data:`PROCESS_MIN` zones are to be signed afresh (new, new keys or a
        new period: at start-up, all of them) and :meth:`use_processes` was
        called, they are signed in a worker process started for the job and
        stopped after it, so that CPU work never holds this process's GIL
        (the event loop keeps its turn) and costs no memory when idle. A
        zone that changed within its period reuses its signatures here.
        Falls back to signing here if the worker process fails."""
        out: dict[str, SignedZone] = {}
        fresh: list[tuple[tuple, Zone, list[SigningKey]]] = []
        for zone, keys in work:
            stamp = _stamp(zone, keys)
            done = self._done.get(zone.origin)
            if done is not None and (done[0] == stamp or done[0][1:] == stamp[1:]):
                out[zone.origin] = self.sign(zone, box, keys)
            else:
                fresh.append((stamp, zone, keys))
        if not self._processes or len(fresh) < PROCESS_MIN:
            return {**out, **{zone.origin: self.sign(zone, box, keys) for _, zone, keys in fresh}}
        batches = [fresh[i : i + PROCESS_BATCH] for i in range(0, len(fresh), PROCESS_BATCH)]
        try:
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                self._pool = pool
                results = list(pool.map(_sign_batch, [
                    [(zone, box, keys, zone.signing_period - CLOCK_SKEW, zone.signing_period + self.validity)
                     for _, zone, keys in batch] for batch in batches]))
        except Exception:  # noqa: BLE001 - a broken worker must not leave zones unsigned
            log.exception("dnssec: the signing process failed; signing in this one")
            return {**out, **{zone.origin: self.sign(zone, box, keys) for _, zone, keys in fresh}}
        finally:
            self._pool = None
        for batch, signed_batch in zip(batches, results):
            for (stamp, zone, _keys), signed in zip(batch, signed_batch):
                self._done[zone.origin] = (stamp, signed)
                self.signed += 1
                out[zone.origin] = signed
        return out

    def use_processes(self) -> None:
        """Sign many fresh zones in a worker process from now on (see :meth:`sign_all`)."""
        self._processes = True

    def close(self) -> None:
        """Stop a worker process at work, if any (the daemon stopping)."""
        self._processes = False
        pool = self._pool
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def forget(self, keep: set[str]) -> None:
        """Drop what was kept for zones not in ``keep`` (zones removed)."""
        for origin in list(self._done):
            if origin not in keep:
                del self._done[origin]


#: Zones per task sent to the signing process, and the fewest fresh zones
#: worth starting one for (a new business's zone is signed in the thread).
PROCESS_BATCH = 50
PROCESS_MIN = 20


def _stamp(zone: Zone, keys: list[SigningKey]) -> tuple:
    """What a signing depends on: serial, period, keys and their states."""
    return (zone.serial, zone.signing_period, tuple(k.private_pem for k in keys), tuple(k.state for k in keys))


def _sign_batch(batch: list[tuple]) -> list[SignedZone]:
    """In the signing process: :func:`_sign` for each item."""
    return [_sign(*item) for item in batch]


def _sign(zone: Zone, box: BoxDns, keys: list[SigningKey], inception: int, expiration: int,
          reuse: SignedZone | None = None) -> SignedZone:
    origin = zone.origin
    origin_name = dns.name.from_text(origin + ".")
    records = dict(zone.records)
    records[(origin, "SOA")] = [zone.soa(box)]
    cuts = zone.cuts()

    def below_cut(name: str) -> str | None:
        for cut in cuts:
            if name == cut or name.endswith("." + cut):
                return cut
        return None

    active = [_material(k) for k in keys if k.state == "active"]
    every = [_material(k) for k in keys]
    rrsigs: dict[tuple[str, str], list[dns.rdata.Rdata]] = {}
    sources: dict[tuple[str, str], tuple] = {}
    types_at: dict[str, set[str]] = {}

    def sign_rrset(name: str, rtype: str, rdatas: list, ttl: int, source: tuple) -> None:
        sources[(name, rtype)] = source
        if reuse is not None and reuse.sources.get((name, rtype)) == source:
            rrsigs[(name, rtype)] = reuse.rrsigs[(name, rtype)]
            return
        rrset = dns.rrset.from_rdata_list(dns.name.from_text(name + "."), ttl, rdatas)
        signers = every if rtype == "DNSKEY" else active
        rrsigs[(name, rtype)] = [
            dns.dnssec.sign(rrset, private, origin_name, public, inception=inception, expiration=expiration,
                            deterministic=True)
            for private, public in signers
        ]

    for (name, rtype), values in records.items():
        cut = below_cut(name)
        if cut is not None and not (name == cut and rtype == "DS"):
            if name == cut:
                types_at.setdefault(name, set()).add(rtype)  # the NS of a delegation: in the NSEC, unsigned
            continue  # glue
        types_at.setdefault(name, set()).add(rtype)
        ttl = zone.ttl(name, rtype)
        source = (ttl, tuple(values))
        if reuse is not None and reuse.sources.get((name, rtype)) == source:
            sign_rrset(name, rtype, [], ttl, source)
            continue
        rdatas = [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), v, origin=origin_name,
                                      relativize=False)
                  for v in values]
        sign_rrset(name, rtype, rdatas, ttl, source)
    # The NSEC chain in canonical order (RFC 4034 section 6.1), wrapping
    # from the last name back to the origin.
    owners = sorted(types_at, key=lambda n: dns.name.from_text(n + "."))
    nsec: dict[str, dns.rdata.Rdata] = {}
    nsec_ttl = min(NEGATIVE_TTL, TTL)
    for i, name in enumerate(owners):
        following = owners[(i + 1) % len(owners)]
        types = sorted(types_at[name] | {"RRSIG", "NSEC"}, key=dns.rdatatype.from_text)
        text = f"{following}. {' '.join(types)}"
        if reuse is not None and reuse.sources.get((name, "NSEC")) == (nsec_ttl, (text,)):
            nsec[name] = reuse.nsec[name]
        else:
            nsec[name] = dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.NSEC, text)
        sign_rrset(name, "NSEC", [nsec[name]], nsec_ttl, (nsec_ttl, (text,)))
    tags = tuple(dns.dnssec.key_id(public) for _, public in active)
    return SignedZone(origin, zone.serial, rrsigs, nsec, nsec_ttl, expiration, tags, sources)


def canonical_key(name: str) -> tuple[bytes, ...]:
    """A sort key that orders lower-case dotted names canonically (RFC 4034
    section 6.1: label by label from the right, octet by octet)."""
    return tuple(label.encode("latin-1") for label in reversed(name.split("."))) if name else ()
