"""Passwords never travel in clear: over plain HTTP, DAV refuses every
request from a client that ``[dav] plain_http_logins`` does not allow,
before any password is checked and without the 401 that would invite one
(as IMAP and submission accept no login before TLS)."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import TEST_CONFIG

from .conftest import DavServer, provision

PROPFIND = '<?xml version="1.0"?><propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>'
HEADERS = {"Depth": "0", "Content-Type": "application/xml"}
MULTI_STATUS, FORBIDDEN = 207, 403
REFUSAL = b"sign in over HTTPS: passwords are not accepted over plain HTTP\n"


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A daemon whose DAV accepts credentials over HTTPS only, from anyone."""
    base = tmp_path_factory.mktemp("davplain")
    state = base / "state"
    state.mkdir()
    config = base / "appliance.toml"
    config.write_text(TEST_CONFIG + '\n[dav]\nplain_http_logins = "never"\n')
    provision(state, config)
    server = DavServer(state, config, base / "dav.log").start()
    yield server
    server.stop()


def _propfind(origin: str, auth, **kwargs) -> requests.Response:
    return requests.request("PROPFIND", origin + "/dav/", data=PROPFIND, headers=HEADERS, auth=auth, timeout=10, **kwargs)


def test_credentials_over_plain_http_are_refused_unchecked(strict, alice):
    """A right password over plain HTTP gets 403 with a clear reason, and is
    not even checked: no login is logged, failed or not."""
    before = strict.log()
    reply = _propfind(strict.origin("http"), alice.auth)
    assert (reply.status_code, reply.content) == (FORBIDDEN, REFUSAL)
    wrong = _propfind(strict.origin("http"), (alice.address, "wrong password"))
    assert (wrong.status_code, wrong.content) == (FORBIDDEN, REFUSAL)
    new_lines = strict.log()[len(before):]
    assert "auth failed" not in new_lines


def test_no_password_is_invited_over_plain_http(strict):
    """Without credentials the answer is the same 403, never a 401 with a
    Basic challenge a client would answer in clear."""
    reply = _propfind(strict.origin("http"), None)
    assert reply.status_code == FORBIDDEN
    assert "WWW-Authenticate" not in reply.headers


def test_the_same_request_over_https_works(strict, alice):
    """Over HTTPS the same login reaches the calendars."""
    reply = _propfind(strict.origin("https"), alice.auth, verify=strict.ca_file)
    assert reply.status_code == MULTI_STATUS


def test_loopback_may_use_plain_http_by_default(dav, alice):
    """With the default (``loopback``), a client on the box itself - a TLS
    proxy in front - still logs in over plain HTTP."""
    reply = _propfind(dav.origin("http"), alice.auth)
    assert reply.status_code == MULTI_STATUS
