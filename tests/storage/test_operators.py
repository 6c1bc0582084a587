"""Operators' rows and sessions in a real box database file."""

from __future__ import annotations

import pytest

from storage import operators, schema
from storage.database import apply_migrations, connect
from storage.errors import Conflict, NotFound


@pytest.fixture
def box(tmp_path):
    conn = connect(tmp_path / "box.sqlite3")
    apply_migrations(conn, schema.BOX_MIGRATIONS)
    operators.add(conn, "ops", "hash", "SECRET", "2026-01-01T00:00:00+00:00")
    yield conn
    conn.close()


def test_an_operator_name_is_taken_once(box):
    """A second operator of the same name is a Conflict; removing an unknown one is NotFound."""
    with pytest.raises(Conflict):
        operators.add(box, "ops", "hash", "SECRET", "2026-01-01T00:00:00+00:00")
    with pytest.raises(NotFound):
        operators.remove(box, "nobody")


def test_sessions_owing_a_code_are_pushed_out_before_full_ones(box):
    """Past the cap, new half-done sign-ins (someone who knows only the
    password) push out the oldest half-done ones, never a full session."""
    operators.create_session(box, "full", "ops", "code", "csrf", 1.0, "")
    assert operators.promote_session(box, "full", "full2", "csrf2", 2.0)
    for i in range(3 * operators.MAX_SESSIONS_PER_OPERATOR):
        operators.create_session(box, f"pending{i}", "ops", "code", "csrf", 10.0 + i, "")
    assert operators.get_session(box, "full2")["stage"] == "full"
    count = box.execute("SELECT count(*) FROM operator_sessions").fetchone()[0]
    assert count == operators.MAX_SESSIONS_PER_OPERATOR


def test_removing_an_operator_removes_their_sessions(box):
    """The sessions go with the operator (foreign key, on delete cascade)."""
    operators.create_session(box, "s1", "ops", "full", "csrf", 1.0, "")
    operators.remove(box, "ops")
    assert operators.get_session(box, "s1") is None
