"""DNS benchmark (run by hand: ``.venv/bin/python bench/dns/run.py``).

Serves the same zones from our daemon and from NSD (Debian ``nsd``; the
script runs its own instance from a temporary directory on a loopback port,
never the system service) and drives both with dnsperf (Debian ``dnsperf``)
using one query file: names that exist, NODATA and NXDOMAIN, mixed. Prints
queries per second and mean latency for both, and the ratio.

Needs: ``apt-get install nsd dnsperf`` (nsd's system service need not run).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from appliance.settings import loopback_listen  # noqa: E402
from appliance.testing import Cli, Daemon, free_port  # noqa: E402


def queries(businesses: int, count: int) -> list[str]:
    rng = random.Random(7)
    out = []
    for _ in range(count):
        i = rng.randrange(businesses)
        domain = f"shop{i}.example"
        kind = rng.random()
        if kind < 0.6:
            out.append(rng.choice([f"{domain} MX", f"{domain} A", f"{domain} TXT", f"_imaps._tcp.{domain} SRV", f"www.{domain} A"]))
        elif kind < 0.8:
            out.append(rng.choice([f"{domain} AAAA", f"www.{domain} MX"]))  # NODATA
        else:
            out.append(f"nx{rng.randrange(10**6)}.{domain} A")  # NXDOMAIN
    return out


def dnsperf(port: int, query_file: Path, seconds: int, clients: int) -> tuple[float, float]:
    out = subprocess.run(
        ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(query_file), "-l", str(seconds), "-c", str(clients), "-q", "200"],
        capture_output=True, text=True, check=True,
    ).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    latency = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1))
    lost = re.search(r"Queries lost:\s+(\d+)", out).group(1)
    if int(lost):
        print(f"  ({lost} queries lost)")
    return qps, latency * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--businesses", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    for tool in ("nsd", "dnsperf"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install nsd dnsperf")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        our_port, nsd_port = free_port(), free_port()
        (work / "appliance.toml").write_text(
            f'[box]\nhostname = "box.appliance.test"\ndomain = "appliance.test"\n'
            + loopback_listen(dns=our_port, metrics_enabled=False)
            + '[log]\nlevel = "WARNING"\n'
        )
        appliance = Cli(work / "state", work / "appliance.toml")
        for i in range(args.businesses):
            appliance("tenant", "add", f"shop{i}", "--domain", f"shop{i}.example")
        zones = [f"shop{i}.example" for i in range(args.businesses)] + ["appliance.test"]
        zonedir = work / "zones"
        zonedir.mkdir()
        conf = [
            "server:", f"  ip-address: 127.0.0.1@{nsd_port}", "  port: %d" % nsd_port, f"  zonesdir: {zonedir}",
            f"  pidfile: {work}/nsd.pid", f"  database: \"\"", "  username: \"\"", f"  xfrdfile: {work}/xfrd.state",
            f"  zonelistfile: {work}/zone.list", "  chroot: \"\"", "  server-count: 1", "  hide-version: yes",
            # Response rate limiting off, as for ours: loopback is one source.
            "  rrl-ratelimit: 0",
            "remote-control:", "  control-enable: no",
        ]
        for zone in zones:
            (zonedir / f"{zone}.zone").write_text(appliance("dns", "show", zone).stdout)
            conf += ["zone:", f"  name: {zone}", f"  zonefile: {zone}.zone"]
        (work / "nsd.conf").write_text("\n".join(conf) + "\n")
        qfile = work / "queries.txt"
        qfile.write_text("\n".join(queries(args.businesses, 20_000)) + "\n")

        daemon = Daemon(work / "state", work / "appliance.toml").start()
        nsd = subprocess.Popen(["nsd", "-d", "-c", str(work / "nsd.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(1.0)  # NSD says nothing when it is ready
            print(f"{args.businesses} business zones + the box zone; {args.clients} dnsperf clients, {args.seconds} s each")
            ours = dnsperf(our_port, qfile, args.seconds, args.clients)
            theirs = dnsperf(nsd_port, qfile, args.seconds, args.clients)
            print(f"{'server':<10} {'queries/s':>10} {'mean latency ms':>16}")
            print(f"{'ours':<10} {ours[0]:>10.0f} {ours[1]:>16.2f}")
            print(f"{'NSD':<10} {theirs[0]:>10.0f} {theirs[1]:>16.2f}")
            print(f"ratio ours/NSD: {ours[0] / theirs[0]:.2f}")
        finally:
            daemon.stop()
            nsd.send_signal(signal.SIGTERM)
            nsd.wait(30)


if __name__ == "__main__":
    main()
