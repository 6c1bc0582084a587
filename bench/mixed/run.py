"""Every protocol at once against one daemon (run by hand, as root:
``.venv/bin/python -m bench.mixed.run [--seconds 10] [--rounds 2]``).

One ``appliance serve`` with a few businesses: ``shop0.example`` ...
(each with the web benchmark's site, and its zone), ``bench.test`` (IMAP
users with generated mailboxes, and a sink address for SMTP) and
``bakery.example`` (a calendar and an address book). The load generators
are the single-protocol benchmarks', imported:

- SMTP: Postfix's ``smtp-source`` to our MX, in batches until the time is up
  (bench/smtp/run.py);
- IMAP: the asyncio client's mixed commands, one connection per user
  (bench/imap/run.py);
- DAV: the client sync pattern (PROPFIND, multiget, sync-collection, PUT)
  over HTTPS (bench/dav/run.py);
- DNS: dnsperf over the zones, names that exist, NODATA and NXDOMAIN
  (bench/dns/run.py);
- HTTP: wrk over the static sites (bench/web/run.py).

Each round runs every load alone for ``--seconds``, then all of them at
once for as long; printed are each protocol's rate alone and mixed with
their ratio, and for every run the event loop's lag from the daemon's
``appliance_loop_lag_seconds`` histogram (scraped before and after:
p50, p99, samples over 100 ms, the largest), and how much of the run
the loop's thread was on a CPU and how much it waited for one (Linux
schedstat: time other threads and processes, the load generators' too,
held the loop up). The load
average is printed before each run: the machine may be shared. The loop is sampled every
0.25 s, so a short stall shows only if a sample falls in it.

``--py-spy PREFIX`` records the daemon's stacks (every thread) with py-spy
during each mixed run, to find what holds the loop.

Needs ``smtp-source`` (Debian ``postfix``, its service stopped), ``dnsperf``
and ``wrk``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from appliance.settings import loopback_listen
from appliance.testing import Cli, Daemon
from bench import daemonmetrics
from bench.dav import run as dav
from bench.dns import run as dns
from bench.imap import run as imap
from bench.smtp import run as smtp
from bench.web import run as web

PROTOCOLS = ("smtp", "imap", "dav", "dns", "http")
UNITS = {"smtp": "msg/s", "imap": "ops/s", "dav": "ops/s", "dns": "q/s", "http": "req/s"}
SHOPS = 3
SINK = "sink@bench.test"
SMTP_BATCH = 50
GOAL_P99, GOAL_STALL = 0.020, 0.100
#: pip install py-spy puts it beside the interpreter.
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))

CONFIG = f"""
[box]
hostname = "box.appliance.test"
domain = "appliance.test"
{loopback_listen()}
[imap]
# Every client comes from 127.0.0.1.
max_connections_per_source = 1000
[web]
max_connections_per_source = 100000
[log]
level = "WARNING"
"""


class Loads:
    """The five load generators against one daemon; each ``run_<name>``
    takes the seconds to run and returns (operations, elapsed seconds)."""

    def __init__(self, daemon: Daemon, work: Path, args: argparse.Namespace):
        self.daemon, self.work, self.args = daemon, work, args
        self.imap_args = SimpleNamespace(users=args.imap_users, messages=args.imap_messages, seed=1, seconds=0.0)
        self.digests: dict[int, list[bytes]] = {}
        self.dav_target = dav.Target("ours", daemon.origin("https"), f"/dav/{dav.USER}/calendar/",
                                     f"/dav/{dav.USER}/contacts/", str(daemon.ca_file))
        self.dns_queries = work / "dns-queries.txt"
        self.web_pairs = [(f"shop{i}.example", path) for path in web.FILES for i in range(SHOPS)]

    def prepare(self) -> None:
        """Fill the mailboxes and the collections (not measured)."""
        took, _ = asyncio.run(imap.append_all(self.daemon.port("imaps"), self.imap_args, self.digests))
        print(f"IMAP: {self.args.imap_users} x {self.args.imap_messages} messages appended in {took:.1f} s", flush=True)
        started = time.monotonic()
        dav.seed(self.dav_target, self.args.dav_items)
        print(f"DAV: 2 x {self.args.dav_items} items put in {time.monotonic() - started:.1f} s", flush=True)
        queries = dns.zone_queries(SHOPS, 20_000)
        self.dns_queries.write_text("\n".join(queries) + "\n")

    def run_smtp(self, seconds: float) -> tuple[int, float]:
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < seconds:
            smtp.smtp_source(self.daemon.port("smtp"), SMTP_BATCH, self.args.smtp_sessions, 5 * 1024, SINK)
            sent += SMTP_BATCH
        return sent, time.monotonic() - started

    def run_imap(self, seconds: float) -> tuple[int, float]:
        self.imap_args.seconds = seconds
        result = asyncio.run(imap.load(self.daemon.port("imaps"), self.imap_args, self.digests))
        for error in result["errors"][:3]:
            print(f"  imap error: {error}", flush=True)
        return result["ops"], result["elapsed"]

    def run_dav(self, seconds: float) -> tuple[int, float]:
        started = time.monotonic()
        result = dav.measure(self.dav_target, self.args.dav_clients, seconds, self.args.dav_items)
        if result["errors"]:
            print(f"  dav: {result['errors']} answers >= 400", flush=True)
        return result["ops"], time.monotonic() - started

    def run_dns(self, seconds: float) -> tuple[int, float]:
        qps, _latency, lost = dns.dnsperf(self.daemon.port("dns"), self.dns_queries, int(seconds),
                                          self.args.dns_clients, once=False)
        if lost:
            print(f"  dns: {lost} queries lost", flush=True)
        return round(qps * seconds), seconds

    def run_http(self, seconds: float) -> tuple[int, float]:
        result = web.wrk(self.daemon.port("http"), self.web_pairs, int(seconds), self.args.http_connections,
                         self.work)
        return round(result["requests_per_s"] * seconds), seconds


def measured(daemon: Daemon, label: str, jobs: dict[str, Callable[[], tuple[int, float]]],
             profile: Path | None = None, seconds: float = 0) -> dict:
    """Run ``jobs`` at once (one thread each); the rates and the loop's
    lag. With ``profile``, py-spy samples the daemon meanwhile (without
    pausing it) and writes its stacks, per thread, in collapsed form."""
    print(f"{label:<14} {daemonmetrics.loadavg()}", flush=True)
    metrics_port = daemon.port("metrics")
    before = daemonmetrics.scrape(metrics_port)
    cpu_before, started = daemonmetrics.loop_thread_times(daemon.pid), time.monotonic()
    spy = None
    if profile is not None:
        spy = subprocess.Popen([PY_SPY, "record", "--nonblocking", "--threads", "--format", "raw", "--rate", "250",
                                "-d", str(int(seconds)), "-p", str(daemon.pid), "-o", str(profile)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict[str, tuple[int, float] | BaseException] = {}

    def run(name: str, job: Callable[[], tuple[int, float]]) -> None:
        try:
            results[name] = job()
        except BaseException as e:  # noqa: BLE001 - SystemExit from a generator too; reported below
            results[name] = e

    threads = [threading.Thread(target=run, args=item, name=item[0]) for item in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = daemonmetrics.scrape(metrics_port)
    cpu_after, elapsed = daemonmetrics.loop_thread_times(daemon.pid), time.monotonic() - started
    if spy is not None:
        spy.wait(seconds + 60)
        print(f"  py-spy stacks of the daemon: {profile}", flush=True)
    lag = daemonmetrics.lag_between(before, after)
    rates = {}
    for name in jobs:
        outcome = results[name]
        if isinstance(outcome, BaseException):
            print(f"  {name}: failed: {type(outcome).__name__}: {outcome}", flush=True)
            continue
        ops, elapsed = outcome
        rates[name] = ops / elapsed
        print(f"  {name:<5} {rates[name]:9.1f} {UNITS[name]}", flush=True)
    print(f"  loop lag: {lag['samples']:.0f} samples, p50 {lag['p50'] * 1e3:.1f} ms, p99 {lag['p99'] * 1e3:.1f} ms, "
          f"{lag['over_stall']:.0f} over 100 ms, largest {'' if lag['max_exact'] else '<= '}"
          f"{lag['max'] * 1e3:.0f} ms", flush=True)
    on_cpu, waiting = (after_ - before_ for after_, before_ in zip(cpu_after, cpu_before))
    print(f"  loop thread: {on_cpu / elapsed * 100:.0f} % on a CPU, {waiting / elapsed * 100:.0f} % waiting for one "
          f"(held by other threads and processes, the load generators' too) over {elapsed:.1f} s", flush=True)
    return {"rates": rates, "lag": lag, "loop_busy": on_cpu / elapsed, "loop_waiting": waiting / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of every run, solo and mixed")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--imap-users", type=int, default=4)
    parser.add_argument("--imap-messages", type=int, default=200, help="per IMAP user")
    parser.add_argument("--dav-items", type=int, default=300, help="events, and as many contacts")
    parser.add_argument("--dav-clients", type=int, default=4)
    parser.add_argument("--smtp-sessions", type=int, default=5)
    parser.add_argument("--dns-clients", type=int, default=2)
    parser.add_argument("--http-connections", type=int, default=10)
    parser.add_argument("--only", default=",".join(PROTOCOLS), help="protocols to run, comma-separated")
    parser.add_argument("--log", type=Path, help="copy the daemon's log to this file at the end")
    parser.add_argument("--py-spy", type=Path, metavar="PREFIX",
                        help="record the daemon with py-spy during each mixed run, to PREFIX-<round>.txt")
    args = parser.parse_args()
    chosen = [p for p in PROTOCOLS if p in args.only.split(",")]
    for tool, need in (("smtp-source", "smtp"), ("dnsperf", "dns"), ("wrk", "http")):
        if need in chosen and shutil.which(tool) is None:
            sys.exit(f"{tool} not found: apt-get install postfix dnsperf wrk (keep postfix's service stopped)")
    with tempfile.TemporaryDirectory(prefix="bench-mixed-") as tmp:
        work = Path(tmp)
        state, config = work / "state", work / "appliance.toml"
        config.write_text(CONFIG)
        site = work / "site"
        web.write_tree(site, web.site_files())
        cli = Cli(state, config)
        for i in range(SHOPS):
            cli("tenant", "add", f"shop{i}", "--domain", f"shop{i}.example")
            cli("site", "upload", f"shop{i}", str(site))
        cli("tenant", "add", "bench", "--domain", "bench.test")
        for user in range(1, args.imap_users + 1):
            cli("user", "add", f"user{user}@bench.test", "--password-stdin", input=imap.PASSWORD + "\n")
        cli("user", "add", SINK, "--password-stdin", input=imap.PASSWORD + "\n")
        cli("tenant", "add", "bakery", "--domain", "bakery.example")
        cli("user", "add", dav.USER, "--password-stdin", input=dav.PASSWORD + "\n")
        with Daemon(state, config, work / "daemon.log") as daemon:
            loads = Loads(daemon, work, args)
            loads.prepare()
            print(f"{args.seconds:g} s per run, {args.rounds} rounds; smtp-source -s {args.smtp_sessions}, "
                  f"IMAP {args.imap_users} connections, DAV {args.dav_clients} clients, "
                  f"dnsperf -c {args.dns_clients} -q 200, wrk -c {args.http_connections}", flush=True)
            runs: list[tuple[str, int, dict]] = []
            for round_ in range(1, args.rounds + 1):
                for name in chosen:
                    job = getattr(loads, f"run_{name}")
                    runs.append((name, round_, measured(daemon, f"{name} alone {round_}",
                                                        {name: lambda job=job: job(args.seconds)})))
                jobs = {name: (lambda job=getattr(loads, f"run_{name}"): job(args.seconds)) for name in chosen}
                profile = None if args.py_spy is None else args.py_spy.with_name(f"{args.py_spy.name}-{round_}.txt")
                runs.append(("mixed", round_, measured(daemon, f"mixed {round_}", jobs, profile, args.seconds)))
            log = daemon.log()
        if args.log is not None:
            args.log.write_text(log)
        warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
        summary(chosen, runs)
        for line in warnings[:10]:
            print("daemon:", line)
        if len(warnings) > 10:
            print(f"daemon: ... {len(warnings)} warnings in all")


def summary(chosen: list[str], runs: list[tuple[str, int, dict]]) -> None:
    print(f"\n{'protocol':<8} {'alone (median)':>16} {'mixed (median)':>16} {'ratio':>6}  runs alone | mixed")
    for name in chosen:
        alone = [r["rates"][name] for kind, _, r in runs if kind == name and name in r["rates"]]
        mixed = [r["rates"][name] for kind, _, r in runs if kind == "mixed" and name in r["rates"]]
        if not alone or not mixed:
            print(f"{name:<8} (failed)")
            continue
        a, m = statistics.median(alone), statistics.median(mixed)
        print(f"{name:<8} {a:10.1f} {UNITS[name]:<5} {m:10.1f} {UNITS[name]:<5} {m / a:6.2f}  "
              f"{' '.join(f'{x:.0f}' for x in alone)} | {' '.join(f'{x:.0f}' for x in mixed)}")
    mixed_lags = [r["lag"] for kind, _, r in runs if kind == "mixed"]
    together = daemonmetrics.merged(mixed_lags)
    p50, p99 = daemonmetrics.quantile(together, 0.5), daemonmetrics.quantile(together, 0.99)
    worst = max(lag["max"] for lag in mixed_lags)
    stalls = sum(lag["over_stall"] for lag in mixed_lags)
    verdict = "met" if p99 < GOAL_P99 and stalls == 0 else "NOT met"
    per_round = ", ".join(f"{lag['p99'] * 1e3:.1f}" for lag in mixed_lags)
    print(f"loop lag under the mixed load, all rounds: {together[-1][1]:.0f} samples, p50 {p50 * 1e3:.1f} ms, "
          f"p99 {p99 * 1e3:.1f} ms (per round {per_round}), "
          f"{stalls:.0f} over 100 ms, largest {worst * 1e3:.0f} ms; "
          f"goal p99 < {GOAL_P99 * 1e3:.0f} ms and no stall over {GOAL_STALL * 1e3:.0f} ms: {verdict}")


if __name__ == "__main__":
    main()
