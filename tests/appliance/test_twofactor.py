"""TOTP codes and recovery codes (appliance.twofactor), checked against
pyotp's own generator at chosen times."""

from __future__ import annotations

import re

import pyotp

from appliance import twofactor

NOW = 1_800_000_000.0


def test_a_code_of_now_or_of_a_neighbouring_step_is_accepted_once():
    """The step matched is returned; the same code (or an older one) given
    that step back as ``last_step`` is refused."""
    secret = twofactor.new_secret()
    totp = pyotp.TOTP(secret)
    step = totp.timecode(NOW)
    for offset in (-30, 0, 30):
        code = totp.at(NOW + offset)
        assert twofactor.verify(secret, code, None, now=NOW) == step + offset // 30
    assert twofactor.verify(secret, totp.at(NOW), step, now=NOW) is None
    assert twofactor.verify(secret, totp.at(NOW - 30), step, now=NOW) is None
    assert twofactor.verify(secret, totp.at(NOW + 30), step, now=NOW) == step + 1


def test_codes_far_from_now_or_not_six_digits_are_refused():
    secret = twofactor.new_secret()
    totp = pyotp.TOTP(secret)
    assert twofactor.verify(secret, totp.at(NOW - 90), None, now=NOW) is None
    assert twofactor.verify(secret, totp.at(NOW + 90), None, now=NOW) is None
    for bad in ("", "12345", "1234567", "abcdef", "9" * 1000):
        assert twofactor.verify(secret, bad, None, now=NOW) is None
    # Spaces as authenticator apps show them are fine.
    code = totp.at(NOW)
    assert twofactor.verify(secret, f"{code[:3]} {code[3:]}", None, now=NOW) == totp.timecode(NOW)


def test_recovery_codes_are_ten_distinct_codes_hashed_as_typed():
    codes = twofactor.new_recovery_codes()
    assert len(set(codes)) == twofactor.RECOVERY_CODES == 10
    assert all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", c) for c in codes)
    assert twofactor.recovery_hash(codes[0].upper().replace("-", " ")) == twofactor.recovery_hash(codes[0])
    assert twofactor.recovery_hash(codes[0]) != twofactor.recovery_hash(codes[1])


def test_the_qr_code_is_inline_svg_with_a_title_and_the_link_names_the_account():
    uri = twofactor.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "ann@acme.example", "Acme Box")
    assert uri.startswith("otpauth://totp/Acme%20Box:ann%40acme.example?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    svg = twofactor.qr_svg(uri, "Scan me")
    assert svg.startswith("<svg ") and "<title>Scan me</title>" in svg and "<?xml" not in svg
