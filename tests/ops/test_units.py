"""The ops files in systemd/: the unit passes systemd-analyze verify, and
the fail2ban filter matches the daemon's failed-login line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
UNIT = ROOT / "systemd" / "appliance.service"


def test_unit_passes_systemd_analyze_verify(tmp_path):
    """systemd-analyze verify accepts the unit (ExecStart pointed at this checkout's venv)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not on this machine")
    unit = tmp_path / "appliance.service"
    unit.write_text(UNIT.read_text().replace("/opt/appliance/current/.venv/bin/appliance", str(Path(sys.executable).parent / "appliance")))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "appliance.service" not in proc.stderr, proc.stderr


def test_unit_has_the_hardening_the_design_requires():
    """Type=notify, own user, StateDirectory, ProtectSystem=strict, NoNewPrivileges, bind capability, no restart on config error."""
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "User=appliance",
        "StateDirectory=appliance",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "RestartPreventExitStatus=78",
    ):
        assert line in text.splitlines(), line


def test_unit_asks_for_a_watchdog_the_daemon_feeds():
    """WatchdogSec= is set (the daemon pings at half of it) and a watchdog kill is restarted."""
    lines = UNIT.read_text().splitlines()
    watchdog = [line for line in lines if line.startswith("WatchdogSec=")]
    assert len(watchdog) == 1 and int(watchdog[0].split("=")[1]) >= 10
    assert "Restart=on-failure" in lines


def test_fail2ban_filter_matches_the_failed_login_line(tmp_path):
    """fail2ban-regex finds the host in the daemon's failed-login lines and ignores others."""
    binary = shutil.which("fail2ban-regex")
    assert binary, "fail2ban-regex missing: ./bootstrap test installs fail2ban"
    log = tmp_path / "appliance.log"
    log.write_text(
        "2026-11-25 10:00:00,000 WARNING appliance.auth: auth failed: protocol=imap user=ann@shop.example source=192.0.2.7\n"
        "2026-11-25 10:00:01,000 WARNING appliance.auth: auth failed: protocol=smtp user=x?y source=2001:db8::5\n"
        "2026-11-25 10:00:02,000 INFO appliance.daemon: serving from /var/lib/appliance\n"
    )
    filt = ROOT / "systemd" / "fail2ban" / "filter.d" / "appliance.conf"
    proc = subprocess.run([binary, str(log), str(filt)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Failregex: 2 total" in proc.stdout, proc.stdout
    assert "192.0.2.7" in proc.stdout or "|- Matched line(s):" not in proc.stdout


def test_nightly_export_units_pass_systemd_analyze_verify(tmp_path):
    """The nightly export's service and timer are accepted by systemd-analyze verify."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not on this machine")
    for name in ("appliance-export.service", "appliance-export.timer"):
        text = (ROOT / "systemd" / name).read_text()
        (tmp_path / name).write_text(text.replace("/opt/appliance/current/.venv/bin/appliance", str(Path(sys.executable).parent / "appliance")))
    proc = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "appliance-export.timer"),
                           str(tmp_path / "appliance-export.service")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "appliance-export" not in proc.stderr, proc.stderr
