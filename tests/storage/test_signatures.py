"""Webmail signatures in a business's file: one per user and sending
address (case does not matter), replaced when saved again, removed when
emptied."""

from __future__ import annotations

import pytest

from appliance import settings
from appliance.app import App
from storage import directory, signatures


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({}), tmp_path / "state")
    a.provisioning.create_tenant("shop", "Shop", "shop.example")
    a.provisioning.add_user("ann@shop.example", "a long secret")
    yield a
    a.close()


def test_a_signature_is_kept_per_address_replaced_and_removed(app):
    """Saved twice under two spellings of one address, it is one
    signature with the later text; an empty text removes it."""
    h = app.provisioning.handle("shop")
    ann = h.read_sync("id", lambda c: directory.get_user(c, "ann@shop.example")["id"])
    h.write_sync("sign", lambda c: signatures.set_signature(c, ann, "Ann@Shop.example", "Ann"))
    h.write_sync("sign", lambda c: signatures.set_signature(c, ann, "ann@shop.example", "Ann, Shop"))
    h.write_sync("sign", lambda c: signatures.set_signature(c, ann, "sales@shop.example", "Sales"))
    assert h.read_sync("read", lambda c: signatures.signatures(c, ann)) == {
        "ann@shop.example": "Ann, Shop", "sales@shop.example": "Sales"}
    h.write_sync("unsign", lambda c: signatures.set_signature(c, ann, "sales@shop.example", ""))
    assert h.read_sync("read", lambda c: signatures.signatures(c, ann)) == {"ann@shop.example": "Ann, Shop"}
