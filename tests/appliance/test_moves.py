"""The move service on its own (``appliance.services.moves``): the grace
period's end, and what the receiving side refuses."""

from __future__ import annotations

import datetime
import hashlib
import shutil

import pytest

from appliance import settings
from appliance.app import App
from appliance.errors import InvalidInput
from storage import freeze
from storage.errors import IntegrityFailed


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({"fleet": {"grace_days": 3}}), tmp_path / "state")
    yield a
    a.close()


def moved_away(app, slug: str) -> None:
    app.core.businesses.create(slug, actor="test")
    app.core.moves.freeze(slug, "b.fleet.test", actor="test")
    app.tenants.handle(slug).write_sync("moved", freeze.mark_moved, frozen_ok=True)


def test_a_business_that_moved_away_is_removed_after_the_grace_days(app):
    """expire() leaves a business that moved 2 days ago (grace 3 days) and
    a frozen one that has not moved; 4 days on, the moved one's file goes
    to removed/ and it leaves the catalog."""
    moved_away(app, "gone")
    app.core.businesses.create("frozen", actor="test")
    app.core.moves.freeze("frozen", "b.fleet.test", actor="test")
    now = datetime.datetime.now(datetime.timezone.utc)
    assert app.core.moves.expire(now + datetime.timedelta(days=2)) == []
    removed = app.core.moves.expire(now + datetime.timedelta(days=4))
    assert [p.parent.name for p in removed] == ["removed"] and removed[0].name.startswith("gone-")
    assert [e.slug for e in app.core.businesses.list()] == ["frozen"]


def test_a_damaged_copy_is_refused_and_nothing_is_registered(app, tmp_path):
    """receive() with a digest that is not the file's: InvalidInput naming
    Repr-Digest; the business is not created."""
    app.core.businesses.create("source", actor="test")
    copy = tmp_path / "copy.sqlite3"
    app.core.businesses.export("source", copy, actor="test")
    app.core.businesses.remove("source", actor="test")
    spool = app.tenants.directory / ".incoming-test.sqlite3"
    shutil.copy(copy, spool)
    with pytest.raises(InvalidInput) as caught:
        app.core.moves.receive("source", spool, hashlib.sha256(b"other").digest(), actor="test")
    assert caught.value.field == "Repr-Digest"
    assert app.core.businesses.list() == []
    digest = hashlib.sha256(copy.read_bytes()).digest()
    with pytest.raises(IntegrityFailed):
        app.core.moves.receive("another", spool, digest, actor="test")
    assert app.core.businesses.list() == []
    business = app.core.moves.receive("source", spool, digest, actor="test")
    assert business.slug == "source" and not spool.exists()
    assert app.core.moves.marker("source") is None
