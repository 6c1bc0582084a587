"""Conversations in the mail store: each message gets its thread when it is
delivered, from the keys the caller parsed (References root first, then
In-Reply-To and its own Message-ID, then a reply's subject); a copy keeps
its thread; messages stored before threads existed are threaded later."""

from __future__ import annotations

import pytest

from appliance import mime, settings, threadkeys
from appliance.app import App
from storage import directory, mail, mailthreads


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({}), tmp_path / "state")
    a.provisioning.create_tenant("shop", "Shop", "shop.example")
    a.provisioning.add_user("ann@shop.example", "a long secret")
    yield a
    a.close()


def _msg(n: int, subject: str, references: str = "", in_reply_to: str = "") -> bytes:
    head = f"From: a{n}@example.com\r\nTo: ann@shop.example\r\nSubject: {subject}\r\nMessage-ID: <{n}@example.com>\r\n"
    if references:
        head += f"References: {references}\r\n"
    if in_reply_to:
        head += f"In-Reply-To: {in_reply_to}\r\n"
    return (head + f"\r\nBody {n}\r\n").encode()


def _deliver(handle, user, raw: bytes, box: str = "INBOX") -> int:
    def write(conn):
        body = mail.store_body(conn, raw, mime.for_storage(raw))
        box_id, uid = mail.deliver(conn, user, body, box)
        return conn.execute("SELECT thread FROM messages WHERE mailbox_id = ? AND uid = ?", (box_id, uid)).fetchone()[0]

    return handle.write_sync("deliver", write)


@pytest.fixture
def ann(app):
    h = app.provisioning.handle("shop")
    return h, h.read_sync("id", lambda c: directory.get_user(c, "ann@shop.example")["id"])


def test_replies_by_references_join_the_first_message_even_out_of_order(ann):
    """A root, a reply (In-Reply-To) and a reply to the reply (References)
    share a thread; a reply that arrives before its parent is found by the
    parent's id; an unrelated message starts its own."""
    h, user = ann
    root = _deliver(h, user, _msg(1, "Order"))
    assert _deliver(h, user, _msg(2, "Re: Order", in_reply_to="<1@example.com>")) == root
    assert _deliver(h, user, _msg(3, "Re: Order", "<1@example.com> <2@example.com>", "<2@example.com>")) == root
    early = _deliver(h, user, _msg(5, "Re: Flour", "<4@example.com>", "<4@example.com>"))
    assert _deliver(h, user, _msg(4, "Flour")) == early != root
    assert _deliver(h, user, _msg(6, "Something else")) not in (root, early)


def test_a_reply_without_references_joins_by_subject_but_a_new_message_does_not(ann):
    """"RE: AW: Invoice 12" with no References joins "Invoice 12"; a second
    message just called "Invoice 12" starts a new conversation."""
    h, user = ann
    first = _deliver(h, user, _msg(10, "Invoice 12"))
    assert _deliver(h, user, _msg(11, "RE: AW: Invoice 12")) == first
    assert _deliver(h, user, _msg(12, "Invoice 12")) != first


def test_a_copy_keeps_its_thread_and_a_conversation_spans_mailboxes(ann):
    """Copied to Archive, a message keeps its thread; the conversation lists
    it in both mailboxes, oldest first."""
    h, user = ann
    thread = _deliver(h, user, _msg(20, "Crates"))
    _deliver(h, user, _msg(21, "Re: Crates", in_reply_to="<20@example.com>"), "Sent")
    inbox = h.read_sync("box", lambda c: mail.mailbox_id(c, user, "INBOX"))
    archive = h.read_sync("box", lambda c: mail.mailbox_id(c, user, "Archive"))
    uid = h.read_sync("uid", lambda c: c.execute("SELECT uid FROM messages WHERE thread = ? AND mailbox_id = ?",
                                                 (thread, inbox)).fetchone()[0])
    h.write_sync("copy", lambda c: mail.copy_messages(c, user, inbox, [uid], archive))
    rows = h.read_sync("conv", lambda c: mailthreads.conversation(c, user, thread))
    assert [r["mailbox"] for r in rows] == ["INBOX", "Sent", "Archive"]
    total, threads = h.read_sync("page", lambda c: mailthreads.page(c, inbox, 0, 50))
    assert [t["count"] for t in threads if t["thread"] == thread] == [1]


def test_old_messages_without_keys_are_threaded_by_the_backfill(ann):
    """Messages whose bodies were stored before threads existed (no keys,
    no thread) are listed by :func:`mailthreads.unthreaded` with their
    header and threaded by :func:`mailthreads.set_keys` in arrival order."""
    h, user = ann
    for n, subject, refs in ((30, "Oven", ""), (31, "Re: Oven", "<30@example.com>")):
        _deliver(h, user, _msg(n, subject, refs, refs))
    h.write_sync("forget", lambda c: (c.execute("UPDATE messages SET thread = NULL"),
                                      c.execute("UPDATE bodies SET thread_keys = NULL"),
                                      c.execute("DELETE FROM mail_thread_keys")))
    assert h.read_sync("any", lambda c: mailthreads.has_unthreaded(c, user))
    rows = h.read_sync("old", lambda c: mailthreads.unthreaded(c, user, 100))
    found = [(r["id"], r["body_id"], threadkeys.keys(bytes(r["header"]))) for r in rows]
    h.write_sync("fill", lambda c: mailthreads.set_keys(c, user, found))
    assert not h.read_sync("any", lambda c: mailthreads.has_unthreaded(c, user))
    threads = h.read_sync("t", lambda c: [r[0] for r in c.execute("SELECT thread FROM messages ORDER BY id")])
    assert len(set(threads)) == 1


def test_the_conversation_rows_follow_moves_and_expunges(ann):
    """The per-mailbox rows the list pages through (count, newest UID) stay
    what a GROUP BY over the messages says after a move and an expunge,
    and a conversation with no message left in a mailbox leaves its list."""
    h, user = ann
    thread = _deliver(h, user, _msg(40, "Sacks"))
    for n in (41, 42):
        _deliver(h, user, _msg(n, "Re: Sacks", "<40@example.com>", "<40@example.com>"))
    inbox = h.read_sync("box", lambda c: mail.mailbox_id(c, user, "INBOX"))
    archive = h.read_sync("box", lambda c: mail.mailbox_id(c, user, "Archive"))

    def rows(box):
        return h.read_sync("rows", lambda c: [tuple(r) for r in c.execute(
            "SELECT thread, newest, count FROM mail_conversations WHERE mailbox_id = ? ORDER BY thread", (box,))])

    def grouped(box):
        return h.read_sync("group", lambda c: [tuple(r) for r in c.execute(
            "SELECT thread, max(uid), count(*) FROM messages WHERE mailbox_id = ? GROUP BY thread ORDER BY thread", (box,))])

    assert rows(inbox) == grouped(inbox) and (thread, 3, 3) in rows(inbox)
    h.write_sync("move", lambda c: mail.copy_messages(c, user, inbox, [3], archive, move=True))
    assert rows(inbox) == grouped(inbox) == [(thread, 2, 2)]
    assert rows(archive) == grouped(archive) == [(thread, 1, 1)]
    h.write_sync("expunge", lambda c: mail.expunge(c, inbox, [1, 2]))
    assert rows(inbox) == [] and rows(archive) == [(thread, 1, 1)]
