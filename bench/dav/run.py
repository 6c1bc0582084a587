"""Benchmark: the DAV client sync pattern against ours and stock Radicale 3.9.

Each of 10 concurrent clients repeats: PROPFIND depth 1 (etags), a
calendar-multiget (or addressbook-multiget) of 100 hrefs, a sync-collection
with its last token, and a PUT - alternating between a 2,000-event calendar
and a 2,000-contact address book. Ours is ``appliance serve`` (started by
:mod:`appliance.testing`), reached over HTTPS under its ``/dav/`` mount as a
client reaches it; stock Radicale runs from the same venv (``python -m
radicale``) with its file storage, htpasswd (plain) auth and TLS with the
same kind of certificate, on a loopback port. Both servers are started
and seeded first, then each gets a warm-up run of the same load that is
not counted, and then the measured runs alternate between them for
``--rounds`` rounds (default 2), each printed with the load average before
it (``bench/rounds.py``: runs above ``--max-load`` are marked unreliable).
Prints operations per second, p50/p95 latency, the medians, the spread and
the ratio.

    .venv/bin/python -m bench.dav.run [--seconds 20] [--warmup 5] [--clients 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import random
import re
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import requests

from appliance import settings, tls
from appliance.app import App
from appliance.settings import loopback_listen
from appliance.testing import PYTHON, Daemon, free_port
from bench.rounds import Rounds, load_average
USER, PASSWORD = "alice@bakery.example", "correct horse battery"
N_ITEMS = 2000

CONFIG = f"""
[box]
hostname = "box.appliance.test"
domain = "appliance.test"
{loopback_listen()}
[dav]
threads = 16
"""


def event(n: int, tag: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:ev-{n}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:2025{1 + n % 12:02d}{1 + n % 28:02d}T080000Z\r\n"
        f"DTEND:2025{1 + n % 12:02d}{1 + n % 28:02d}T090000Z\r\nSUMMARY:Event {n}{tag}\r\n"
        "DESCRIPTION:Delivery of bread and pastries to the usual address\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def card(n: int, tag: str = "") -> str:
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-{n}\r\nFN:Customer {n}{tag}\r\nN:{n};Customer;;;\r\n"
        f"ORG:Firm {n}\r\nEMAIL:c{n}@example.org\r\nTEL:+49 30 {n:07d}\r\nEND:VCARD\r\n"
    )


PROPFIND = '<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/><getcontenttype/></prop></propfind>'
TOKEN = '<?xml version="1.0"?><propfind xmlns="DAV:"><prop><sync-token/></prop></propfind>'


def multiget(kind: str, hrefs: list[str]) -> str:
    if kind == "cal":
        head = '<C:calendar-multiget xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><prop><getetag/><C:calendar-data/></prop>'
        tail = "</C:calendar-multiget>"
    else:
        head = '<CR:addressbook-multiget xmlns="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><prop><getetag/><CR:address-data/></prop>'
        tail = "</CR:addressbook-multiget>"
    return '<?xml version="1.0"?>' + head + "".join(f"<href>{h}</href>" for h in hrefs) + tail


def sync_body(token: str) -> str:
    return (f'<?xml version="1.0"?><sync-collection xmlns="DAV:"><sync-token>{token}</sync-token>'
            "<sync-level>1</sync-level><prop><getetag/></prop></sync-collection>")


class Target:
    """One server under test: its origin, its two collections, and what
    its HTTPS certificate is verified against."""

    def __init__(self, name: str, base: str, cal: str, book: str, verify: str):
        self.name, self.base, self.cal, self.book, self.verify = name, base, cal, book, verify

    def session(self) -> requests.Session:
        session = requests.Session()
        session.auth = (USER, PASSWORD)
        session.verify = self.verify
        # Else REQUESTS_CA_BUNDLE (and any proxy) from the environment would
        # override ``verify`` (requests' merge_environment_settings).
        session.trust_env = False
        return session


def wait_up(url: str, verify: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.request("OPTIONS", url, timeout=2, verify=verify)  # a per-request verify wins over the environment
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


@contextlib.contextmanager
def ours(tmp: Path) -> Iterator[Target]:
    """``appliance serve``: DAV under /dav/ on its HTTPS listener."""
    state = tmp / "state"
    state.mkdir()
    config = tmp / "appliance.toml"
    config.write_text(CONFIG)
    app = App(settings.load(config), state)
    app.provisioning.create_tenant("bakery", "Bakery", "bakery.example")
    app.provisioning.add_user(USER, PASSWORD)
    app.close()
    with Daemon(state, config, tmp / "daemon.log") as daemon:
        yield Target("ours", daemon.origin("https"), f"/dav/{USER}/calendar/", f"/dav/{USER}/contacts/",
                     str(daemon.ca_file))


@contextlib.contextmanager
def radicale(tmp: Path) -> Iterator[Target]:
    """Stock Radicale over HTTPS, with a certificate made as the daemon makes its own."""
    port = free_port()
    cert, key = tls.self_signed(tmp / "tls", "box.appliance.test")
    (tmp / "users").write_text(f"{USER}:{PASSWORD}\n")
    (tmp / "config").write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\nmax_connections = 20\n"
        f"ssl = True\ncertificate = {cert}\nkey = {key}\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {tmp}/users\nhtpasswd_encryption = plain\ndelay = 0\n"
        f"[storage]\nfilesystem_folder = {tmp}/collections\n[logging]\nlevel = warning\n"
    )
    proc = subprocess.Popen([PYTHON, "-m", "radicale", "--config", str(tmp / "config")], cwd=tmp)
    try:
        base = f"https://127.0.0.1:{port}"
        wait_up(base + "/", str(cert))
        target = Target("radicale", base, f"/{USER}/calendar/", f"/{USER}/contacts/", str(cert))
        session = target.session()
        session.request("PROPFIND", f"{base}/{USER}/", timeout=10)
        session.request("MKCALENDAR", f"{base}/{USER}/calendar/", timeout=10).raise_for_status()
        body = ('<?xml version="1.0"?><mkcol xmlns="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><set><prop>'
                "<resourcetype><collection/><CR:addressbook/></resourcetype></prop></set></mkcol>")
        session.request("MKCOL", f"{base}/{USER}/contacts/", data=body, timeout=10).raise_for_status()
        yield target
    finally:
        proc.terminate()
        proc.wait(30)


def seed(target: Target, items: int = N_ITEMS) -> None:
    local = threading.local()

    def put(job: tuple[str, int]) -> None:
        session = getattr(local, "s", None) or target.session()
        local.s = session
        kind, n = job
        if kind == "cal":
            url, body, ctype = f"{target.base}{target.cal}ev-{n}.ics", event(n), "text/calendar"
        else:
            url, body, ctype = f"{target.base}{target.book}card-{n}.vcf", card(n), "text/vcard"
        session.put(url, data=body.encode(), headers={"Content-Type": ctype}, timeout=60).raise_for_status()

    jobs = [("cal", n) for n in range(items)] + [("book", n) for n in range(items)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, jobs))


def client(target: Target, seconds: float, client_id: int, results: list, items: int = N_ITEMS) -> None:
    session = target.session()
    rng = random.Random(client_id)
    tokens: dict[str, str] = {}
    deadline = time.monotonic() + seconds
    round_no = 0
    while time.monotonic() < deadline:
        kind = "cal" if round_no % 2 == 0 else "book"
        path = target.cal if kind == "cal" else target.book
        url = target.base + path
        ops = []

        def timed(op: str, method: str, u: str, body: str, headers: dict) -> requests.Response:
            started = time.perf_counter()
            reply = session.request(method, u, data=body.encode(), headers=headers, timeout=120)
            ops.append((f"{op}", time.perf_counter() - started, reply.status_code))
            return reply

        listing = timed("propfind", "PROPFIND", url, PROPFIND, {"Depth": "1", "Content-Type": "application/xml"})
        hrefs = re.findall(r"<href>([^<]+)</href>", listing.text)[1:]
        pick = rng.sample(hrefs, min(100, len(hrefs)))
        timed("multiget", "REPORT", url, multiget(kind, pick), {"Depth": "1", "Content-Type": "application/xml"})
        if kind not in tokens:
            reply = session.request("PROPFIND", url, data=TOKEN, headers={"Depth": "0"}, timeout=60)
            tokens[kind] = re.search(r"sync-token>([^<]+)<", reply.text).group(1)
        reply = timed("sync", "REPORT", url, sync_body(tokens[kind]), {"Depth": "1", "Content-Type": "application/xml"})
        found = re.search(r"sync-token>([^<]+)<", reply.text)
        if found:
            tokens[kind] = found.group(1)
        n = rng.randrange(items)
        if kind == "cal":
            timed("put", "PUT", f"{url}ev-{n}.ics", event(n, f" c{client_id} r{round_no}"), {"Content-Type": "text/calendar"})
        else:
            timed("put", "PUT", f"{url}card-{n}.vcf", card(n, f" c{client_id} r{round_no}"), {"Content-Type": "text/vcard"})
        results.extend(ops)
        round_no += 1


def measure(target: Target, clients: int, seconds: float, items: int = N_ITEMS) -> dict:
    results: list = []
    threads = [threading.Thread(target=client, args=(target, seconds, i, results, items)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    latencies = sorted(r[1] for r in results)
    errors = sum(1 for r in results if r[2] >= 400)
    per_op = {}
    for op in ("propfind", "multiget", "sync", "put"):
        lat = sorted(r[1] for r in results if r[0] == op)
        if lat:
            per_op[op] = {"n": len(lat), "p50_ms": round(statistics.median(lat) * 1000, 1), "p95_ms": round(lat[int(0.95 * (len(lat) - 1))] * 1000, 1)}
    return {
        "target": target.name,
        "ops": len(results),
        "errors": errors,
        "ops_per_second": round(len(results) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1),
        "per_op": per_op,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="measured run per server")
    parser.add_argument("--warmup", type=float, default=5,
                        help="a run of the same load before the measured one, not counted (0: none)")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--only", choices=["ours", "radicale"])
    parser.add_argument("--rounds", type=int, default=2, help="measured runs per server, alternating")
    parser.add_argument("--max-load", type=float, default=1.5, help="1-minute load above which a run is unreliable")
    args = parser.parse_args()
    rounds = Rounds("dav", "ops/s", "radicale", args.max_load)
    with contextlib.ExitStack() as stack:
        targets = {}
        for name, server in (("ours", ours), ("radicale", radicale)):
            if args.only and args.only != name:
                continue
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-dav-{name}-"))
            target = targets[name] = stack.enter_context(server(Path(tmp)))
            t0 = time.monotonic()
            seed(target)
            print(f"{name}: seeded {2 * N_ITEMS} items in {time.monotonic() - t0:.1f}s", flush=True)
        # Warm-ups right before the measured runs: seeding Radicale takes
        # minutes, long enough for ours to close an idle business file.
        for name, target in targets.items():
            if args.warmup > 0:
                warm = measure(target, args.clients, args.warmup)
                print(f"{name}: warm-up {args.warmup:g}s, {warm['ops_per_second']} ops/s (not counted)", flush=True)
        rounds.header()
        for round_no in range(1, args.rounds + 1):
            for name, target in targets.items():
                before = load_average()
                report = measure(target, args.clients, args.seconds)
                print(json.dumps(report), flush=True)
                rounds.record(name, round_no, before, report["ops_per_second"],
                              f"p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms")
    rounds.summary()


if __name__ == "__main__":
    main()
