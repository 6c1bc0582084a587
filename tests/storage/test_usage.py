"""Usage day rows in a real business file: a day keeps its largest sample,
events add up, a day once active stays active, a gap left by a stopped
daemon is filled only when the business was and is active, and a month is
summed from its own days only."""

from __future__ import annotations

from storage import usage

from .bakery import business_file


def _day(db, day: str) -> dict:
    return next(r for r in db.read_sync("days", lambda c: usage.days(c, day[:7])) if r["day"] == day)


def test_a_day_keeps_its_largest_sample_and_adds_events(tmp_path):
    """Two samples of a day keep the larger of each size; events of two flushes add up."""
    with business_file(tmp_path) as db:
        day = "2026-11-03"
        db.write_sync("a", lambda c: usage.record_sizes(c, day, "small", True, {"people": 3, "mailbox_bytes": 10}))
        db.write_sync("b", lambda c: usage.record_sizes(c, day, "standard", False, {"people": 2, "mailbox_bytes": 40}))
        db.write_sync("c", lambda c: usage.add_events(c, day, {"web_requests": 2, "web_bytes": 100}))
        db.write_sync("d", lambda c: usage.add_events(c, day, {"web_requests": 3, "messages_sent": 1}))
        row = _day(db, day)
        assert (row["people"], row["mailbox_bytes"], row["plan"], row["active"]) == (3, 40, "standard", 1)
        assert (row["web_requests"], row["web_bytes"], row["messages_sent"]) == (5, 100, 1)


def test_a_gap_is_filled_only_between_active_days(tmp_path):
    """Three days without rows after an active day are filled active when the business is active now, with
    the last row's sizes; suspended now, nothing is filled."""
    with business_file(tmp_path) as db:
        db.write_sync("a", lambda c: usage.record_sizes(c, "2026-11-01", "small", True, {"people": 2}))
        assert db.write_sync("gap", lambda c: usage.fill_gap(c, "2026-11-05", False)) == 0
        assert db.write_sync("gap", lambda c: usage.fill_gap(c, "2026-11-05", True)) == 3
        rows = db.read_sync("days", lambda c: usage.days(c, "2026-11"))
        assert [(r["day"], r["active"], r["people"]) for r in rows] == [
            ("2026-11-01", 1, 2), ("2026-11-02", 1, 2), ("2026-11-03", 1, 2), ("2026-11-04", 1, 2)]


def test_a_month_is_summed_from_its_own_days(tmp_path):
    """The summary of November counts November's days only: peaks of one day, sums, days active, last plan."""
    with business_file(tmp_path) as db:
        for day, plan, active, people, mailbox in (("2026-10-31", "small", True, 9, 900),
                                                   ("2026-11-01", "small", True, 2, 50),
                                                   ("2026-11-02", "standard", False, 4, 10),
                                                   ("2026-12-01", "small", True, 9, 900)):
            db.write_sync("s", lambda c, d=day, p=plan, a=active, n=people, m=mailbox: usage.record_sizes(
                c, d, p, a, {"people": n, "mailbox_bytes": m, "dav_bytes": 5}))
            db.write_sync("e", lambda c, d=day: usage.add_events(c, d, {"messages_received": 7}))
        month = db.read_sync("sum", lambda c: usage.summarise(c, "bakery", "2026-11"))
        assert month == usage.Month("bakery", "standard", 1, 4, 55, 0, 14, 0, 0)
        assert db.read_sync("sum", lambda c: usage.summarise(c, "bakery", "2026-09")) is None
