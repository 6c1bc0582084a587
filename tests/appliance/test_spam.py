"""What the content scoring makes of rspamd's answers and of the fields a
sender sets, without a server (the exchange itself is tested against a
real rspamd in tests/protocols/smtp/test_spam.py)."""

from __future__ import annotations

import pytest

from appliance import settings
from appliance.errors import ConfigError
from appliance.spam import HAM, JUNK, REJECT, ScanFailed, SpamFilter, _parse_check, strip_spam_fields


def spam_filter(**values) -> SpamFilter:
    return SpamFilter(settings.from_mapping({"rspamd": {"url": "http://127.0.0.1:11333", **values}}).rspamd)


def test_thresholds_are_ours_not_rspamds_action():
    """The decision follows [rspamd] junk_score and reject_score whatever action rspamd names."""
    scanner = spam_filter(junk_score=5, reject_score=10)
    try:
        assert scanner.decide(_parse_check(b'{"score": 4.9, "action": "reject"}')) == HAM
        assert scanner.decide(_parse_check(b'{"score": 5, "action": "no action"}')) == JUNK
        assert scanner.decide(_parse_check(b'{"score": 10.0, "action": "add header"}')) == REJECT
        assert scanner.decide(None) == HAM
    finally:
        scanner.close()


@pytest.mark.parametrize("reply", [b"", b"<html>", b"[]", b'{"score": "NaN"}', b'{"score": "x"}', b'{"action": "reject"}'])
def test_an_unreadable_answer_is_a_failed_scan(reply):
    with pytest.raises(ScanFailed):
        _parse_check(reply)


def test_symbols_are_ranked_and_only_safe_names_kept():
    score = _parse_check(b'{"score": 3, "symbols": {"A": {"score": 1}, "B": {"score": 2.5}, "C\\r\\nX: y": {"score": 9}}}')
    assert score.symbols == ("B", "A")


def test_a_senders_own_spam_fields_are_removed_with_their_continuations():
    raw = b"X-Spam-Status: No,\r\n\tscore=-9\r\nSubject: hi\r\nx-spam: no\r\n\r\nX-Spam: in the body stays\r\n"
    assert strip_spam_fields(raw) == b"Subject: hi\r\n\r\nX-Spam: in the body stays\r\n"


@pytest.mark.parametrize("section, message", [
    ({"url": "https://127.0.0.1:11333"}, "is not http://host:port"),
    ({"url": "http://127.0.0.1"}, "needs a port"),
    ({"junk_score": 20}, "more than reject_score"),
    ({"controller_url": "http://127.0.0.1:11334"}, "password: required"),
    ({"on_failure": "reject"}, "on_failure"),
])
def test_bad_settings_name_the_key(section, message):
    with pytest.raises(ConfigError, match=message):
        settings.from_mapping({"rspamd": section})
