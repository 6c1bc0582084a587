"""``appliance apikey add|list|revoke`` and the keys' service: a token is
shown once, stored only as a digest, and refused once revoked."""

from __future__ import annotations

import sqlite3

from appliance.services.apikeys import token_hash


def test_add_prints_the_token_once_and_stores_its_digest(cli, state_dir):
    """The token is printed by ``add``, listed nowhere, and the box database holds only its SHA-256."""
    made = cli.json("apikey", "add", "billing", "--scope", "write")
    assert made["name"] == "billing" and made["scope"] == "write" and made["token"].startswith("apk_")
    listed = cli.json("apikey", "list")
    assert [(k["name"], k["scope"], k["revoked"]) for k in listed] == [("billing", "write", None)]
    assert made["token"] not in cli("apikey", "list").stdout
    with sqlite3.connect(state_dir / "box.sqlite3") as conn:
        stored = conn.execute("SELECT token_hash FROM api_keys").fetchall()
    assert stored == [(token_hash(made["token"]),)]


def test_scope_defaults_to_read(cli):
    """A key made without --scope may only read."""
    assert cli.json("apikey", "add", "viewer")["scope"] == "read"


def test_revoke_marks_the_key_and_a_second_revoke_fails(cli):
    """A revoked key stays listed with the time it was revoked; revoking it again is an error."""
    cli("apikey", "add", "old")
    cli("apikey", "revoke", "old")
    assert cli.json("apikey", "list")[0]["revoked"]
    again = cli("apikey", "revoke", "old", check=False)
    assert again.returncode == 1 and "no API key old" in again.stderr


def test_a_taken_name_and_a_bad_name_are_refused(cli):
    """Names are unique (revoked keys' too) and of a-z, 0-9, '.', '_', '-'."""
    cli("apikey", "add", "dup")
    assert "already exists" in cli("apikey", "add", "dup", check=False).stderr
    assert "name" in cli("apikey", "add", "Bad Name!", check=False).stderr


def test_token_bucket_allows_the_burst_then_the_rate():
    """TokenBucket(2/s, burst 3): three at once, the fourth waits half a second, and one more after it."""
    from appliance.throttle import TokenBucket

    bucket = TokenBucket(2.0, 3)
    assert [bucket.take("k", now=10.0) for _ in range(3)] == [0, 0, 0]
    assert bucket.take("k", now=10.0) == 0.5
    assert bucket.take("other", now=10.0) == 0
    assert bucket.take("k", now=10.5) == 0
