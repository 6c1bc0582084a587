"""Message lists, SELECT and SEARCH as their fast paths answer them: the
same bytes as the general FETCH path and as the server answered before
those paths existed (the expected replies below were produced by it)."""

from __future__ import annotations

import re
import sqlite3

from .conftest import message

INTERNAL_DATE = '"02-Jan-2023 09:30:00 +0100"'
LISTING = b"(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"
#: A section that makes the same items go through the general FETCH path.
NO_FIELD = b" BODY.PEEK[HEADER.FIELDS (X-NONE)]"
NO_FIELD_REPLY = b" BODY[HEADER.FIELDS (X-NONE)] {2}\r\n\r\n"

#: Header blocks whose ENVELOPE takes care: encoded words, quoting, groups,
#: missing fields, odd addresses.
TRICKY = [
    # encoded words, a quoted display name with a comma and a backslash
    b'From: "Doe, Jane \\\\ Q." <jane@example.org>\r\n'
    b'To: =?utf-8?q?Andr=C3=A9?= <andre@example.net>, bob@example.com\r\n'
    b'Subject: =?utf-8?b?w4l0w6kgcmVwb3J0?=\r\nDate: Mon, 2 Jan 2023 09:30:00 +0100\r\n'
    b'Message-ID: <a1@example.org>\r\nIn-Reply-To: <a0@example.org>\r\n\r\nbody\r\n',
    # group syntax, Sender and Reply-To, a folded Subject with a quote in it
    b'From: Ann <ann@example.org>\r\nSender: list@example.net\r\nReply-To: replies@example.net\r\n'
    b'To: undisclosed-recipients:;\r\nCc: team: a@example.org, b@example.org;\r\n'
    b'Subject: a "quoted" word\r\n and a folded line\r\nDate: Tue, 3 Jan 2023 10:00:00 -0500\r\n\r\nbody\r\n',
    # an address without a domain and an empty display name
    b'From: "" <nobody>\r\nTo: <@route,@r2:user@example.org>\r\nSubject: \r\nDate: garbage\r\n\r\nbody\r\n',
]
#: No From, Date or Subject; raw 8-bit UTF-8 in a header (its ENVELOPE holds a literal).
EIGHT_BIT = b'To: caf\xc3\xa9 <cafe@example.org>\r\nX-Other: 1\r\n\r\nbody\r\n'

#: ``FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)`` of TRICKY
#: appended with ($Work \\Seen) at INTERNAL_DATE (which the server keeps in UTC).
EXPECTED = [
    (
        b'* 1 FETCH (UID 1 FLAGS ($Work \\Seen) INTERNALDATE "02-Jan-2023 08:30:00 +0000" RFC822.SIZE 255 '
        b'ENVELOPE ("Mon, 2 Jan 2023 09:30:00 +0100" "=?utf-8?b?w4l0w6kgcmVwb3J0?=" (("Doe, Jane \\\\ Q." '
        b'NIL "jane" "example.org")) (("Doe, Jane \\\\ Q." NIL "jane" "example.org")) (("Doe, Jane \\\\ Q.'
        b'" NIL "jane" "example.org")) (("=?utf-8?q?Andr=C3=A9?=" NIL "andre" "example.net") (NIL NIL "bob'
        b'" "example.com")) NIL NIL "<a0@example.org>" "<a1@example.org>"))\r\n'
    ),
    (
        b'* 2 FETCH (UID 2 FLAGS ($Work \\Seen) INTERNALDATE "02-Jan-2023 08:30:00 +0000" RFC822.SIZE 249 '
        b'ENVELOPE ("Tue, 3 Jan 2023 10:00:00 -0500" "a \\"quoted\\" word  and a folded line" (("Ann" NIL '
        b'"ann" "example.org")) ((NIL NIL "list" "example.net")) ((NIL NIL "replies" "example.net")) NIL ('
        b'(NIL NIL "a" "example.org") (NIL NIL "b" "example.org")) NIL NIL NIL))\r\n'
    ),
    (
        b'* 3 FETCH (UID 3 FLAGS ($Work \\Seen) INTERNALDATE "02-Jan-2023 08:30:00 +0000" RFC822.SIZE 88 E'
        b'NVELOPE ("garbage" "" ((NIL NIL "nobody" NIL)) ((NIL NIL "nobody" NIL)) ((NIL NIL "nobody" NIL))'
        b' ((NIL NIL NIL "r2") (NIL NIL "user" "example.org")) NIL NIL NIL NIL))\r\n'
    ),
]


def _tricky_inbox(env, extra: tuple[bytes, ...] = ()):
    address = env.user()
    conn = env.connect(address)
    for raw in TRICKY + list(extra):
        assert conn.append("INBOX", r"(\Seen $Work)", INTERNAL_DATE, raw)[0] == "OK"
    conn.logout()
    raw = env.raw()
    raw.login(address)
    raw.send(b"s SELECT INBOX\r\n")
    raw.until(b"s")
    return address, raw


def _reply(raw, command: bytes) -> bytes:
    raw.send(b"f " + command + b"\r\n")
    lines = raw.until(b"f")
    assert lines[-1].startswith(b"f OK"), lines[-1]
    return b"\r\n".join(lines[:-1]) + b"\r\n"


def test_message_list_is_byte_identical_to_earlier_replies(env):
    """FETCH 1:* of the listing items (the message-list path) answers the
    bytes the server answered before that path, literals included."""
    _, raw = _tricky_inbox(env)
    assert _reply(raw, b"FETCH 1:* " + LISTING) == b"".join(EXPECTED)
    raw.close()


def test_message_list_agrees_with_general_fetch(env):
    """The same items with a section beside them (the general path) give
    the same bytes, with MODSEQ, UID FETCH and CHANGEDSINCE too."""
    _, raw = _tricky_inbox(env, (EIGHT_BIT,))
    for items in (b"(FLAGS ENVELOPE)", b"(ENVELOPE MODSEQ RFC822.SIZE UID INTERNALDATE FLAGS)", b"(FLAGS)"):
        fast = _reply(raw, b"FETCH 1:* " + items)
        general = _reply(raw, b"FETCH 1:* " + items[:-1] + NO_FIELD + b")")
        assert fast.count(b" FETCH (") == len(TRICKY) + 1
        assert general.replace(NO_FIELD_REPLY, b"") == fast
        fast = _reply(raw, b"UID FETCH 2,4 " + items + b" (CHANGEDSINCE 1)")
        general = _reply(raw, b"UID FETCH 2,4 " + items[:-1] + NO_FIELD + b") (CHANGEDSINCE 1)")
        assert fast.count(b" FETCH (") == 2
        assert general.replace(NO_FIELD_REPLY, b"") == fast
    raw.close()


def test_message_list_of_mail_stored_before_envelopes(env):
    """Bodies stored before ENVELOPE was parsed at delivery (NULL in the
    file) are listed with the same bytes, parsed when read."""
    address, raw = _tricky_inbox(env)
    before = _reply(raw, b"FETCH 1:* " + LISTING)
    db = sqlite3.connect(env.daemon.state / "tenants" / "acme.sqlite3")
    with db:
        db.execute(
            "UPDATE bodies SET envelope = NULL, structure = NULL WHERE id IN (SELECT m.body_id FROM messages m"
            " JOIN mailboxes x ON x.id = m.mailbox_id JOIN users u ON u.id = x.user_id"
            " WHERE x.name = 'INBOX' AND u.address = ? AND m.uid IN (1, 3))",
            (address,),
        )
    db.close()
    assert _reply(raw, b"FETCH 1:* " + LISTING) == before == b"".join(EXPECTED)
    raw.close()


def test_select_reports_keywords_and_first_unseen(env):
    """SELECT lists every keyword in use, once, sorted, and UNSEEN names
    the first message without \\Seen; with every message seen, no UNSEEN."""
    address = env.user()
    conn = env.connect(address)
    for flags in (r"(\Seen $Work)", r"(\Seen)", r"(\Flagged zeta $Work)", None, r"(\Seen alpha)"):
        conn.append("INBOX", flags, None, message())
    typ, data = conn.select("INBOX")
    assert typ == "OK" and data == [b"5"]
    flags = conn.response("FLAGS")[1][0]
    assert flags == rb"(\Answered \Flagged \Deleted \Seen \Draft $Work alpha zeta)"
    assert conn.response("UNSEEN")[1] == [b"3"]
    conn.store("1:*", "+FLAGS", r"(\Seen)")
    conn.select("INBOX")
    assert conn.response("UNSEEN")[1] == [None]
    conn.logout()


def test_search_keys_answered_in_sql(env):
    """UID SEARCH over the keys SQLite answers alone gives what the
    messages say (the sets differ, so a wrong key cannot pass)."""
    address = env.user()
    conn = env.connect(address)
    kim, tom = "Kim <kim@example.org>", "Tom <tom@example.net>"
    conn.append("INBOX", r"(\Seen)", '"05-Mar-2024 10:00:00 +0000"', message("Invoice march", sender=kim))
    conn.append("INBOX", None, '"07-Mar-2024 10:00:00 +0000"', message("Lunch", sender=tom))
    conn.append("INBOX", None, '"09-Mar-2024 10:00:00 +0000"', message("Invoice april", sender=tom))
    conn.select("INBOX")

    def search(*keys: str) -> list[int]:
        typ, data = conn.uid("SEARCH", *keys)
        assert typ == "OK"
        return [int(n) for n in data[0].split()]

    assert search("SUBJECT", '"invoice"') == [1, 3]
    assert search("UNSEEN") == [2, 3]
    assert search("SINCE", "07-Mar-2024") == [2, 3]
    assert search("FROM", '"tom"') == [2, 3]
    assert search("FROM", '"tom"', "SUBJECT", "invoice") == [3]
    assert search("OR", "SEEN", "SUBJECT", "lunch") == [1, 2]
    assert search("NOT", "FROM", "kim", "SINCE", "08-Mar-2024") == [3]
    conn.logout()


def test_own_store_is_not_echoed_but_another_sessions_is_reported(env):
    """A session's STORE answers its own FETCH and nothing more on the next
    UID command; a change by another session of the same user is still
    reported there (EXPUNGE/FETCH catch-up, RFC 3501 7.4.1)."""
    address = env.user()
    conn = env.connect(address)
    for n in range(3):
        conn.append("INBOX", None, None, message(f"m{n}"))
    conn.logout()
    a, b = env.raw(), env.raw()
    for c in (a, b):
        c.login(address)
        c.send(b"s SELECT INBOX\r\n")
        c.until(b"s")
    a.send(b"1 UID STORE 1 +FLAGS (\\Seen)\r\n")
    assert a.until(b"1") == [b"* 1 FETCH (UID 1 FLAGS (\\Seen))", b"1 OK STORE completed"]
    a.send(b"2 UID FETCH 2 (FLAGS)\r\n")
    assert a.until(b"2") == [b"* 2 FETCH (UID 2 FLAGS ())", b"2 OK FETCH completed"]
    b.send(b"3 UID STORE 3 +FLAGS (\\Flagged)\r\n")
    b.until(b"3")
    a.send(b"4 UID STORE 2 +FLAGS (\\Seen)\r\n")
    lines = a.until(b"4")
    assert b"* 3 FETCH (UID 3 FLAGS (\\Flagged))" in lines and lines[-1] == b"4 OK STORE completed"
    a.close()
    b.close()
