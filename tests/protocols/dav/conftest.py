"""The daemon (``appliance serve``) with two businesses in it, for the DAV tests.

``bakery`` (bakery.example) has alice and bob; ``garage`` (garage.example)
has carol. Clients reach DAV as they would on a real box: over HTTPS on the
daemon's web listener, under its ``/dav/`` mount, at 127.0.0.1 (a box
address, so Host routing, the request size limit and the headers of the web
service all apply), and verify the box's self-signed certificate
(``dav.ca_file``, valid for 127.0.0.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.testing import Daemon
from tests.conftest import TEST_CONFIG

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


class DavServer(Daemon):
    """The daemon, seen by a DAV client: :attr:`url` is the ``/dav/`` root
    over HTTPS and :attr:`ca_file` the certificate to verify it with."""

    @property
    def url(self) -> str:
        return self.origin("https") + "/dav/"


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
    """A running daemon shared by the tests of one module."""
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
