"""The freeze of a business (``appliance tenant freeze``, the first step of
a move) in each protocol: every write is refused with a temporary failure,
reads are served, and after ``appliance tenant thaw`` writes succeed again.
After a move, the old box sends DAV clients to the new one (307) and
refuses logins there temporarily."""

from __future__ import annotations

import imaplib
import smtplib

import dns.message
import dns.query
import requests

from appliance.zones import member_id
from tests.conftest import wait_for

from .conftest import ICS, PASSWORD, client_context, event, move


def test_smtp_answers_451_4_3_2_at_rcpt_while_frozen(fleet):
    """Mail to a frozen business: 451 4.3.2 at RCPT (stored nowhere);
    after the thaw the same message is accepted."""
    a, _, _ = fleet
    slug, domain, address = a.business()
    a.cli("tenant", "freeze", slug, "--to", "b.fleet.test")
    with a.smtp() as smtp:
        smtp.ehlo()
        smtp.mail("sender@outside.example")
        code, text = smtp.rcpt(address)
        assert code == 451 and text.startswith(b"4.3.2"), (code, text)
    a.cli("tenant", "thaw", slug)
    with a.smtp() as smtp:
        assert smtp.sendmail("sender@outside.example", [address], b"Subject: x\r\n\r\nx\r\n") == {}


def test_submission_of_a_frozen_business_is_refused_451(fleet):
    """A user of a frozen business signs in to submission and sends: the
    message is refused 451 4.3.2 (its queue is in the frozen file)."""
    a, _, _ = fleet
    slug, domain, address = a.business()
    a.cli("tenant", "freeze", slug)
    with smtplib.SMTP_SSL(a.address, a.daemon.port("submissions"), context=client_context(), timeout=30) as smtp:
        smtp.login(address, PASSWORD)
        try:
            smtp.sendmail(address, ["someone@outside.example"], f"From: {address}\r\nSubject: x\r\n\r\nx\r\n".encode())
        except smtplib.SMTPDataError as exc:
            assert exc.smtp_code == 451 and exc.smtp_error.startswith(b"4.3.2"), exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients["someone@outside.example"]
            assert code == 451 and text.startswith(b"4.3.2"), exc
        else:
            raise AssertionError("a frozen business's message was accepted")
    a.cli("tenant", "thaw", slug)


def test_imap_refuses_append_and_store_with_unavailable_and_serves_reads(fleet):
    """While frozen, SELECT and FETCH answer as before (a FETCH of BODY[]
    without setting \\Seen); APPEND and STORE get NO [UNAVAILABLE] and
    change nothing; after the thaw both work."""
    a, _, _ = fleet
    slug, domain, address = a.business()
    with a.smtp() as smtp:
        smtp.sendmail("sender@outside.example", [address], b"Subject: one\r\n\r\none\r\n")
    a.cli("tenant", "freeze", slug)
    conn = a.imap(address)
    try:
        assert conn.select("INBOX") == ("OK", [b"1"])
        typ, data = conn.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK" and b"one" in data[0][1]
        typ, data = conn.append("INBOX", None, None, b"Subject: two\r\n\r\ntwo\r\n")
        assert typ == "NO" and data[0].startswith(b"[UNAVAILABLE]"), data
        typ, data = conn.store("1", "+FLAGS", r"(\Flagged)")
        assert typ == "NO" and data[0].startswith(b"[UNAVAILABLE]"), data
        typ, data = conn.fetch("1", "(FLAGS)")
        assert b"\\Flagged" not in data[0]
        # BODY[] (not PEEK) reads the message without setting \Seen.
        typ, data = conn.fetch("1", "(BODY[TEXT])")
        assert typ == "OK" and b"one" in data[0][1]
        assert b"\\Seen" not in conn.fetch("1", "(FLAGS)")[1][0]
        a.cli("tenant", "thaw", slug)
        assert conn.append("INBOX", None, None, b"Subject: two\r\n\r\ntwo\r\n")[0] == "OK"
        assert conn.store("1", "+FLAGS", r"(\Flagged)")[0] == "OK"
    finally:
        conn.logout()


def test_dav_put_is_503_with_retry_after_and_get_is_served(fleet):
    """While frozen, a DAV PUT or DELETE is answered 503 with Retry-After
    and changes nothing; GET serves the item; after the thaw PUT works."""
    a, _, _ = fleet
    slug, domain, address = a.business()
    assert a.put_event(address, "kept").status_code == 201
    a.cli("tenant", "freeze", slug)
    refused = a.put_event(address, "new")
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
    gone = requests.delete(a.dav_url(address, "kept.ics"), auth=(address, PASSWORD), timeout=30)
    assert gone.status_code == 503
    assert requests.get(a.dav_url(address, "kept.ics"), auth=(address, PASSWORD), timeout=30).status_code == 200
    assert requests.get(a.dav_url(address, "new.ics"), auth=(address, PASSWORD), timeout=30).status_code == 404
    a.cli("tenant", "thaw", slug)
    assert a.put_event(address, "new").status_code == 201


def test_after_a_move_the_old_box_redirects_dav_and_refuses_logins_for_now(fleet):
    """Once moved, box A answers a DAV request 307 to the same URL on box
    B, an IMAP login NO [UNAVAILABLE] (the client retries and reaches box
    B once DNS says so), and mail 451 4.3.2."""
    a, b, token = fleet
    slug, domain, address = a.business()
    move(a, b, token, slug)
    reply = requests.put(a.dav_url(address, "late.ics"), data=event("late"), headers=ICS,
                         auth=(address, PASSWORD), timeout=30, allow_redirects=False)
    assert reply.status_code == 307
    assert reply.headers["Location"] == f"https://b.fleet.test/dav/{address}/calendar/late.ics"
    conn = imaplib.IMAP4_SSL(a.address, a.daemon.port("imaps"), ssl_context=client_context(), timeout=30)
    try:
        # imaplib's login() raises on any NO: the raw command keeps the code.
        typ, data = conn._simple_command("LOGIN", address, conn._quote(PASSWORD))
    finally:
        conn.shutdown()
    assert typ == "NO" and data[0].startswith(b"[UNAVAILABLE]"), (typ, data)
    with a.smtp() as smtp:
        smtp.ehlo()
        smtp.mail("sender@outside.example")
        assert smtp.rcpt(address)[0] == 451


def ask(box, name: str, kind: str):
    """One UDP query to the box's DNS listener."""
    query = dns.message.make_query(name, kind)
    return dns.query.udp(query, box.address, port=box.daemon.port("dns"), timeout=5)


def test_after_a_move_its_zone_leaves_the_old_box_and_its_catalog_and_points_to_the_new_box(fleet):
    """Before the move box A answers the business's zone with its own
    address and lists it in its catalog zone (RFC 9432); afterwards box A
    does neither, and box B does both, with box B's address."""
    a, b, token = fleet
    slug, domain, address = a.business()
    member = f"{member_id(domain)}.zones."
    # Box A reloads (and signs) its zones within moments of the new business.
    wait_for(lambda: ask(a, domain, "A").answer and ask(a, member + "a.catalog.invalid", "PTR").answer, timeout=20)
    assert [r.to_text() for r in ask(a, domain, "A").answer[0]] == ["127.0.0.2"]
    move(a, b, token, slug)

    def moved_away() -> bool:
        return not ask(a, member + "a.catalog.invalid", "PTR").answer
    wait_for(moved_away, timeout=10)
    assert not ask(a, domain, "A").answer
    # Box B reloads its zones within a second of the import, like box A.
    wait_for(lambda: ask(b, member + "b.catalog.invalid", "PTR").answer, timeout=10)
    assert [r.to_text() for r in ask(b, member + "b.catalog.invalid", "PTR").answer[0]] == [domain + "."]
    assert [r.to_text() for r in ask(b, domain, "A").answer[0]] == ["127.0.0.3"]
