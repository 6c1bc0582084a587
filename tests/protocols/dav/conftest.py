"""A DAV server over real sockets with two businesses in it.

``bakery`` (bakery.example) has alice and bob; ``garage`` (garage.example)
has carol. Until the web service serves ``app.http_mounts`` in the daemon,
the server is ``tests.protocols.dav.server`` in a subprocess: the same App
and DAV service, behind a twisted.web Site on 127.0.0.1, port 0.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PYTHON, ROOT, TEST_CONFIG

PASSWORD = "correct horse battery"
USERS = {
    "alice@bakery.example": PASSWORD,
    "bob@bakery.example": PASSWORD,
    "carol@garage.example": PASSWORD,
}


def provision(state: Path, config: Path) -> None:
    from appliance import settings
    from appliance.app import App

    app = App(settings.load(config), state)
    try:
        app.provisioning.create_tenant("bakery", "Bakery", "bakery.example")
        app.provisioning.create_tenant("garage", "Garage", "garage.example")
        for address, password in USERS.items():
            app.provisioning.add_user(address, password)
    finally:
        app.close()


class DavServer:
    def __init__(self, state: Path, config: Path, log_path: Path):
        self.state = state
        self.config = config
        self.log_path = log_path
        self.port_file = state.parent / "dav-port.json"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/dav/"

    def start(self, timeout: float = 30) -> "DavServer":
        self.port_file.unlink(missing_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "tests.protocols.dav.server", str(self.state), str(self.config), str(self.port_file)],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"DAV server exited {self.proc.returncode}:\n{self.log()}")
            if self.port_file.exists():
                data = json.loads(self.port_file.read_text())
                if data["pid"] == self.proc.pid:
                    self.port = data["port"]
                    return self
            time.sleep(0.05)
        raise AssertionError(f"DAV server did not start:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self._log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def dav_state(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("dav")
    state = base / "state"
    state.mkdir()
    config = base / "appliance.toml"
    config.write_text(TEST_CONFIG + "\n[dav]\nmax_request_bytes = 2097152\nmax_item_bytes = 262144\n")
    provision(state, config)
    return state, config


@pytest.fixture(scope="module")
def dav(dav_state):
    """A running DAV server shared by the tests of one module."""
    state, config = dav_state
    server = DavServer(state, config, state.parent / "dav.log").start()
    yield server
    server.stop()


@dataclass
class Account:
    address: str
    password: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.address, self.password)


@pytest.fixture
def alice() -> Account:
    return Account("alice@bakery.example", PASSWORD)


@pytest.fixture
def bob() -> Account:
    return Account("bob@bakery.example", PASSWORD)


@pytest.fixture
def carol() -> Account:
    return Account("carol@garage.example", PASSWORD)
