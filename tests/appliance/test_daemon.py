"""The daemon: binds, tells systemd READY=1, exposes its loop lag, stops on
SIGTERM with exit 0; a config error exits 78 naming the key; a port in use
exits non-zero."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

from appliance.testing import ROOT, command


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read().decode()


def test_daemon_binds_says_ready_and_stops_on_sigterm(state_dir, config_file, tmp_path):
    """Under a NOTIFY_SOCKET the daemon sends READY=1 after binding, and SIGTERM exits 0."""
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.settimeout(60)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path)}
    proc = subprocess.Popen(
        command(state_dir, config_file, "serve"),
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        message = sock.recv(4096).decode()
        assert "READY=1" in message
        listeners = (state_dir / "run" / "listeners.json").read_text()
        assert '"metrics"' in listeners
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in sock.recv(4096).decode()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert "Traceback" not in proc.stdout.read()


def test_metrics_expose_loop_lag_and_open_files(daemon):
    """GET /metrics on loopback gives Prometheus text with the loop lag; /healthz says ok."""
    status, body = fetch(f"http://127.0.0.1:{daemon.port('metrics')}/metrics")
    assert status == 200
    assert "# TYPE appliance_loop_lag_seconds histogram" in body
    lag = float(next(line.split()[1] for line in body.splitlines() if line.startswith("appliance_loop_lag_max_seconds ")))
    assert 0 <= lag < 5
    status, body = fetch(f"http://127.0.0.1:{daemon.port('metrics')}/healthz")
    assert status == 200 and '"status": "ok"' in body


def test_metrics_show_the_state_disk(daemon):
    """The free and total bytes of the state directory's file system are
    exported, so a scraper can alert before the disk fills."""
    _, body = fetch(f"http://127.0.0.1:{daemon.port('metrics')}/metrics")
    values = dict(line.split() for line in body.splitlines() if line.startswith("appliance_state_disk_"))
    usage = shutil.disk_usage(daemon.state)
    assert float(values["appliance_state_disk_size_bytes"]) == usage.total
    assert 0 < float(values["appliance_state_disk_free_bytes"]) <= usage.total


def test_config_error_exits_78_and_names_the_key(state_dir, tmp_path):
    """A bad value stops the daemon before binding, with file, section and key on stderr."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[listen]\nimaps = 99999\n")
    proc = subprocess.run(
        command(state_dir, bad, "serve"),
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 78
    assert f"{bad}: [listen] imaps: expected a whole number from 0 to 65535" in proc.stderr


def test_port_in_use_exits_non_zero(state_dir, tmp_path):
    """When a listener cannot bind, the daemon says so and exits 1."""
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    config = tmp_path / "busy.toml"
    config.write_text(f"[listen]\nmetrics = {port}\n")
    try:
        proc = subprocess.run(
            command(state_dir, config, "serve"),
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
    finally:
        blocker.close()
    assert proc.returncode == 1
    assert "cannot bind a listener" in proc.stderr


def test_daemon_sees_changes_made_by_the_cli(daemon, cli):
    """A business added by the CLI while the daemon runs is served without a restart."""
    cli("tenant", "add", "late")
    cli("user", "add", "x@late.appliance.test", "--password-stdin", input="a long secret\n")
    # The daemon's state dir is the CLI's: the business file exists and opens.
    assert (daemon.state / "tenants" / "late.sqlite3").exists()
