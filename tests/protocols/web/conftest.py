"""Fixtures for the web tests: one daemon for the package with two businesses
(``acme.example`` with user ann, ``other.example``), the CLI, and curl (the
binary) aimed at a host name with ``--resolve``, so Host and SNI are what a
browser would send.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import TEST_CONFIG, Cli, Daemon, wait_for

PASSWORD = "a long secret"
#: Short, so tests see a publish quickly; the default is 1 s.
WEB_CONFIG = (TEST_CONFIG + "\n[web]\nrecheck_ms = 100\nmax_request_bytes = 262144\n"
              "\n[dav]\nmax_request_bytes = 1048576\n")
#: The largest request body the daemon above reads under /dav/ ([dav] max_request_bytes).
MAX_BODY = 1048576
#: The largest request body it reads anywhere else ([web] max_request_bytes).
MAX_OTHER_BODY = 262144


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Curl:
    """curl against the daemon, by host name."""

    def __init__(self, daemon: Daemon, work: Path):
        self.daemon = daemon
        self.work = work

    def __call__(self, host: str, path: str, *args: str, scheme: str = "https", data: bytes | None = None) -> Reply:
        port = self.daemon.port(scheme)
        head, body = self.work / "headers", self.work / "body"
        head.unlink(missing_ok=True)
        body.unlink(missing_ok=True)  # curl writes no file for an empty body
        cmd = ["curl", "-sk", "--max-time", "20", "--path-as-is", "--resolve", f"{host}:{port}:127.0.0.1",
               "-D", str(head), "-o", str(body), *args]
        if data is not None:
            cmd += ["--data-binary", "@-", "-H", "Content-Type: text/xml"]
        cmd.append(f"{scheme}://{host}:{port}{path}")
        subprocess.run(cmd, input=data, capture_output=True, timeout=30, check=True)
        lines = head.read_bytes().decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return Reply(status, headers, body.read_bytes() if body.exists() else b"")


@dataclass
class Env:
    cli: Cli
    daemon: Daemon
    curl: Curl
    work: Path

    def site(self, slug: str, files: dict[str, bytes], name: str = "site") -> Path:
        """Write ``files`` into a directory and upload it for ``slug``."""
        root = self.work / f"{slug}-{name}"
        for rel, body in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
        self.cli("site", "upload", slug, str(root))
        return root

    def wait_body(self, host: str, path: str, expected: bytes) -> None:
        """Wait until the daemon serves ``expected`` (a publish is seen within recheck_ms)."""
        wait_for(lambda: self.curl(host, path).body == expected, timeout=10, interval=0.1)


@pytest.fixture(scope="package")
def env(tmp_path_factory) -> Env:
    work = tmp_path_factory.mktemp("web")
    state = work / "state"
    state.mkdir()
    config = work / "appliance.toml"
    config.write_text(WEB_CONFIG)
    cli = Cli(state, config)
    cli("tenant", "add", "acme", "--name", "Acme Bakery", "--domain", "acme.example")
    cli("tenant", "add", "other", "--domain", "other.example")
    cli("user", "add", "ann@acme.example", "--name", "Ann Smith", "--password-stdin", input=PASSWORD + "\n")
    cli("user", "add", "olga@other.example", "--password-stdin", input=PASSWORD + "\n")
    daemon = Daemon(state, config, work / "daemon.log")
    daemon.start()
    try:
        yield Env(cli, daemon, Curl(daemon, work), work)
    finally:
        daemon.stop()
