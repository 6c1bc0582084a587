"""How long ``appliance tenant move`` takes for a large business (run by
hand: ``.venv/bin/python bench/move.py [--mb 1024] [--runs 2]``).

Builds, in a temporary directory, box A (127.0.0.2) with one business
whose file holds ``--mb`` MiB of mail (1 MiB messages, each unique, written
straight into the file: delivering them over SMTP would take longer than
the move), and an empty box B (127.0.0.3) with a write API key. Then,
``--runs`` times, back to back:

* peer: the same job by hand with the standard tools on one machine, no
  network: ``sqlite3 .backup`` of the file, ``sha256sum``, ``cp`` to box
  B's directory, ``sha256sum`` again and ``PRAGMA integrity_check`` there;
* ours: ``appliance tenant move`` from A to B over HTTPS (the business
  is moved back with the same command between runs, B to A).

Prints each run with the load average before it, how long writes were
refused (the freeze), the spread and the ratio ours/peer. Everything is
removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appliance import mime, settings  # noqa: E402
from appliance.testing import Cli, Daemon  # noqa: E402
from storage import directory, schema  # noqa: E402
from storage import mail as maildb  # noqa: E402
from storage.database import Database  # noqa: E402

MIB = 1 << 20
#: Messages written per transaction while filling.
BATCH = 64


def config(host: str, address: str) -> str:
    listen = settings.loopback_listen().replace('addresses = ["127.0.0.1"]', f'addresses = ["{address}"]')
    return (f'[box]\nhostname = "{host}"\ndomain = "appliance.test"\nipv4 = ["{address}"]\n\n{listen}\n'
            f'[fleet]\nmax_move_bytes = {64 << 30}\n')


def fill(path: Path, address: str, mib: int) -> None:
    """Put ``mib`` messages of about 1 MiB into ``address``'s INBOX."""
    db = Database(path, schema.TENANT_MIGRATIONS)
    try:
        user_id = db.write_sync("quota", lambda c: (
            directory.set_quota(c, address, 1 << 50), directory.resolve(c, address)[0])[1])
        block = (os.urandom(MIB * 3 // 4).hex().encode() + b"\r\n")[: MIB - 200]
        lines = b"\r\n".join(block[i:i + 76] for i in range(0, len(block), 76))
        for start in range(0, mib, BATCH):
            batch = []
            for n in range(start, min(mib, start + BATCH)):
                raw = (f"From: bench@outside.example\r\nTo: {address}\r\nSubject: message {n}\r\n"
                       f"Message-ID: <{n}@bench.example>\r\n\r\n").encode() + lines
                batch.append((raw, mime.for_storage(raw)))

            def write(conn, batch=batch):
                for raw, parsed in batch:
                    maildb.deliver(conn, user_id, maildb.store_body(conn, raw, parsed))

            db.write_sync("fill", write)
        db.checkpoint()
    finally:
        db.close()


def peer(source: Path, target_dir: Path, work: Path) -> float:
    """The standard tools' move on one machine; returns seconds."""
    copy, target = work / "peer-copy.sqlite3", target_dir / "peer.sqlite3"
    started = time.monotonic()
    subprocess.run(["sqlite3", str(source), f".backup '{copy}'"], check=True)
    digest = subprocess.run(["sha256sum", str(copy)], check=True, capture_output=True, text=True).stdout.split()[0]
    shutil.copyfile(copy, target)
    again = subprocess.run(["sha256sum", str(target)], check=True, capture_output=True, text=True).stdout.split()[0]
    check = subprocess.run(["sqlite3", str(target), "PRAGMA integrity_check"], check=True, capture_output=True,
                           text=True).stdout.strip()
    took = time.monotonic() - started
    assert digest == again and check == "ok", (digest, again, check)
    copy.unlink()
    target.unlink()
    return took


def ours(source: "Box", target: "Box", token: str, slug: str) -> tuple[float, float, int]:
    """``appliance tenant move``: (seconds, seconds frozen, bytes)."""
    started = time.monotonic()
    proc = source.cli("tenant", "move", slug, "--to", target.url, "--address", target.address, "--ca-file",
                      str(target.daemon.ca_file), "--token-stdin", "--quiet", "--json", input=token + "\n")
    took = time.monotonic() - started
    moved = json.loads(proc.stdout)
    return took, moved["seconds_frozen"], moved["bytes"]


class Box:
    def __init__(self, base: Path, name: str, address: str):
        self.host, self.address = f"{name}.fleet.test", address
        state = base / name / "state"
        state.mkdir(parents=True)
        path = base / name / "appliance.toml"
        path.write_text(config(self.host, address))
        self.cli = Cli(state, path)
        self.daemon = Daemon(state, path, base / name / "daemon.log")

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.daemon.port('https')}"

    def after_move(self, slug: str) -> None:
        """Forget a business that moved away at once (no grace period), so
        it can come back for the next run."""
        self.cli("tenant", "thaw", slug)
        self.cli("tenant", "remove", slug)
        for path in (self.cli.state / "removed").glob(f"{slug}-*"):
            path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1024, help="MiB of mail in the business (default 1024)")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-move-"))
    a, b = Box(base, "a", "127.0.0.2"), Box(base, "b", "127.0.0.3")
    try:
        slug, address = "big", "ann@big.example"
        a.cli("tenant", "add", slug, "--domain", "big.example")
        a.cli("user", "add", address, "--password-stdin", input="bench pass word 1\n")
        started = time.monotonic()
        fill(a.cli.state / "tenants" / f"{slug}.sqlite3", address, args.mb)
        size = (a.cli.state / "tenants" / f"{slug}.sqlite3").stat().st_size
        print(f"built a business of {size / MIB:.0f} MiB in {time.monotonic() - started:.1f} s")
        a.daemon.start()
        b.daemon.start()
        tokens = {box.host: box.cli.json("apikey", "add", "bench", "--scope", "write")["token"] for box in (a, b)}
        peers, mine = [], []
        where, other = a, b
        for run in range(1, args.runs + 1):
            load = os.getloadavg()[0]
            took = peer(where.cli.state / "tenants" / f"{slug}.sqlite3", other.cli.state, base)
            peers.append(took)
            print(f"run {run} peer (sqlite3 .backup, sha256sum, cp, sha256sum, integrity_check): {took:6.2f} s"
                  f"   load {load:.2f}")
            load = os.getloadavg()[0]
            took, frozen, moved = ours(where, other, tokens[other.host], slug)
            mine.append(took)
            print(f"run {run} ours (appliance tenant move, {moved / MIB:.0f} MiB over HTTPS): {took:6.2f} s,"
                  f" writes refused {frozen:.2f} s   load {load:.2f}")
            where.after_move(slug)
            where, other = other, where
        for name, values in (("peer", peers), ("ours", mine)):
            spread = (max(values) - min(values)) / statistics.median(values) * 100
            print(f"{name}: median {statistics.median(values):.2f} s, spread {spread:.0f}%")
        print(f"ratio ours/peer: {statistics.median(mine) / statistics.median(peers):.2f}")
    finally:
        for box in (a, b):
            if box.daemon.running():
                box.daemon.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
