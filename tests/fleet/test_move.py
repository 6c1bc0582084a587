"""``appliance tenant move``: the business arrives whole on the other box
(IMAP UIDs and UIDVALIDITY, DAV items and their ETags), the old box
refuses its writes with temporary failures afterwards, and every refusal
by the target leaves the business served, writable, on the old box."""

from __future__ import annotations

import base64
import http.client
import imaplib
import json
import os
import re

import pytest
import requests

from .conftest import PASSWORD, client_context, move


def deliver(box, rcpt: str, subject: str) -> None:
    with box.smtp() as smtp:
        smtp.sendmail("sender@outside.example", [rcpt], f"Subject: {subject}\r\n\r\nbody {subject}\r\n".encode())


def mailbox(box, address: str) -> tuple[str, list[tuple[str, str]]]:
    """(UIDVALIDITY, [(UID, subject)]) of the INBOX."""
    conn = box.imap(address)
    try:
        typ, _ = conn.select("INBOX")
        assert typ == "OK"
        validity = conn.response("UIDVALIDITY")[1][0].decode()
        typ, data = conn.uid("FETCH", "1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        found = []
        for item in data:
            if isinstance(item, tuple):
                uid = re.search(rb"UID (\d+)", item[0]).group(1).decode()
                found.append((uid, item[1].decode().strip()))
        return validity, sorted(found)
    finally:
        conn.logout()


def test_a_moved_business_keeps_its_uids_and_items_and_the_old_box_refuses_writes(fleet):
    """Mail, UIDs, UIDVALIDITY and a DAV item arrive unchanged on box B,
    which serves them at once; box A then answers the business's mail
    451 4.3.2, an IMAP login NO [UNAVAILABLE] and a DAV PUT 307."""
    a, b, token = fleet
    slug, domain, address = a.business()
    for n in range(3):
        deliver(a, address, f"before {n}")
    assert a.put_event(address, "meeting").status_code == 201
    etag = a.put_event(address, "meeting").headers.get("ETag")  # overwrite: 204 and a new ETag
    before = mailbox(a, address)
    assert len(before[1]) == 3

    proc = move(a, b, token, slug)
    assert f"moved {slug} to b.fleet.test" in proc.stdout
    assert "send 100%" in proc.stderr

    assert mailbox(b, address) == before
    got = b.put_event(address, "other")
    assert got.status_code == 201
    reply = requests.get(b.dav_url(address, "meeting.ics"), auth=(address, PASSWORD), timeout=30)
    assert reply.status_code == 200 and reply.headers.get("ETag") == etag
    deliver(b, address, "after")
    assert len(mailbox(b, address)[1]) == 4

    with a.smtp() as smtp:
        smtp.ehlo()
        smtp.mail("sender@outside.example")
        code, text = smtp.rcpt(address)
    assert (code, text.split()[0]) == (451, b"4.3.2")
    try:
        a.imap(address)
    except imaplib.IMAP4.error as exc:
        assert "[UNAVAILABLE]" in str(exc)
    else:
        raise AssertionError("the old box let a moved business's user sign in")
    assert a.put_event(address, "late", allow_redirects=False).status_code == 307


@pytest.mark.parametrize("how,expect", [
    ("token", "refused the API key (401)"),
    ("exists", "already exists here"),
    ("unreachable", "unreachable"),
    ("too-large", "larger than this box takes"),
])
def test_a_refused_move_leaves_the_business_served_and_writable(fleet, how, expect):
    """A wrong key, a business of that name on the target, a target that
    does not answer or a file over its limit: one line saying so, a
    non-zero exit, and the business still takes mail on box A."""
    a, b, token = fleet
    slug, domain, address = a.business()
    if how == "token":
        token = token[:-4] + "xxxx"
    elif how == "exists":
        b.cli("tenant", "add", slug)
    elif how == "too-large":
        # A file past box B's [fleet] max_move_bytes (8 MiB).
        with a.smtp() as smtp:
            for n in range(10):
                # Random, so that no compression makes the file smaller.
                big = base64.encodebytes(os.urandom(760_000)).replace(b"\n", b"\r\n")
                smtp.sendmail("s@outside.example", [address], b"Subject: big\r\n\r\n" + big)
    if how == "unreachable":
        proc = a.cli("tenant", "move", slug, "--to", "https://b.fleet.test:9", "--address", "127.0.0.3",
                     "--token-stdin", input=token + "\n", check=False)
    else:
        proc = move(a, b, token, slug, check=False)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("appliance:")]
    assert len(lines) == 1 and expect in lines[0], proc.stderr
    deliver(a, address, "still here")
    assert "still here" in [s.split(": ", 1)[1] for _, s in mailbox(a, address)[1]]


def put_file(box, slug: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    """A raw PUT /api/v1/moves/<slug> to the box."""
    conn = http.client.HTTPSConnection(box.address, box.daemon.port("https"), context=client_context(), timeout=30)
    try:
        conn.request("PUT", f"/api/v1/moves/{slug}", body=body,
                     headers={"Host": box.host, "Content-Type": "application/vnd.sqlite3", **headers})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read() or b"{}")
    finally:
        conn.close()


@pytest.mark.parametrize("headers,status,code", [
    ({}, 401, "unauthorized"),
    ({"Authorization": "Bearer apk_wrong"}, 401, "unauthorized"),
    ({"Authorization": "TOKEN"}, 422, "invalid_input"),  # no Repr-Digest
    ({"Authorization": "TOKEN", "Repr-Digest": "sha-256=:" + base64.b64encode(b"0" * 32).decode() + ":"},
     422, "invalid_input"),  # not the body's digest
])
def test_a_file_put_without_the_right_key_or_digest_is_refused_and_not_kept(fleet, headers, status, code):
    """The receiving API refuses a file without a valid key (401), without
    Repr-Digest or with another digest (422); nothing is imported and no
    spooled file is left in the businesses' directory."""
    _, b, token = fleet
    headers = {k: v.replace("TOKEN", f"Bearer {token}") for k, v in headers.items()}
    body = b"SQLite format 3\x00" + os.urandom(4096)
    got, answer = put_file(b, "intruder", body, headers)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert not list((b.cli.state / "tenants").glob(".incoming-*"))
    assert "intruder" not in b.cli("tenant", "list").stdout
