"""Webmail's folders over real HTTPS against the daemon: created, renamed,
subscribed and deleted in the panel, messages copied, Trash and Junk
emptied, and what an IMAP client sees of each change (the same storage
functions as IMAP CREATE, RENAME, DELETE and COPY)."""

from __future__ import annotations

import itertools
import re

import pytest

from storage import mail as maildb

from .conftest import PASSWORD
from .webmail_client import deliver, folder, imap, imap_subjects, inbox, message

_people = itertools.count(1)


@pytest.fixture
def dora(env):
    """A user of acme's made for one test (destructive flows stay off the
    shared users), and her signed-in browser."""
    address = f"folders{next(_people)}@acme.example"
    env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    return address, env.signed_in(address)


def imap_list(env, address: str, command: str = "LIST") -> set[str]:
    """The mailbox names an IMAP client lists (LIST or LSUB)."""
    conn = imap(env, address)
    try:
        _, data = (conn.lsub if command == "LSUB" else conn.list)('""', "*")
        return {re.search(rb'"/" "?(.*?)"?$', line).group(1).decode() for line in data if line}
    finally:
        conn.logout()


def uidvalidity(env, address: str, name: str) -> int:
    conn = imap(env, address)
    try:
        _, data = conn.status(f'"{name}"', "(UIDVALIDITY)")
        return int(re.search(rb"UIDVALIDITY (\d+)", data[0]).group(1))
    finally:
        conn.logout()


def append(env, address: str, name: str, subject: str) -> None:
    conn = imap(env, address)
    try:
        raw = f"From: carol@elsewhere.example\r\nTo: {address}\r\nSubject: {subject}\r\n\r\nKept here.\r\n"
        typ, _ = conn.append(f'"{name}"', None, None, raw.encode())
        assert typ == "OK"
    finally:
        conn.logout()


def create(client, name: str, parent: int | str = "") -> object:
    return client.post("/mail/folders", {"name": name, "parent": str(parent)})


def test_folders_made_in_webmail_are_listed_by_imap_at_the_top_and_inside(env, dora):
    """Dora creates "Clients" and, inside it, "2026": IMAP LIST shows
    "Clients" and "Clients/2026", and the menu links both."""
    address, client = dora
    assert create(client, "Clients").status_code == 303
    assert create(client, "2026", folder(client, "Clients")).status_code == 303
    assert {"Clients", "Clients/2026"} <= imap_list(env, address)
    assert folder(client, "Clients/2026")


def test_a_rename_is_imap_rename(env, dora):
    """Renaming "Clients" to "Customers" renames what is inside too; the
    renamed folder gets a new UIDVALIDITY and the one inside keeps its own,
    exactly as IMAP RENAME does; the messages stay."""
    address, client = dora
    create(client, "Clients")
    create(client, "Clients/2026")
    append(env, address, "Clients/2026", "Kept across")
    before, inner = uidvalidity(env, address, "Clients"), uidvalidity(env, address, "Clients/2026")
    box = folder(client, "Clients")
    assert client.post(f"/mail/{box}/rename", {"name": "Customers", "parent": ""}).status_code == 303
    names = imap_list(env, address)
    assert {"Customers", "Customers/2026"} <= names and not {"Clients", "Clients/2026"} & names
    assert uidvalidity(env, address, "Customers") != before
    assert uidvalidity(env, address, "Customers/2026") == inner
    assert "Kept across" in imap_subjects(env, address, "Customers/2026")


def test_deleting_a_folder_asks_first_and_takes_its_subfolders_and_messages(env, dora):
    """The confirmation page counts the messages of the folder and of the
    one inside it; once confirmed both are gone for IMAP."""
    address, client = dora
    create(client, "Old")
    create(client, "Old/2025")
    append(env, address, "Old", "One")
    append(env, address, "Old/2025", "Two")
    box = folder(client, "Old")
    page = client.get(f"/mail/{box}/delete")
    assert page.status_code == 200
    assert "Messages in it: 2." in page.text and "deleted too with their messages: 1." in page.text
    assert {"Old", "Old/2025"} <= imap_list(env, address)
    assert client.post(f"/mail/{box}/delete", {}).status_code == 303
    assert not {"Old", "Old/2025"} & imap_list(env, address)
    assert client.get(f"/mail/{box}").status_code == 404


@pytest.mark.parametrize("name", ["Inbox", "Sent", "Trash"])
def test_the_special_folders_cannot_be_renamed_or_deleted(env, dora, name):
    """INBOX, Sent and Trash: their page offers no rename or delete, and
    posting one anyway is refused; IMAP still lists them."""
    address, client = dora
    box = folder(client, name)
    page = client.get(f"/mail/{box}/folder").text
    assert "cannot be renamed or deleted" in page and f'action="/mail/{box}/rename"' not in page
    assert client.post(f"/mail/{box}/rename", {"name": "Elsewhere", "parent": ""}).status_code == 400
    assert client.post(f"/mail/{box}/delete", {}).status_code == 400
    assert "cannot be renamed or deleted" in client.get(f"/mail/{box}/delete").text
    names = imap_list(env, address)
    assert {"INBOX", "Sent", "Trash"} <= names and "Elsewhere" not in names


@pytest.mark.parametrize("name", ["a*b", "50%", "back\\slash", "a//b", "../up", "x" * 201, "/lead"])
def test_a_name_imap_refuses_is_refused_beside_the_field(env, dora, name):
    """The names IMAP CREATE refuses are refused with the rule said beside
    the name field, and nothing is created."""
    address, client = dora
    before = imap_list(env, address)
    reply = create(client, name)
    assert reply.status_code == 400
    error = re.search(r'<ul class="errors" id="name-error">(.*?)</ul>', reply.text, re.S)
    assert error and ("without * % \\" in error.group(1).replace("&#34;", '"') or "Too long." in error.group(1)), reply.text
    assert 'aria-describedby="name-error' in reply.text or 'aria-invalid="true"' in reply.text
    assert imap_list(env, address) == before


def test_a_name_in_use_is_refused_beside_the_field(env, dora):
    _, client = dora
    create(client, "Twice")
    reply = create(client, "Twice")
    assert reply.status_code == 400
    assert "A folder with this name exists already." in reply.text


def test_the_folder_limit_is_the_imap_servers(env, dora):
    """With as many folders as a user may have (made over IMAP), one more
    in webmail is refused beside the field; IMAP CREATE refuses it too."""
    address, client = dora
    conn = imap(env, address)
    try:
        count = len(imap_list(env, address))
        i = 0
        while count + maildb.MAX_DEPTH <= maildb.MAX_MAILBOXES:
            deep = "/".join([f"Full{i}"] + [f"l{j}" for j in range(maildb.MAX_DEPTH - 1)])
            assert conn.create(f'"{deep}"')[0] == "OK"
            count, i = count + maildb.MAX_DEPTH, i + 1
        while count < maildb.MAX_MAILBOXES:
            assert conn.create(f'"Last{count}"')[0] == "OK"
            count += 1
        assert conn.create('"OneTooMany"')[0] == "NO"
    finally:
        conn.logout()
    reply = create(client, "OneTooMany")
    assert reply.status_code == 400
    assert f"You have {maildb.MAX_MAILBOXES} folders, as many as you may have." in reply.text
    assert "OneTooMany" not in imap_list(env, address)


def test_copied_messages_are_in_both_folders_with_the_same_body(env, dora):
    address, client = dora
    deliver(env, address, "Copy me", "The very same body.\n")
    box, archive = inbox(client), folder(client, "Archive")
    uid = message(client, box, "Copy me")
    reply = client.post(f"/mail/{box}/act", {"action": "copy", "target": str(archive), "m": str(uid)})
    assert reply.status_code == 303 and reply.headers["location"].endswith("done=copied")
    bodies = []
    conn = imap(env, address)
    try:
        for name in ("INBOX", "Archive"):
            conn.select(name, readonly=True)
            _, found = conn.search(None, 'SUBJECT "Copy me"')
            assert len(found[0].split()) == 1, name
            _, data = conn.fetch(found[0], "(BODY.PEEK[TEXT])")
            bodies.append(data[0][1])
    finally:
        conn.logout()
    assert bodies[0] == bodies[1] and b"The very same body." in bodies[0]


def test_emptying_trash_and_junk_asks_first_and_imap_sees_them_empty(env, dora):
    """A message deleted to Trash and one filed in Junk: each folder's
    confirmation counts its messages, and once emptied IMAP finds none.
    INBOX is not emptied."""
    address, client = dora
    deliver(env, address, "Bin me")
    box = inbox(client)
    client.post(f"/mail/{box}/act", {"action": "delete", "m": str(message(client, box, "Bin me"))})
    append(env, address, "Junk", "Spam")
    for name, imap_name in (("Trash", "Trash"), ("Junk", "Junk")):
        target = folder(client, name)
        assert f'href="/mail/{target}/empty">Empty {name}</a>' in client.get(f"/mail/{target}").text
        page = client.get(f"/mail/{target}/empty")
        assert "Messages deleted for good, for your mail programs too: 1." in page.text
        assert imap_subjects(env, address, imap_name)
        reply = client.post(f"/mail/{target}/empty", {})
        assert reply.status_code == 303
        assert imap_subjects(env, address, imap_name) == {}
    assert client.post(f"/mail/{box}/empty", {}).status_code == 400


def test_unsubscribing_hides_a_folder_from_lsub(env, dora):
    address, client = dora
    create(client, "Quiet")
    box = folder(client, "Quiet")
    assert "Quiet" in imap_list(env, address, "LSUB")
    assert client.post(f"/mail/{box}/subscribe", {"subscribed": "off"}).status_code == 303
    assert "Quiet" not in imap_list(env, address, "LSUB")
    assert "Quiet" in imap_list(env, address)
    assert client.post(f"/mail/{box}/subscribe", {"subscribed": "on"}).status_code == 303
    assert "Quiet" in imap_list(env, address, "LSUB")


def test_another_business_gets_the_404_for_acmes_folders(env, dora):
    """olga (another business) renaming, deleting or emptying one of dora's
    folders by its id gets the page that does not exist; nothing changes."""
    address, client = dora
    create(client, "Private")
    box, trash = folder(client, "Private"), folder(client, "Trash")
    olga = env.signed_in("olga@other.example")
    missing = olga.get("/no/such/page")
    for reply in (olga.get(f"/mail/{box}/folder"), olga.get(f"/mail/{box}/delete"),
                  olga.post(f"/mail/{box}/rename", {"name": "Stolen", "parent": ""}),
                  olga.post(f"/mail/{box}/delete", {}), olga.post(f"/mail/{trash}/empty", {}),
                  olga.post(f"/mail/{box}/subscribe", {"subscribed": "off"})):
        assert reply.status_code == 404 and reply.content == missing.content
    assert "Private" in imap_list(env, address, "LSUB")
    # A parent that is not one of hers is not a choice: nothing is made.
    assert olga.post("/mail/folders", {"name": "Mine", "parent": str(box)}).status_code == 400
    assert "Private/Mine" not in imap_list(env, address)


def test_a_copy_over_the_quota_is_refused_and_copies_nothing(env, dora):
    """With a 1 MB quota, copying a 600 KB message would pass it: the page
    says the mailbox is full and IMAP finds no copy in Archive."""
    address, client = dora
    ann = env.signed_in("ann@acme.example")
    assert ann.post(f"/people/{address}/quota", {"megabytes": "1"}).status_code in (200, 303)
    deliver(env, address, "Big one", "x" * 600_000 + "\n")
    box, archive = inbox(client), folder(client, "Archive")
    reply = client.post(f"/mail/{box}/act", {"action": "copy", "target": str(archive),
                                             "m": str(message(client, box, "Big one"))})
    assert reply.status_code == 400 and "Your mailbox is full; nothing was copied." in reply.text
    assert "Big one" not in imap_subjects(env, address, "Archive")
    assert "Big one" in imap_subjects(env, address, "INBOX")
