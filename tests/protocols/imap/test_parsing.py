"""Messages are parsed before they are stored (by APPEND and delivery, off
the writer thread); a body stored before structures were kept, whose
structure and envelope are NULL, is parsed when a FETCH needs them."""

from __future__ import annotations

import sqlite3

from .conftest import MULTIPART

ITEMS = "(ENVELOPE BODYSTRUCTURE BODY.PEEK[1] BODY.PEEK[2.2] BODY.PEEK[HEADER.FIELDS (SUBJECT)] RFC822.HEADER)"


def test_body_without_stored_structure_is_parsed_when_fetched(env):
    """FETCH of ENVELOPE, BODYSTRUCTURE, parts and header fields answers the
    same for a body whose stored structure and envelope are NULL."""
    address = env.user()
    conn = env.connect(address)
    assert conn.append("INBOX", None, None, MULTIPART + b"\r\nold body\r\n")[0] == "OK"
    conn.select("INBOX")
    typ, fresh = conn.fetch("1", ITEMS)
    assert typ == "OK" and b"Report" in fresh[0][0]
    db = sqlite3.connect(env.daemon.state / "tenants" / "acme.sqlite3", timeout=10)
    with db:
        changed = db.execute(
            "UPDATE bodies SET structure = NULL, envelope = NULL WHERE id = (SELECT max(id) FROM bodies)"
        ).rowcount
    db.close()
    assert changed == 1
    typ, old = conn.fetch("1", ITEMS)
    assert typ == "OK"
    assert old == fresh
    conn.logout()
