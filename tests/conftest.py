"""Fixtures shared by every test: a state directory, a config whose ports
are all 0 (the kernel picks free ones), the CLI as a subprocess, and the
daemon as a subprocess with the ports it really bound (both from
:mod:`appliance.testing`, which the benchmarks use too).

Protocol tests use :func:`daemon` and read ``daemon.port("smtp")`` etc.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from appliance.settings import loopback_listen
from appliance.testing import PYTHON, ROOT, Cli, Daemon, free_port  # noqa: F401 - the tests' names for them

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


@pytest.fixture
def cli(state_dir: Path, config_file: Path) -> Cli:
    return Cli(state_dir, config_file)


@pytest.fixture
def daemon(state_dir: Path, config_file: Path, tmp_path: Path):
    """A started daemon; stopped (SIGTERM) at the end of the test."""
    d = Daemon(state_dir, config_file, tmp_path / "daemon.log")
    d.start()
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.stop()


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
