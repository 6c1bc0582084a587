"""SMTP benchmark (run by hand, as root: ``.venv/bin/python bench/smtp/run.py``).

Postfix's ``smtp-source`` sends 2,000 messages of 5 KB over 20 concurrent
sessions, once to our MX and once to a Postfix instance on the same machine
(its own config directory and queue in a temporary directory, loopback
only, delivering to a Maildir through ``virtual(8)``). Both answer ``250``
only once the message is on disk (ours: committed into the business file;
Postfix: its queue file fsynced), so the figure compared is durable
messages per second as seen by the client. Postfix's time until the last
message is in the Maildir is printed as well.

Ours runs twice per round: with no filtering (as Postfix, which filters
nothing here) and with its filtering on - an active Sieve script for the
recipient (three tests, ``fileinto :create`` with a flag), greylisting on
for the client's address (its triplet let through before the run, so each
RCPT looks it up and records it) and, when the ``rspamd`` binary is
installed, every message scanned by a local rspamd (``appliance.testrspamd``,
the tests' configuration, on loopback ports; its DNS a stub that knows
no name).
Each round runs Postfix, ours off and ours on back to back, ``--rounds``
times (2 by default); every run is printed with the load average before
it, then the spread and the ratios ours/Postfix for each mode.

Needs the Debian package ``postfix`` (for ``smtp-source`` and the
reference server); its system service is never started or touched.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from dnslib import RCODE, DNSRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from appliance.settings import loopback_listen  # noqa: E402
from appliance.testing import Cli, Daemon, free_port  # noqa: E402
from storage import database, directory, mail  # noqa: E402

#: The recipient's rules with filtering on: the envelope and two header
#: tests, and the message filed (created on first use) with a flag.
SIEVE = """require ["fileinto", "mailbox", "imap4flags", "envelope"];
if header :contains "subject" ["invoice", "unsubscribe"] { fileinto :create "Business"; stop; }
if envelope :domain :is "from" "example.org" { addflag "$Bench"; fileinto :create "Bench"; stop; }
keep;
"""
SENDER = "bench@example.org"
RCPT = "user@bench.test"


def smtp_source(port: int, messages: int, sessions: int, size: int, rcpt: str) -> float:
    started = time.monotonic()
    subprocess.run(
        ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
         "-f", "bench@example.org", "-t", rcpt, f"127.0.0.1:{port}"],
        check=True, timeout=600,
    )
    return time.monotonic() - started


def ours(work: Path, args: argparse.Namespace, filtering: bool = False, rspamd_url: str = "") -> tuple[float, tuple[int, str]]:
    state = work / "state"
    work.mkdir(parents=True)
    config = work / "appliance.toml"
    extra = ""
    if filtering:
        # The client is loopback: greylisted like any other (not exempt).
        extra += "[greylist]\nenabled = true\ndelay = 0\nexempt_networks = []\n"
        if rspamd_url:
            # Scored, never refused: smtp-source's messages are not what is measured.
            extra += f'[rspamd]\nurl = "{rspamd_url}"\njunk_score = 999\nreject_score = 1000\n'
    config.write_text(
        f"""
{loopback_listen(metrics_enabled=False)}
[log]
level = "WARNING"
{extra}"""
    )
    cli = Cli(state, config)
    cli("tenant", "add", "bench", "--domain", "bench.test")
    cli("user", "add", RCPT, "--password-stdin", input="bench password 1\n")
    if filtering:
        cli("sieve", "put", RCPT, "bench", "-", "--activate", input=SIEVE)
    with Daemon(state, config, work / "daemon.log") as daemon:
        if filtering:
            let_through(daemon.port("smtp"))
        elapsed = smtp_source(daemon.port("smtp"), args.messages, args.sessions, args.size, RCPT)
    return elapsed, count_ours(state)


def let_through(port: int) -> None:
    """Greylisting: the benchmark's triplet retried after the delay, so it passes from now on."""
    for _ in range(10):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo("bench.example.org")
            client.mail(SENDER)
            code, _text = client.rcpt(RCPT)
        if code == 250:
            return
        time.sleep(1.1)
    raise SystemExit("greylisting never let the benchmark's triplet through")


def count_ours(state: Path) -> tuple[int, str]:
    """Messages stored in the benchmark user's mailboxes (read from the
    business file), and where: ``INBOX 2000`` or ``Bench 2000, scanned``
    when the last one carries rspamd's score."""
    conn = database.connect(state / "tenants" / "bench.sqlite3", readonly=True)
    try:
        user = directory.get_user(conn, RCPT)
        where, total, last = [], 0, b""
        for box in mail.list_mailboxes(conn, user["id"]):
            rows = mail.messages(conn, box["id"])
            if rows:
                where.append(f"{box['name']} {len(rows)}")
                total += len(rows)
                last = bytes(mail.raw_messages(conn, box["id"], [rows[-1]["uid"]], limit=1, max_bytes=1 << 20)[0])
        scanned = ", scanned" if b"\r\nX-Spam-Score:" in last.split(b"\r\n\r\n")[0] else ""
        return total, ", ".join(where) + scanned
    finally:
        conn.close()


def postfix(work: Path, args: argparse.Namespace) -> tuple[float, float, int]:
    conf = work / "postfix"
    spool = work / "spool"
    data = work / "data"
    vmail = work / "vmail"
    for d in (conf, spool, data, vmail):
        d.mkdir(parents=True)
    owner = pwd.getpwnam("nobody")
    os.chown(vmail, owner.pw_uid, owner.pw_gid)
    postfix_user = pwd.getpwnam("postfix")
    os.chown(data, postfix_user.pw_uid, postfix_user.pw_gid)
    port = free_port()
    (conf / "vmailbox").write_text("user@bench.test bench/Maildir/\n")
    (conf / "main.cf").write_text(
        f"""
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = bench.localhost
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = bench.test
virtual_mailbox_base = {vmail}
virtual_mailbox_maps = texthash:{conf}/vmailbox
virtual_uid_maps = static:{owner.pw_uid}
virtual_gid_maps = static:{owner.pw_gid}
virtual_minimum_uid = 1
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
maillog_file_prefixes = {work}
maillog_file = {work}/postfix.log
biff = no
smtputf8_enable = no
"""
    )
    lines = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        fields = line.split()
        if line and not line[0].isspace() and not line.startswith("#") and len(fields) >= 8:
            if fields[0] == "smtp" and fields[1] == "inet":
                fields[0] = f"127.0.0.1:{port}"
            fields[4] = "n"  # no chroot: the queue is in a temporary directory
            line = " ".join(fields)
        lines.append(line)
    (conf / "master.cf").write_text("\n".join(lines) + "\n")
    env = {**os.environ, "MAIL_CONFIG": str(conf)}
    subprocess.run(["postfix", "-c", str(conf), "start"], check=True, env=env)
    try:
        time.sleep(1.0)
        started = time.monotonic()
        queued = smtp_source(port, args.messages, args.sessions, args.size, "user@bench.test")
        maildir = vmail / "bench" / "Maildir" / "new"
        deadline = time.monotonic() + 600
        count = 0
        while time.monotonic() < deadline:
            count = len(os.listdir(maildir)) if maildir.exists() else 0
            if count >= args.messages:
                break
            time.sleep(0.05)
        delivered = time.monotonic() - started
    finally:
        subprocess.run(["postfix", "-c", str(conf), "stop"], env=env)
    return queued, delivered, count


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


class NoSuchNames:
    """A DNS server on loopback that answers NXDOMAIN to everything: where
    the benchmark's rspamd asks (no lookup leaves the machine, none waits
    for a timeout)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
                reply = DNSRecord.parse(data).reply()
            except OSError:
                return
            except Exception:  # noqa: BLE001 - not a DNS query: ignored
                continue
            reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), addr)

    def close(self) -> None:
        self.sock.close()


def start_rspamd() -> tuple[object, NoSuchNames] | None:
    """A local rspamd (the test suite's configuration), or None without the binary."""
    from appliance.testrspamd import MISSING, Rspamd

    if MISSING is not None:
        print(f"no rspamd: {MISSING}; filtering on runs without content scoring")
        return None
    dns = NoSuchNames()
    return Rspamd(dns.port).start(), dns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=5 * 1024)
    parser.add_argument("--rounds", type=int, default=2, help="rounds of Postfix, ours off, ours on (at least 2)")
    parser.add_argument("--no-rspamd", action="store_true", help="filtering on without content scoring")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if shutil.which("smtp-source") is None:
        raise SystemExit("smtp-source not found: apt-get install postfix (keep its service stopped)")
    work = Path(tempfile.mkdtemp(prefix="bench-smtp-"))
    os.chmod(work, 0o755)
    n = args.messages
    print(f"{n} messages of {args.size} bytes over {args.sessions} sessions, {max(2, args.rounds)} rounds")
    scanner = None if args.no_rspamd else start_rspamd()
    times: dict[str, list[float]] = {"postfix": [], "postfix-mailbox": [], "off": [], "on": []}
    try:
        for r in range(max(2, args.rounds)):
            print(f"round {r + 1}")
            print(f"  {load()}")
            pf_queued, pf_delivered, pf_count = postfix(work / f"pf{r}", args)
            times["postfix"].append(pf_queued)
            times["postfix-mailbox"].append(pf_delivered)
            print(f"    postfix: {pf_queued:6.2f} s  {n / pf_queued:7.1f} msg/s durable in its queue;"
                  f" {n / pf_delivered:7.1f} msg/s until the last is in the Maildir ({pf_count})")
            for mode in ("off", "on"):
                print(f"  {load()}")
                elapsed, (count, where) = ours(work / f"ours-{mode}{r}", args, filtering=mode == "on",
                                      rspamd_url=scanner[0].url if scanner else "")
                times[mode].append(elapsed)
                print(f"    ours, filtering {mode}: {elapsed:6.2f} s  {n / elapsed:7.1f} msg/s durable (stored {count}: {where})")
    finally:
        if scanner is not None:
            scanner[0].remove()
            scanner[1].close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"  {load()}")
    print("summary (msg/s: median of the runs, spread min-max)")
    rates = {k: [n / t for t in v] for k, v in times.items()}
    for key, label in (("postfix", "postfix, durable at 250"), ("postfix-mailbox", "postfix, in the Maildir"),
                       ("off", "ours, filtering off"), ("on", "ours, filtering on" + (" (with rspamd)" if scanner else ""))):
        print(f"  {label:36s} {statistics.median(rates[key]):7.1f}  ({min(rates[key]):.1f}-{max(rates[key]):.1f})")
    for mode in ("off", "on"):
        ratio = statistics.median(rates[mode]) / statistics.median(rates["postfix"])
        print(f"  ratio ours/postfix, filtering {mode} (durable at 250): {ratio:.2f}")


if __name__ == "__main__":
    main()
