"""The devices service (``appliance.services.devices``) on a real state
directory: which ports clients are told, and when the Apple profile is
signed or goes out unsigned."""

from __future__ import annotations

import plistlib
import subprocess
from pathlib import Path

import pytest

from appliance import settings
from appliance.app import App
from appliance.errors import NotFound
from appliance.services.devices import Devices


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({"web": {"advertise_https": 443}}), tmp_path / "state")
    a.core.businesses.create("shop", "Shop", "shop.example", actor="cli")
    a.core.people.add("ann@shop.example", "a long secret", "Ann", actor="cli")
    yield a
    a.close()


def test_the_ports_told_are_advertised_then_bound_then_configured(app):
    """An ``advertise_*`` port wins; else the port really bound; else the
    configured one - for the panel's pages and the autoconfig alike."""
    listen = app.settings.listen
    assert app.core.devices.endpoints().ports() == {
        "imaps": listen.imaps, "submissions": listen.submissions, "submission": listen.submission, "https": 443}
    app.add_listener("imaps", "127.0.0.1", 40993)
    app.add_listener("https", "127.0.0.1", 40443)
    ends = app.core.devices.endpoints()
    assert (ends.imaps, ends.https) == (40993, 443)
    assert ends.dav_url == "https://box.appliance.test/dav/"
    assert app.core.devices.profile_url("ann@shop.example") == (
        "https://shop.example/.well-known/appliance/apple.mobileconfig?email=ann%40shop.example")


def test_the_profile_goes_out_unsigned_when_the_box_certificate_cannot_be_read(app, tmp_path):
    """With no readable certificate and key the profile is the bare plist
    (the phone will say "Not Verified", and the pages say so); with the
    box's own it is signed."""
    missing = Devices(app.core.stores, {}, lambda: (tmp_path / "none.crt", tmp_path / "none.key"))
    profile = missing.profile("ann@shop.example")
    assert not profile.signed
    assert plistlib.loads(profile.body)["PayloadContent"][0]["EmailAddress"] == "ann@shop.example"
    assert missing.for_user("shop", "ann@shop.example").profile_signature == "unsigned"
    signed = app.core.devices.profile("ann@shop.example")
    assert signed.signed and not signed.body.startswith(b"<?xml")
    assert app.core.devices.for_user("shop", "ann@shop.example").profile_signature == "self-signed"


def test_a_key_that_is_not_the_certificates_leaves_the_profile_unsigned(app, tmp_path):
    """A box key that does not match its certificate would make a signature
    no phone verifies: the profile goes out unsigned instead."""
    cert, _ = app.certificate_files()
    other = tmp_path / "other.key"
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(other)], check=True)
    profile = Devices(app.core.stores, {}, lambda: (Path(cert), other)).profile("ann@shop.example")
    assert not profile.signed and profile.body.startswith(b"<?xml")


def test_a_profile_only_for_an_active_user_of_the_business_asked(app):
    """Another business's host, an unknown address: NotFound, nothing built."""
    app.core.businesses.create("other", "Other", "other.example", actor="cli")
    with pytest.raises(NotFound):
        app.core.devices.profile("ann@shop.example", "other")
    with pytest.raises(NotFound):
        app.core.devices.profile("nobody@shop.example", "shop")
    with pytest.raises(NotFound):
        app.core.devices.for_user("other", "ann@shop.example")
