"""IMAP benchmark (run by hand, as root: ``.venv/bin/python bench/imap/run.py``).

Our daemon and a Dovecot instance on the same machine (its own config, base
and state directories in a temporary directory, listening on 127.0.0.1 only)
are measured the same way, over implicit TLS (imaps, certificate not
verified), with one asyncio client that reads responses with a minimal
tagged-response reader (literals honoured), so that it costs little CPU on
a machine whose cores it shares with the server:

1. Each of ``--users`` users (default 10) gets ``--messages`` messages
   (default 2,000) by APPEND into INBOX, one connection per user, all users
   at once. The messages are generated from a fixed seed, so both servers
   get the same bytes: mostly 2-20 KB plain text, some multipart/alternative
   with HTML, about one in ten multipart/mixed with a 10-150 KB attachment;
   distinct subjects, senders and dates, internal date = Date header, about
   60 % appended \\Seen.
2. One connection per user, all at once, for ``--seconds`` (default 30)
   repeat: SELECT INBOX; FETCH 1:* (FLAGS ENVELOPE); five UID FETCH <random
   uid> BODY.PEEK[] (checked against the appended bytes); two UID SEARCH
   drawn from SUBJECT "word", UNSEEN, SINCE date, FROM "name"; UID STORE
   <random> +FLAGS (\\Seen) and another -FLAGS (\\Seen). Before the timed
   window each client runs one SELECT and FETCH 1:* (FLAGS ENVELOPE), so
   both servers start with what a client has already read once (Dovecot's
   cache file). Every command is one operation: printed are operations per
   second, p50/p95 latency per kind of command and the CPU seconds the
   server's processes used. Both servers are up and filled first; the load
   then runs ``--rounds`` times (default 2) on each, alternating, every run
   printed with the load average before it (``bench/rounds.py``: runs above
   ``--max-load`` are marked unreliable), then the medians, spread and ratio.
3. ``--idle`` connections (default 1,000, spread over the users) each log
   in, SELECT INBOX and enter IDLE. The proportional set size (PSS, from
   /proc/PID/smaps_rollup) summed over the server's processes is read
   before and after: for ours the daemon, for Dovecot the master and every
   child (login, auth, one imap process per connection, ...). Printed is
   KiB per connection (RSS summed as well, which counts shared pages once
   per process), and the same over the second half of the connections
   alone, by when memory a server freed after the load has been reused.

Dovecot: passwd-file passdb with plain passwords, static userdb as
``nobody``, Maildir, authentication cache on, fsync at its defaults
(``mail_fsync = optimized``: a saved message is fsynced before APPEND is
answered), IDLE hibernation off (the default). Its login processes run in
"high-performance" mode (``service_count = 0``, one process per core, each
serving many clients), the documented setting for many connections; the
per-user connection limits of both servers are raised to fit ``--idle``,
and so is fs.inotify.max_user_instances while Dovecot runs (one instance per
imap process in IDLE; restored afterwards).

Needs the Debian package ``dovecot-imapd``. Its system service is not used:
install it with a /usr/sbin/policy-rc.d that exits 101 so it is not
started, and stop it if it was.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import email.utils
import hashlib
import os
import pwd
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from appliance.settings import loopback_listen  # noqa: E402
from appliance.testing import Cli, Daemon, free_port  # noqa: E402
from bench.rounds import Rounds, load_average  # noqa: E402

PASSWORD = "bench password 1"
TIMEOUT = 120.0  # seconds for any one command or connection step
BODY_FETCHES = 5
SEARCHES = 2
OPEN_AT_ONCE = 20  # idle connections being set up concurrently
KINDS = ("select", "fetch_all", "fetch_body", "search_subject", "search_unseen", "search_since",
         "search_from", "store")

WORDS = """
account agenda answer april autumn budget call change client contract coffee
copy cost course customer data deadline delivery design draft due estimate
event feedback figures final follow garden holiday hotel idea invoice issue
kitchen launch letter list lunch march meeting minutes monday notes number
offer office order owner paper party payment photos plan points price print
project proposal quarter question quote receipt reminder renewal report
request review room sample schedule service shipment signed site spring
staff status stock summary supplier survey table team ticket time today
train travel trial update urgent vendor visit week weekly window winter
""".split()
FIRST = "Anna Ben Carla David Emma Felix Grace Hugo Ines Jonas Kim Lena Marco Nora Omar Paula Rui Sofia Tom Vera".split()
LAST = "Adams Berger Costa Dubois Evans Fischer Garcia Hansen Ito Jansen Keller Lopez Moreau Novak Olsen Petit Quinn Rossi Silva Weber".split()
DOMAINS = "example.org example.net mail.example.com shop.example lists.example.org corp.example".split()
ZONES = [datetime.timezone(datetime.timedelta(hours=h)) for h in (0, 1, 2, -5, 9)]
START = datetime.datetime(2023, 1, 1, tzinfo=datetime.timezone.utc)
SPAN = datetime.timedelta(days=730)
_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


# -- the mailboxes ---------------------------------------------------------

def _paragraphs() -> list[str]:
    rng = random.Random(1)
    out = []
    for _ in range(300):
        words = [rng.choice(WORDS) for _ in range(rng.randint(20, 120))]
        out.append(textwrap.fill(" ".join(words).capitalize() + ".", 72).replace("\n", "\r\n"))
    return out


PARAGRAPHS = _paragraphs()


def _text(rng: random.Random, size: int) -> str:
    parts, total = [], 0
    while total < size:
        p = rng.choice(PARAGRAPHS)
        parts.append(p)
        total += len(p) + 4
    return "\r\n\r\n".join(parts) + "\r\n"


def mailbox(seed: int, user: int, count: int):
    """Yield (message, internal date, flags) for one user, always the same."""
    rng = random.Random(seed * 1_000_003 + user)
    for i in range(count):
        when = (START + SPAN * (i + rng.random()) / count).astimezone(rng.choice(ZONES)).replace(microsecond=0)
        first, last, domain = rng.choice(FIRST), rng.choice(LAST), rng.choice(DOMAINS)
        subject = " ".join(rng.sample(WORDS, rng.randint(3, 7))).capitalize()
        if rng.random() < 0.2:
            subject = "Re: " + subject
        head = (
            f"From: {first} {last} <{first.lower()}.{last.lower()}@{domain}>\r\n"
            f"To: user{user}@bench.test\r\n"
            f"Subject: {subject}\r\n"
            f"Date: {email.utils.format_datetime(when)}\r\n"
            f"Message-ID: <{user}.{i}.{rng.getrandbits(48):012x}@{domain}>\r\n"
            "MIME-Version: 1.0\r\n"
        )
        kind = rng.random()
        boundary = f"=_b{rng.getrandbits(64):016x}"
        if kind < 0.8:
            body = ("Content-Type: text/plain; charset=us-ascii\r\n\r\n" + _text(rng, rng.randint(1500, 19000))).encode()
        elif kind < 0.9:
            text = _text(rng, rng.randint(1000, 8000))
            html = "<html><body>" + "".join(f"<p>{p}</p>\r\n" for p in text.split("\r\n\r\n")) + "</body></html>\r\n"
            body = (
                f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
                f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{text}"
                f"--{boundary}\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n{html}"
                f"--{boundary}--\r\n"
            ).encode()
        else:
            text = _text(rng, rng.randint(300, 3000))
            blob = base64.encodebytes(rng.randbytes(rng.randint(10_000, 150_000))).replace(b"\n", b"\r\n")
            body = (
                f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
                f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{text}"
                f"--{boundary}\r\nContent-Type: application/pdf; name=\"report-{i}.pdf\"\r\n"
                f"Content-Disposition: attachment; filename=\"report-{i}.pdf\"\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n"
            ).encode() + blob + f"--{boundary}--\r\n".encode()
        r = rng.random()
        flags = "\\Seen \\Flagged" if r < 0.05 else "\\Seen" if r < 0.6 else ""
        yield head.encode() + body, when, flags


def digest(message: bytes) -> bytes:
    return hashlib.blake2b(message, digest_size=16).digest()


# -- the client ------------------------------------------------------------

class Failed(Exception):
    pass


BROKEN = (Failed, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)


class Client:
    """One IMAP connection: commands in turn, responses read up to their tag."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.r, self.w = reader, writer
        self.n = 0

    @classmethod
    async def open(cls, port: int, tls: ssl.SSLContext) -> "Client":
        async with asyncio.timeout(TIMEOUT):
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls, limit=1 << 24)
            greeting = await reader.readuntil(b"\r\n")
        if not greeting.startswith(b"* OK"):
            writer.close()
            raise Failed(f"greeting {greeting!r}")
        return cls(reader, writer)

    async def command(self, cmd: str, literal: bytes | None = None, keep: bool = False):
        """Send ``cmd``; return (tagged status line, untagged count, kept lines, literals)."""
        self.n += 1
        tag = b"a%d" % self.n
        r = self.r
        lines: list[bytes] = []
        literals: list[bytes] = []
        untagged = 0
        async with asyncio.timeout(TIMEOUT):
            if literal is None:
                self.w.write(tag + b" " + cmd.encode() + b"\r\n")
            else:
                self.w.write(tag + b" " + cmd.encode() + b" {%d}\r\n" % len(literal))
                await self.w.drain()
                while True:
                    line = await r.readuntil(b"\r\n")
                    if line.startswith(b"+"):
                        break
                    if line.startswith(tag + b" "):
                        return line[len(tag) + 1:].rstrip(), 0, lines, literals
                self.w.write(literal + b"\r\n")
            await self.w.drain()
            while True:
                line = await r.readuntil(b"\r\n")
                if line.startswith(tag + b" "):
                    return line[len(tag) + 1:].rstrip(), untagged, lines, literals
                if line.startswith(b"* "):
                    untagged += 1
                if keep:
                    lines.append(line)
                while line.endswith(b"}\r\n") and (m := _LITERAL.search(line)):
                    data = await r.readexactly(int(m[1]))
                    if keep:
                        literals.append(data)
                    line = await r.readuntil(b"\r\n")

    async def ok(self, cmd: str, **kw):
        status, *rest = await self.command(cmd, **kw)
        if not status.startswith(b"OK"):
            raise Failed(f"{cmd!r} -> {status.decode(errors='replace')}")
        return rest

    async def idle(self) -> None:
        self.n += 1
        tag = b"a%d" % self.n
        async with asyncio.timeout(TIMEOUT):
            self.w.write(tag + b" IDLE\r\n")
            while True:
                line = await self.r.readuntil(b"\r\n")
                if line.startswith(b"+"):
                    return
                if line.startswith(tag + b" "):
                    raise Failed(f"IDLE -> {line!r}")

    def close(self) -> None:
        self.w.transport.abort()


def client_tls() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def login(port: int, tls: ssl.SSLContext, user: int) -> Client:
    c = await Client.open(port, tls)
    await c.ok(f"LOGIN {quote(f'user{user}@bench.test')} {quote(PASSWORD)}")
    return c


async def append_all(port: int, args: argparse.Namespace, digests: dict[int, list[bytes]]) -> tuple[float, int]:
    tls = client_tls()
    size = 0

    async def one(user: int) -> None:
        nonlocal size
        c = await login(port, tls, user)
        try:
            seen = []
            for message, when, flags in mailbox(args.seed, user, args.messages):
                date = when.strftime("%d-%b-%Y %H:%M:%S %z")
                await c.ok(f'APPEND INBOX ({flags}) "{date}"' if flags else f'APPEND INBOX "{date}"', literal=message)
                seen.append(digest(message))
                size += len(message)
            digests[user] = seen
            await c.ok("LOGOUT")
        finally:
            c.close()

    started = time.monotonic()
    await asyncio.gather(*(one(u) for u in range(1, args.users + 1)))
    return time.monotonic() - started, size


def _search(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(("subject", "unseen", "since", "from"))
    if kind == "subject":
        return "search_subject", f'UID SEARCH SUBJECT "{rng.choice(WORDS)}"'
    if kind == "unseen":
        return "search_unseen", "UID SEARCH UNSEEN"
    if kind == "since":
        return "search_since", "UID SEARCH SINCE " + (START + SPAN * rng.random()).strftime("%d-%b-%Y")
    return "search_from", f'UID SEARCH FROM "{rng.choice(LAST)}"'


async def load(port: int, args: argparse.Namespace, digests: dict[int, list[bytes]]) -> dict:
    tls = client_tls()
    start = asyncio.Event()
    latencies: dict[str, list[float]] = {k: [] for k in KINDS}
    errors: list[str] = []
    mismatched = 0

    async def prepare(user: int) -> tuple[Client, list[int]]:
        c = await login(port, tls, user)
        await c.ok("SELECT INBOX")
        _, lines, _ = await c.ok("UID SEARCH ALL", keep=True)
        uids = sorted(int(u) for line in lines if line.startswith(b"* SEARCH") for u in line.split()[2:])
        count, _, _ = await c.ok("FETCH 1:* (FLAGS ENVELOPE)")
        if len(uids) != args.messages or count != args.messages:
            errors.append(f"user{user}: {len(uids)} UIDs, FETCH 1:* answered {count} lines, {args.messages} appended")
        return c, uids

    async def run(user: int, c: Client, uids: list[int], deadline: float) -> None:
        nonlocal mismatched
        rng = random.Random(args.seed * 7919 + user)
        expect = digests.get(user) if len(uids) == args.messages else None
        now = time.perf_counter

        async def op(kind: str, cmd: str, keep: bool = False):
            t = now()
            status, _, _, literals = await c.command(cmd, keep=keep)
            latencies[kind].append(now() - t)
            if not status.startswith(b"OK"):
                if len(errors) < 20:
                    errors.append(f"{cmd} -> {status.decode(errors='replace')}")
            return literals

        await start.wait()
        while time.monotonic() < deadline:
            steps = [("select", "SELECT INBOX"), ("fetch_all", "FETCH 1:* (FLAGS ENVELOPE)")]
            for _ in range(BODY_FETCHES):
                i = rng.randrange(len(uids))
                steps.append(("fetch_body", f"UID FETCH {uids[i]} BODY.PEEK[]", i))
            steps += [_search(rng) for _ in range(SEARCHES)]
            steps.append(("store", f"UID STORE {rng.choice(uids)} +FLAGS (\\Seen)"))
            steps.append(("store", f"UID STORE {rng.choice(uids)} -FLAGS (\\Seen)"))
            for kind, cmd, *index in steps:
                if time.monotonic() >= deadline:
                    break
                try:
                    literals = await op(kind, cmd, keep=bool(index))
                except BROKEN as e:
                    errors.append(f"user{user} {cmd}: {type(e).__name__} {e}; this client stopped")
                    return
                if index and expect is not None and (len(literals) != 1 or digest(literals[0]) != expect[index[0]]):
                    mismatched += 1
                    if mismatched <= 3:
                        errors.append(f"user{user} {cmd}: body differs from the appended message")

    users = range(1, args.users + 1)
    prepared = await asyncio.gather(*(prepare(u) for u in users))
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    deadline = started + args.seconds
    tasks = [asyncio.create_task(run(u, c, uids, deadline)) for u, (c, uids) in zip(users, prepared)]
    start.set()
    try:
        await asyncio.gather(*tasks)
    finally:
        elapsed = time.monotonic() - started
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        for c, _ in prepared:
            c.close()
    ops = sum(len(v) for v in latencies.values())
    return {
        "ops": ops,
        "elapsed": elapsed,
        "latencies": latencies,
        "errors": errors,
        "mismatched": mismatched,
        "client_cpu": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
    }


async def idle(port: int, args: argparse.Namespace, measure) -> dict:
    tls = client_tls()
    gate = asyncio.Semaphore(OPEN_AT_ONCE)
    clients: list[Client] = []
    errors: list[str] = []

    async def one(k: int) -> None:
        async with gate:
            try:
                c = await login(port, tls, k % args.users + 1)
            except BROKEN as e:
                errors.append(f"connection {k}: {type(e).__name__} {e}")
                return
            try:
                await c.ok("SELECT INBOX")
                await c.idle()
                clients.append(c)
            except BROKEN as e:
                errors.append(f"connection {k}: {type(e).__name__} {e}")
                c.close()

    await asyncio.sleep(2.0)
    before = measure()
    started = time.monotonic()
    half = args.idle // 2
    try:
        await asyncio.gather(*(one(k) for k in range(half)))
        await asyncio.sleep(2.0)
        middle, opened_half = measure(), len(clients)
        await asyncio.gather(*(one(k) for k in range(half, args.idle)))
        opened = time.monotonic() - started
        await asyncio.sleep(3.0)
        after = measure()
    finally:
        for c in clients:
            c.close()
    return {"before": before, "middle": middle, "after": after, "open": len(clients), "half": opened_half,
            "errors": errors, "opened_in": opened}


# -- the servers' processes ------------------------------------------------

def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    pids, i = [root], 0
    while i < len(pids):
        pids += children.get(pids[i], [])
        i += 1
    return pids


def memory(root: int) -> dict:
    """PSS and RSS in KiB summed over ``root`` and its descendants."""
    pss = rss = n = 0
    for pid in process_tree(root):
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        n += 1
        for line in text.splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
            elif line.startswith("Rss:"):
                rss += int(line.split()[1])
    return {"pss": pss, "rss": rss, "processes": n}


def cpu_seconds(root: int) -> float:
    """utime + stime of ``root`` and its descendants, including reaped children."""
    ticks = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def stop_tree(proc: subprocess.Popen, pids: list[int]) -> None:
    """Stop ``proc``, then kill whichever of its recorded descendants outlived it."""
    starts = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            starts[pid] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    for pid, started in starts.items():
        with contextlib.suppress(OSError):
            if pid != proc.pid and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19] == started:
                os.kill(pid, signal.SIGKILL)


def wait_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"the server did not start; see {log}")
        time.sleep(0.1)


@contextlib.contextmanager
def ours(work: Path, args: argparse.Namespace):
    state = work / "state"
    work.mkdir(parents=True)
    config = work / "appliance.toml"
    port = free_port()
    try:
        listen = loopback_listen(imaps=port, imap=free_port(), metrics_enabled=False)
    except ValueError as e:
        raise SystemExit(f"our daemon has no IMAP listener yet ({e})")
    config.write_text(
        f"""
{listen}
[imap]
max_connections_per_user = {max(20, args.idle // args.users + 1)}
# Every bench connection comes from 127.0.0.1.
max_connections_per_source = {args.idle + 100}

[log]
level = "WARNING"
"""
    )
    cli = Cli(state, config)
    cli("tenant", "add", "bench", "--domain", "bench.test")
    for user in range(1, args.users + 1):
        cli("user", "add", f"user{user}@bench.test", "--password-stdin", input=PASSWORD + "\n")
    daemon = Daemon(state, config, work / "daemon.log")
    try:
        daemon.start()
    except AssertionError as e:
        raise SystemExit(f"our daemon did not start: {e}")
    pids = [daemon.pid]
    try:
        yield port, daemon.pid
        pids = process_tree(daemon.pid)
    finally:
        stop_tree(daemon.proc, pids)
        daemon.stop()  # reaped already: closes its log
        lines = (work / "daemon.log").read_text(errors="replace").splitlines()
        if lines:
            print(f"our daemon logged {len(lines)} lines, the first: {lines[0]}")


@contextlib.contextmanager
def dovecot(work: Path, args: argparse.Namespace):
    mail = work / "mail"
    for d in (work / "run", work / "state", mail):
        d.mkdir(parents=True)
    owner = pwd.getpwnam("nobody")
    os.chown(mail, owner.pw_uid, owner.pw_gid)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", str(work / "key.pem"), "-out", str(work / "cert.pem")], check=True, capture_output=True)
    users = work / "users"
    users.write_text("".join(f"user{u}@bench.test:{{PLAIN}}{PASSWORD}::::::\n" for u in range(1, args.users + 1)))
    users.chmod(0o644)
    port = free_port()
    clients = args.idle + 100
    dh = Path("/usr/share/dovecot/dh.pem")
    conf = work / "dovecot.conf"
    conf.write_text(
        f"""
protocols = imap
listen = 127.0.0.1
base_dir = {work}/run
state_dir = {work}/state
log_path = {work}/dovecot.log
info_log_path = {work}/dovecot.log
ssl = required
ssl_cert = <{work}/cert.pem
ssl_key = <{work}/key.pem
{f"ssl_dh = <{dh}" if dh.exists() else ""}
auth_mechanisms = plain login
auth_cache_size = 1M
auth_cache_ttl = 1 hour
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {users}
}}
userdb {{
  driver = static
  args = uid={owner.pw_uid} gid={owner.pw_gid} home={mail}/%u
}}
mail_location = maildir:~/Maildir
default_process_limit = {clients}
default_client_limit = {2 * clients}
protocol imap {{
  mail_max_userip_connections = {clients}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
  service_count = 0
  process_min_avail = {os.cpu_count() or 1}
  client_limit = {clients}
}}
service imap {{
  process_limit = {clients}
}}
service anvil {{
  client_limit = {3 * clients + 100}
}}
"""
    )
    # Each imap process in IDLE takes an inotify instance; without enough
    # of them Dovecot falls back to polling the Maildir.
    inotify = Path("/proc/sys/fs/inotify/max_user_instances")
    instances = inotify.read_text()
    if int(instances) < clients + 100:
        inotify.write_text(f"{clients + 100}\n")
    log = open(work / "master.log", "wb")
    master = subprocess.Popen(["dovecot", "-c", str(conf), "-F"], stdout=log, stderr=subprocess.STDOUT)
    pids = [master.pid]
    try:
        wait_port(port, master, work / "dovecot.log")
        yield port, master.pid
        pids = process_tree(master.pid)
    finally:
        stop_tree(master, pids)
        log.close()
        inotify.write_text(instances)
        complaints = [line for line in (work / "dovecot.log").read_text(errors="replace").splitlines()
                      if re.search(r": (Warning|Error|Fatal|Panic): ", line) and "Killed with signal 15" not in line]
        if complaints:
            print(f"dovecot logged {len(complaints)} warnings or errors, the first: {complaints[0]}")


# -- running and printing --------------------------------------------------

def measure(servers: dict, work: Path, args: argparse.Namespace) -> tuple[Rounds, dict]:
    """Start every server and fill it, run the mixed load on each in turn,
    round after round, then measure each one's idle connections."""
    rounds = Rounds("imap", "ops/s", "dovecot", args.max_load)
    idles = {}
    with contextlib.ExitStack() as stack:
        started = {}
        for name, server in servers.items():
            port, pid = stack.enter_context(server(work / name, args))
            digests: dict[int, list[bytes]] = {}
            appended_in, size = asyncio.run(append_all(port, args, digests))
            n = args.users * args.messages
            print(f"{name}: APPEND of {n} messages ({size / 2**20:.0f} MiB) in {appended_in:.1f} s, "
                  f"{n / appended_in:.0f} msg/s", flush=True)
            started[name] = (port, pid, digests)
        rounds.header()
        for round_no in range(1, args.rounds + 1):
            for name, (port, pid, digests) in started.items():
                before = load_average()
                cpu = cpu_seconds(pid)
                result = asyncio.run(load(port, args, digests))
                result["server_cpu"] = cpu_seconds(pid) - cpu
                result["rate"] = result["ops"] / result["elapsed"]
                show_load(name, result)
                rounds.record(name, round_no, before, result["rate"],
                              f"{result['ops'] / max(result['server_cpu'], 1e-9):.0f} ops per server CPU second")
        for name, (port, pid, _digests) in started.items():
            idles[name] = asyncio.run(idle(port, args, lambda pid=pid: memory(pid)))
            show_idle(name, idles[name])
    return rounds, idles


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def show_load(name: str, r: dict) -> None:
    print(f"{name}: {r['ops']} commands in {r['elapsed']:.1f} s = {r['rate']:.1f} ops/s; "
          f"server CPU {r['server_cpu']:.1f} s ({r['ops'] / max(r['server_cpu'], 1e-9):.0f} ops per CPU second), "
          f"client CPU {r['client_cpu']:.1f} s")
    print(f"  {'command':16} {'count':>7} {'p50 ms':>9} {'p95 ms':>9}")
    for kind, values in r["latencies"].items():
        print(f"  {kind:16} {len(values):7} {percentile(values, 0.5) * 1e3:9.2f} {percentile(values, 0.95) * 1e3:9.2f}")
    for e in r["errors"]:
        print(f"  error: {e}")
    if r["mismatched"]:
        print(f"  {r['mismatched']} bodies differed from the appended bytes")
    sys.stdout.flush()


def per_connection(i: dict, key: str) -> float:
    return (i["after"][key] - i["before"][key]) / max(i["open"], 1)


def second_half(i: dict) -> float:
    """PSS per connection over the second half only: memory freed after the load is reused by then."""
    return (i["after"]["pss"] - i["middle"]["pss"]) / max(i["open"] - i["half"], 1)


def show_idle(name: str, i: dict) -> None:
    print(f"{name}: {i['open']} connections in IDLE (opened in {i['opened_in']:.1f} s); "
          f"PSS {i['before']['pss'] / 1024:.0f} -> {i['after']['pss'] / 1024:.0f} MiB, "
          f"{per_connection(i, 'pss'):.1f} KiB per connection, {second_half(i):.1f} KiB over the second half "
          f"(RSS summed: {per_connection(i, 'rss'):.1f} KiB; {i['before']['processes']} -> "
          f"{i['after']['processes']} processes)")
    for e in i["errors"][:5]:
        print(f"  error: {e}")
    if len(i["errors"]) > 5:
        print(f"  ... {len(i['errors'])} connections failed")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--messages", type=int, default=2000, help="per user")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the mixed load")
    parser.add_argument("--idle", type=int, default=1000, help="connections left in IDLE")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=("both", "ours", "dovecot"), default="both")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--rounds", type=int, default=2, help="mixed-load runs per server, alternating")
    parser.add_argument("--max-load", type=float, default=1.5, help="1-minute load above which a run is unreliable")
    args = parser.parse_args()
    if args.only != "ours" and shutil.which("dovecot") is None:
        raise SystemExit("dovecot not found: apt-get install dovecot-imapd (keep its service stopped)")
    need = 4 * args.idle + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
    work = Path(tempfile.mkdtemp(prefix="bench-imap-"))
    os.chmod(work, 0o755)
    servers = {name: server for name, server in (("ours", ours), ("dovecot", dovecot)) if args.only in ("both", name)}
    try:
        rounds, idles = measure(servers, work, args)
    finally:
        if args.keep:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{args.users} users x {args.messages} messages, {args.rounds} runs of {args.seconds:g} s of mixed "
          f"commands per server, {args.idle} idle connections")
    rounds.summary()
    for name, i in idles.items():
        print(f"  {name:8} {per_connection(i, 'pss'):8.1f} KiB PSS per idle connection "
              f"({second_half(i):.1f} over the second half)")
    if len(idles) == 2:
        print(f"  ratio ours/dovecot (memory per connection): "
              f"{per_connection(idles['ours'], 'pss') / max(per_connection(idles['dovecot'], 'pss'), 1e-9):.2f}")


if __name__ == "__main__":
    main()
