"""What the whole daemon costs with many businesses, idle and lightly used
(run by hand: ``.venv/bin/python bench/memory.py [--businesses 1000]``).

Makes N businesses in a temporary state directory: one through the
provisioning services (``businesses.create``, ``people.add``), then copies
of its file that ``storage.tenants.adopt_file`` gives their own slug and
free domain (creating 1,000 one by one takes minutes, mostly DKIM keys),
and the catalog rebuilt from the files (``businesses.rebuild_catalog``).
Then it starts ``appliance serve`` (``appliance.testing.Daemon``), waits
until the daemon is idle, and prints its resident memory, threads, open
descriptors and open business files, and the largest event loop stall
since it started (``appliance_loop_lag_max_seconds`` on its metrics
listener). Then it touches a sample of the businesses lightly - one IMAP
login, SELECT INBOX and LOGOUT each - and prints the same again, once at
once and once after the daemon had time to close idle files.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import random
import shutil
import sqlite3
import ssl
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance import settings  # noqa: E402
from appliance.app import App  # noqa: E402
from appliance.testing import Daemon  # noqa: E402
from bench import daemonmetrics  # noqa: E402
from storage import schema  # noqa: E402
from storage.tenants import adopt_file  # noqa: E402

DOMAIN = "bench.test"
PASSWORD = "memory-bench-password-1"


def config_text(idle_seconds: int) -> str:
    return (f'[box]\nhostname = "box.{DOMAIN}"\ndomain = "{DOMAIN}"\n\n{settings.loopback_listen()}\n'
            f"[storage]\nidle_seconds = {idle_seconds}\n")


def make_businesses(state: Path, config: Path, n: int) -> None:
    """Business ``b00000`` with user ``u@b00000.bench.test`` through the
    services, then N-1 adopted copies, then the catalog."""
    app = App(settings.load(config), state)
    try:
        core = app.core
        core.businesses.create("b00000", actor="bench")
        core.people.add(f"u@b00000.{DOMAIN}", PASSWORD, actor="bench")
        app.tenants.close_all()
        tenants = app.tenants.directory
        template = tenants / "b00000.sqlite3"
        conn = sqlite3.connect(template)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        for i in range(1, n):
            slug = f"b{i:05d}"
            path = tenants / f"{slug}.sqlite3"
            shutil.copyfile(template, path)
            conn = sqlite3.connect(path)
            conn.execute("UPDATE tenant SET slug = ?, name = ?", (slug, slug))
            conn.commit()
            conn.close()
            adopt_file(path, schema.TENANT_MIGRATIONS, lambda s: f"{s}.{DOMAIN}")
        core.businesses.rebuild_catalog(actor="bench")
    finally:
        app.close()


def proc_figures(pid: int) -> dict[str, float]:
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            status[key] = int(value.split()[0])
    fds = os.listdir(f"/proc/{pid}/fd")
    files = 0
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").endswith(".sqlite3"):
                files += 1
        except OSError:
            pass
    return {"rss_mib": round(status["VmRSS"] / 1024, 1), "peak_rss_mib": round(status["VmHWM"] / 1024, 1),
            "threads": status["Threads"], "open_fds": len(fds), "open_business_fds": files}


def metric(daemon: Daemon, name: str) -> float:
    return daemonmetrics.metric(daemonmetrics.scrape(daemon.port("metrics")), name)


def wait_idle(pid: int, quiet: float = 3.0, timeout: float = 300) -> None:
    """Until the process used less than 5% of a core for ``quiet`` seconds."""
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    deadline = time.monotonic() + timeout
    last = cpu()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu()
        if now - last < 0.05 * quiet:
            return
        last = now


def touch(daemon: Daemon, slugs: list[str], workers: int) -> float:
    """One IMAP login, SELECT INBOX and LOGOUT for each slug; the seconds taken."""
    port = daemon.port("imaps")
    context = ssl.create_default_context(cafile=str(daemon.ca_file))

    def one(slug: str) -> None:
        imap = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context, timeout=60)
        try:
            imap.login(f"u@{slug}.{DOMAIN}", PASSWORD)
            typ, _ = imap.select("INBOX")
            assert typ == "OK", slug
        finally:
            imap.logout()

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, slugs))
    return time.monotonic() - started


def report(label: str, daemon: Daemon, **extra: float) -> None:
    figures = {"when": label, **proc_figures(daemon.pid),
               "open_business_files": metric(daemon, "appliance_tenant_files_open"),
               "loop_lag_max_seconds": metric(daemon, "appliance_loop_lag_max_seconds"), **extra}
    print(json.dumps(figures), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--businesses", type=int, default=1000)
    parser.add_argument("--touch", type=int, default=300, help="businesses touched over IMAP (a random sample)")
    parser.add_argument("--clients", type=int, default=8, help="IMAP clients at once")
    parser.add_argument("--idle-seconds", type=int, default=30, help="[storage] idle_seconds of the daemon")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it; its businesses are reused")
    parser.add_argument("--root", type=Path, help="run the daemon from this checkout (to compare another version)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mem-") as tmp:
        if args.keep is not None:
            tmp = str(args.keep)
            args.keep.mkdir(parents=True, exist_ok=True)
        state = Path(tmp) / "state"
        config = Path(tmp) / "appliance.toml"
        config.write_text(config_text(args.idle_seconds))
        if not (state / "tenants").is_dir():
            started = time.monotonic()
            make_businesses(state, config, args.businesses)
            print(f"{args.businesses} businesses made in {time.monotonic() - started:.1f} s", flush=True)
        daemon = Daemon(state, config, Path(tmp) / "daemon.log")
        if args.root is not None:
            daemon.root = args.root.resolve()
        started = time.monotonic()
        daemon.start(timeout=600)
        bound = time.monotonic() - started
        try:
            wait_idle(daemon.pid)
            report("idle after start", daemon, start_seconds=round(bound, 2))
            sample = random.Random(1).sample([f"b{i:05d}" for i in range(args.businesses)],
                                             min(args.touch, args.businesses))
            took = touch(daemon, sample, args.clients)
            report("after touching", daemon, touched=len(sample), touch_seconds=round(took, 2))
            time.sleep(args.idle_seconds + 35)  # idle_seconds, then the next eviction round
            report("idle again", daemon)
        finally:
            daemon.stop(timeout=120)
            lines = [line for line in daemon.log().splitlines() if "WARNING" in line or "ERROR" in line]
            for line in lines[:10]:
                print("daemon:", line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
