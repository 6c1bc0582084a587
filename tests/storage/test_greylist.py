"""Greylisting's memory in the box database: a triplet waits out the delay,
passes and stays allowed while used; pending and allowed rows expire; the
table never holds more than its limit. The clock is passed in."""

from __future__ import annotations

import pytest

from storage import greylist as greydb
from storage import schema
from storage.database import Database

LIMITS = {"delay": 300, "pending_seconds": 86_400, "pass_seconds": 36 * 86_400, "max_entries": 3}


@pytest.fixture
def box(tmp_path):
    db = Database(tmp_path / "box.sqlite3", schema.BOX_MIGRATIONS, name="box")
    yield db
    db.close()


def check(box, sender, now, network="192.0.2.0/24", recipient="ann@shop.example"):
    return box.write_sync("check", lambda c: greydb.check(c, network, sender, recipient, now=now, **LIMITS))


def test_a_triplet_waits_out_the_delay_then_stays_allowed(box):
    """First: wait 300 s; at 299 s: 1 s left; at 300 s: pass; a month later (still used): pass."""
    assert check(box, "a@x.example", 1000) == (greydb.WAIT, 300)
    assert check(box, "a@x.example", 1299) == (greydb.WAIT, 1)
    assert check(box, "a@x.example", 1300) == (greydb.PASS, 0)
    assert check(box, "a@x.example", 1300 + 30 * 86_400) == (greydb.PASS, 0)


def test_a_retry_after_the_pending_window_starts_over(box):
    """A first attempt not retried within a day is forgotten: the next one waits again."""
    check(box, "a@x.example", 1000)
    assert check(box, "a@x.example", 1000 + 86_400 + 1) == (greydb.WAIT, 300)


def test_an_allowed_triplet_unused_past_its_period_waits_again(box):
    """36 days without a message and the triplet is unknown again."""
    check(box, "a@x.example", 1000)
    check(box, "a@x.example", 1300)
    assert check(box, "a@x.example", 1300 + 36 * 86_400 + 1) == (greydb.WAIT, 300)


def test_the_table_holds_at_most_max_entries(box):
    """A fourth new triplet pushes out the one that expires first."""
    for n in range(5):
        check(box, f"s{n}@x.example", 1000 + n)
    count = box.read_sync("n", lambda c: c.execute("SELECT count(*) FROM greylist").fetchone()[0])
    assert count == 3
    assert check(box, "s4@x.example", 1400) == (greydb.PASS, 0)


def test_correspondents_are_remembered_for_the_pass_period(box):
    """An address a user wrote to is known until its period ends, not after."""
    box.write_sync("r", lambda c: greydb.remember_correspondents(c, ["b@y.example"], pass_seconds=100,
                                                                 max_entries=3, now=1000))
    assert box.read_sync("c", lambda c: greydb.is_correspondent(c, "b@y.example", now=1099))
    assert not box.read_sync("c", lambda c: greydb.is_correspondent(c, "b@y.example", now=1101))


def test_a_triplet_renewed_within_the_hour_is_allowed_on_a_read(box):
    """The MX reads first: only a passed triplet whose allowance was renewed
    less than an hour ago is let through without a write."""
    def lately(now):
        return box.read_sync("lately", lambda c: greydb.passed_lately(
            c, "192.0.2.0/24", "a@x.example", "ann@shop.example", pass_seconds=LIMITS["pass_seconds"],
            refresh_seconds=3600, now=now))
    check(box, "a@x.example", 1000)
    assert not lately(1100)  # waiting, not passed
    check(box, "a@x.example", 1300)
    assert lately(1300) and lately(1300 + 3599)
    assert not lately(1300 + 3601)  # renewal due: the MX writes through check()
    check(box, "a@x.example", 1300 + 3601)
    assert lately(1300 + 3602)
