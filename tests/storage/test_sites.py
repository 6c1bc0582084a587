"""storage.sites on real SQLite files: versions, path checks, the plan's web
space, deduplicated blobs, gzip variants and what a request path resolves to."""

from __future__ import annotations

import gzip
import sqlite3

import pytest

from appliance.errors import InvalidInput, LimitExceeded, NotFound
from storage import directory, schema, sites
from storage.database import Database

WEB_BYTES = 64 * 1024
PLAN = directory.Plan("standard", 10, 1 << 30, WEB_BYTES, 100)
CSS = b"body { color: #333; margin: 0 auto; }\n" * 40


@pytest.fixture
def db(tmp_path):
    database = Database(tmp_path / "t.sqlite3", schema.TENANT_MIGRATIONS)
    database.write_sync("init", lambda c: directory.init_tenant(c, "bakery", "Bakery", PLAN, "bakery.appliance.test"))
    yield database
    database.close()


def publish(db: Database, files: dict[str, bytes], source: str = "upload", limit: int | None = None) -> int:
    return db.write_sync("publish", lambda c: sites.publish(c, files, limit_bytes=limit, source=source))


def count(db: Database, table: str) -> int:
    return db.read_sync("count", lambda c: c.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_publish_returns_new_versions_and_files_of_gives_the_live_one_back(db):
    """Each publish makes a new, higher version live; files_of returns exactly its files."""
    first = publish(db, {"index.html": b"<h1>one</h1>", "style.css": CSS})
    second = publish(db, {"index.html": b"<h1>two</h1>"}, source="builder")
    assert second > first
    assert db.read_sync("files", sites.files_of) == {"index.html": b"<h1>two</h1>"}
    assert db.read_sync("live", sites.live_version) == second


def test_earlier_versions_are_kept_and_unreferenced_blobs_deleted(db, monkeypatch):
    """Publishing keeps the last KEEP_VERSIONS versions (the live one
    included), newest first; the oldest goes, and with it the contents no
    kept version uses."""
    monkeypatch.setattr(sites, "KEEP_VERSIONS", 2)
    first = publish(db, {"index.html": b"first page", "style.css": CSS})
    second = publish(db, {"index.html": b"second page", "style.css": CSS})
    assert [v["version"] for v in db.read_sync("v", sites.versions)] == [second, first]
    third = publish(db, {"index.html": b"third page", "style.css": CSS})
    kept = db.read_sync("v", sites.versions)
    assert [(v["version"], v["live"]) for v in kept] == [(third, True), (second, False)]
    assert count(db, "site_files") == 4
    assert count(db, "site_blobs") == 3  # "first page" is gone, CSS kept once


def test_earlier_versions_are_dropped_oldest_first_to_stay_within_the_web_space(db):
    """Versions that would together hold more than the plan's web space are
    not kept: the newest earlier ones that fit stay."""
    big = WEB_BYTES // 3
    old = publish(db, {"a.bin": b"\1" * big})
    middle = publish(db, {"a.bin": b"\2" * big})
    new = publish(db, {"a.bin": b"\3" * big})
    assert [v["version"] for v in db.read_sync("v", sites.versions)] == [new, middle, old]
    newest = publish(db, {"a.bin": b"\4" * big})
    assert [v["version"] for v in db.read_sync("v", sites.versions)] == [newest, new, middle]
    assert count(db, "site_blobs") == 3


def test_rolling_back_serves_a_kept_version_and_can_be_undone(db):
    """roll_back makes an earlier version live (its files served again), keeps
    the newer one to return to, and refuses a version that is not kept."""
    first = publish(db, {"index.html": b"one"})
    second = publish(db, {"index.html": b"two"})
    db.write_sync("back", lambda c: sites.roll_back(c, first))
    assert db.read_sync("files", sites.files_of) == {"index.html": b"one"}
    assert [(v["version"], v["live"]) for v in db.read_sync("v", sites.versions)] == [(second, False), (first, True)]
    db.write_sync("forward", lambda c: sites.roll_back(c, second))
    assert db.read_sync("files", sites.files_of) == {"index.html": b"two"}
    with pytest.raises(NotFound):
        db.write_sync("nowhere", lambda c: sites.roll_back(c, 999))
    assert db.read_sync("live", sites.live_version) == second


def test_identical_contents_are_stored_once(db):
    """Two paths with the same bytes share one blob."""
    publish(db, {"a.css": CSS, "b/c.css": CSS, "index.html": b"x"})
    assert count(db, "site_blobs") == 2


@pytest.mark.parametrize(
    "path",
    ["../etc/passwd", "/etc/passwd", "a/../b", "a\\b", "a//b", "./a", "a/", "", "a\x00b", "a\nb", "a\x7fb",
     "x" * 300, "/".join(["d"] * 20), "cafe\u0301.html", "\udc80.html"],
)
def test_bad_paths_are_refused_and_change_nothing(db, path):
    """A path that is not a plain, normalised relative path refuses the whole publish."""
    publish(db, {"index.html": b"kept"})
    with pytest.raises(InvalidInput):
        publish(db, {"index.html": b"new", path: b"evil"})
    assert db.read_sync("files", sites.files_of) == {"index.html": b"kept"}


def test_the_plans_web_space_is_enforced_and_a_refusal_changes_nothing(db):
    """More bytes than the plan's web_bytes raise LimitExceeded and leave the live version as it was."""
    version = publish(db, {"index.html": b"kept"})
    with pytest.raises(LimitExceeded, match="web space"):
        publish(db, {"index.html": b"x", "big.bin": b"\0" * WEB_BYTES})
    assert db.read_sync("live", sites.live_version) == version
    assert count(db, "site_versions") == 1 and count(db, "site_blobs") == 1


def test_the_plan_is_read_in_the_transaction(db):
    """A plan changed to less web space applies to the next publish."""
    publish(db, {"a.bin": b"\0" * 1000})
    smaller = directory.Plan("tiny", 10, 1 << 30, 500, 100)
    db.write_sync("plan", lambda c: directory.set_plan(c, smaller))
    with pytest.raises(LimitExceeded):
        publish(db, {"a.bin": b"\0" * 1000})


def test_too_many_files_are_refused(db, monkeypatch):
    """A version with more than MAX_FILES files is refused."""
    monkeypatch.setattr(sites, "MAX_FILES", 3)
    with pytest.raises(LimitExceeded):
        publish(db, {f"{i}.txt": b"x" for i in range(4)})


def test_gzip_variant_only_for_compressible_files_when_smaller(db):
    """CSS gets a gzip variant that decompresses to it; a PNG and a tiny file get none."""
    publish(db, {"style.css": CSS, "logo.png": CSS, "tiny.css": b"a{}"})
    found = {p: db.read_sync("r", lambda c: sites.resolve(c, p)).file for p in ("style.css", "logo.png", "tiny.css")}
    assert gzip.decompress(found["style.css"].gzip) == CSS
    assert found["logo.png"].gzip is None  # same bytes as the CSS, but an image type
    assert found["tiny.css"].gzip is None


def test_resolve_directories_redirects_and_the_sites_404(db):
    """The root and directories serve index.html, a directory without slash redirects, a miss gets 404.html."""
    assert db.read_sync("r", lambda c: sites.resolve(c, "")).kind == "empty"
    publish(db, {"index.html": b"home", "about/index.html": b"about", "404.html": b"lost"})
    resolve = lambda p: db.read_sync("r", lambda c: sites.resolve(c, p))  # noqa: E731
    assert resolve("").file.body == b"home"
    assert resolve("about/").file.body == b"about"
    assert resolve("about").kind == "redirect" and resolve("about").location == "about/"
    missing = resolve("nope.html")
    assert missing.kind == "missing" and missing.file.body == b"lost"


def test_content_types_and_unchanged_files_keep_their_date(db, monkeypatch):
    """Types come from the extension; a file whose bytes did not change keeps its Last-Modified."""
    monkeypatch.setattr(sites, "_now", lambda: ("2026-01-01T00:00:00Z", 1_000_000))
    publish(db, {"index.html": b"same", "a.css": b"one"})
    monkeypatch.setattr(sites, "_now", lambda: ("2026-01-02T00:00:00Z", 2_000_000))
    publish(db, {"index.html": b"same", "a.css": b"two"})
    page = db.read_sync("r", lambda c: sites.resolve(c, "index.html")).file
    css = db.read_sync("r", lambda c: sites.resolve(c, "a.css")).file
    assert (page.content_type, page.modified) == ("text/html; charset=utf-8", 1_000_000)
    assert (css.content_type, css.modified) == ("text/css; charset=utf-8", 2_000_000)
    assert sites.content_type("x.unknown") == "application/octet-stream"


def test_unknown_source_is_refused(db):
    """source must be upload or builder."""
    with pytest.raises(InvalidInput):
        publish(db, {"index.html": b"x"}, source="ftp")


def test_a_reader_snapshot_never_sees_a_half_published_version(db):
    """A read transaction open across a publish keeps seeing the old version whole."""
    publish(db, {"index.html": b"v1", "style.css": b"v1"})
    reader = sqlite3.connect(db.path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        before = reader.execute("SELECT version FROM site_live").fetchone()[0]
        publish(db, {"index.html": b"v2", "style.css": b"v2"})
        bodies = reader.execute(
            "SELECT b.body FROM site_files f JOIN site_blobs b ON b.hash = f.hash WHERE f.version = ?", (before,)
        ).fetchall()
        assert sorted(bytes(r[0]) for r in bodies) == [b"v1", b"v1"]
        reader.execute("ROLLBACK")
    finally:
        reader.close()
