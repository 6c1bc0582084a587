"""Regression tests for the defects of Twisted's IMAP4Server that our
subclass fixes, for the limits on every size and count, and for attempts
to reach another user's or another business's mail."""

from __future__ import annotations

import imaplib
import re
import socket

import pytest

from protocols.imap.syntax import MAX_RANGES, Bad, SequenceSet, tokens

from .conftest import PASSWORD, client_context, message


def test_commands_pipelined_after_starttls_are_discarded(env):
    address = env.user()
    raw = env.raw(tls=False)
    # Injected with STARTTLS in one packet, as a man in the middle would.
    raw.send(b"a STARTTLS\r\nb LOGIN " + address.encode() + b' "' + PASSWORD.encode() + b'"\r\nc CAPABILITY\r\n')
    assert raw.line().startswith(b"a OK")
    assert raw.buffer == b""
    raw.sock = client_context().wrap_socket(raw.sock)
    raw.send(b"d CAPABILITY\r\n")
    lines = raw.until(b"d")
    assert not any(l.startswith((b"b ", b"c ")) for l in lines)
    assert b"AUTH=PLAIN" in lines[0]  # still not logged in: the injected LOGIN never ran
    raw.send(b"e SELECT INBOX\r\n")
    assert raw.until(b"e")[-1].startswith(b"e BAD")
    raw.close()


def test_pipelined_commands_run_in_order(env):
    address = env.user()
    conn = env.connect(address)
    for n in range(3):
        conn.append("INBOX", None, None, message(f"p{n}"))
    conn.logout()
    raw = env.raw()
    raw.login(address)
    batch = [b"s SELECT INBOX"]
    for n in range(40):
        batch.append(b"t%d STORE %d FLAGS (kw%d)" % (n, n % 3 + 1, n))
        batch.append(b"f%d FETCH %d (FLAGS)" % (n, n % 3 + 1))
    raw.send(b"\r\n".join(batch) + b"\r\n")
    raw.until(b"s")
    for n in range(40):
        store = raw.until(b"t%d" % n)
        assert store[-1].startswith(b"t%d OK" % n)
        fetched = raw.until(b"f%d" % n)
        assert fetched[-1].startswith(b"f%d OK" % n)
        # Each FETCH sees the STORE sent just before it, not a later one.
        assert b"FLAGS (kw%d)" % n in b" ".join(fetched)
    raw.close()


def test_sequence_sets_are_linear_and_bounded(env):
    uids = list(range(1, 20_001))
    many = ",".join(f"{i}:{i + 1}" for i in range(1, (MAX_RANGES + 10) * 2, 2))
    with pytest.raises(Bad):
        SequenceSet(many)
    overlapping = ",".join(["1:*"] * (MAX_RANGES - 1))
    assert len(SequenceSet(overlapping).uid_indexes(uids)) == 20_000
    address = env.user()
    conn = env.connect(address)
    for n in range(5):
        conn.append("INBOX", None, None, message(f"s{n}"))
    conn.select("INBOX")
    # A 14 KB sequence set: answered like any other.
    long_set = ",".join(str(n) for n in range(1, 3000))
    typ, data = conn.uid("FETCH", long_set, "(FLAGS)")
    assert typ == "OK" and len(data) == 5
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        conn.uid("FETCH", ",".join(str(n) for n in range(1, 12000, 2)), "(FLAGS)")
    assert conn.noop()[0] == "OK"
    conn.logout()


def test_nesting_is_bounded(env):
    with pytest.raises(Bad):
        tokens([b"(" * 10_000 + b")" * 10_000])
    raw = env.raw()
    raw.login(env.user())
    raw.send(b"s SELECT INBOX\r\n")
    raw.until(b"s")
    raw.send(b"a SEARCH " + b"(" * 5000 + b"ALL" + b")" * 5000 + b"\r\n")
    assert raw.until(b"a")[-1].startswith(b"a BAD")
    raw.send(b"b SEARCH NOT NOT NOT NOT NOT NOT NOT NOT ALL\r\n")
    assert raw.until(b"b")[-1].startswith(b"b OK")
    raw.close()


def test_literals_are_bounded(env):
    address = env.user()
    raw = env.raw()
    raw.login(address)
    # Over APPENDLIMIT (1 MiB here): refused before the client sends a byte.
    raw.send(b"a APPEND INBOX {2000000}\r\n")
    assert raw.line().startswith(b"a NO [TOOBIG]")
    # A literal outside APPEND is small by nature.
    raw.send(b"b LIST {100000}\r\n")
    assert raw.line().startswith(b"b NO [TOOBIG]")
    raw.send(b"c NOOP\r\n")
    assert raw.until(b"c")[-1].startswith(b"c OK")
    # LITERAL+ announces octets that follow at once: over the limit, the
    # session ends rather than reading them.
    raw.send(b"d APPEND INBOX {2000000+}\r\n")
    assert raw.line().startswith(b"* BYE")
    raw.close()
    raw = env.raw()
    raw.login(address)
    body = message("literal plus")
    raw.send(b"e APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
    assert raw.until(b"e")[-1].startswith(b"e OK [APPENDUID")
    raw.close()


def test_long_lines_end_the_session(env):
    raw = env.raw()
    raw.send(b"a NOOP " + b"x" * 70_000 + b"\r\n")
    assert raw.line().startswith(b"* BYE")
    with pytest.raises(ConnectionError):
        raw.line()
    raw.close()


def test_mailbox_names_cannot_escape(env):
    address = env.user()
    conn = env.connect(address)
    before = sorted(conn.list()[1])
    for name in ("&AC8-", "&AC8-etc", "a/../b", "..", "a//b", "/INBOX", "a/./b", "&AC4ALg-/x"):
        typ, data = conn.create(f'"{name}"') if " " not in name else conn.create(name)
        assert typ == "NO", name
    for name in ("&AAA-", "&ZZZ"):  # NUL; broken base64
        with pytest.raises(imaplib.IMAP4.error):
            conn.create(f'"{name}"')
    other = env.user()
    for name in (f'"../{other}/INBOX"', f'"{other}/INBOX"', '"../INBOX"', '"INBOX/.."'):
        assert conn.select(name)[0] == "NO"
    assert sorted(conn.list()[1]) == before
    conn.logout()


def test_a_user_cannot_reach_another_users_or_businesses_mail(env):
    ann = env.user("acme.test")
    eve = env.user("other.test")
    bob = env.user("acme.test")
    for owner in (eve, bob):
        c = env.connect(owner)
        c.append("INBOX", None, None, message("secret of " + owner.split("@")[0], body="secret text\r\n"))
        c.create("Private")
        c.logout()
    conn = env.connect(ann)
    conn.select("INBOX")
    assert conn.search(None, "TEXT", "secret") == ("OK", [b""])
    typ, data = conn.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert data == [None]
    names = b" ".join(conn.list('""', "*")[1])
    assert b"Private" not in names and b"other" not in names
    for target in ("Private", f'"{eve}/INBOX"', '"other.test/INBOX"'):
        assert conn.status(target, "(MESSAGES)")[0] == "NO"
        assert conn.append(target, None, None, message("x"))[0] == "NO"
    raw = env.raw()
    import base64

    token = base64.b64encode(eve.encode() + b"\0" + ann.encode() + b"\0" + PASSWORD.encode())
    raw.send(b"a AUTHENTICATE PLAIN " + token + b"\r\n")
    assert raw.until(b"a")[-1].startswith(b"a NO [AUTHORIZATIONFAILED]")
    raw.close()
    conn.logout()
    # And the others still have exactly their own message.
    for owner in (eve, bob):
        c = env.connect(owner)
        c.select("INBOX")
        typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert len([d for d in data if isinstance(d, tuple)]) == 1
        assert owner.split("@")[0].encode() in data[0][1]
        c.logout()


def test_garbage_never_kills_the_daemon(env):
    address = env.user()
    junk = [
        b"\x00\x01\x02\r\n", b"* * *\r\n", b"a UID\r\n", b"a UID FROB 1\r\n", b"a FETCH\r\n",
        b"a SELECT\r\n", b'a SELECT "unterminated\r\n', b"a FETCH 1:* (BODY[)\r\n", b"a FETCH 0 FLAGS\r\n",
        b"a STORE 1 +FLAGS\r\n", b"a SEARCH OR\r\n", b"a SEARCH SINCE notadate\r\n", b"a APPEND\r\n",
        b"a FETCH 1 (BODY[1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22])\r\n",
        b"a COPY 1\r\n", b"a ENABLE\r\n", b"a STATUS INBOX\r\n", b"a LIST\r\n", b"a AUTHENTICATE\r\n",
    ]
    raw = env.raw()
    raw.login(address)
    raw.send(b"s SELECT INBOX\r\n")
    raw.until(b"s")
    for line in junk:
        raw.send(line)
        reply = raw.line()
        while reply.startswith(b"* ") and not reply.startswith(b"* BAD"):
            reply = raw.line()
        assert re.match(rb"^(a|\*) (BAD|NO) ", reply), (line, reply)
    raw.send(b"z NOOP\r\n")
    assert raw.until(b"z")[-1].startswith(b"z OK")
    raw.close()
    with socket.create_connection(("127.0.0.1", env.daemon.port("imaps")), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x00\x05hello")  # a broken TLS handshake
    conn = env.connect(address)
    assert conn.noop()[0] == "OK"
    conn.logout()
