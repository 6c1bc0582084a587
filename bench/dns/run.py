"""DNS benchmark (run by hand: ``.venv/bin/python bench/dns/run.py``).

Serves the same zones from our daemon and from NSD (Debian ``nsd``; the
script runs its own instance from a temporary directory on a loopback port,
never the system service) and drives both with dnsperf (Debian ``dnsperf``)
with two loads:

- ``zone``: names that exist, NODATA and NXDOMAIN, mixed (20,000 queries
  looped: most answers come from our answer caches);
- ``cold``: ``--cold-names`` distinct random labels under the business
  zones, each asked once (the random-subdomain pattern: every query is a
  name never seen before, NXDOMAIN);
- ``do``: the ``zone`` queries with the DNSSEC OK bit (dnsperf ``-D``):
  signed answers, RRSIGs and NSEC proofs.

The zones are signed (``[dns] dnssec``, the default): NSD serves the very
zones our daemon serves, signatures included, taken by zone transfer from
it.

Servers are run back to back, round after round (``--rounds``), so a change
in the machine's load hits them alike. Every run is printed with the load
average taken just before it; a run started while the 1-minute load was
above ``--max-load`` (something else held a core) is marked unreliable and
left out of the summary when reliable runs exist. The summary gives each
server's median, its spread (min-max) and the ratio of medians to NSD.
``--compare DIR`` also benches the daemon of another checkout of this
project (say, the code before a change), alternating with ours.

Needs: ``apt-get install nsd dnsperf`` (nsd's system service need not run).
"""

from __future__ import annotations

import argparse
import os
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
from bench.rounds import Rounds, load_average  # noqa: E402


def zone_queries(businesses: int, count: int) -> list[str]:
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


def cold_queries(businesses: int, count: int) -> list[str]:
    """``count`` distinct names, random 8-20 character labels, never repeated."""
    rng = random.Random(11)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    seen: set[str] = set()
    out = []
    while len(out) < count:
        label = "".join(rng.choices(alphabet, k=rng.randint(8, 20)))
        name = f"{label}.shop{rng.randrange(businesses)}.example"
        if name not in seen:
            seen.add(name)
            out.append(f"{name} {rng.choice(('A', 'AAAA', 'MX'))}")
    return out


def dnsperf(port: int, query_file: Path, seconds: int, clients: int, once: bool, do: bool = False) -> tuple[float, float, int]:
    """Queries per second, mean latency (ms) and queries lost. ``once``: each
    query of the file is sent once (at most ``seconds`` long); ``do``: with
    the DNSSEC OK bit."""
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(query_file), "-l", str(seconds),
           "-c", str(clients), "-q", "200"]
    if once:
        cmd += ["-n", "1"]
    if do:
        cmd += ["-D"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    latency = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    return qps, latency * 1000, lost


def transfer(port: int, zone: str) -> str:
    """``zone`` as our daemon serves it, by AXFR, in zone-file form (waits
    for the daemon to have loaded it)."""
    deadline = time.monotonic() + 60
    while True:
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=5", zone, "AXFR"],
                             capture_output=True, text=True).stdout
        lines = [line for line in out.splitlines() if line and not line.startswith(";")]
        if len(lines) > 2:
            return "\n".join(lines[:-1]) + "\n"
        if time.monotonic() > deadline:
            sys.exit(f"cannot transfer {zone} from our daemon:\n{out}")
        time.sleep(0.5)


def nsd_config(work: Path, port: int, zones: list[str]) -> list[str]:
    conf = [
        "server:", f"  ip-address: 127.0.0.1@{port}", f"  port: {port}", f"  zonesdir: {work / 'zones'}",
        f"  pidfile: {work}/nsd.pid", '  database: ""', '  username: ""', f"  xfrdfile: {work}/xfrd.state",
        f"  zonelistfile: {work}/zone.list", '  chroot: ""', "  server-count: 1", "  hide-version: yes",
        # Response rate limiting off, as for ours: loopback is one source.
        "  rrl-ratelimit: 0",
        "remote-control:", "  control-enable: no",
    ]
    for zone in zones:
        conf += ["zone:", f"  name: {zone}", f"  zonefile: {zone}.zone"]
    return conf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--businesses", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10, help="length of a zone run; the cap of a cold run")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cold-names", type=int, default=1_000_000)
    parser.add_argument("--loads", default="zone,cold,do")
    parser.add_argument("--max-load", type=float, default=1.5, help="1-minute load above which a run is unreliable")
    parser.add_argument("--compare", type=Path, help="another checkout of this project to bench as 'other'")
    args = parser.parse_args()
    for tool in ("nsd", "dnsperf"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: apt-get install nsd dnsperf")
    loads = args.loads.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        nsd_port = free_port()
        config = work / "appliance.toml"
        config.write_text(
            '[box]\nhostname = "box.appliance.test"\ndomain = "appliance.test"\n'
            + loopback_listen(metrics_enabled=False)
            + '[log]\nlevel = "WARNING"\n'
            # This script may transfer the zones (for NSD); no NOTIFY is sent.
            + f'[dns]\nnotify_retries = 0\nsecondaries = [{{address = "127.0.0.1", port = {free_port()}}}]\n'
        )
        appliance = Cli(work / "state", config)
        for i in range(args.businesses):
            appliance("tenant", "add", f"shop{i}", "--domain", f"shop{i}.example")
        zones = [f"shop{i}.example" for i in range(args.businesses)] + ["appliance.test"]
        (work / "zones").mkdir()
        files = {"zone": work / "zone.txt", "cold": work / "cold.txt", "do": work / "zone.txt"}
        files["zone"].write_text("\n".join(zone_queries(args.businesses, 20_000)) + "\n")
        files["cold"].write_text("\n".join(cold_queries(args.businesses, args.cold_names)) + "\n")

        daemons = {"ours": Daemon(work / "state", config)}
        if args.compare is not None:
            shutil.copytree(work / "state", work / "state-other")
            other = Daemon(work / "state-other", config)
            other.root = args.compare.resolve()
            daemons["other"] = other
        for daemon in daemons.values():
            daemon.start()
        ours_port = daemons["ours"].port("dns")
        for zone in zones:
            (work / "zones" / f"{zone}.zone").write_text(transfer(ours_port, zone))
        (work / "nsd.conf").write_text("\n".join(nsd_config(work, nsd_port, zones)) + "\n")
        nsd = subprocess.Popen(["nsd", "-d", "-c", str(work / "nsd.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ports = {"NSD": nsd_port, **{name: d.port("dns") for name, d in daemons.items()}}
        try:
            time.sleep(2.0)  # NSD says nothing when it is ready; our zones load after the listeners
            print(f"NSD {subprocess.run(['nsd', '-v'], capture_output=True, text=True).stderr.splitlines()[0]}: "
                  "server-count 1, rrl-ratelimit 0, our zones (signed) by AXFR")
            print(f"{args.businesses} business zones + the box zone; dnsperf -c {args.clients} -q 200; "
                  f"zone load {args.seconds} s per run, cold load {args.cold_names} distinct names once per run; "
                  f"{os.cpu_count()} CPUs; runs above load {args.max_load} are unreliable")
            if args.compare is not None:
                print(f"other = the daemon of {args.compare}")
            results = {load: Rounds(f"{load:<4}", "queries/s", "NSD", args.max_load) for load in loads}
            results[loads[0]].header()
            for round_ in range(1, args.rounds + 1):
                for load in loads:
                    for server, port in ports.items():
                        before = load_average()
                        qps, latency, lost = dnsperf(port, files[load], args.seconds, args.clients, load == "cold",
                                                     load == "do")
                        results[load].record(server, round_, before, qps, f"latency {latency:.2f} ms, lost {lost}")
            for load in loads:
                results[load].summary()
        finally:
            for daemon in daemons.values():
                daemon.stop()
            nsd.send_signal(signal.SIGTERM)
            nsd.wait(30)


if __name__ == "__main__":
    main()
