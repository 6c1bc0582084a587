"""The renewal schedule, the status shown, the choice of certificate by
name, and the stored rows (real SQLite files) - without a CA."""

from __future__ import annotations

from pathlib import Path

from appliance.certs.renew import backoff, next_attempt_time, renewal_due, status
from appliance.certs.sni import Held, Selector
from storage import certs as certdb
from storage.database import Database

ISSUED = {"cert_pem": "x", "not_before": 1000.0, "not_after": 1900.0, "renew_at": None}


def test_failure_waits_double_up_to_the_cap() -> None:
    """Consecutive failures wait 1, 2, 4 x the minimum, never more than the maximum."""
    assert [backoff(n, 1, 4) for n in range(1, 6)] == [1, 2, 4, 4, 4]
    assert backoff(60, 60, 86_400) == 86_400


def test_due_at_the_fraction_of_the_lifetime() -> None:
    """Without renewal information a certificate is due at the configured part of its life."""
    assert renewal_due(ISSUED, 2 / 3) == 1600.0


def test_renewal_information_can_only_bring_renewal_forward() -> None:
    """A window from the CA (ARI) earlier than the fraction wins; a later one does not delay renewal."""
    assert renewal_due({**ISSUED, "renew_at": 1200.0}, 2 / 3) == 1200.0
    assert renewal_due({**ISSUED, "renew_at": 1800.0}, 2 / 3) == 1600.0


def test_backoff_holds_back_a_due_certificate() -> None:
    """A due certificate is not tried again before its backoff time."""
    assert next_attempt_time({**ISSUED, "next_attempt": 1700.0}, 2 / 3) == 1700.0
    assert next_attempt_time({"cert_pem": None, "next_attempt": None}, 2 / 3) == 0.0


def test_status_names() -> None:
    """Rows read as pending, failed, valid or expiring."""
    assert status({"cert_pem": None, "last_error": None}, 0.5, now=0) == "pending"
    assert status({"cert_pem": None, "last_error": "CA unreachable"}, 0.5, now=0) == "failed"
    assert status(ISSUED, 0.5, now=1100) == "valid"
    assert status(ISSUED, 0.5, now=1500) == "expiring"
    assert status({**ISSUED, "last_error": "CA unreachable"}, 0.5, now=1500) == "failed"


def test_selection_exact_then_wildcard_then_box() -> None:
    """A name gets the certificate holding it exactly, else its parent's wildcard (one label), else the box's."""
    selector = Selector(lambda: (b"fallback", b"key"), "box.example.net")
    selector.replace([
        Held("example.com", ("example.com", "*.example.com"), b"wild", b"k"),
        Held("shop.example.com", ("shop.example.com",), b"shop", b"k"),
        Held("box.example.net", ("box.example.net",), b"box", b"k"),
    ])
    assert selector.lookup("shop.example.com").held.chain_pem == b"shop"
    assert selector.lookup("WWW.Example.com.").held.chain_pem == b"wild"
    assert selector.lookup("a.b.example.com").held.chain_pem == b"box"
    assert selector.lookup(None).held.chain_pem == b"box"


def test_fallback_when_the_box_has_no_acme_certificate() -> None:
    """Without an issued box certificate the fallback (``[tls]`` or self-signed) is the default."""
    selector = Selector(lambda: (b"fallback", b"key"), "box.example.net")
    selector.replace([Held("example.com", ("example.com",), b"c", b"k")])
    assert selector.lookup("other.example").held.chain_pem == b"fallback"


def test_changed_names_keep_the_certificate_but_become_due(tmp_path: Path) -> None:
    """When the names wanted change, the row keeps serving its certificate but is due at once; unwanted rows go."""
    db = Database(tmp_path / "t.sqlite3", [certdb.MIGRATIONS])
    try:
        db.write_sync("want", lambda c: certdb.want(c, {"a.test": (["a.test"], "dns-01"), "b.test": (["b.test"], "http-01")}))
        db.write_sync("issued", lambda c: certdb.store_issued(
            c, "a.test", ["a.test"], "PEM", "KEY", issuer="CA", not_before=1.0, not_after=2.0, renew_at=1.5))
        db.write_sync("want", lambda c: certdb.want(c, {"a.test": (["a.test", "*.a.test"], "dns-01")}))
        rows = {r["name"]: r for r in db.read_sync("list", certdb.list_certificates)}
    finally:
        db.close()
    assert set(rows) == {"a.test"}
    assert rows["a.test"]["cert_pem"] == "PEM" and rows["a.test"]["renew_at"] == 0
    assert rows["a.test"]["names"] == ["a.test", "*.a.test"]


def test_failures_counted_and_cleared_by_issuance(tmp_path: Path) -> None:
    """Failed attempts are counted with the last error; an issuance clears them."""
    db = Database(tmp_path / "t.sqlite3", [certdb.MIGRATIONS])
    try:
        db.write_sync("want", lambda c: certdb.want(c, {"a.test": (["a.test"], "dns-01")}))
        assert db.write_sync("f", lambda c: certdb.record_failure(c, "a.test", "boom", 10.0)) == 1
        assert db.write_sync("f", lambda c: certdb.record_failure(c, "a.test", "again", 20.0)) == 2
        db.write_sync("issued", lambda c: certdb.store_issued(
            c, "a.test", ["a.test"], "PEM", "KEY", issuer="CA", not_before=1.0, not_after=2.0, renew_at=1.5))
        row = db.read_sync("get", lambda c: certdb.get_certificate(c, "a.test"))
    finally:
        db.close()
    assert (row["attempts"], row["last_error"], row["next_attempt"]) == (0, None, None)
