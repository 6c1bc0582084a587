"""IMAP command transcripts with imaplib (and raw bytes where imaplib would
hide the reply): every command the server offers, against a real daemon."""

from __future__ import annotations

import base64
import imaplib
import re

import pytest

from .conftest import MULTIPART, PASSWORD, client_context, message


def assert_bad(call) -> None:
    """imaplib raises on a tagged BAD; the session must go on afterwards."""
    with pytest.raises(imaplib.IMAP4.error, match="BAD"):
        call()


def test_plaintext_port_offers_starttls_and_refuses_login_before_it(env):
    conn = env.plain()
    caps = conn.capabilities
    assert "STARTTLS" in caps and "LOGINDISABLED" in caps and "AUTH=PLAIN" not in caps
    address = env.user()
    typ, data = conn._simple_command("LOGIN", address, '"' + PASSWORD + '"')
    assert typ == "NO" and b"PRIVACYREQUIRED" in data[0]
    conn.starttls(ssl_context=client_context())
    assert "AUTH=PLAIN" in conn.capabilities and "LOGINDISABLED" not in conn.capabilities
    assert conn.login(address, PASSWORD)[0] == "OK"
    conn.logout()


def test_capabilities_after_login(env):
    conn = env.connect(env.user())
    typ, data = conn.capability()
    caps = data[0].split()
    for cap in (b"IMAP4rev1", b"IDLE", b"NAMESPACE", b"UIDPLUS", b"MOVE", b"SPECIAL-USE", b"UNSELECT", b"ID",
                b"ENABLE", b"QUOTA", b"CHILDREN", b"LITERAL+", b"CONDSTORE", b"APPENDLIMIT=1048576"):
        assert cap in caps
    conn.logout()


def test_authenticate_plain_with_and_without_initial_response(env):
    address = env.user()
    token = base64.b64encode(b"\0" + address.encode() + b"\0" + PASSWORD.encode())
    raw = env.raw()
    raw.send(b"a AUTHENTICATE PLAIN " + token + b"\r\n")
    assert raw.until(b"a")[-1].startswith(b"a OK")
    raw.close()
    raw = env.raw()
    raw.send(b"a AUTHENTICATE PLAIN\r\n")
    assert raw.line() == b"+ "
    raw.send(token + b"\r\n")
    assert raw.until(b"a")[-1].startswith(b"a OK")
    raw.close()
    raw = env.raw()
    bad = base64.b64encode(b"\0" + address.encode() + b"\0wrong")
    raw.send(b"a AUTHENTICATE PLAIN " + bad + b"\r\n")
    assert raw.until(b"a")[-1].startswith(b"a NO [AUTHENTICATIONFAILED]")
    raw.close()


def test_wrong_password_and_unknown_user_look_the_same(env):
    address = env.user()
    for user, password in ((address, "wrong"), ("nobody@acme.test", PASSWORD)):
        conn = env.connect()
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            conn.login(user, password)
        conn.logout()


def test_select_reports_every_item(env):
    address = env.user()
    conn = env.connect(address)
    conn.append("INBOX", r"(\Seen)", None, message("one"))
    conn.append("INBOX", None, None, message("two"))
    conn.append("INBOX", "(project-x)", None, message("three"))
    typ, data = conn.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    r = conn.untagged_responses
    assert r["UIDNEXT"] == [b"4"]
    assert r["UNSEEN"] == [b"2"]
    assert r["RECENT"] == [b"0"]
    assert int(r["UIDVALIDITY"][0]) > 0
    assert b"project-x" in r["FLAGS"][0]
    assert r["PERMANENTFLAGS"][0].endswith(b"\\*)")
    assert "READ-WRITE" in r
    typ, data = conn.select("INBOX", readonly=True)
    assert "READ-ONLY" in conn.untagged_responses
    conn.logout()


def test_list_shows_mailbox_attributes_not_message_flags(env):
    conn = env.connect(env.user())
    conn.create("Clients/Smith")
    typ, data = conn.list()
    lines = {re.search(rb'"([^"]*)"$', l).group(1): l for l in data}
    assert set(lines) >= {b"INBOX", b"Sent", b"Drafts", b"Trash", b"Junk", b"Archive", b"Clients", b"Clients/Smith"}
    assert b"\\Sent" in lines[b"Sent"] and b"\\Trash" in lines[b"Trash"] and b"\\Junk" in lines[b"Junk"]
    assert b"\\Drafts" in lines[b"Drafts"] and b"\\Archive" in lines[b"Archive"]
    assert b"\\HasChildren" in lines[b"Clients"] and b"\\HasNoChildren" in lines[b"Clients/Smith"]
    for line in data:
        assert b"\\Seen" not in line and b"\\Deleted" not in line
    typ, data = conn.list('""', "%")
    assert not any(b"Clients/Smith" in l for l in data)
    typ, data = conn._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
    special = conn.untagged_responses.pop("LIST")
    assert len(special) == 5 and not any(b"INBOX" in l for l in special)
    typ, data = conn.list('""', "inbox")
    assert data == [b'(\\HasNoChildren) "/" "INBOX"']
    typ, data = conn.list('""', '""')
    assert data == [b'(\\Noselect) "/" ""']
    conn.logout()


def test_mailbox_management(env):
    conn = env.connect(env.user())
    assert conn.create("Projects")[0] == "OK"
    typ, data = conn.create("Projects")
    assert typ == "NO" and b"ALREADYEXISTS" in data[0]
    conn.create("Projects/2026")
    typ, data = conn.delete("Projects")
    assert typ == "NO" and b"children" in data[0]
    assert conn.rename("Projects", "Done")[0] == "OK"
    names = [l.rsplit(b" ", 1)[1] for l in conn.list()[1]]
    assert b'"Done/2026"' in names and b'"Projects"' not in names
    assert conn.delete("INBOX")[0] == "NO"
    assert conn.delete("Nope")[0] == "NO"
    assert conn.unsubscribe("Done")[0] == "OK"
    subscribed = [l.rsplit(b" ", 1)[1] for l in conn.lsub()[1]]
    assert b'"Done"' not in subscribed and b'"INBOX"' in subscribed
    assert conn.subscribe("Done")[0] == "OK"
    assert b'"Done"' in [l.rsplit(b" ", 1)[1] for l in conn.lsub()[1]]
    assert conn.delete("Done/2026")[0] == "OK" and conn.delete("Done")[0] == "OK"
    # Non-ASCII names travel in modified UTF-7 (RFC 3501 5.1.3).
    assert conn.create("&AMk-t&AOk-")[0] == "OK"
    assert any(b"&AMk-t&AOk-" in l for l in conn.list()[1])
    conn.logout()


def test_rename_inbox_moves_its_messages(env):
    conn = env.connect(env.user())
    conn.append("INBOX", None, None, message("keep me"))
    assert conn.rename("INBOX", "Old")[0] == "OK"
    assert conn.status("INBOX", "(MESSAGES)")[1] == [b'"INBOX" (MESSAGES 0)']
    assert conn.status("Old", "(MESSAGES)")[1] == [b'"Old" (MESSAGES 1)']
    conn.logout()


def test_status(env):
    conn = env.connect(env.user())
    conn.append("Drafts", r"(\Seen)", None, message("a"))
    conn.append("Drafts", None, None, message("b"))
    typ, data = conn.status("Drafts", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT HIGHESTMODSEQ SIZE)")
    assert typ == "OK"
    assert re.match(rb'"Drafts" \(MESSAGES 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 1 RECENT 0 HIGHESTMODSEQ \d+ SIZE \d+\)', data[0])
    assert_bad(lambda: conn.status("Drafts", "(BOGUS)"))
    conn.logout()


def test_append_with_flags_and_date_answers_appenduid(env):
    conn = env.connect(env.user())
    typ, data = conn.append("INBOX", r"(\Flagged $Label1)", '"05-Jan-2026 14:30:00 +0100"', message("dated"))
    assert typ == "OK"
    m = re.match(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert m and m.group(2) == b"1"
    conn.select("INBOX")
    typ, data = conn.fetch("1", "(FLAGS INTERNALDATE)")
    assert b"\\Flagged" in data[0] and b"$Label1" in data[0]
    assert b'INTERNALDATE "05-Jan-2026 13:30:00 +0000"' in data[0]
    assert_bad(lambda: conn.append("INBOX", None, '"31-Foo-2026 14:30:00 +0100"', message("bad date")))
    conn.logout()


def test_append_and_copy_to_missing_mailbox_answer_trycreate(env):
    conn = env.connect(env.user())
    typ, data = conn.append('"Sent Items"', r"(\Seen)", None, message("sent"))
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]")
    conn.append("INBOX", None, None, message("x"))
    conn.select("INBOX")
    typ, data = conn.copy("1", "Nowhere")
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]")
    typ, data = conn.uid("MOVE", "1", "Nowhere")
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]")
    conn.logout()


def test_fetch_items(env):
    conn = env.connect(env.user())
    conn.append("INBOX", None, None, MULTIPART)
    conn.select("INBOX")
    typ, data = conn.fetch("1", "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
    line = data[0]
    assert b"RFC822.SIZE %d" % len(MULTIPART) in line
    assert b'ENVELOPE (NIL "Report" (("Carol" NIL "carol" "example.org"))' in line
    assert (b'BODYSTRUCTURE (("TEXT" "PLAIN" ("charset" "utf-8") NIL NIL "7BIT" 13 1 NIL NIL NIL NIL)'
            b'(("TEXT" "PLAIN" ("charset" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)'
            b'("TEXT" "HTML" ("charset" "us-ascii") NIL NIL "7BIT" 16 1 NIL NIL NIL NIL) "ALTERNATIVE" ("boundary" "b2") NIL NIL NIL)'
            b'("APPLICATION" "PDF" ("name" "r.pdf") NIL NIL "BASE64" 12 NIL ("ATTACHMENT" ("filename" "r.pdf")) NIL NIL)'
            b' "MIXED" ("boundary" "b1") NIL NIL NIL)') in line
    typ, data = conn.fetch("1", "(BODY.PEEK[2.2] BODY.PEEK[1]<0.3> BODY.PEEK[3.MIME] BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])")
    found = b"".join(d[1] for d in data if isinstance(d, tuple))
    assert b"<p>html part</p>" in found and b"See" in found
    assert b"Content-Disposition: attachment" in found
    assert b"Subject: Report\r\nFrom: Carol" in found or b"From: Carol <carol@example.org>\r\nSubject: Report" in found
    typ, data = conn.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]  # PEEK did not set \Seen
    typ, data = conn.fetch("1", "(BODY[TEXT]<0.8>)")
    assert data[0][1] == b"preamble"
    assert b"\\Seen" in data[0][0]  # BODY[] did
    typ, data = conn.fetch("1", "(RFC822.HEADER)")
    assert data[0][1].startswith(b"From: Carol") and data[0][1].endswith(b"\r\n\r\n")
    typ, data = conn.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == MULTIPART
    typ, data = conn.fetch("1", "FAST")
    assert b"INTERNALDATE" in data[0] and b"RFC822.SIZE" in data[0]
    assert conn.fetch("1", "(BODY[999])")[0] == "OK"
    assert_bad(lambda: conn.fetch("2", "(FLAGS)"))  # no such message
    assert_bad(lambda: conn.fetch("1", "(NOSUCHITEM)"))
    conn.logout()


def test_search_keys(env):
    conn = env.connect(env.user())
    conn.append("INBOX", r"(\Seen \Answered)", '"01-Mar-2026 10:00:00 +0000"',
                message("Invoice 42", sender="Acme Billing <billing@vendor.example>", body="Total 100 EUR\r\n",
                        date="Sun, 01 Mar 2026 09:00:00 +0000", extra="X-Priority: 1\r\n"))
    conn.append("INBOX", r"(\Flagged project)", '"15-Jun-2026 10:00:00 +0000"',
                message("Meeting notes", sender="Dave <dave@partner.example>", to="team@acme.test",
                        body="Agenda and minutes\r\n" + "x" * 3000, date="Mon, 15 Jun 2026 09:00:00 +0000"))
    conn.append("INBOX", r"(\Deleted \Draft)", '"20-Nov-2026 10:00:00 +0000"',
                message("=?utf-8?q?Caf=C3=A9_order?=", body="espresso\r\n", date="Fri, 20 Nov 2026 09:00:00 +0000",
                        extra="Cc: carl@acme.test\r\nBcc: hidden@acme.test\r\n"))
    conn.select("INBOX")

    def search(*criteria: str) -> list[int]:
        typ, data = conn.search(None, *criteria)
        assert typ == "OK", data
        return [int(n) for n in data[0].split()]

    assert search("ALL") == [1, 2, 3]
    assert search("SEEN") == [1] and search("UNSEEN") == [2, 3]
    assert search("ANSWERED") == [1] and search("UNANSWERED") == [2, 3]
    assert search("FLAGGED") == [2] and search("UNFLAGGED") == [1, 3]
    assert search("DELETED") == [3] and search("UNDELETED") == [1, 2]
    assert search("DRAFT") == [3] and search("UNDRAFT") == [1, 2]
    assert search("KEYWORD", "project") == [2] and search("UNKEYWORD", "project") == [1, 3]
    assert search("NEW") == [] and search("OLD") == [1, 2, 3] and search("RECENT") == []
    assert search("FROM", "billing") == [1] and search("TO", "team@") == [2]
    assert search("CC", "carl") == [3] and search("BCC", "hidden") == [3]
    assert search("SUBJECT", "invoice") == [1]
    conn.literal = "CAFÉ".encode()  # 8-bit search strings travel as literals
    assert [int(n) for n in conn.search("UTF-8", "SUBJECT")[1][0].split()] == [3]
    assert search("HEADER", "X-Priority", "1") == [1]
    assert search("BODY", "agenda") == [2] and search("TEXT", "espresso") == [3] and search("TEXT", "billing") == [1]
    assert search("LARGER", "2000") == [2] and search("SMALLER", "2000") == [1, 3]
    assert search("BEFORE", "1-Jun-2026") == [1] and search("SINCE", "15-Jun-2026") == [2, 3]
    assert search("ON", "15-Jun-2026") == [2]
    assert search("SENTBEFORE", "2-Mar-2026") == [1] and search("SENTSINCE", "1-Nov-2026") == [3]
    assert search("SENTON", "15-Jun-2026") == [2]
    assert search("NOT", "SEEN") == [2, 3]
    assert search("OR", "FLAGGED", "DRAFT") == [2, 3]
    assert search("(", "SEEN", "ANSWERED", ")") == [1]
    assert search("2:3") == [2, 3] and search("UID", "1,3") == [1, 3] and search("*") == [3]
    assert search("CHARSET", "UTF-8", "SUBJECT", "order") == [3]
    # Keys SQLite answers mixed with keys read from the message bytes.
    assert search("SEEN", "TEXT", "billing") == [1] and search("UNSEEN", "TEXT", "billing") == []
    assert search("OR", "BODY", "agenda", "DELETED") == [2, 3] and search("NOT", "BODY", "agenda") == [1, 3]
    assert search("OR", "SUBJECT", '" order"', "FLAGGED") == [2, 3]  # only in the decoded subject
    assert search("HEADER", "Message-ID", '""') == [1, 2, 3] and search("HEADER", "Message-ID", "nowhere") == []
    many = ",".join(f"{n}:{n}" for n in (1, 3) * 40)  # more ranges than one statement carries
    assert search(many) == [1, 3] and search("UID", many) == [1, 3] and search("NOT", many, "ALL") == [2]
    typ, data = conn.uid("SEARCH", None, "FLAGGED")
    assert data == [b"2"]
    typ, data = conn.search("KOI8-R", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[0]
    assert_bad(lambda: conn.search(None, "BOGUSKEY"))
    assert_bad(lambda: conn.search(None, "OR", "SEEN"))
    conn.logout()


def test_store_variants(env):
    conn = env.connect(env.user())
    for n in range(3):
        conn.append("INBOX", None, None, message(f"m{n}"))
    conn.select("INBOX")
    typ, data = conn.store("1:2", "+FLAGS", r"(\Seen urgent)")
    assert typ == "OK" and len(data) == 2 and b"urgent" in data[0]
    typ, data = conn.store("2", "-FLAGS", "(urgent)")
    assert data == [b"2 (FLAGS (\\Seen))"]
    typ, data = conn.store("3", "FLAGS", r"(\Draft)")
    assert data == [b"3 (FLAGS (\\Draft))"]
    typ, data = conn.store("1", "+FLAGS.SILENT", r"(\Flagged)")
    assert typ == "OK" and data == [None]
    typ, data = conn.uid("STORE", "1", "+FLAGS", r"(\Answered)")
    assert b"UID 1" in data[0]
    assert_bad(lambda: conn.store("1", "+FLAGS", r"(\Recent)"))
    assert_bad(lambda: conn.store("1", "+FLAGS", r"(\Bogus)"))
    conn.select("INBOX", readonly=True)
    typ, data = conn.store("1", "+FLAGS", r"(\Deleted)")
    assert typ == "NO"
    conn.logout()


def test_copy_move_and_uidplus(env):
    conn = env.connect(env.user())
    for n in range(4):
        conn.append("INBOX", None, None, message(f"m{n}"))
    conn.select("INBOX")
    typ, data = conn.copy("1:2", "Archive")
    m = re.search(rb"\[COPYUID (\d+) 1:2 1:2\]", data[0])
    assert typ == "OK" and m
    typ, data = conn.uid("MOVE", "3:4", "Archive")
    assert typ == "OK"
    assert re.search(rb"COPYUID \d+ 3:4 3:4", b" ".join(conn.untagged_responses.get("OK", [])))
    assert conn.untagged_responses.get("EXPUNGE") == [b"3", b"3"]
    assert conn.status("Archive", "(MESSAGES)")[1] == [b'"Archive" (MESSAGES 4)']
    conn.select("INBOX")
    assert conn.response("EXISTS")[1] == [b"2"]
    conn.logout()


def test_expunge_uid_expunge_close_unselect(env):
    address = env.user()
    conn = env.connect(address)
    for n in range(5):
        conn.append("INBOX", None, None, message(f"m{n}"))
    conn.select("INBOX")
    conn.store("1:4", "+FLAGS.SILENT", r"(\Deleted)")
    typ, data = conn.uid("EXPUNGE", "2")
    assert typ == "OK" and conn.untagged_responses.pop("EXPUNGE") == [b"2"]
    typ, data = conn.expunge()
    assert data == [b"1", b"1", b"1"]  # UIDs 1, 3, 4 go; numbers shift down
    conn.store("1", "+FLAGS.SILENT", r"(\Deleted)")
    assert conn.unselect()[0] == "OK"  # no expunge
    assert conn.status("INBOX", "(MESSAGES)")[1] == [b'"INBOX" (MESSAGES 1)']
    conn.select("INBOX")
    assert conn.close()[0] == "OK"  # expunges silently
    assert conn.status("INBOX", "(MESSAGES)")[1] == [b'"INBOX" (MESSAGES 0)']
    conn.logout()
    raw = env.raw()
    raw.login(address)
    raw.send(b"f FETCH 1 (FLAGS)\r\n")
    assert raw.until(b"f")[-1].startswith(b"f BAD")  # nothing selected
    raw.close()


def test_uids_never_reused_and_uidvalidity_stable(env):
    address = env.user()
    conn = env.connect(address)
    conn.append("INBOX", None, None, message("a"))
    conn.append("INBOX", None, None, message("b"))
    conn.select("INBOX")
    validity = conn.untagged_responses["UIDVALIDITY"][0]
    conn.store("2", "+FLAGS.SILENT", r"(\Deleted)")
    conn.expunge()
    typ, data = conn.append("INBOX", None, None, message("c"))
    assert data[0].startswith(b"[APPENDUID " + validity + b" 3]")
    conn.logout()
    env.restart()
    conn = env.connect(address)
    conn.select("INBOX")
    assert conn.untagged_responses["UIDVALIDITY"][0] == validity
    assert conn.untagged_responses["UIDNEXT"] == [b"4"]
    typ, data = conn.uid("FETCH", "1:*", "(UID)")
    assert [re.search(rb"UID (\d+)", d).group(1) for d in data] == [b"1", b"3"]
    conn.logout()


def test_namespace_id_enable_and_condstore(env):
    conn = env.connect(env.user())
    assert conn.namespace()[1] == [b'(("" "/")) NIL NIL']
    typ, data = conn._simple_command("ENABLE", "CONDSTORE")
    assert conn.untagged_responses.pop("ENABLED") == [b"CONDSTORE"]
    conn.append("INBOX", None, None, message("a"))
    conn.append("INBOX", None, None, message("b"))
    assert conn._simple_command("SELECT", "INBOX", "(CONDSTORE)")[0] == "OK"
    conn.state = "SELECTED"  # imaplib only tracks its own select()
    highest = int(conn.untagged_responses["HIGHESTMODSEQ"][0])
    typ, data = conn.store("1", "+FLAGS", r"(\Seen)")
    modseq = int(re.search(rb"MODSEQ \((\d+)\)", data[0]).group(1))
    assert modseq > highest
    typ, data = conn.fetch("1:*", f"(FLAGS) (CHANGEDSINCE {highest})")
    assert len([d for d in data if d]) == 1 and b"MODSEQ" in data[0]
    typ, data = conn._simple_command("STORE", "1:2", f"(UNCHANGEDSINCE {highest})", "+FLAGS", r"(\Flagged)")
    assert typ == "OK" and b"[MODIFIED 1]" in data[0]
    typ, data = conn.search(None, "MODSEQ", str(highest + 1))
    m = re.match(rb"^1 2 \(MODSEQ (\d+)\)$", data[0])
    assert m and int(m.group(1)) > modseq  # message 2's \Flagged came last
    conn.logout()


def test_quota_and_overquota(env):
    address = env.user(quota_mb=1)
    conn = env.connect(address)
    typ, data = conn.getquotaroot("INBOX")
    assert typ == "OK"
    assert data[0] == [b'"INBOX" ""'] and data[1] == [b'"" (STORAGE 0 1024)']
    big = message("big", body="y" * 700_000 + "\r\n")
    assert conn.append("INBOX", None, None, big)[0] == "OK"
    typ, data = conn.append("INBOX", None, None, message("big2", body="z" * 700_000 + "\r\n"))
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]")
    conn.select("INBOX")
    typ, data = conn.copy("1", "Archive")
    assert typ == "NO" and data[0].startswith(b"[OVERQUOTA]")
    assert conn.uid("MOVE", "1", "Archive")[0] == "OK"  # moving costs nothing
    assert conn._simple_command("SETQUOTA", '""', "(STORAGE 99999)")[0] == "NO"
    conn.logout()


def test_idle_sees_append_from_another_session(env):
    address = env.user()
    watcher = env.raw()
    watcher.login(address)
    watcher.send(b"s SELECT INBOX\r\n")
    watcher.until(b"s")
    watcher.send(b"i IDLE\r\n")
    assert watcher.line().startswith(b"+ ")
    other = env.connect(address)
    other.append("INBOX", None, None, message("pushed"))
    assert watcher.line() == b"* 1 EXISTS"
    other.select("INBOX")
    other.store("1", "+FLAGS", r"(\Flagged)")
    assert re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Flagged\)\)", watcher.line())
    other.store("1", "+FLAGS", r"(\Deleted)")
    watcher.line()
    other.expunge()
    assert watcher.line() == b"* 1 EXPUNGE"
    watcher.send(b"DONE\r\n")
    assert watcher.until(b"i")[-1].startswith(b"i OK")
    other.logout()
    watcher.close()


def test_done_sent_with_idle_ends_it(env):
    """A DONE that arrives before IDLE has synced (here in the same packet) ends the IDLE, not the session."""
    address = env.user()
    conn = env.raw()
    conn.login(address)
    conn.send(b"s SELECT INBOX\r\n")
    conn.until(b"s")
    conn.send(b"i IDLE\r\nDONE\r\nn NOOP\r\n")
    assert conn.line().startswith(b"+ ")
    assert conn.until(b"i")[-1].startswith(b"i OK")
    assert conn.until(b"n")[-1].startswith(b"n OK")
    conn.close()


def test_connections_per_user_are_limited(env):
    address = env.user()
    conns = [env.connect(address) for _ in range(8)]
    extra = env.connect()
    with pytest.raises(imaplib.IMAP4.error, match="LIMIT"):
        extra.login(address, PASSWORD)
    conns[0].logout()
    extra2 = env.connect()
    assert extra2.login(address, PASSWORD)[0] == "OK"
    for c in conns[1:] + [extra, extra2]:
        try:
            c.logout()
        except imaplib.IMAP4.error:
            pass


def test_id_and_bad_commands_keep_the_session(env):
    raw = env.raw()
    raw.send(b'a ID ("name" "test" "version" "1")\r\n')
    lines = raw.until(b"a")
    assert lines[0].startswith(b'* ID ("name"') and lines[-1].startswith(b"a OK")
    # The box's brand (here its host name, none being set), never the software's name.
    assert lines[0] == b'* ID ("name" "box.appliance.test")'

    for bad in (b"b FROB\r\n", b"c SELECT INBOX\r\n", b"d LOGIN\r\n", b"+ NOOP\r\n", b"e NOOP ((((\r\n"):
        raw.send(bad)
        assert b" BAD " in raw.line()
    raw.send(b"f NOOP\r\n")
    assert raw.until(b"f")[-1].startswith(b"f OK")
    raw.close()
