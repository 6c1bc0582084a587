"""Which address a message's From gives for the list of senders whose
pictures are shown: its one address, lower-case, or none at all."""

from __future__ import annotations

import pytest

from appliance.webmailpictures import _from_of, from_address


@pytest.mark.parametrize(("value", "address"), [
    ("Flour Weekly <Letters@Flour-Weekly.example>", "letters@flour-weekly.example"),
    ("=?utf-8?q?Fa=C3=A7on?= <news@mill.example>", "news@mill.example"),
    ("news@mill.example", "news@mill.example"),
    # RFC 5322 3.6.2: a From may list several authors; none is "the" sender.
    ("a@mill.example, b@mill.example", ""),
    ("Undisclosed", ""),
    ("", ""),
    (None, ""),
])
def test_the_from_address_is_its_one_address_or_none(value, address):
    """One address, in lower case; several or none give nothing."""
    assert from_address(value) == address


def test_only_the_header_block_is_read():
    """A From line in the body is not the message's From."""
    raw = b"From: news@mill.example\r\nSubject: x\r\n\r\nFrom: other@mill.example\r\n"
    assert _from_of(raw) == "news@mill.example"
    assert _from_of(b"Subject: x\r\n\r\nFrom: other@mill.example\r\n") == ""
