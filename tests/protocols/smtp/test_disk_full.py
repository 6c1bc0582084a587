"""The state filesystem full (#24 item 7): the MX answers ``452 4.3.1``
(RFC 3463 "mail system full"), stores nothing, logs one clear line, stays
up, and accepts mail again once there is room.

The state directory is a small tmpfs of its own (the tests run as root);
without the right to mount one the test is skipped and says so.
"""

from __future__ import annotations

import errno
import os
import smtplib
import subprocess
import uuid

import pytest

from .conftest import PASSWORD, Mta

TMPFS_MB = 48


@pytest.fixture
def full_mta(tmp_path, stub_dns):
    m = Mta(tmp_path, stub_dns)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m,mode=0750", "tmpfs", str(m.state)],
        capture_output=True, text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the state directory: {mounted.stderr.strip()}")
    try:
        m.cli("tenant", "add", "acme", "--domain", "acme.test")
        m.cli("user", "add", "alice@acme.test", "--password-stdin", input=PASSWORD + "\n")
        m.daemon.start()
        yield m
    finally:
        if m.daemon.proc is not None and m.daemon.proc.poll() is None:
            m.daemon.stop()
        subprocess.run(["umount", "-l", str(m.state)], capture_output=True)


def fill(path) -> None:
    """Write zeros into ``path`` until the filesystem has no room left."""
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


def send(mta, tag: str) -> tuple[int, bytes]:
    body = f"From: a@example.org\r\nSubject: {tag}\r\n\r\n".encode() + (b"x" * 998 + b"\r\n") * 1000
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=30) as client:
        client.ehlo("client.test")
        client.mail("a@example.org")
        assert client.rcpt("alice@acme.test")[0] == 250
        return client.data(body)


def test_full_state_filesystem_gets_452_4_3_1_and_recovers(full_mta):
    """With no room left, DATA is answered 452 4.3.1 with one log line and
    nothing stored; the daemon stays up and, once there is room, the same
    message is accepted."""
    filler = full_mta.state / "filler"
    fill(filler)
    tag = uuid.uuid4().hex
    code, text = send(full_mta, tag)
    assert (code, text[:5]) == (452, b"4.3.1"), text
    lines = [l for l in full_mta.daemon.log().splitlines() if "state filesystem full" in l]
    assert len(lines) == 1, lines
    assert full_mta.daemon.proc.poll() is None
    os.unlink(filler)
    assert not any(tag.encode() in m for m in full_mta.inbox("alice@acme.test"))
    code, text = send(full_mta, tag)
    assert code == 250, text
    assert sum(1 for m in full_mta.inbox("alice@acme.test") if tag.encode() in m) == 1
