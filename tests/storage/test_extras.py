"""A business's effective limits (``directory.limits``): its plan's plus its
extras, read by each check in the transaction that writes. Real business
files in a temp dir."""

from __future__ import annotations

import pytest

from appliance import settings
from appliance.app import App
from appliance.errors import InvalidInput, LimitExceeded, NotFound
from storage import directory, mail

MIB = 2**20


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({"plans": {"tiny": {"mailbox_mb": 1, "max_users": 1, "web_mb": 1}}}),
            tmp_path / "state")
    for slug in ("shop", "next"):
        a.core.businesses.create(slug, plan="tiny", actor="test")
    yield a
    a.close()


def test_limits_are_the_plans_plus_the_sum_of_each_kind_of_extra(app):
    """Two web extras add up, a people extra counts people, the plan's row is unchanged."""
    extras = app.core.extras
    extras.add("shop", "web_mb", 2, actor="test")
    extras.add("shop", "web_mb", 3, actor="test")
    extras.add("shop", "people", 4, actor="test")
    limits = extras.limits("shop")
    assert (limits.web_bytes, limits.max_users, limits.mailbox_bytes) == (6 * MIB, 5, MIB)
    assert app.core.businesses.show("shop").plan.web_bytes == MIB
    assert extras.limits("next").web_bytes == MIB


def test_a_mailbox_extra_raises_the_quota_of_a_mailbox_without_its_own(app):
    """quota_usage's limit follows the extra at once, and again when it is taken back."""
    app.core.people.add("ann@shop.appliance.test", "a long secret", actor="test")
    h = app.core.businesses.stores.handle("shop")
    user = h.read_sync("u", lambda c: c.execute("SELECT id FROM users").fetchone())
    assert h.read_sync("q", lambda c: mail.quota_usage(c, user[0]))[1] == MIB
    extra = app.core.extras.add("shop", "mailbox_mb", 9, actor="test")
    assert h.read_sync("q", lambda c: mail.quota_usage(c, user[0]))[1] == 10 * MIB
    app.core.extras.remove("shop", extra.id, actor="test")
    assert h.read_sync("q", lambda c: mail.quota_usage(c, user[0]))[1] == MIB


def test_bad_extras_are_refused_and_change_nothing(app):
    """An unknown kind, amounts out of bounds, an unknown extra, and more than MAX_EXTRAS."""
    extras = app.core.extras
    for kind, amount in (("cpu", 1), ("web_mb", 0), ("people", 100_001), ("web_mb", True)):
        with pytest.raises(InvalidInput):
            extras.add("shop", kind, amount, actor="test")
    with pytest.raises(NotFound):
        extras.remove("shop", 99, actor="test")
    for _ in range(directory.MAX_EXTRAS):
        extras.add("next", "people", 1, actor="test")
    with pytest.raises(LimitExceeded):
        extras.add("next", "people", 1, actor="test")
    assert extras.list("shop").extras == []
    assert len(extras.list("next").extras) == directory.MAX_EXTRAS
