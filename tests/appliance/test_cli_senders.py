"""``appliance senders``: the allow and block lists of a business and of one
user, as the operator runs them (add, list, remove, validation, limits)."""

from __future__ import annotations

import sqlite3

import pytest

from tests.appliance.test_cli import assert_refused, business


@pytest.fixture
def acme(cli):
    """Businesses acme (user ann) and beta (user someone)."""
    business(cli)
    business(cli, "beta", "beta.example")
    cli("user", "add", "ann@acme.example")
    cli("user", "add", "someone@beta.example")
    return cli


def entries(cli, *args):
    return [(e["list"], e["entry"], e["kind"]) for e in cli.json("senders", "list", *args)]


def test_add_list_remove_business_and_user(acme):
    """Entries are normalised (case, IDNA, ``*.``), kept per scope with who
    added them and when, listed as text and JSON, and removed."""
    added = acme.json("senders", "add", "acme", "--block", "Spammer@Example.COM")
    assert added["entry"] == "spammer@example.com" and added["added_by"] and added["added"]
    acme("senders", "add", "acme", "--block", "*.Bücher.example")
    acme("senders", "add", "acme", "--allow", "partner.example")
    acme("senders", "add", "acme", "--user", "ann@acme.example", "--allow", "spammer@example.com")
    assert entries(acme, "acme") == [
        ("allow", "partner.example", "domain"),
        ("block", "spammer@example.com", "address"),
        ("block", "xn--bcher-kva.example", "domain"),
    ]
    assert entries(acme, "acme", "--block") == [
        ("block", "spammer@example.com", "address"), ("block", "xn--bcher-kva.example", "domain"),
    ]
    assert entries(acme, "acme", "--user", "ann@acme.example") == [("allow", "spammer@example.com", "address")]
    assert "spammer@example.com" in acme("senders", "list", "acme").stdout
    acme("senders", "remove", "acme", "--block", "SPAMMER@example.com")
    acme("senders", "remove", "acme", "--user", "ann@acme.example", "--allow", "spammer@example.com")
    assert entries(acme, "acme", "--user", "ann@acme.example") == []
    assert [e[1] for e in entries(acme, "acme")] == ["partner.example", "xn--bcher-kva.example"]
    assert entries(acme, "beta") == []


#: Bad entries, another business's user, unknown businesses: what each gets.
BAD = [
    (("senders", "add", "acme", "--block", "not an address"), "neither an address"),
    (("senders", "add", "acme", "--block", "a@b@c.example"), "neither an address"),
    (("senders", "add", "acme", "--block", "localhost"), "neither an address"),
    (("senders", "add", "acme", "--block", "x" * 300 + ".example"), "at most 254 characters"),
    (("senders", "add", "acme", "--block", ""), "enter an address"),
    (("senders", "add", "acme", "--user", "someone@beta.example", "--block", "x.example"), "no user someone@beta.example in business acme"),
    (("senders", "add", "missing", "--block", "x.example"), "no business missing"),
    (("senders", "remove", "acme", "--allow", "x.example"), "x.example is not on the allow list"),
    (("senders", "list", "acme", "--user", "nobody@acme.example"), "no user nobody@acme.example"),
]


def test_bad_input_is_refused(acme):
    """Each of :data:`BAD` gets its one-line error and changes nothing (one
    business for all the cases: every CLI call is a process of its own)."""
    acme("senders", "add", "acme", "--block", "kept.example")
    before = entries(acme, "acme")
    for args, message in BAD:
        proc = acme(*args, check=False)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0 and len(lines) == 1 and message in lines[0], (args, proc.stderr)
    # The lists are all these commands could change.
    assert entries(acme, "acme") == before
    assert entries(acme, "acme", "--user", "ann@acme.example") == []


def test_duplicate_is_refused(acme):
    """An entry already on that list is a clear error; the same entry on the
    other list, or in a user's list, is accepted."""
    acme("senders", "add", "acme", "--block", "x.example")
    assert_refused(acme, "senders", "add", "acme", "--block", "X.example.", message="already on the block list")
    acme("senders", "add", "acme", "--allow", "x.example")
    acme("senders", "add", "acme", "--user", "ann@acme.example", "--block", "x.example")


def test_limits(acme, state_dir):
    """A user's lists hold at most 200 entries, a business's 1,000 (both lists together)."""
    db = sqlite3.connect(state_dir / "tenants" / "acme.sqlite3")
    with db:
        uid = db.execute("SELECT id FROM users WHERE address = 'ann@acme.example'").fetchone()[0]
        db.executemany(
            "INSERT INTO sender_lists (user_id, list, entry, added_by, added) VALUES (?, ?, ?, 'test', '')",
            [(uid, "block" if i % 2 else "allow", f"u{i}.example") for i in range(199)]
            + [(None, "block", f"b{i}.example") for i in range(999)],
        )
    db.close()
    acme("senders", "add", "acme", "--user", "ann@acme.example", "--block", "last.example")
    assert_refused(acme, "senders", "add", "acme", "--user", "ann@acme.example", "--allow", "more.example",
                   message="already hold 200 entries")
    acme("senders", "add", "acme", "--allow", "last.example")
    assert_refused(acme, "senders", "add", "acme", "--block", "more.example", message="already hold 1000 entries")
