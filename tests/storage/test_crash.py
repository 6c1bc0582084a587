"""Nothing acknowledged is lost when the writer process is killed with SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def test_sigkill_mid_load_keeps_every_acknowledged_write(tmp_path):
    """Kill -9 a process doing 20 concurrent 50 KB writers; every key it printed is in the file."""
    path = tmp_path / "crash.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "crash_writer.py"), str(path), "20"],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        text=True,
    )
    acknowledged = []
    assert proc.stdout is not None
    for line in proc.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) >= 1500:
            proc.send_signal(signal.SIGKILL)
            break
    # Keys printed between our last read and the kill count too.
    rest = proc.stdout.read()
    acknowledged += [k for k in rest.split("\n") if k]
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    conn = sqlite3.connect(path)
    stored = {r[0] for r in conn.execute("SELECT k FROM kv")}
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    missing = [k for k in acknowledged if k not in stored]
    assert len(acknowledged) >= 1500
    assert missing == []
