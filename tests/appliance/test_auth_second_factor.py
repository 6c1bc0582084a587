"""The login checker's rules for app passwords and two-step sign-in, on a
real business file: which secret opens the panel and which the protocols,
the DAV login cache, and codes (TOTP or recovery) spent once and counted
as failures when wrong."""

from __future__ import annotations

import asyncio
import logging
import time

import pyotp
import pytest

from appliance import settings
from appliance.app import App
from appliance.errors import AuthFailed, Suspended

ANN = "ann@shop.appliance.test"
PASSWORD = "correct horse"


@pytest.fixture
def app(tmp_path):
    s = settings.from_mapping({"auth": {"max_failures": 3, "failure_window": 60},
                               "dav": {"login_cache_seconds": 60}})
    a = App(s, tmp_path / "state")
    a.provisioning.create_tenant("shop", "Shop")
    a.provisioning.add_user(ANN, PASSWORD)
    yield a
    a.close()


def login(app, password, protocol="dav", peer="192.0.2.1", cached=True):
    return asyncio.run(app.auth.login(ANN, password, protocol=protocol, peer=peer, cached=cached))


def turn_on(app) -> pyotp.TOTP:
    setup = app.core.security.begin_two_step(ANN, actor=ANN)
    totp = pyotp.TOTP(setup.secret)
    app.core.security.confirm_two_step(ANN, totp.now(), actor=ANN)
    return totp


def test_turning_two_step_on_ends_a_cached_password_login_at_once(app):
    """DAV cached ann's password; once two-step sign-in is on, that same
    cached login is refused, while the panel still takes the password and
    marks the principal as half signed in."""
    assert not login(app, PASSWORD).two_step
    turn_on(app)
    with pytest.raises(AuthFailed):
        login(app, PASSWORD)
    assert login(app, PASSWORD, protocol="panel", cached=False).two_step


def test_a_revoked_app_password_fails_at_once_even_with_the_cache(app):
    """An app password works on DAV (twice: the second would be a cache
    hit if it were cached) and fails on the very next login once revoked."""
    made, password = app.core.security.add_app_password(ANN, "Phone", actor=ANN)
    login(app, password)
    login(app, password)
    app.core.security.revoke_app_password(ANN, made.ref, actor=ANN)
    with pytest.raises(AuthFailed):
        login(app, password)


def test_the_panel_never_takes_an_app_password(app):
    """IMAP takes ann's app password; the panel refuses it."""
    _, password = app.core.security.add_app_password(ANN, "Laptop", actor=ANN)
    assert login(app, password, protocol="imap", cached=False).address == ANN
    with pytest.raises(AuthFailed):
        login(app, password, protocol="panel", cached=False, peer="192.0.2.2")


def test_an_app_password_of_a_suspended_business_is_suspended(app):
    """A right app password of a suspended business raises Suspended, as a right password does."""
    _, password = app.core.security.add_app_password(ANN, "Laptop", actor=ANN)
    app.provisioning.set_state("shop", "suspended")
    with pytest.raises(Suspended):
        login(app, password)


def test_a_code_is_spent_once_and_a_wrong_one_is_a_logged_failure(app, caplog):
    """A fresh code passes once; the same code again, and a wrong one, raise
    AuthFailed with the fail2ban line (protocol=panel); a recovery code
    passes once."""
    totp = turn_on(app)
    principal = login(app, PASSWORD, protocol="panel", cached=False)
    step = totp.timecode(time.time()) + 1
    code = totp.generate_otp(step)

    def check(c: str) -> None:
        asyncio.run(app.auth.second_factor(principal.slug, principal.user_id, ANN, c, peer="192.0.2.3"))

    check(code)
    caplog.set_level(logging.WARNING, logger="appliance.auth")
    for wrong in (code, "123 456"):
        with pytest.raises(AuthFailed):
            check(wrong)
    assert caplog.text.count(f"auth failed: protocol=panel user={ANN} source=192.0.2.3") == 2
    recovery = app.core.security.new_recovery_codes(ANN, actor=ANN)[0]
    check(recovery.upper())
    with pytest.raises(AuthFailed):
        check(recovery)


def test_past_the_throttle_even_a_right_code_is_refused(app):
    """After max_failures wrong codes from one source, a right code from
    there is refused without being spent: it still works from where ann
    signed in."""
    totp = turn_on(app)
    principal = login(app, PASSWORD, protocol="panel", cached=False)

    def check(c: str, peer: str = "203.0.113.5") -> None:
        asyncio.run(app.auth.second_factor(principal.slug, principal.user_id, ANN, c, peer=peer))

    for _ in range(3):
        with pytest.raises(AuthFailed):
            check("000000")
    code = totp.generate_otp(totp.timecode(time.time()) + 1)
    with pytest.raises(AuthFailed):
        check(code)
    # From where she signed in (a known source), the account is not locked.
    check(code, peer="192.0.2.1")
