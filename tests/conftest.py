"""Fixtures shared by every test: a state directory, a config whose ports
are all 0 (the kernel picks free ones), the CLI as a subprocess, and the
daemon as a subprocess with the ports it really bound.

Protocol tests use :func:`daemon` and read ``daemon.port("smtp")`` etc.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.settings import loopback_listen

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

# Every listener on a free port chosen by the kernel, loopback only.
TEST_CONFIG = f"""
[box]
hostname = "box.appliance.test"
domain = "appliance.test"

{loopback_listen()}
[auth]
max_failures = 5
failure_window = 60
"""


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(TEST_CONFIG)
    return path


class Cli:
    """Runs ``appliance`` as the operator would, against one state dir."""

    def __init__(self, state: Path, config: Path):
        self.state = state
        self.config = config

    def __call__(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [PYTHON, "-m", "appliance", "--state", str(self.state), "--config", str(self.config), *args]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=True, cwd=ROOT, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def json(self, *args: str) -> object:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture
def cli(state_dir: Path, config_file: Path) -> Cli:
    return Cli(state_dir, config_file)


class Daemon:
    """``appliance serve`` in a subprocess; knows the ports it bound."""

    def __init__(self, state: Path, config: Path, log_path: Path):
        self.state = state
        self.config = config
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.listeners: dict[str, list[list]] = {}

    def start(self, timeout: float = 60) -> "Daemon":
        run_file = self.state / "run" / "listeners.json"
        run_file.unlink(missing_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "appliance", "--state", str(self.state), "--config", str(self.config), "serve"],
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
            if run_file.exists():
                data = json.loads(run_file.read_text())
                if data.get("pid") == self.proc.pid:
                    self.listeners = data["listeners"]
                    return self
            time.sleep(0.05)
        raise AssertionError(f"daemon did not bind within {timeout}s:\n{self.log()}")

    def port(self, name: str) -> int:
        return self.listeners[name][0][1]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"daemon ignored signal {sig}:\n{self.log()}")
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: what a crash or the OOM killer does."""
        self.stop(signal.SIGKILL)


@pytest.fixture
def daemon(state_dir: Path, config_file: Path, tmp_path: Path):
    """A started daemon; stopped (SIGTERM) at the end of the test."""
    d = Daemon(state_dir, config_file, tmp_path / "daemon.log")
    d.start()
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL if ``proc`` has not exited within ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(predicate, timeout: float = 10, interval: float = 0.05):
    """Poll ``predicate`` until it returns something true, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


os.environ.pop("APPLIANCE_STATE", None)
os.environ.pop("APPLIANCE_CONFIG", None)
