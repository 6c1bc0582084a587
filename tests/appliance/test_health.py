"""``/healthz`` answers from real checks, and the daemon feeds systemd's
watchdog from its event loop.

Each test starts the daemon with the setting or the state that makes one
check pass or fail, and reads ``/healthz`` as a load balancer would.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

from appliance.testing import ROOT, command
from tests.conftest import TEST_CONFIG, Daemon


def healthz(daemon: Daemon) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port('metrics')}/healthz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def start(tmp_path, state_dir, extra: str = "") -> Daemon:
    config = tmp_path / "health.toml"
    config.write_text(TEST_CONFIG + extra)
    return Daemon(state_dir, config, tmp_path / "daemon.log").start()


def test_healthy_box_answers_200_with_every_check(tmp_path, state_dir):
    """A fresh daemon answers 200 and JSON naming loop, database, disk and queue, all ok."""
    with start(tmp_path, state_dir) as daemon:
        status, body = healthz(daemon)
    assert status == 200
    assert body["status"] == "ok" and body["failing"] == []
    assert sorted(body["checks"]) == ["database", "disk", "loop", "queue"]
    assert all(check["ok"] for check in body["checks"].values())


def test_too_little_disk_answers_503_naming_disk(tmp_path, state_dir):
    """When the state file system has less free space than health_min_free_mb, /healthz is 503 with disk failing."""
    with start(tmp_path, state_dir, "\n[metrics]\nhealth_min_free_mb = 10000000\n") as daemon:
        status, body = healthz(daemon)
    assert status == 503
    assert body["status"] == "fail" and body["failing"] == ["disk"]
    assert "below" in body["checks"]["disk"]["detail"]


def test_box_database_that_takes_no_write_answers_503_then_recovers(tmp_path, state_dir):
    """While another process holds the box database's write lock past the timeout, the
    database check fails; once it lets go, /healthz is 200 again."""
    with start(tmp_path, state_dir, "\n[metrics]\nhealth_timeout_ms = 300\n") as daemon:
        blocker = sqlite3.connect(state_dir / "box.sqlite3", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            status, body = healthz(daemon)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert status == 503 and body["failing"] == ["database"]
        assert "no answer within 0.3s" in body["checks"]["database"]["detail"]
        deadline = time.monotonic() + 30
        while (result := healthz(daemon))[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert result[0] == 200


def test_stuck_outbound_queue_answers_503_naming_queue(tmp_path, state_dir, cli):
    """A message queued two hours ago and still undelivered, with health_queue_age an hour, fails the queue check."""
    cli("tenant", "add", "shop")
    with sqlite3.connect(state_dir / "tenants" / "shop.sqlite3") as conn:
        created = time.time() - 7200
        conn.execute(
            "INSERT INTO outbound (created, mail_from, body, next_attempt, expires) VALUES (?, ?, ?, ?, ?)",
            (created, "ann@shop.appliance.test", b"Subject: old\r\n\r\nstill here\r\n", time.time() + 3600, time.time() + 86400),
        )
    with start(tmp_path, state_dir, "\n[metrics]\nhealth_queue_age = 3600\n") as daemon:
        deadline = time.monotonic() + 30
        while (result := healthz(daemon))[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
    status, body = result
    assert status == 503 and body["failing"] == ["queue"]
    assert "waits for 720" in body["checks"]["queue"]["detail"]


def test_watchdog_pings_arrive_at_half_the_interval(state_dir, config_file, tmp_path):
    """With WATCHDOG_USEC of 2 s, WATCHDOG=1 datagrams follow READY=1 about every second."""
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "2000000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(command(state_dir, config_file, "serve"), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert "READY=1" in sock.recv(4096).decode()
        pings = []
        while len(pings) < 3:
            if sock.recv(4096) == b"WATCHDOG=1":
                pings.append(time.monotonic())
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.5 < gap < 1.9 for gap in gaps), gaps
    finally:
        proc.terminate()
        proc.wait(30)
        sock.close()


def test_no_watchdog_pings_without_watchdog_usec(state_dir, config_file, tmp_path):
    """Without WATCHDOG_USEC the daemon sends READY=1 and no WATCHDOG=1."""
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(30)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path)}
    env.pop("WATCHDOG_USEC", None)
    proc = subprocess.Popen(command(state_dir, config_file, "serve"), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert "READY=1" in sock.recv(4096).decode()
        sock.settimeout(1.5)
        try:
            extra = sock.recv(4096)
        except socket.timeout:
            extra = b""
        assert b"WATCHDOG=1" not in extra
    finally:
        proc.terminate()
        proc.wait(30)
        sock.close()
