"""Regression tests for IMAP commands that froze the daemon's event loop
(#24): LIST patterns whose matcher backtracked, and FETCH of thousands of
header field names over every message. Each reproduces the attack over a
real socket while DNS and SMTP are probed from other connections."""

from __future__ import annotations

import itertools
import re
import time

from protocols.imap.fetch import MAX_HEADER_FIELDS
from protocols.imap.mailboxes import match_pattern

from . import probes
from .conftest import message

#: A name the backtracking matcher took about a second per LIST to refuse.
LONG_NAME = "a" * 34


def _lister(env, address: str, pattern: bytes, counter=itertools.count()):
    raw = env.raw()
    raw.login(address)

    def attack() -> None:
        tag = b"l%d" % next(counter)
        raw.send(tag + b' LIST "" "' + pattern + b'"\r\n')
        lines = raw.until(tag)
        assert lines[-1].startswith(tag + b" OK"), lines[-1]
        assert not any(b"LIST" in line and LONG_NAME.encode() in line for line in lines[:-1])

    return raw, attack


def test_list_pattern_with_many_wildcards_does_not_freeze_the_loop(env):
    """``LIST "" "*%*%*%*%x"`` against a long mailbox name answers at once,
    and DNS and SMTP answer within 100 ms while it is sent again and again."""
    address = env.user()
    conn = env.connect(address)
    assert conn.create(LONG_NAME)[0] == "OK"
    conn.logout()
    raw, attack = _lister(env, address, b"*%*%*%*%x")
    try:
        result = probes.while_running(env.daemon, attack)
        result.assert_answering()
    finally:
        raw.close()


def test_list_pattern_with_twelve_wildcards_answers_quickly(env):
    """Twelve and more wildcards (minutes for the old matcher) cost
    milliseconds; a 100-wildcard pattern too."""
    address = env.user()
    conn = env.connect(address)
    assert conn.create(LONG_NAME + "/" + LONG_NAME)[0] == "OK"
    conn.logout()
    for pattern in (b"*%" * 6 + b"x", b"%*" * 50 + b"x"):
        raw, attack = _lister(env, address, pattern)
        raw.sock.settimeout(10)
        try:
            start = time.perf_counter()
            attack()
            assert time.perf_counter() - start < 1.0
        finally:
            raw.close()


def test_list_patterns_still_match_as_rfc_3501_says(env):
    """``*`` crosses the hierarchy, ``%`` does not, INBOX in any case."""
    address = env.user()
    conn = env.connect(address)
    for name in ("Work", "Work/2026", "Work/2026/Q1"):
        assert conn.create(name)[0] == "OK"

    def names(pattern: str) -> set[str]:
        typ, data = conn.list('""', pattern)
        assert typ == "OK"
        return {re.search(rb'"/" "?([^"]*)"?$', d).group(1).decode() for d in data if d}

    assert names("Work/%") == {"Work/2026"}
    assert names("Work/*") == {"Work/2026", "Work/2026/Q1"}
    assert names("%/%/%") == {"Work/2026/Q1"}
    assert names("*2026*") == {"Work/2026", "Work/2026/Q1"}
    assert names("inbox") == {"INBOX"}
    assert names("W%k") == {"Work"}
    assert names("W*%*k") == {"Work"}
    conn.logout()


def test_matcher_agrees_with_a_regular_expression():
    """The linear matcher gives the answer the old regular expression gave,
    for every short pattern over a small alphabet."""
    alphabet = "a/*%"
    names = ["", "a", "aa", "a/a", "/a", "a/", "a//a", "aaa/a/aa"]
    for length in range(0, 6):
        for chars in itertools.product(alphabet, repeat=length):
            pattern = "".join(chars)
            regex = re.compile(
                "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in pattern) + r"\Z"
            )
            for name in names:
                assert match_pattern(pattern, name) == bool(regex.match(name)), (pattern, name)


def _fields(n: int) -> bytes:
    return b" ".join(b"X-Field-%d" % i for i in range(n))


def test_fetch_of_too_many_header_fields_is_refused(env):
    """``FETCH 1:* BODY.PEEK[HEADER.FIELDS (5,000 names)]`` gets a BAD that
    names the limit and changes nothing; DNS and SMTP answer meanwhile."""
    address = env.user()
    conn = env.connect(address)
    for n in range(3):
        conn.append("INBOX", None, None, message(f"f{n}"))
    conn.logout()
    raw = env.raw()
    raw.login(address)
    raw.send(b"s SELECT INBOX\r\n")
    raw.until(b"s")
    counter = itertools.count()

    def attack() -> None:
        tag = b"f%d" % next(counter)
        raw.send(tag + b" FETCH 1:* (BODY.PEEK[HEADER.FIELDS (" + _fields(5000) + b")])\r\n")
        assert raw.until(tag) == [tag + b" BAD too many header fields (at most %d)" % MAX_HEADER_FIELDS]

    probes.while_running(env.daemon, attack, window=1.0).assert_answering()
    raw.send(b"g FETCH 1:* (FLAGS)\r\n")
    assert all(b"\\Seen" not in line for line in raw.until(b"g"))
    raw.close()


def test_fetch_of_many_fields_over_many_messages_does_not_freeze_the_loop(env):
    """The largest field list allowed, over 300 messages, again and again:
    DNS and SMTP answer within 100 ms meanwhile, and the answers are right."""
    address = env.user()
    conn = env.connect(address)
    extra = "".join(f"X-Field-{i}: v{i}\r\n" for i in range(0, 40, 7))
    for n in range(300):
        conn.append("INBOX", None, None, message(f"m{n}", extra=extra))
    conn.logout()
    raw = env.raw()
    raw.login(address)
    raw.send(b"s SELECT INBOX\r\n")
    raw.until(b"s")
    counter = itertools.count()
    command = b" FETCH 1:* (BODY.PEEK[HEADER.FIELDS (" + _fields(MAX_HEADER_FIELDS - 1) + b" SUBJECT)])\r\n"

    def attack() -> None:
        tag = b"f%d" % next(counter)
        raw.send(tag + command)
        lines = raw.until(tag)
        assert lines[-1] == tag + b" OK FETCH completed"
        assert sum(1 for line in lines if line.startswith(b"X-Field-35: v35")) == 300

    try:
        result = probes.while_running(env.daemon, attack)
        result.assert_answering()
    finally:
        raw.close()
