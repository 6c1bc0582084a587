"""The senders whose pictures a webmail user sees at once, in a
business's file: one list per user, case does not matter, a full list
takes no new address, a removed one is gone."""

from __future__ import annotations

import pytest

from appliance import settings
from appliance.app import App
from storage import directory, picturesenders


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({}), tmp_path / "state")
    a.provisioning.create_tenant("shop", "Shop", "shop.example")
    a.provisioning.add_user("ann@shop.example", "a long secret")
    a.provisioning.add_user("bob@shop.example", "a long secret")
    yield a
    a.close()


def test_a_users_list_is_their_own_bounded_and_case_blind(app):
    """ann adds an address under two spellings (one entry), fills her
    list to its limit (the next address is refused, one already on it is
    still accepted), removes one; bob's list stays empty throughout."""
    h = app.provisioning.handle("shop")
    ann, bob = h.read_sync("ids", lambda c: [directory.get_user(c, f"{n}@shop.example")["id"] for n in ("ann", "bob")])
    assert h.write_sync("add", lambda c: picturesenders.add(c, ann, "News@Mill.example", 2))
    assert h.write_sync("add", lambda c: picturesenders.add(c, ann, "news@mill.example", 2))
    assert h.write_sync("add", lambda c: picturesenders.add(c, ann, "offers@mill.example", 2))
    assert not h.write_sync("add", lambda c: picturesenders.add(c, ann, "third@mill.example", 2))
    assert h.write_sync("add", lambda c: picturesenders.add(c, ann, "OFFERS@mill.example", 2))
    assert h.read_sync("read", lambda c: picturesenders.senders(c, ann)) == ["news@mill.example", "offers@mill.example"]
    assert h.read_sync("read", lambda c: picturesenders.allowed(c, ann, "NEWS@mill.example"))
    assert not h.read_sync("read", lambda c: picturesenders.allowed(c, bob, "news@mill.example"))
    h.write_sync("remove", lambda c: picturesenders.remove(c, ann, "News@Mill.example"))
    assert h.read_sync("read", lambda c: picturesenders.senders(c, ann)) == ["offers@mill.example"]
    assert h.read_sync("read", lambda c: picturesenders.senders(c, bob)) == []
