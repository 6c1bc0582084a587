"""What the webmail tests share: mail delivered over the MX port as
another server sends it, folders and messages found on the pages the way a
person finds them (by name, by subject), and what an IMAP client sees."""

from __future__ import annotations

import email
import email.policy
import imaplib
import re
import smtplib

from .conftest import PASSWORD, _no_verify


def deliver(env, to: str, subject: str, body: str = "Hello.\n", *, raw: bytes | None = None,
            sender: str = "carol@elsewhere.example") -> None:
    """One message to ``to`` over the MX port (``raw`` as given, or a
    plain text one)."""
    if raw is None:
        msg = email.message.EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = f"Carol <{sender}>", to, subject
        msg["Message-ID"] = email.utils.make_msgid(domain="elsewhere.example")
        msg.set_content(body)
        raw = msg.as_bytes()
    with smtplib.SMTP("127.0.0.1", env.daemon.port("smtp"), timeout=30) as smtp:
        smtp.sendmail(sender, [to], raw)


def inbox(client) -> int:
    reply = client.get("/mail")
    assert reply.status_code == 303, reply.status_code
    return int(reply.headers["location"].rsplit("/", 1)[1])


def folder(client, name: str) -> int:
    """The id of the folder the menu names ``name``."""
    page = client.get("/mail").headers["location"]
    text = client.get(page).text
    m = re.search(r'<a href="/mail/(\d+)"[^>]*>' + re.escape(name) + r"[< ]", text)
    assert m, f"no folder {name}"
    return int(m.group(1))


def message(client, box: int, subject: str, query: str = "") -> int:
    """The UID of the message listed under ``subject`` in ``box``."""
    text = client.get(f"/mail/{box}{query}").text
    m = re.search(rf'<a href="/mail/{box}/(\d+)">{re.escape(subject)}</a>', text)
    assert m, f"no message {subject!r} in {box}"
    return int(m.group(1))


def imap(env, address: str) -> imaplib.IMAP4_SSL:
    conn = imaplib.IMAP4_SSL("127.0.0.1", env.daemon.port("imaps"), ssl_context=_no_verify(), timeout=30)
    conn.login(address, PASSWORD)
    return conn


def imap_subjects(env, address: str, mailbox: str) -> dict[str, str]:
    """Subject -> flags of every message in ``mailbox``, over IMAP."""
    conn = imap(env, address)
    try:
        _, count = conn.select(mailbox, readonly=True)
        if count[0] == b"0":
            return {}
        _, data = conn.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out = {}
        for item in data:
            if isinstance(item, tuple):
                flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).decode()
                head = email.message_from_bytes(item[1], policy=email.policy.default)
                out[str(head["subject"])] = flags
        return out
    finally:
        conn.logout()
