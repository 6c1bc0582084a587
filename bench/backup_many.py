"""What one Litestream process costs per replicated business (run by hand:
``.venv/bin/python bench/backup_many.py [--businesses 2000]``).

Makes N empty business files (the real migrations, one business row each)
and a box database in a temporary state directory, starts ``litestream
replicate`` with the config the daemon generates (``appliance.litestream``)
to a ``file://`` replica in the same temporary directory, waits until every
database is registered and has shipped once, and prints: the time that
took, Litestream's resident memory (VmRSS, VmHWM), open descriptors and
threads, each in total and per database. Then it stops Litestream (SIGTERM)
and removes everything.

Litestream's documentation puts the ceiling near 5,000 databases per
process; ``LimitNOFILE`` (65,536 in ``systemd/appliance.service``) must
cover descriptors per database times businesses.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance import litestream, settings  # noqa: E402
from storage import directory, schema  # noqa: E402
from storage.database import Database, connect  # noqa: E402


def make_businesses(tenants: Path, n: int) -> None:
    """One real business file, then copies of it with their own slug
    (migrating 2,000 files one by one takes minutes)."""
    plan = directory.Plan("standard", 10, 2 << 30, 50 << 20, 500)
    template = tenants.parent / "template.sqlite3"
    db = Database(template, schema.TENANT_MIGRATIONS, readers=1, name="template")
    try:
        db.write_sync("init", lambda conn: directory.init_tenant(conn, "template", "template", plan, "template.bench.test"))
    finally:
        db.close()
    for i in range(n):
        slug = f"b{i:05d}"
        path = tenants / f"{slug}.sqlite3"
        shutil.copyfile(template, path)
        conn = connect(path)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.execute("UPDATE tenant SET slug = ?, name = ?", (slug, slug))
        conn.execute("UPDATE domains SET name = ?", (f"{slug}.bench.test",))
        conn.close()


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "Threads"):
            out[key] = int(value.split()[0])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--businesses", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for every database to ship")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bk-") as tmp:
        state = Path(tmp) / "s"
        (state / "tenants").mkdir(parents=True)
        Database(state / "box.sqlite3", schema.BOX_MIGRATIONS, name="box", checkpoints=False).close()
        started = time.monotonic()
        make_businesses(state / "tenants", args.businesses)
        print(f"{args.businesses} business files made in {time.monotonic() - started:.1f} s", flush=True)
        config = settings.from_mapping({"backup": {"url": f"file://{tmp}/replica", "sync_seconds": 1}})
        path = litestream.write_config(Path(tmp) / "litestream.yml", litestream.config_document(config, state))
        log = open(Path(tmp) / "litestream.log", "wb")
        proc = subprocess.Popen([litestream.program(config), "replicate", "-config", str(path), "-no-expand-env"],
                                stdout=log, stderr=subprocess.STDOUT, env=litestream.child_environment())
        want = args.businesses + 1
        started = time.monotonic()
        try:
            while True:
                try:
                    rows = litestream.replicated(state, timeout=60) or []
                except litestream.BackupFailed:
                    rows = []  # still opening the databases
                shipped = sum(1 for r in rows if r.last_sync is not None)
                if shipped >= want:
                    break
                if proc.poll() is not None or time.monotonic() - started > args.timeout:
                    print(f"litestream gave up or timed out: {shipped}/{want} shipped", file=sys.stderr)
                    return 1
                time.sleep(1)
            took = time.monotonic() - started
            time.sleep(10)  # let the first snapshots and compactions settle
            asked = time.monotonic()
            litestream.replicated(state, timeout=60)
            status_seconds = time.monotonic() - asked
            st = proc_status(proc.pid)
            figures = {
                "databases": want,
                "all_shipped_seconds": round(took, 1),
                "rss_mib": round(st["VmRSS"] / 1024, 1),
                "peak_rss_mib": round(st["VmHWM"] / 1024, 1),
                "rss_kib_per_db": round(st["VmRSS"] / want, 1),
                "open_fds": st["fds"],
                "fds_per_db": round(st["fds"] / want, 2),
                "threads": st["Threads"],
                "status_query_seconds": round(status_seconds, 2),
            }
            print(json.dumps(figures, indent=2))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
