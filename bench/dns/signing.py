"""DNSSEC signing cost (run by hand: ``.venv/bin/python bench/dns/signing.py``).

Builds the zones of ``--businesses`` businesses (each with its own domain,
and its free domain in the box zone), then, as the DNS service does at
start-up, prepares them in a thread while the event loop measures its own
lag (a 10 ms sleep, over and over): once unsigned (``prepare`` alone, what
the daemon did before DNSSEC) and once signed (every zone signed, then
prepared, the signing in a worker process as the daemon does; ``--thread``
signs in the thread instead). Then one business is added and the zones are signed again, as
after a change: only the changed RRsets are signed anew. Prints the times,
the loop lag (max and 99th percentile) and the load average before each
run (the machine's other work shows in the lag too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from appliance import dnssec  # noqa: E402
from appliance.zones import BoxDns, BusinessDns, assign_serials, build_zones  # noqa: E402
from protocols.dns.engine import prepare  # noqa: E402
from storage.dnssec import SigningKey, generate  # noqa: E402

BOX = BoxDns("box.appliance.test", "appliance.test", ("ns1.appliance.test", "ns2.appliance.test"), ("192.0.2.1",),
             ("2001:db8::1",), "hostmaster@appliance.test")


def zones_of(businesses: list[BusinessDns], keys: dict, now: float, signed: bool, previous=None) -> dict:
    zones = build_zones(BOX, businesses)
    for origin, zone in zones.items():
        keys.setdefault(origin, (SigningKey(len(keys), origin, 13, generate(), "active", "", ""),))
        if signed:
            dnssec.publish_keys(zone, list(keys[origin]), dnssec.signing_period(origin, now, 14 * dnssec.DAY, 7 * dnssec.DAY))
    assign_serials(zones, previous or {})
    return zones


async def measured(work) -> tuple[float, float, float]:
    """(seconds ``work`` took in a thread, max and p99 loop lag in ms)."""
    lags = []
    start = time.perf_counter()
    future = asyncio.ensure_future(asyncio.to_thread(work))
    while not future.done():
        t = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - t - 0.01)
    elapsed = time.perf_counter() - start
    lags.sort()
    return elapsed, lags[-1] * 1000, lags[int(len(lags) * 0.99)] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--businesses", type=int, default=1000)
    parser.add_argument("--thread", dest="processes", action="store_false", help="sign in the thread, not a worker process")
    args = parser.parse_args()
    now = time.time()
    businesses = [BusinessDns(f"s{i}", f"s{i}.appliance.test", (f"shop{i}.example",)) for i in range(args.businesses)]
    keys: dict = {}
    plain = zones_of(businesses, keys, now, False)
    signed = zones_of(businesses, keys, now, True)
    signer = dnssec.Signer(14, 7)
    if args.processes:
        signer.use_processes()  # as the DNS service does
    print(f"{args.businesses} businesses: {len(signed)} zones; {os.cpu_count()} CPUs")
    load = os.getloadavg()[0]
    took, worst, p99 = await measured(lambda: prepare(plain, BOX))
    print(f"unsigned prepare:        {took:7.2f} s  loop lag max {worst:6.1f} ms  p99 {p99:6.1f} ms  (load {load:.2f})")
    load = os.getloadavg()[0]
    took, worst, p99 = await measured(
        lambda: prepare(signed, BOX, signer.sign_all([(z, list(keys[o])) for o, z in signed.items()], BOX)))
    print(f"sign all, then prepare:  {took:7.2f} s  loop lag max {worst:6.1f} ms  p99 {p99:6.1f} ms  (load {load:.2f})"
          f"{'  (signing in a worker process)' if args.processes else '  (signing in the thread)'}")
    sigs = sum(len(s) for s in signer._done[BOX.domain][1].rrsigs.values())
    print(f"  the box zone alone: {sigs} RRSIGs")
    businesses.append(BusinessDns("new", "new.appliance.test", ("new.example",)))
    changed = zones_of(businesses, keys, now, True, {o: (z.content_hash(), z.serial) for o, z in signed.items()})
    before = signer.signed
    load = os.getloadavg()[0]
    took, worst, p99 = await measured(lambda: [signer.sign(z, BOX, list(keys[o])) for o, z in changed.items()])
    print(f"one business added, sign: {took:6.2f} s  loop lag max {worst:6.1f} ms  p99 {p99:6.1f} ms  (load {load:.2f}); "
          f"{signer.signed - before} zones re-signed (changed RRsets only)")
    signer.close()


if __name__ == "__main__":
    asyncio.run(main())
