"""``appliance check`` as the world sees the box: delegation and glue,
reverse DNS, outgoing port 25 (or a smarthost), certificates and the queue,
each with a severity and a fix line.

The world's DNS is :class:`tests.publicdns.PublicDns` on 127.0.0.1, which
passes questions about delegated domains to the daemon's own DNS listener;
port 25 is probed at a loopback listener. One daemon serves the module
(box address 192.0.2.10, business ``shop`` with ``shop.example``); each
test runs the CLI with its own check settings.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time

import pytest

from tests.conftest import TEST_CONFIG, Cli, Daemon
from tests.publicdns import PublicDns

BOX_ADDRESS = "192.0.2.10"
PTR_NAME = "10.2.0.192.in-addr.arpa"


def config_text(extra: str = "") -> str:
    # TEST_CONFIG has a [box] table: the address goes into it.
    return TEST_CONFIG.replace('domain = "appliance.test"\n', f'domain = "appliance.test"\nipv4 = ["{BOX_ADDRESS}"]\n', 1) + extra


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("outside")
    state = root / "state"
    state.mkdir()
    config = root / "daemon.toml"
    config.write_text(config_text())
    Cli(state, config)("tenant", "add", "shop", "--domain", "shop.example")
    public = PublicDns()
    daemon = Daemon(state, config, root / "daemon.log").start()
    public.upstream = ("127.0.0.1", daemon.port("dns"))
    public.delegate("appliance.test")
    port25 = socket.socket()
    port25.bind(("127.0.0.1", 0))
    port25.listen(16)
    yield {"root": root, "state": state, "public": public, "daemon": daemon, "port25": port25.getsockname()[1]}
    port25.close()
    daemon.stop()
    public.close()


def check(world, extra: str = "", *args: str, timeout: int = 2) -> tuple[int, list[dict]]:
    """Run `appliance check --json` with the world's resolver and port 25 probe (plus ``extra``)."""
    config = world["root"] / f"cli-{time.monotonic_ns()}.toml"
    config.write_text(config_text(
        f'\n[panel]\ncheck_resolver = "127.0.0.1:{world["public"].port}"\ncheck_cache_seconds = 0\n'
        f'check_seconds = {timeout}\n'
        f'\n[check]\nport25_probe = "127.0.0.1:{world["port25"]}"\ntimeout = {timeout}\n' + extra
    ))
    proc = Cli(world["state"], config)("check", "--json", *args, check=False)
    return proc.returncode, json.loads(proc.stdout)


def rows(results: list[dict], name: str) -> list[dict]:
    return [r for r in results if r["check"] == name]


def test_well_set_up_box_passes_every_outside_check(world):
    """Delegated domains, glue, a matching PTR and an open port 25: every outside row is ok and the exit is 0."""
    world["public"].delegate("shop.example")
    world["public"].publish(PTR_NAME, "PTR", ["box.appliance.test."])
    code, results = check(world)
    for name in ("name servers", "delegation", "records", "reverse dns", "port 25"):
        assert rows(results, name) and all(r["status"] == "ok" for r in rows(results, name)), rows(results, name)
    assert [r["detail"] for r in rows(results, "name servers")] == [
        f"ns1.appliance.test resolves to {BOX_ADDRESS}", f"ns2.appliance.test resolves to {BOX_ADDRESS}"]
    assert code == 0, results


def test_domain_not_delegated_fails_with_the_registrar_fix(world):
    """A business domain the world does not see delegated fails, and the fix names the box's name servers."""
    world["public"].delegated.discard("shop.example")
    code, results = check(world)
    (row,) = rows(results, "delegation")
    assert row["status"] == "fail" and code == 1
    assert row["fix"] == "at the registrar of shop.example, set its name servers to ns1.appliance.test, ns2.appliance.test"


def test_reverse_dns_naming_another_host_fails(world):
    """A PTR of the box's address naming another host fails with the hosting provider fix."""
    world["public"].publish(PTR_NAME, "PTR", ["vps-123.provider.example."])
    _, results = check(world)
    (row,) = rows(results, "reverse dns")
    assert row["status"] == "fail"
    assert row["detail"] == f"{BOX_ADDRESS} points back to vps-123.provider.example, not box.appliance.test"
    assert row["fix"] == f"ask your hosting provider to set the reverse DNS (PTR) of {BOX_ADDRESS} to box.appliance.test"


def test_blocked_port_25_fails_and_a_smarthost_that_answers_passes(world):
    """With nothing listening at the probe, port 25 fails (fix: open it or use a smarthost);
    with [smtp] smarthost on an answering listener, it is ok."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    world_probe = world["port25"]
    try:
        world["port25"] = port
        try:
            _, results = check(world)
        finally:
            world["port25"] = world_probe
        (row,) = rows(results, "port 25")
        assert row["status"] == "fail" and "open outgoing port 25" in row["fix"] and "smarthost" in row["fix"]
        _, results = check(world, f'\n[smtp]\nsmarthost = "127.0.0.1:{world_probe}"\nsmarthost_tls = "none"\n')
        (row,) = rows(results, "port 25")
        assert row["status"] == "ok" and row["detail"].startswith(f"outgoing mail goes through the smarthost 127.0.0.1:{world_probe}")
    finally:
        closed.close()


def test_self_signed_certificate_and_old_queue_are_warnings_with_fixes(world):
    """The self-signed box certificate warns (fix: ACME or a certificate file); a message queued
    two hours ago warns with the queue's fix."""
    with sqlite3.connect(world["state"] / "tenants" / "shop.sqlite3") as conn:
        conn.execute(
            "INSERT INTO outbound (created, mail_from, body, next_attempt, expires) VALUES (?, ?, ?, ?, ?)",
            (time.time() - 7200, "ann@shop.example", b"Subject: old\r\n\r\nx\r\n", time.time() + 3600, time.time() + 86400),
        )
    _, results = check(world, "", "--local")
    (cert,) = [r for r in rows(results, "certificate") if r["detail"].startswith("box.appliance.test")]
    assert cert["status"] == "warn" and "[acme] directory" in cert["fix"]
    (queue,) = rows(results, "queue")
    assert queue["status"] == "warn" and queue["detail"] == "1 messages waiting, the oldest for 2.0 h"
    assert "appliance queue list" in queue["fix"]
    assert not rows(results, "delegation"), "--local asks no one outside"


def test_name_server_with_wrong_glue_fails_with_the_glue_fix(world):
    """When the world resolves ns1 to another address than the box's, the fix says which glue to set."""
    world["public"].publish("ns1.appliance.test", "A", ["198.51.100.7"])
    try:
        _, results = check(world)
    finally:
        del world["public"].published[("ns1.appliance.test", "A")]
    ns1, ns2 = rows(results, "name servers")
    assert ns1["status"] == "fail" and ns1["detail"] == f"ns1.appliance.test resolves to 198.51.100.7, not {BOX_ADDRESS}"
    assert ns1["fix"] == f"at the registrar of appliance.test, change the glue of ns1.appliance.test to {BOX_ADDRESS}"
    assert ns2["status"] == "ok"


def test_silent_resolver_is_a_warning_not_a_failure(world, tmp_path):
    """When the resolver does not answer in time, DNS rows warn and say to check the resolver."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # receives queries, never answers
    public = world["public"]
    try:
        world["public"] = type("Silent", (), {"port": silent.getsockname()[1]})()
        _, results = check(world, timeout=1)
    finally:
        world["public"] = public
        silent.close()
    for name in ("name servers", "reverse dns"):
        assert {r["status"] for r in rows(results, name)} == {"warn"}, rows(results, name)
        assert all("check [panel] check_resolver" in r["fix"] for r in rows(results, name))
