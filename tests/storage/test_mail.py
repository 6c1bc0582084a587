"""The mail store: default mailboxes, bodies stored once, ascending UIDs
never reused, quota kept by triggers, bodies dropped with their last message."""

from __future__ import annotations

import pytest

from appliance import mime, settings
from appliance.app import App
from appliance.errors import InvalidInput, LimitExceeded, NotFound
from storage import directory, mail

MESSAGE = b"From: a@example.com\r\nTo: ann@shop.example\r\nSubject: Hello\r\nMessage-ID: <1@example.com>\r\n\r\nBody\r\n"


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({"plans": {"tiny": {"mailbox_mb": 1}}}), tmp_path / "state")
    a.provisioning.create_tenant("shop", "Shop", "shop.example")
    a.provisioning.add_user("ann@shop.example", "a long secret")
    a.provisioning.add_user("bob@shop.example", "a long secret")
    yield a
    a.close()


def store(conn, raw: bytes) -> int:
    """A body stored as delivery stores it: parsed by the caller first."""
    return mail.store_body(conn, raw, mime.for_storage(raw))


def uid_of(handle, address):
    return handle.read_sync("id", lambda c: directory.get_user(c, address)["id"])


def test_new_user_gets_the_special_use_mailboxes(app):
    """INBOX plus Sent, Drafts, Trash, Junk, Archive with their SPECIAL-USE attributes."""
    h = app.provisioning.handle("shop")
    ann = uid_of(h, "ann@shop.example")
    boxes = {b["name"]: b["special_use"] for b in h.read_sync("list", lambda c: mail.list_mailboxes(c, ann))}
    assert boxes == {"INBOX": None, "Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk", "Archive": "\\Archive"}


def test_body_delivered_to_two_users_is_stored_once_and_dropped_with_its_last_message(app):
    """One body row serves both recipients; expunging both removes it and the usage."""
    h = app.provisioning.handle("shop")
    ann, bob = uid_of(h, "ann@shop.example"), uid_of(h, "bob@shop.example")

    def deliver(conn):
        body = store(conn, MESSAGE)
        assert store(conn, MESSAGE) == body
        return mail.deliver(conn, ann, body), mail.deliver(conn, bob, body)

    (abox, auid), (bbox, buid) = h.write_sync("deliver", deliver)
    assert auid == buid == 1
    assert h.read_sync("n", lambda c: c.execute("SELECT count(*), sum(refs) FROM bodies").fetchone()[:]) == (1, 2)
    assert h.read_sync("q", lambda c: mail.quota_usage(c, ann))[0] == len(MESSAGE)
    h.write_sync("x", lambda c: mail.expunge(c, abox, [1]))
    h.write_sync("x", lambda c: mail.expunge(c, bbox, [1]))
    assert h.read_sync("n", lambda c: c.execute("SELECT count(*) FROM bodies").fetchone()[0]) == 0
    assert h.read_sync("q", lambda c: mail.quota_usage(c, ann))[0] == 0


def test_uids_ascend_and_are_never_reused(app):
    """After expunging the newest message the next delivery gets a higher UID."""
    h = app.provisioning.handle("shop")
    ann = uid_of(h, "ann@shop.example")

    def put(conn, n):
        return mail.deliver(conn, ann, store(conn, MESSAGE + str(n).encode()))

    box, first = h.write_sync("d", lambda c: put(c, 1))
    _, second = h.write_sync("d", lambda c: put(c, 2))
    h.write_sync("x", lambda c: mail.expunge(c, box, [second]))
    _, third = h.write_sync("d", lambda c: put(c, 3))
    assert first < second < third
    assert [m["uid"] for m in h.read_sync("m", lambda c: mail.messages(c, box))] == [first, third]
    assert h.read_sync("raw", lambda c: mail.fetch_raw(c, box, third)).endswith(b"Body\r\n3")


def test_delivery_over_quota_is_refused_and_leaves_nothing(app):
    """With a 1 MiB plan, a 2 MiB message raises LimitExceeded and stores no body."""
    app.provisioning.set_plan("shop", "tiny")
    h = app.provisioning.handle("shop")
    ann = uid_of(h, "ann@shop.example")
    big = MESSAGE + b"x" * (2 * 2**20)
    with pytest.raises(LimitExceeded):
        h.write_sync("d", lambda c: mail.deliver(c, ann, store(c, big)))
    assert h.read_sync("n", lambda c: c.execute("SELECT count(*) FROM bodies").fetchone()[0]) == 0


def test_removing_a_user_removes_their_mail(app):
    """Deleting a user cascades to mailboxes, messages, usage, and unshared bodies."""
    h = app.provisioning.handle("shop")
    ann = uid_of(h, "ann@shop.example")
    h.write_sync("d", lambda c: mail.deliver(c, ann, store(c, MESSAGE)))
    app.provisioning.remove_user("ann@shop.example")
    counts = h.read_sync("n", lambda c: [c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("mailboxes", "messages", "bodies", "mail_usage")])
    assert counts == [6, 0, 0, 1]  # bob's six mailboxes and his usage row remain


def test_unknown_mailbox_is_not_found(app):
    """Delivering to a mailbox that does not exist raises NotFound (IMAP's TRYCREATE)."""
    h = app.provisioning.handle("shop")
    ann = uid_of(h, "ann@shop.example")
    with pytest.raises(NotFound):
        h.write_sync("d", lambda c: mail.deliver(c, ann, store(c, MESSAGE), mailbox="Nope"))


def test_changes_since_a_modseq_cost_what_changed_and_survive_trimming(app, monkeypatch):
    """A session catching up learns new UIDs, flag changes and expunges; once
    the expunge record is trimmed past its MODSEQ it gets every UID instead."""
    h = app.provisioning.handle("shop")
    ann = uid_of(h, "ann@shop.example")

    def add(n):
        return h.write_sync("d", lambda c: [mail.deliver(c, ann, store(c, MESSAGE + b"%d" % i))[1] for i in range(n)])

    add(5)
    box = h.read_sync("box", lambda c: mail.mailbox(c, ann, "INBOX"))["id"]
    since = h.read_sync("m", lambda c: mail.highest_modseq(c, box))
    assert h.read_sync("c", lambda c: mail.changes(c, box, since, 5)) is None
    h.write_sync("f", lambda c: mail.store_flags(c, box, [2], "+", ["\\seen"]))
    h.write_sync("x", lambda c: mail.expunge(c, box, [3]))
    add(1)
    ch = h.read_sync("c", lambda c: mail.changes(c, box, since, 5))
    assert ch["expunged"] == [3] and ch["new"] == [6] and ch["uids"] is None
    assert (2, "\\Seen", ch["changed"][0][2]) == ch["changed"][0]  # system flags in canonical case
    monkeypatch.setattr(mail, "MAX_TOMBSTONES", 1)
    h.write_sync("x", lambda c: mail.expunge(c, box, [4]))
    h.write_sync("x", lambda c: mail.expunge(c, box, [5]))
    ch = h.read_sync("c", lambda c: mail.changes(c, box, since, 5))
    assert ch["expunged"] is None and ch["uids"] == [1, 2, 6] and ch["new"] == [6]


def test_mailbox_names_are_checked_and_parents_created(app):
    h = app.provisioning.handle("shop")
    ann = uid_of(h, "ann@shop.example")
    for bad in ("", "/x", "x/", "a//b", "a/../b", "..", ".", "a\x00b", "a\nb", "x" * 201, "/".join("a" * 17)):
        with pytest.raises(InvalidInput):
            h.write_sync("c", lambda c, n=bad: mail.create(c, ann, n))
    h.write_sync("c", lambda c: mail.create(c, ann, "Clients/2026/Smith"))
    names = {b["name"] for b in h.read_sync("l", lambda c: mail.mailbox_rows(c, ann))}
    assert {"Clients", "Clients/2026", "Clients/2026/Smith"} <= names
    assert h.write_sync("c", lambda c: mail.check_name("inbox/x")) == "INBOX/x"


def test_bodies_stored_before_0004_move_to_blobs_unparsed(tmp_path):
    """Migration 0004 moves each body's bytes to body_blobs and drops the
    column; a body stored without structure and envelope keeps them NULL
    (storage never parses mail; IMAP parses such a body when it reads it)."""
    import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "old.sqlite3")
    mail.MIGRATIONS.apply(db, stop_before="0004_body_blobs")
    db.execute(
        "INSERT INTO bodies (sha256, size, raw, subject) VALUES ('x', ?, ?, 'Hello')", (len(MESSAGE), MESSAGE)
    )
    db.conn.commit()
    mail.MIGRATIONS.apply(db)
    assert "raw" not in db["bodies"].columns_dict
    body_id, structure, envelope = db.execute("SELECT id, structure, envelope FROM bodies").fetchone()
    assert structure is None and envelope is None
    assert mail.body_raw(db.conn, body_id) == MESSAGE
    db.execute("DELETE FROM bodies WHERE id = ?", (body_id,))
    assert db.execute("SELECT count(*) FROM body_blobs").fetchone()[0] == 0


def test_storage_stores_what_it_is_given_and_parses_nothing(app):
    """store_body keeps the structure, envelope and header fields the
    caller parsed, byte for byte, even where they disagree with the message:
    the parsing is the caller's, done before the write."""
    h = app.provisioning.handle("shop")
    ann = uid_of(h, "ann@shop.example")
    given = mail.Parsed('{"h":0,"b":3,"e":9}', b'("given envelope")', {"subject": "Given", "from": None})

    def deliver(conn):
        return mail.deliver(conn, ann, mail.store_body(conn, MESSAGE, given))

    box, uid = h.write_sync("d", deliver)
    row = h.read_sync("r", lambda c: mail.fetch_rows(c, box, [uid], structure=True, envelope=True, header=True)[0])
    stored = (row["structure"], bytes(row["envelope"]), bytes(row["head"]))
    assert stored == (given.structure, given.envelope, MESSAGE[:3])
    subject, sender = h.read_sync("s", lambda c: c.execute("SELECT subject, from_ FROM bodies").fetchone())
    assert (subject, sender) == ("Given", None)


def test_the_mail_store_imports_no_parser_and_nothing_above_it():
    """storage/mail.py imports nothing from appliance/, protocols/ or
    sitegen/: no MIME parser runs on the writer thread."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(mail.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    ours = {m for m in imported if m.split(".")[0] in ("appliance", "protocols", "sitegen")}
    assert not ours, ours
