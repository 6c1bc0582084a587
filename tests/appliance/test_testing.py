"""appliance.testing: the one way tests and benchmarks start the daemon;
benchmarks never import the tests."""

from __future__ import annotations

import ast
import json
import socket

import pytest

from appliance.testing import ROOT, Daemon


def _imported_modules(path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_no_benchmark_imports_the_tests():
    """No module under bench/ imports ``tests`` or runs a module of it."""
    sources = sorted((ROOT / "bench").rglob("*.py"))
    assert sources, "no benchmarks found"
    offenders = {}
    for path in sources:
        bad = {m for m in _imported_modules(path) if m == "tests" or m.startswith("tests.")}
        if '"tests.' in path.read_text():  # e.g. python -m tests.something
            bad.add("-m tests.*")
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_start_fails_with_the_log_when_the_daemon_exits(state_dir, tmp_path):
    """A daemon that exits before binding (a bad config) makes start() raise
    with the daemon's own message, instead of waiting for the timeout."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[listen]\nimaps = 99999\n")
    daemon = Daemon(state_dir, bad, tmp_path / "daemon.log")
    with pytest.raises(AssertionError, match=r"exited 78:[\s\S]*\[listen\] imaps"):
        daemon.start(timeout=60)
    assert not daemon.running()


def test_ports_are_the_ones_the_daemon_bound(daemon):
    """port() gives the kernel-chosen port of each listener, as listeners.json says."""
    written = json.loads(daemon.run_file.read_text())
    assert written["pid"] == daemon.pid
    for name in ("smtp", "https", "dns"):
        assert daemon.port(name) == written["listeners"][name][0][1] != 0
    with socket.create_connection(("127.0.0.1", daemon.port("smtp")), timeout=10) as conn:
        assert conn.recv(3) == b"220"
