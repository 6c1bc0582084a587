"""What webmail lists: folders with unread counts, special-use first, and a
page of a mailbox newest first read from the index, whatever its size."""

from __future__ import annotations

import time

import pytest

from appliance import mime, settings
from appliance.app import App
from storage import directory, mail, maillist
from storage.errors import NotFound

MESSAGE = b"From: a@example.com\r\nTo: ann@shop.example\r\nSubject: Hello %d\r\n\r\nBody\r\n"
#: Messages in the large mailbox.
LARGE = 20_000


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    app = App(settings.from_mapping({}), tmp_path_factory.mktemp("maillist") / "state")
    app.provisioning.create_tenant("shop", "Shop", "shop.example")
    app.provisioning.add_user("ann@shop.example", "a long secret")
    app.provisioning.add_user("bob@shop.example", "a long secret")
    handle = app.provisioning.handle("shop")
    ann = handle.read_sync("id", lambda c: directory.get_user(c, "ann@shop.example")["id"])
    bodies = [(MESSAGE % n) for n in range(10)]
    parsed = [mime.for_storage(raw) for raw in bodies]

    def fill(conn):
        ids = [mail.store_body(conn, raw, p) for raw, p in zip(bodies, parsed)]
        conn.execute("UPDATE tenant SET mailbox_bytes = 1 << 40")
        for n in range(LARGE):
            mail.deliver(conn, ann, ids[n % 10], flags=("\\Seen",) if n % 3 else ())

    handle.write_sync("fill", fill)
    yield app, handle, ann
    app.close()


def test_a_page_is_the_newest_messages_of_a_large_mailbox_read_from_the_index(shop):
    """Page 1 of 20,000 messages is UIDs 20,000 down to 19,951; SQLite walks
    the (mailbox_id, uid) index backwards for it, with no sort and no scan."""
    _, handle, ann = shop

    def read(conn):
        box = mail.mailbox_id(conn, ann, "INBOX")
        started = time.perf_counter()
        total, rows = maillist.page(conn, box, 0, 50)
        elapsed = time.perf_counter() - started
        plan = " | ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT m.uid FROM messages m JOIN bodies b ON b.id = m.body_id"
            " WHERE m.mailbox_id = ? ORDER BY m.uid DESC LIMIT 50", (box,)))
        return total, rows, elapsed, plan

    total, rows, elapsed, plan = handle.read_sync("page", read)
    assert total == LARGE
    assert [r["uid"] for r in rows] == list(range(LARGE, LARGE - 50, -1))
    assert rows[0]["subject"] == f"Hello {(LARGE - 1) % 10}"
    assert "TEMP B-TREE" not in plan and "INDEX" in plan, plan
    print(f"page of 50 out of {LARGE}: {elapsed * 1000:.1f} ms")


def test_folders_count_unread_and_put_inbox_and_special_use_first(shop):
    """ann's folders: INBOX (a third of 20,000 unread), then Drafts, Sent,
    Archive, Junk, Trash, then her own folders by name."""
    _, handle, ann = shop
    handle.write_sync("create", lambda c: mail.create(c, ann, "Accounts"))
    started = time.perf_counter()
    folders = handle.read_sync("folders", lambda c: maillist.folders(c, ann))
    print(f"folders with unread counts over {LARGE} messages: {(time.perf_counter() - started) * 1000:.1f} ms")
    assert [f["name"] for f in folders] == ["INBOX", "Drafts", "Sent", "Archive", "Junk", "Trash", "Accounts"]
    assert (folders[0]["messages"], folders[0]["unread"]) == (LARGE, len(range(0, LARGE, 3)))


def test_another_users_folder_is_not_found(shop):
    """bob asking for ann's INBOX by its id: NotFound, as for no mailbox."""
    _, handle, ann = shop

    def read(conn):
        bob = directory.get_user(conn, "bob@shop.example")["id"]
        return maillist.folder(conn, bob, mail.mailbox_id(conn, ann, "INBOX"))

    with pytest.raises(NotFound):
        handle.read_sync("folder", read)
