"""Open IMAP sessions end when their person may no longer log in: suspended
or removed through the CLI (another process, as the panel's changes reach
the daemon the same way), or their business suspended. Other people's
sessions go on."""

from __future__ import annotations

import imaplib

import pytest

from tests.conftest import wait_for

from .conftest import PASSWORD


@pytest.fixture(scope="module", autouse=True)
def owner(env) -> str:
    """acme.test's first person, its owner (a business keeps one active owner)."""
    return env.user()


def _ended(conn: imaplib.IMAP4_SSL) -> bool:
    """Has the server said BYE and closed? (NOOP then fails.)"""
    try:
        conn.noop()
    except (imaplib.IMAP4.abort, OSError):
        return True
    return False


@pytest.mark.parametrize("how", ["suspend", "remove"])
def test_a_suspended_or_removed_persons_sessions_end_and_colleagues_stay(env, how):
    leaving, staying = env.user(), env.user()
    idle = env.connect(leaving)
    idle.select("INBOX")
    other = env.connect(leaving)
    colleague = env.connect(staying)
    colleague.select("INBOX")
    if how == "suspend":
        env.cli("user", "suspend", leaving)
    else:
        env.cli("user", "remove", leaving)
    assert wait_for(lambda: _ended(idle) and _ended(other), timeout=20)
    assert colleague.noop()[0] == "OK"
    assert colleague.select("INBOX")[0] == "OK"
    colleague.logout()
    with pytest.raises(imaplib.IMAP4.error):
        env.connect(leaving)


def test_a_resumed_person_logs_in_again(env):
    address = env.user()
    conn = env.connect(address)
    env.cli("user", "suspend", address)
    assert wait_for(lambda: _ended(conn), timeout=20)
    env.cli("user", "resume", address)
    again = env.connect(address, PASSWORD)
    assert again.select("INBOX")[0] == "OK"
    again.logout()


def test_a_suspended_business_loses_its_sessions_and_another_keeps_its(env):
    env.cli("tenant", "add", "paused", "--domain", "paused.test")
    mine = env.connect(env.user("paused.test"))
    theirs = env.connect(env.user("other.test"))
    env.cli("tenant", "suspend", "paused")
    try:
        assert wait_for(lambda: _ended(mine), timeout=20)
        assert theirs.noop()[0] == "OK"
    finally:
        env.cli("tenant", "resume", "paused")
    theirs.logout()
