"""Mail leaving the box: the queue, routes (transport map and MX through
the stub resolver), retries, bounces (DSN), DKIM signatures, the wire format
on the way out, and ``appliance queue``."""

from __future__ import annotations

import email
import email.policy
import json
import smtplib
import uuid

import dkim
import pytest

from tests.conftest import wait_for

from .conftest import PASSWORD, queue_cli, tls_client_context


@pytest.fixture(scope="module", autouse=True)
def mx_records(stub_dns):
    """MX records: mx-routed.test leads to the receiver, deferred.test to a host that is down."""
    stub_dns.add("mx-routed.test. 60 IN MX 10 mx1.mx-routed.test.")
    stub_dns.add("mx1.mx-routed.test. 60 IN A 127.0.0.1")
    stub_dns.add("deferred.test. 60 IN MX 10 mx.deferred.test.")
    stub_dns.add("mx.deferred.test. 60 IN A 127.0.0.2")
    stub_dns.add("nullmx.test. 60 IN MX 0 .")


def send(mta, rcpts: list[str], body: bytes, sender: str = "alice@acme.test") -> None:
    with smtplib.SMTP_SSL("127.0.0.1", mta.port("submissions"), timeout=10, context=tls_client_context()) as client:
        client.login(sender, PASSWORD)
        client.sendmail(sender, rcpts, body)


def message(tag: str, to: str, sender: str = "alice@acme.test", body: str = "hello") -> bytes:
    return f"From: Alice <{sender}>\r\nTo: {to}\r\nSubject: {tag}\r\n\r\n{body}\r\n".encode()


def received(mta, tag: str) -> list:
    return [m for m in mta.remote.messages if tag.encode() in m.data]


def queue(mta) -> list[dict]:
    proc = queue_cli(mta, "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_remote_message_arrives_dkim_signed(mta):
    """A submitted message reaches the remote server with a DKIM signature that verifies with the published key."""
    tag = uuid.uuid4().hex
    send(mta, ["friend@remote.test"], message(tag, "friend@remote.test"))
    got = wait_for(lambda: received(mta, tag))[0]
    assert got.mail_from == "alice@acme.test" and got.rcpt_tos == ["friend@remote.test"]
    conn = mta.tenant_db("acme")
    try:
        row = conn.execute("SELECT selector, public_b64 FROM dkim_keys WHERE domain = 'acme.test'").fetchone()
    finally:
        conn.close()
    published = {f"{row['selector']}._domainkey.acme.test.": f"v=DKIM1; k=rsa; p={row['public_b64']}".encode()}

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        return published.get(name if name.endswith(".") else name + ".")

    assert got.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    assert b"d=acme.test" in got.data.split(b"\r\n\r\n")[0]
    assert dkim.verify(got.data, dnsfunc=dnsfunc)


def test_dkim_key_is_2048_bit_rsa(mta):
    """Each domain of a business got a 2048-bit RSA key when it was added."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    conn = mta.tenant_db("acme")
    try:
        rows = conn.execute("SELECT domain, private_pem FROM dkim_keys ORDER BY domain").fetchall()
    finally:
        conn.close()
    assert [r["domain"] for r in rows] == ["acme.appliance.test", "acme.test"]
    assert all(load_pem_private_key(bytes(r["private_pem"]), None).key_size == 2048 for r in rows)


def test_wire_format_is_crlf_and_dot_stuffed(mta):
    """Lines starting with a dot survive the trip out unchanged (stuffed on the wire, unstuffed there)."""
    tag = uuid.uuid4().hex
    send(mta, ["dots@remote.test"], message(tag, "dots@remote.test", body=".hidden\r\n..two\r\n.\r\nend"))
    got = wait_for(lambda: received(mta, tag))[0]
    assert got.data.endswith(b"\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n")
    assert got.data.count(b"\n") == got.data.count(b"\r\n")


def test_mx_lookup_through_the_configured_resolver(mta):
    """A domain with no transport entry is delivered to its MX host, found through the stub resolver."""
    tag = uuid.uuid4().hex
    send(mta, ["someone@mx-routed.test"], message(tag, "someone@mx-routed.test"))
    got = wait_for(lambda: received(mta, tag))[0]
    assert got.rcpt_tos == ["someone@mx-routed.test"]
    assert ("mx-routed.test", "MX") in mta.dns.queries


def test_retries_while_the_receiver_is_down_then_delivers(mta):
    """While down.test's server is down the message stays queued with an error; once it is up it is delivered."""
    tag = uuid.uuid4().hex
    send(mta, ["later@down.test"], message(tag, "later@down.test"))
    entry = wait_for(lambda: [q for q in queue(mta) if q["attempts"] >= 1 and any(r["address"] == "later@down.test" for r in q["recipients"])])[0]
    assert entry["id"].startswith("acme:") and entry["last_error"]
    mta.down.start()
    wait_for(lambda: [m for m in mta.down.messages if tag.encode() in m.data], timeout=15)
    wait_for(lambda: not any(any(r["address"] == "later@down.test" for r in q["recipients"]) for q in queue(mta)))


def test_permanent_failure_files_a_dsn_in_the_senders_inbox(mta):
    """A 550 from the remote server bounces at once: an RFC 3464 report lands in the sender's INBOX."""
    tag = uuid.uuid4().hex
    send(mta, ["reject-me@remote.test", "fine@remote.test"], message(tag, "reject-me@remote.test"))
    wait_for(lambda: received(mta, tag))
    dsn = wait_for(lambda: [m for m in mta.inbox("alice@acme.test") if b"reject-me@remote.test" in m and b"delivery-status" in m])[0]
    assert b'Content-Type: multipart/report; report-type="delivery-status"' in dsn
    assert b"Final-Recipient: rfc822; reject-me@remote.test\r\nAction: failed\r\nStatus: 5.1.1" in dsn
    assert b"Return-Path: <>" in dsn
    assert tag.encode() in dsn  # the original's headers are attached
    assert b"fine@remote.test" not in dsn.split(b"message/delivery-status")[1].split(b"text/rfc822-headers")[0]


def test_dsn_is_well_formed_mime(mta):
    """The bounce parses as multipart/report with a text part that declares
    its charset and Content-Transfer-Encoding, a message/delivery-status
    part and the original's header as text/rfc822-headers."""
    tag = uuid.uuid4().hex
    send(mta, ["reject-mime@remote.test"], message(tag, "reject-mime@remote.test"))
    raw = wait_for(lambda: [m for m in mta.inbox("alice@acme.test") if b"reject-mime@remote.test" in m and b"delivery-status" in m])[0]
    dsn = email.message_from_bytes(raw, policy=email.policy.SMTP)
    assert (dsn.get_content_type(), dsn.get_param("report-type")) == ("multipart/report", "delivery-status")
    text, status, headers = dsn.get_payload()
    assert (text.get_content_type(), text.get_content_charset(), text["Content-Transfer-Encoding"]) == ("text/plain", "utf-8", "7bit")
    assert "reject-mime@remote.test" in text.get_content()
    assert status.get_content_type() == "message/delivery-status"
    assert [b["Final-Recipient"] for b in status.get_payload()[1:]] == ["rfc822; reject-mime@remote.test"]
    assert headers.get_content_type() == "text/rfc822-headers" and tag in headers.get_payload()


def test_smtputf8_bounce_uses_utf8_address_types(mta):
    """A message sent with SMTPUTF8 to a UTF-8 address that bounces (550 at
    the far end) gets an RFC 6533 report: message/global-delivery-status
    with "utf-8;" address types and the header as message/global-headers."""
    tag = uuid.uuid4().hex
    rcpt = f"reject-jürgen-{tag[:6]}@remote.test"
    with smtplib.SMTP_SSL("127.0.0.1", mta.port("submissions"), timeout=10, context=tls_client_context()) as client:
        client.login("alice@acme.test", PASSWORD)
        client.sendmail("alice@acme.test", [rcpt], message(tag, rcpt), mail_options=["SMTPUTF8"])
    raw = wait_for(lambda: [m for m in mta.inbox("alice@acme.test") if rcpt.encode() in m and b"global-delivery-status" in m], timeout=20)[0]
    dsn = email.message_from_bytes(raw, policy=email.policy.SMTPUTF8)
    assert dsn.get_param("report-type") == "global-delivery-status"
    text, status, headers = dsn.get_payload()
    assert text["Content-Transfer-Encoding"] == "quoted-printable" and rcpt in text.get_content()
    assert status.get_content_type() == "message/global-delivery-status"
    assert f"Final-Recipient: utf-8; {rcpt}\r\nAction: failed\r\nStatus: 5.1.1".encode() in raw
    assert headers.get_content_type() == "message/global-headers"


def test_null_mx_bounces(mta):
    """A domain with a null MX (RFC 7505) bounces with 5.1.10 without a connection attempt."""
    tag = uuid.uuid4().hex
    send(mta, ["x@nullmx.test"], message(tag, "x@nullmx.test"))
    dsn = wait_for(lambda: [m for m in mta.inbox("alice@acme.test") if b"x@nullmx.test" in m and b"Status: 5.1.10" in m])
    assert dsn


def test_local_recipient_of_a_submission_is_delivered_directly(mta):
    """Submitted mail for a hosted address goes straight into that INBOX, not through the queue."""
    tag = uuid.uuid4().hex
    send(mta, ["carol@globex.test"], message(tag, "carol@globex.test"))
    stored = [m for m in mta.inbox("carol@globex.test") if tag.encode() in m]
    assert len(stored) == 1
    assert not any(tag in json.dumps(q) for q in queue(mta))


def test_looping_message_is_refused(mta):
    """A submitted message that already carries 51 Received headers is refused 554 5.4.6."""
    hops = "".join(f"Received: from hop{i}.test by hop{i + 1}.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n" for i in range(51))
    with smtplib.SMTP_SSL("127.0.0.1", mta.port("submissions"), timeout=10, context=tls_client_context()) as client:
        client.login("alice@acme.test", PASSWORD)
        client.mail("alice@acme.test")
        client.rcpt("x@remote.test")
        code, text = client.data((hops + "From: alice@acme.test\r\nSubject: loop\r\n\r\nx\r\n").encode())
    assert (code, text[:5]) == (554, b"5.4.6")


def test_queue_cli_lists_retries_and_deletes(mta):
    """``appliance queue list --json`` shows a deferred message; retry makes it due; delete removes it."""
    tag = uuid.uuid4().hex
    send(mta, ["stuck@deferred.test"], message(tag, "stuck@deferred.test"))
    entry = wait_for(lambda: [q for q in queue(mta) if any(r["address"] == "stuck@deferred.test" for r in q["recipients"])])[0]
    assert entry["business"] == "acme" and entry["from"] == "alice@acme.test"
    assert entry["recipients"][0]["state"] == "queued"
    plain = queue_cli(mta, "list")
    assert entry["id"] in plain.stdout
    assert queue_cli(mta, "retry", entry["id"]).returncode == 0
    assert queue_cli(mta, "delete", entry["id"]).returncode == 0
    assert not [q for q in queue(mta) if q["id"] == entry["id"]]
    bad = queue_cli(mta, "delete", "acme:999999")
    assert bad.returncode == 1 and "no queued message" in bad.stderr


def test_opportunistic_starttls_to_a_server_that_offers_it(mta):
    """A remote server that offers STARTTLS gets the message over TLS (its self-signed certificate is accepted)."""
    tag = uuid.uuid4().hex
    send(mta, ["secure@tls.test"], message(tag, "secure@tls.test"))
    got = wait_for(lambda: [m for m in mta.tls_remote.messages if tag.encode() in m.data])[0]
    assert got.tls


def test_the_mail_services_never_import_a_protocol():
    """appliance.outbound, .delivery and .mailauth import nothing from
    protocols/ (the queue is handed the SMTP client as ``send``)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "appliance"
    for name in ("outbound.py", "delivery.py", "mailauth.py"):
        tree = ast.parse((root / name).read_text())
        imported = [
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert not [m for m in imported if m == "protocols" or m.startswith("protocols.")], name
