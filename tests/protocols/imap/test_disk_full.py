"""A full state filesystem (#24): APPEND answers ``NO [LIMIT]`` (RFC 5530)
instead of ``NO [SERVERBUG]``, logs one clear line, stores nothing, and
works again once there is room.

The state directory is a small tmpfs mounted for the test (needs root and
``mount``; skipped, saying why, where that is impossible).
"""

from __future__ import annotations

import errno
import imaplib
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TEST_CONFIG, Cli, Daemon

from .conftest import PASSWORD, client_context, message, nodelay


def _mount_tmpfs(path: Path, size: str) -> str | None:
    """Mount a tmpfs at ``path``; the reason it cannot be done, or None."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return f"cannot mount a tmpfs here: {proc.stderr.strip() or proc.returncode}"
    return None


def _fill(path: Path) -> Path:
    """Take every free byte of the filesystem holding ``path``."""
    filler = path / "filler"
    chunk = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as f:
        while chunk:
            try:
                f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                chunk = chunk[: len(chunk) // 2]
    return filler


@pytest.fixture
def full_disk_daemon(tmp_path: Path):
    state = tmp_path / "state"
    state.mkdir()
    reason = _mount_tmpfs(state, "24m")
    if reason:
        pytest.skip(reason)
    try:
        config = tmp_path / "appliance.toml"
        config.write_text(TEST_CONFIG)
        cli = Cli(state, config)
        cli("tenant", "add", "acme", "--domain", "acme.test")
        cli("user", "add", "ann@acme.test", "--password-stdin", input=PASSWORD + "\n")
        daemon = Daemon(state, config, tmp_path / "daemon.log")
        daemon.start()
        try:
            yield daemon
        finally:
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.stop()
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def test_append_on_a_full_disk_answers_limit_and_stores_nothing(full_disk_daemon):
    """With no free byte on the state filesystem APPEND gets ``NO [LIMIT]``
    and the log says why in one line; nothing is stored; once room is made
    the same APPEND succeeds on the same session."""
    daemon = full_disk_daemon
    conn = imaplib.IMAP4_SSL("127.0.0.1", daemon.port("imaps"), ssl_context=client_context(), timeout=30)
    nodelay(conn.sock)
    conn.login("ann@acme.test", PASSWORD)
    assert conn.append("INBOX", None, None, message("before"))[0] == "OK"
    big = message("too big for the disk")
    # Larger than the room left in the files SQLite already has (its WAL).
    wal = max(p.stat().st_size for p in daemon.state.rglob("*-wal"))
    big = big + (b"y" * 76 + b"\r\n") * (wal // 78 + 20_000)
    filler = _fill(daemon.state)
    try:
        typ, data = conn.append("INBOX", None, None, big)
        assert (typ, data) == ("NO", [b"[LIMIT] the server is out of storage space, try again later"])
        lines = [line for line in daemon.log().splitlines() if "state filesystem is full" in line]
        assert len(lines) == 1 and "ann@acme.test" in lines[0] and "APPEND" in lines[0], lines
        assert conn.select("INBOX") == ("OK", [b"1"])
    finally:
        filler.unlink()
    typ, data = conn.append("INBOX", None, None, big)
    assert typ == "OK", data
    assert conn.select("INBOX") == ("OK", [b"2"])
    conn.logout()
