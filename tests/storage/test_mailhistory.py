"""The mail history's index: filled when a body is stored, gone with its
last message, left-out mailboxes skipped, one row per body, and a backfill
of the bodies stored before the index existed."""

from __future__ import annotations

from appliance import mime
from storage import directory, mail, mailhistory, schema
from storage.database import Database

from .bakery import business_file

FROM_CLIENT = (b"From: Carla <Carla@Client.Example>\r\nTo: ann@bakery.appliance.test\r\n"
               b"Reply-To: orders@client.example\r\nSubject: Bread\r\n\r\nTwo loaves please\r\n")
TO_CLIENT = (b"From: ann@bakery.appliance.test\r\nTo: carla@client.example\r\nCc: bob@bakery.appliance.test\r\n"
             b"Subject: Re: Bread\r\n\r\nReady at noon\r\n")


def _users(conn):
    ids = []
    for name in ("ann", "bob"):
        ids.append(directory.add_user(conn, f"{name}@bakery.appliance.test", "x"))
        mail.provision_user(conn, ids[-1])
    return tuple(ids)


def _ids(conn):
    return [directory.get_user(conn, f"{n}@bakery.appliance.test")["id"] for n in ("ann", "bob")]


def _store(conn, raw, user, box="INBOX"):
    return mail.deliver(conn, user, mail.store_body(conn, raw, mime.for_storage(raw)), box)


def test_normal_form_is_lower_case_with_an_a_label_domain():
    """Case, angle brackets and Unicode domains come out in one form; junk is None."""
    assert mailhistory.normal(" <Carla@Client.Example> ") == "carla@client.example"
    assert mailhistory.normal("anne@café.example") == "anne@xn--caf-dma.example"
    assert mailhistory.normal("not an address") is None


def test_stored_messages_are_indexed_and_leave_with_their_last_copy(tmp_path):
    """From, Reply-To, To and Cc are indexed in the storing transaction; the
    viewer's own copy wins; Trash is left out; an expunge removes the rows."""
    with business_file(tmp_path, _users) as db:
        ann, bob = db.read_sync("ids", _ids)
        (inbox, _), (sent, _) = db.write_sync("store", lambda c: (_store(c, FROM_CLIENT, ann),
                                                                   _store(c, TO_CLIENT, ann, "Sent")))
        db.write_sync("bob", lambda c: _store(c, TO_CLIENT, bob))
        rows = db.read_sync("index", lambda c: sorted(tuple(r) for r in c.execute(
            "SELECT address, from_them FROM mail_history")))
        assert ("orders@client.example", 1) in rows and ("carla@client.example", 1) in rows
        assert ("bob@bakery.appliance.test", 0) in rows
        entries, total = db.read_sync("h", lambda c: mailhistory.history(c, ["carla@client.example"], ann, 10, 0))
        assert total == 2
        assert [(e.subject, e.user_id, e.level, e.from_them) for e in entries] == [
            ("Re: Bread", ann, 0, False), ("Bread", ann, 0, True)]
        entries, _ = db.read_sync("h", lambda c: mailhistory.history(c, ["carla@client.example"], bob, 10, 0))
        assert [(e.subject, e.user_id, e.level) for e in entries] == [("Re: Bread", bob, 0), ("Bread", ann, 2)]
        db.write_sync("share", lambda c: mailhistory.set_sharing(c, ann, True))
        entries, _ = db.read_sync("h", lambda c: mailhistory.history(c, ["carla@client.example"], bob, 10, 0))
        assert entries[1].level == 1
        db.write_sync("trash", lambda c: mail.copy_messages(c, ann, inbox, [1], mail.mailbox_id(c, ann, "Trash"),
                                                              move=True))
        entries, total = db.read_sync("h", lambda c: mailhistory.history(c, ["carla@client.example"], ann, 10, 0))
        assert [e.subject for e in entries] == ["Re: Bread"] and total == 1
        db.write_sync("x", lambda c: mail.expunge(c, mail.mailbox_id(c, ann, "Trash"), [1]))
        assert db.read_sync("n", lambda c: c.execute(
            "SELECT count(*) FROM mail_history WHERE address = 'orders@client.example'").fetchone()[0]) == 0


def test_backfill_indexes_bodies_stored_before_the_index(tmp_path):
    """A file migrated without the index gets every old body indexed, in batches."""
    path = tmp_path / "t.sqlite3"
    older = tuple(m for m in schema.TENANT_MIGRATIONS if m is not mailhistory.MIGRATIONS)
    db = Database(path, older)

    def init(conn):
        directory.init_tenant(conn, "bakery", "Bakery", directory.Plan("standard", 10, 1 << 30, 1 << 20, 100),
                              "bakery.appliance.test")
        ann, _ = _users(conn)
        for n in range(7):
            raw = FROM_CLIENT.replace(b"Bread", b"Bread %d" % n)
            parsed = mime.for_storage(raw)
            old = mail.Parsed(parsed.structure, parsed.envelope, parsed.headers)
            mail.deliver(conn, ann, mail.store_body(conn, raw, old))

    db.write_sync("init", init)
    db.close()
    db = Database(path, schema.TENANT_MIGRATIONS)
    try:
        ann, _ = db.read_sync("ids", _ids)
        _, total = db.read_sync("h", lambda c: mailhistory.history(c, ["orders@client.example"], ann, 10, 0))
        assert total == 7
        assert db.write_sync("again", lambda c: mailhistory.backfill(c, batch=3)) == 7
    finally:
        db.close()
