"""Reading receiving domains' MTA-STS records and policies (RFC 8461
sections 3.1, 3.2 and 4.1) as the outbound queue does."""

from __future__ import annotations

import pytest

from appliance.mailpolicy import MtaSts
from appliance.stspolicy import MAX_MX, Policy, PolicyError, mx_matches, parse, txt_id


def test_our_own_policy_reads_back_as_published():
    ours = MtaSts("enforce", ("box.example", "*.mx.example"), 604_800)
    assert parse(ours.text(), ours.id) == Policy(ours.id, "enforce", ("box.example", "*.mx.example"), 604_800)


def test_unknown_keys_are_ignored_and_lf_lines_taken():
    text = "version: STSv1\nmode: testing\nextension: 1\nmx: MX.Example.\nmax_age: 0\n"
    assert parse(text, "a") == Policy("a", "testing", ("mx.example",), 0)


@pytest.mark.parametrize("text, reason", [
    ("mode: enforce\nmx: a.example\nmax_age: 1\n", "version"),
    ("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "version"),
    ("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n", "mode"),
    ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", "max_age"),
    ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5\n", "max_age"),
    ("version: STSv1\nmode: enforce\nmax_age: 86400\n", "mx"),
    ("version: STSv1\nmode enforce\n", "key: value"),
    ("version: STSv1\nmode: enforce\n" + "mx: a.example\n" * (MAX_MX + 1) + "max_age: 1\n", "mx"),
])
def test_a_policy_that_breaks_the_format_is_refused(text, reason):
    with pytest.raises(PolicyError, match=reason):
        parse(text, "x")


def test_mode_none_needs_no_mx():
    assert parse("version: STSv1\nmode: none\nmax_age: 86400\n", "n").mode == "none"


@pytest.mark.parametrize("pattern, host, expected", [
    ("mail.example", "mail.example", True),
    ("mail.example", "MAIL.example.", True),
    ("mail.example", "mx.mail.example", False),
    ("*.example", "mail.example", True),
    ("*.example", "a.b.example", False),
    ("*.example", "example", False),
    ("*.example", ".example", False),
])
def test_mx_patterns(pattern, host, expected):
    assert mx_matches(pattern, host) is expected


@pytest.mark.parametrize("records, expected", [
    (["v=STSv1; id=20160831085700Z;"], "20160831085700Z"),
    (["v=STSv1;id=abc"], "abc"),
    (["v=spf1 -all", "v=STSv1; id=abc"], "abc"),
    (["v=STSv1; id=abc", "v=STSv1; id=def"], None),
    (["v=STSv1; id=has-dash"], None),
    (["v=STSv1; id=" + "a" * 33], None),
    (["v=STSv1"], None),
    ([], None),
])
def test_the_txt_record_names_one_id(records, expected):
    assert txt_id(records) == expected
