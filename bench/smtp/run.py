"""SMTP benchmark (run by hand, as root: ``.venv/bin/python bench/smtp/run.py``).

Postfix's ``smtp-source`` sends 2,000 messages of 5 KB over 20 concurrent
sessions, once to our MX and once to a Postfix instance on the same machine
(its own config directory and queue in a temporary directory, loopback
only, delivering to a Maildir through ``virtual(8)``). Both answer ``250``
only once the message is on disk (ours: committed into the business file;
Postfix: its queue file fsynced), so the figure compared is durable
messages per second as seen by the client. Postfix's time until the last
message is in the Maildir is printed as well.

Needs the Debian package ``postfix`` (for ``smtp-source`` and the
reference server); its system service is never started or touched.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from appliance.settings import loopback_listen  # noqa: E402
from appliance.testing import Cli, Daemon, free_port  # noqa: E402
from storage import database, directory, mail  # noqa: E402


def smtp_source(port: int, messages: int, sessions: int, size: int, rcpt: str) -> float:
    started = time.monotonic()
    subprocess.run(
        ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
         "-f", "bench@example.org", "-t", rcpt, f"127.0.0.1:{port}"],
        check=True, timeout=600,
    )
    return time.monotonic() - started


def ours(work: Path, args: argparse.Namespace) -> tuple[float, int]:
    state = work / "state"
    work.mkdir(parents=True)
    config = work / "appliance.toml"
    config.write_text(
        f"""
{loopback_listen(metrics_enabled=False)}
[log]
level = "WARNING"
"""
    )
    cli = Cli(state, config)
    cli("tenant", "add", "bench", "--domain", "bench.test")
    cli("user", "add", "user@bench.test", "--password-stdin", input="bench password 1\n")
    with Daemon(state, config, work / "daemon.log") as daemon:
        elapsed = smtp_source(daemon.port("smtp"), args.messages, args.sessions, args.size, "user@bench.test")
    return elapsed, count_ours(state)


def count_ours(state: Path) -> int:
    """Messages stored in the benchmark user's INBOX (read from the business file)."""
    conn = database.connect(state / "tenants" / "bench.sqlite3", readonly=True)
    try:
        user = directory.get_user(conn, "user@bench.test")
        return len(mail.messages(conn, mail.mailbox_id(conn, user["id"], "INBOX")))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=5 * 1024)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if shutil.which("smtp-source") is None:
        raise SystemExit("smtp-source not found: apt-get install postfix (keep its service stopped)")
    work = Path(tempfile.mkdtemp(prefix="bench-smtp-"))
    os.chmod(work, 0o755)
    try:
        our_time, our_count = ours(work / "ours", args)
        pf_queued, pf_delivered, pf_count = postfix(work / "pf", args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    n = args.messages
    print(f"{n} messages of {args.size} bytes over {args.sessions} sessions")
    print(f"  ours:    {our_time:6.2f} s  {n / our_time:7.1f} msg/s durable (stored {our_count})")
    print(f"  postfix: {pf_queued:6.2f} s  {n / pf_queued:7.1f} msg/s durable in its queue")
    print(f"           {pf_delivered:6.2f} s  {n / pf_delivered:7.1f} msg/s until the last is in the Maildir ({pf_count})")
    print(f"  ratio ours/postfix (durable at 250): {pf_queued / our_time:.2f}")
    print(f"  ratio ours/postfix (in the mailbox): {pf_delivered / our_time:.2f}")


if __name__ == "__main__":
    main()
