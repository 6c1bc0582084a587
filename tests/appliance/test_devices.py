"""The devices service (``appliance.services.devices``) on a real state
directory: which ports clients are told, and with which certificate the
Apple profile is signed, or why it goes out unsigned."""

from __future__ import annotations

import datetime
import plistlib
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance import settings
from appliance.app import App
from appliance.errors import NotFound
from appliance.services.devices import Devices
from storage import certs as certdb


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
        "https://shop.example/.well-known/mail-setup/apple.mobileconfig?email=ann%40shop.example")


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


def test_a_profile_only_for_an_address_of_the_business_asked(app):
    """Another business's host, a domain no one has: NotFound, nothing built;
    an address no user holds at the business's domain gets a profile like
    anyone's (the answer must not tell who exists)."""
    app.core.businesses.create("other", "Other", "other.example", actor="cli")
    with pytest.raises(NotFound):
        app.core.devices.profile("ann@shop.example", "other")
    with pytest.raises(NotFound):
        app.core.devices.profile("ann@nowhere.example", None)
    assert app.core.devices.profile("nobody@shop.example", "shop").signed
    with pytest.raises(NotFound):
        app.core.devices.for_user("other", "ann@shop.example")


def _issued(hostname: str, days: float) -> tuple[str, str, x509.Certificate]:
    """A chain (leaf for ``hostname``, then its CA) and the leaf's key, as
    ACME would store them; valid for ``days`` (negative: expired)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Authority")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=30))
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=20)).not_valid_after(now + datetime.timedelta(days=days))
            .sign(ca_key, hashes.SHA256()))
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return pem(leaf) + pem(ca), key_pem, leaf


def _store(app, chain: str, key: str, leaf: x509.Certificate) -> None:
    app.box.write_sync("test certificate", lambda c: certdb.store_issued(
        c, "box.appliance.test", ["box.appliance.test"], chain, key, issuer="Test Authority",
        not_before=leaf.not_valid_before_utc.timestamp(), not_after=leaf.not_valid_after_utc.timestamp(),
        renew_at=leaf.not_valid_after_utc.timestamp()))


def test_the_certificate_acme_issued_for_the_host_name_signs_with_its_chain(app):
    """Once ACME holds a valid certificate for the box host name, profiles
    are signed with it and carry its chain (so a phone can say Verified);
    an expired one is passed over for the box's own."""
    chain, key, leaf = _issued("box.appliance.test", 60)
    _store(app, chain, key, leaf)
    assert app.core.devices.for_user("shop", "ann@shop.example").profile_signature == "verified"
    body = app.core.devices.profile("ann@shop.example").body
    certs = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-print_certs", "-noout"], input=body,
                           capture_output=True, check=True).stdout.decode()
    assert "Test Authority" in certs and certs.count("subject=") == 2
    done = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-inform", "DER"], input=body, capture_output=True)
    assert done.returncode == 0 and plistlib.loads(done.stdout)["PayloadContent"][0]["EmailAddress"] == "ann@shop.example"
    _store(app, *_issued("box.appliance.test", -1))
    assert app.core.devices.for_user("shop", "ann@shop.example").profile_signature == "self-signed"
