"""The SRS codec and its secrets in a real box database file."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from appliance.srs import Codec, SrsInvalid, looks_like
from storage import srs as srsdb

NOW = 1_796_000_000.0


def test_an_address_forwarded_twice_keeps_its_first_forwarder():
    """SRS0 forwarded again becomes SRS1 naming the first forwarder; reversing it gives the SRS0 address back."""
    first = Codec(["one"], 21).forward("joe@remote.example", "acme.example", now=NOW)
    second = Codec(["two"], 21).forward(first, "globex.example", now=NOW)
    assert second.startswith("SRS1=") and "=acme.example==" in second and second.endswith("@globex.example")
    assert Codec(["two"], 21).reverse(second) == first
    third = Codec(["three"], 21).forward(second, "initech.example", now=NOW)
    assert third.count("SRS1") == 1 and "=acme.example==" in third


def test_case_changes_on_the_way_do_not_break_the_hash():
    codec = Codec(["s"], 21)
    address = codec.forward("Joe@Remote.Example", "acme.example", now=NOW)
    assert codec.reverse(address.lower(), now=NOW) == "Joe@Remote.Example".lower()


@pytest.mark.parametrize("sender", ["", "joe@acme.example", "x" * 250 + "@remote.example"])
def test_no_rewrite_when_none_is_needed_or_possible(sender):
    assert Codec(["s"], 21).forward(sender, "acme.example") is None


def test_age_limit_and_wrong_secret():
    codec = Codec(["s"], 21)
    made = codec.forward("joe@remote.example", "acme.example", now=NOW)
    assert codec.reverse(made, now=NOW + 21 * 86_400) == "joe@remote.example"
    with pytest.raises(SrsInvalid, match="expired"):
        codec.reverse(made, now=NOW + 22 * 86_400)
    with pytest.raises(SrsInvalid, match="invalid"):
        Codec(["other"], 21).reverse(made, now=NOW)
    assert looks_like(made) and looks_like("srs0+x@y") and not looks_like("srs@acme.example")


def box(tmp_path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "box.sqlite3")
    conn.row_factory = sqlite3.Row
    srsdb.MIGRATIONS.apply(sqlite_utils.Database(conn))
    return conn


def test_secrets_are_made_once_and_old_ones_expire_after_their_successor(tmp_path):
    """ensure makes one secret once; after a rotation the old one verifies until keep_seconds past the new one."""
    conn = box(tmp_path)
    srsdb.ensure(conn, now=NOW)
    srsdb.ensure(conn, now=NOW + 1)
    (first,) = srsdb.current(conn)
    srsdb.rotate(conn, keep_seconds=100, now=NOW + 10)
    assert srsdb.current(conn)[1] == first and len(srsdb.current(conn)) == 2
    srsdb.expire(conn, keep_seconds=100, now=NOW + 109)
    assert len(srsdb.current(conn)) == 2
    srsdb.expire(conn, keep_seconds=100, now=NOW + 111)
    assert first not in srsdb.current(conn) and len(srsdb.current(conn)) == 1
