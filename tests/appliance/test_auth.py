"""Logins: right and wrong passwords, suspension, legacy hashes upgraded,
throttling, and the fixed-format log line."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest
from passlib.hash import bcrypt, sha512_crypt

from appliance import settings
from appliance.app import App
from appliance.errors import AuthFailed, Suspended
from storage import directory

ROOT = Path(__file__).resolve().parent.parent.parent
FAIL2BAN_RE = re.compile(r"auth failed: protocol=\S+ user=\S+ source=(?P<host>\S+)\s*$")


@pytest.fixture
def app(tmp_path):
    s = settings.from_mapping({"auth": {"max_failures": 3, "failure_window": 60}})
    a = App(s, tmp_path / "state")
    a.provisioning.create_tenant("shop", "Shop")
    a.provisioning.add_user("ann@shop.appliance.test", "correct horse")
    yield a
    a.close()


def login(app, address, password, peer="192.0.2.1"):
    return asyncio.run(app.auth.login(address, password, protocol="imap", peer=peer))


def test_right_password_gives_a_principal_bound_to_the_business(app):
    """A good login yields the user's id and a handle on their business."""
    p = login(app, "Ann@Shop.Appliance.Test", "correct horse")
    assert (p.address, p.slug) == ("ann@shop.appliance.test", "shop")
    assert p.tenant.read_sync("me", lambda c: directory.get_user(c, p.address)["id"]) == p.user_id


@pytest.mark.parametrize("address, password", [
    ("ann@shop.appliance.test", "wrong horse"),
    ("nobody@shop.appliance.test", "correct horse"),
    ("ann@elsewhere.example", "correct horse"),
    ("not an address", "x"),
    ("ann@shop.appliance.test", "x" * 5000),
])
def test_wrong_credentials_fail_the_same_way(app, address, password):
    """Wrong password, unknown user, unhosted domain, garbage and oversized input all raise AuthFailed."""
    with pytest.raises(AuthFailed):
        login(app, address, password, peer="198.51.100.9")


def test_suspended_business_cannot_log_in(app):
    """A correct password for a suspended business raises Suspended."""
    app.provisioning.set_state("shop", "suspended")
    with pytest.raises(Suspended):
        login(app, "ann@shop.appliance.test", "correct horse")


@pytest.mark.parametrize("scheme", [bcrypt, sha512_crypt])
def test_legacy_hash_is_verified_and_upgraded_to_argon2id(app, scheme):
    """An imported bcrypt or sha512-crypt hash logs in once and is then stored as argon2id."""
    handle = app.provisioning.handle("shop")
    handle.write_sync("import", lambda c: directory.set_password_hash(c, "ann@shop.appliance.test", scheme.hash("old secret")))
    login(app, "ann@shop.appliance.test", "old secret")
    stored = handle.read_sync("hash", lambda c: directory.get_user(c, "ann@shop.appliance.test")["password_hash"])
    assert stored.startswith("$argon2id$")
    login(app, "ann@shop.appliance.test", "old secret")


def test_repeated_failures_are_refused_without_checking(app):
    """After max_failures from one source, even the right password is refused from there."""
    for _ in range(3):
        with pytest.raises(AuthFailed):
            login(app, "ann@shop.appliance.test", "bad guess", peer="203.0.113.5")
    with pytest.raises(AuthFailed):
        login(app, "ann@shop.appliance.test", "correct horse", peer="203.0.113.5")
    assert app.auth.failure_delay("ann@shop.appliance.test", "203.0.113.5") > 0


def test_failure_log_line_matches_the_fail2ban_filter(app, caplog):
    """Each failure logs one line the shipped fail2ban filter matches, with the source as host."""
    caplog.set_level(logging.WARNING, logger="appliance.auth")
    with pytest.raises(AuthFailed):
        login(app, "ann@shop.appliance.test\r\nforged line", "bad", peer="192.0.2.44")
    lines = [r.getMessage() for r in caplog.records if "auth failed" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0]
    match = FAIL2BAN_RE.search(lines[0])
    assert match and match.group("host") == "192.0.2.44"
    shipped = (ROOT / "systemd/fail2ban/filter.d/appliance.conf").read_text()
    assert r"auth failed: protocol=\S+ user=\S+ source=<HOST>\s*$" in shipped


async def _guess_in_parallel(app, n, address="ann@shop.appliance.test", password="bad guess"):
    results = await asyncio.gather(
        *(app.auth.login(address, password, protocol="imap", peer=f"198.51.100.{10 + i}", delay=False) for i in range(n)),
        return_exceptions=True,
    )
    return results


def test_attempts_in_flight_count_against_the_limit(app):
    """20 parallel wrong logins from 20 sources: only max_failures of them
    are verified (the others are refused while those are in flight), and
    they run one at a time for the account."""
    results = asyncio.run(_guess_in_parallel(app, 20))
    assert all(isinstance(r, AuthFailed) for r in results)
    assert app.auth.queue.started == 3
    assert app.auth.queue.running == 0 and app.auth.queue.waiting == 0


def test_a_known_source_gets_in_while_strangers_are_refused(app):
    """After strangers pass the account's limit, the right password works
    from a source that signed in before and not from a new one."""
    login(app, "ann@shop.appliance.test", "correct horse", peer="192.0.2.1")
    asyncio.run(_guess_in_parallel(app, 10))
    assert login(app, "ann@shop.appliance.test", "correct horse", peer="192.0.2.1").slug == "shop"
    with pytest.raises(AuthFailed):
        login(app, "ann@shop.appliance.test", "correct horse", peer="192.0.2.200")


def test_ipv6_sources_are_counted_per_64(app):
    """Addresses of one IPv6 /64 share one source counter."""
    for n in range(3):
        with pytest.raises(AuthFailed):
            login(app, f"x{n}@shop.appliance.test", "bad guess", peer=f"2001:db8:1:2::{n + 1}")
    assert app.auth.throttled("other@shop.appliance.test", "2001:db8:1:2::ffff")
    assert not app.auth.throttled("other@shop.appliance.test", "2001:db8:1:3::1")


def test_full_queue_turns_strangers_away_without_counting(app):
    """With max_waiting logins already waiting, a stranger's login is
    refused at once (Busy), not verified and not counted as a failure."""
    from appliance.throttle import Busy

    app.auth.queue.max_waiting = 1

    async def run():
        return await asyncio.gather(
            *(app.auth.login(f"u{i}@shop.appliance.test", "bad guess", protocol="imap", peer=f"198.51.100.{i}", delay=False)
              for i in range(6)),
            return_exceptions=True,
        )

    results = asyncio.run(run())
    busy = [i for i, r in enumerate(results) if isinstance(r, Busy)]
    assert all(isinstance(r, AuthFailed) for r in results)
    # Two verifications run (hash_threads), one waits, the rest are turned away.
    assert len(busy) == 3 and app.auth.queue.started == 3
    assert all(app.auth.failures.count(f"user:u{i}@shop.appliance.test") == 0 for i in busy)


def test_parallel_right_passwords_from_one_source_all_get_in(app):
    """30 parallel logins with the right password from one address (an
    office behind NAT) all succeed: only failures are throttled, attempts
    past the limit wait for those in flight instead of being refused."""
    app.provisioning.add_user("bob@shop.appliance.test", "battery staple")

    async def run():
        return await asyncio.gather(
            *(app.auth.login(("ann" if i % 2 else "bob") + "@shop.appliance.test",
                             "correct horse" if i % 2 else "battery staple", protocol="imap", peer="192.0.2.80")
              for i in range(30)),
            return_exceptions=True,
        )

    results = asyncio.run(run())
    assert [type(r).__name__ for r in results] == ["Principal"] * 30
    assert app.auth.failures.count("ip:192.0.2.80") == 0
    assert app.auth.in_flight.waiting == 0 and app.auth.in_flight["ip:192.0.2.80"] == 0


def test_parallel_wrong_passwords_from_one_source_get_max_failures_checks(app, caplog):
    """20 parallel wrong logins from one source: max_failures of them are
    verified, the rest are refused unchecked once those failed, and every
    one is logged for fail2ban, as when they come one after another."""
    caplog.set_level(logging.WARNING, logger="appliance.auth")

    async def run():
        return await asyncio.gather(
            *(app.auth.login(f"u{i}@shop.appliance.test", "bad guess", protocol="imap", peer="203.0.113.77", delay=False)
              for i in range(20)),
            return_exceptions=True,
        )

    results = asyncio.run(run())
    assert all(isinstance(r, AuthFailed) for r in results)
    assert app.auth.queue.started == 3
    lines = [r.getMessage() for r in caplog.records if FAIL2BAN_RE.search(r.getMessage())]
    assert len(lines) == 20 and all(line.endswith("source=203.0.113.77") for line in lines)
    with pytest.raises(AuthFailed):
        login(app, "ann@shop.appliance.test", "correct horse", peer="203.0.113.77")


def test_right_password_after_failures_below_the_limit_gets_in(app):
    """A source with fewer than max_failures failures still signs in with
    the right password; the success clears nothing (the failures still
    count), so the next wrong guess reaches the limit."""
    for _ in range(2):
        with pytest.raises(AuthFailed):
            login(app, "ann@shop.appliance.test", "bad guess", peer="203.0.113.8")
    assert login(app, "ann@shop.appliance.test", "correct horse", peer="203.0.113.8").slug == "shop"
    assert app.auth.failures.count("ip:203.0.113.8") == 2
    with pytest.raises(AuthFailed):
        login(app, "ann@shop.appliance.test", "bad guess", peer="203.0.113.8")
    assert app.auth.throttled("ann@shop.appliance.test", "203.0.113.8")
    with pytest.raises(AuthFailed):
        login(app, "ann@shop.appliance.test", "correct horse", peer="203.0.113.8")
