"""Local delivery rate (run by hand: ``.venv/bin/python bench/smtp/local.py``).

smtplib clients send small messages (From, To, Cc and Reply-To filled, as
the CRM's mail history indexes them) to one user over our MX port, several
sessions at once; ``250`` comes only after the commit, so messages per
second is durable deliveries per second. ``--root`` runs the daemon and CLI
of another checkout (an older commit, to compare); ``--rounds`` repeats the
measure with a fresh business file each time.
"""

from __future__ import annotations

import argparse
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from appliance.settings import loopback_listen  # noqa: E402
from appliance.testing import PYTHON, Daemon  # noqa: E402

BODY = "A line of an ordinary message, long enough to look like one.\r\n" * 30


def message(n: int) -> bytes:
    return (f"From: Client {n % 50} <client{n % 50}@customer{n % 7}.example>\r\n"
            f"To: user@bench.test\r\nCc: other{n % 3}@customer{n % 7}.example\r\n"
            f"Reply-To: orders@customer{n % 7}.example\r\nSubject: Order number {n}\r\n"
            f"Message-ID: <{n}.{time.time_ns()}@customer.example>\r\n\r\n{BODY}").encode()


def send(port: int, numbers: range) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        for n in numbers:
            smtp.sendmail(f"client{n % 50}@customer{n % 7}.example", ["user@bench.test"], message(n))


def one_round(work: Path, root: Path, messages: int, sessions: int) -> float:
    state = work / "state"
    config = work / "appliance.toml"
    config.write_text(f'{loopback_listen(metrics_enabled=False)}\n[log]\nlevel = "WARNING"\n')

    def cli(*args: str, given: str | None = None) -> None:
        subprocess.run([PYTHON, "-m", "appliance", "--state", str(state), "--config", str(config), *args],
                       cwd=root, input=given, text=True, check=True, capture_output=True, timeout=120)

    cli("tenant", "add", "bench", "--domain", "bench.test")
    cli("user", "add", "user@bench.test", "--password-stdin", given="bench password 1\n")
    daemon = Daemon(state, config, work / "daemon.log")
    daemon.root = root
    with daemon:
        port = daemon.port("smtp")
        send(port, range(-5, 0))  # warm-up: connections, caches, the first write
        share = -(-messages // sessions)
        threads = [threading.Thread(target=send, args=(port, range(i * share, min(messages, (i + 1) * share))))
                   for i in range(sessions)]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return messages / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    rates = []
    for n in range(args.rounds):
        with tempfile.TemporaryDirectory() as work:
            rates.append(one_round(Path(work), args.root.resolve(), args.messages, args.sessions))
            print(f"round {n + 1}: {rates[-1]:.1f} messages/s", flush=True)
    print(f"{args.root}: median {sorted(rates)[len(rates) // 2]:.1f} messages/s over {args.rounds} rounds")


if __name__ == "__main__":
    main()
