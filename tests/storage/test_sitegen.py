"""storage.sitegen on real SQLite files: the builder's sources, navigation
order, counts and sizes, and what may not be removed."""

from __future__ import annotations

import pytest

from appliance.errors import Conflict, LimitExceeded, NotFound
from storage import schema, sites
from storage import sitegen as store
from storage.database import Database
from tests.storage.bakery import business_file


@pytest.fixture
def db(tmp_path):
    with business_file(tmp_path, lambda conn: store.init_site(conn, "clean", {"name": "Bakery"}, {"home": "Welcome"})) as database:
        yield database


def test_a_site_is_created_once_with_its_home_page(db):
    """init_site stores theme, profile and starter page; a second init is a Conflict."""
    src = db.read_sync("sources", store.sources)
    assert (src.theme, src.profile, src.pages, src.nav) == ("clean", {"name": "Bakery"}, {"home": "Welcome"}, ["home"])
    with pytest.raises(Conflict, match="already has a site"):
        db.write_sync("again", lambda c: store.init_site(c, "warm", {"name": "x"}, {}))


def test_without_a_site_every_call_says_how_to_start_one(tmp_path):
    """A business with no site gets NotFound naming 'appliance site init'."""
    database = Database(tmp_path / "empty.sqlite3", schema.TENANT_MIGRATIONS)
    try:
        with pytest.raises(NotFound, match="appliance site init"):
            database.read_sync("sources", store.sources)
    finally:
        database.close()


def test_new_pages_go_last_in_the_navigation_and_nav_sets_the_order(db):
    """Pages are appended to the menu; set_nav shows exactly the pages named, in order; removal closes the gap."""
    for name in ("prices", "contact", "about"):
        db.write_sync("add", lambda c, n=name: store.put_page(c, n, f"# {n}", create=True))
    assert db.read_sync("nav", store.sources).nav == ["home", "prices", "contact", "about"]
    db.write_sync("nav", lambda c: store.set_nav(c, ["home", "contact", "prices"]))
    assert db.read_sync("nav", store.sources).nav == ["home", "contact", "prices"]
    assert [p["name"] for p in db.read_sync("list", store.list_pages)] == ["home", "contact", "prices", "about"]
    db.write_sync("remove", lambda c: store.remove_page(c, "contact"))
    assert [(p["name"], p["nav"]) for p in db.read_sync("list", store.list_pages)] == [("home", 1), ("prices", 2), ("about", None)]
    with pytest.raises(NotFound, match="no page nowhere"):
        db.write_sync("nav", lambda c: store.set_nav(c, ["home", "nowhere"]))


def test_adding_an_existing_page_or_editing_a_missing_one_is_refused(db):
    """add of an existing name is a Conflict, edit of an unknown name NotFound; nothing changes."""
    with pytest.raises(Conflict):
        db.write_sync("add", lambda c: store.put_page(c, "home", "other", create=True))
    with pytest.raises(NotFound):
        db.write_sync("edit", lambda c: store.put_page(c, "nope", "x", create=False))
    assert db.read_sync("get", lambda c: store.get_page(c, "home")) == "Welcome"


def test_page_count_is_limited(db):
    """The page after MAX_PAGES is LimitExceeded."""

    def fill(conn):
        for n in range(store.MAX_PAGES - 1):
            store.put_page(conn, f"p{n}", "x", create=True)

    db.write_sync("fill", fill)
    with pytest.raises(LimitExceeded, match="at most"):
        db.write_sync("one more", lambda c: store.put_page(c, "extra", "x", create=True))


def test_images_stay_within_the_web_space_and_in_use_images_stay(db):
    """Images together may not pass the limit; an image still used cannot be removed."""
    db.write_sync("img", lambda c: store.put_image(c, "a.png", "image/png", 1, 1, b"x" * 600, limit_bytes=1000))
    with pytest.raises(LimitExceeded, match="web space"):
        db.write_sync("img", lambda c: store.put_image(c, "b.png", "image/png", 1, 1, b"x" * 600, limit_bytes=1000))
    # Replacing the same name counts only the new bytes.
    db.write_sync("img", lambda c: store.put_image(c, "a.png", "image/png", 2, 2, b"y" * 900, limit_bytes=1000))
    assert [(i["name"], i["bytes"], i["width"]) for i in db.read_sync("list", store.list_images)] == [("a.png", 900, 2)]
    with pytest.raises(Conflict, match="still used by page home"):
        db.write_sync("rm", lambda c: store.remove_image(c, "a.png", ["page home"]))
    db.write_sync("rm", lambda c: store.remove_image(c, "a.png", []))
    assert db.read_sync("list", store.list_images) == []


def test_the_logo_must_be_a_stored_image(db):
    """A profile naming a logo that is not stored is NotFound."""
    with pytest.raises(NotFound, match="no image logo.png"):
        db.write_sync("profile", lambda c: store.set_profile(c, {"name": "Bakery", "logo": "logo.png"}))


def test_the_forms_of_the_version_served_are_the_ones_answered(db):
    """Each published version keeps its forms; the live one's are found
    (a rollback brings the older ones back), and the forms of versions
    no longer kept are forgotten at the next publication."""

    def publish(forms):
        def write(conn):
            version = sites.publish(conn, {"index.html": repr(forms).encode()}, limit_bytes=10**9, source="builder")
            store.put_forms(conn, version, forms)
            return version
        return db.write_sync("publish", write)

    first = publish([("home", 1, "a@bakery.example", "")])
    second = publish([("home", 1, "b@bakery.example", "Write"), ("contact", 1, "c@bakery.example", "")])
    found = lambda page, number: db.read_sync("form", lambda c: store.published_form(c, page, number))  # noqa: E731
    assert found("home", 1) == ("b@bakery.example", "Write") and found("contact", 1) == ("c@bakery.example", "")
    assert found("home", 2) is None
    db.write_sync("back", lambda c: sites.roll_back(c, first))
    assert found("home", 1) == ("a@bakery.example", "") and found("contact", 1) is None
    db.write_sync("forward", lambda c: sites.roll_back(c, second))
    for _ in range(sites.KEEP_VERSIONS):
        publish([("home", 1, "d@bakery.example", "")])
    kept = db.read_sync("rows", lambda c: [r[0] for r in c.execute("SELECT DISTINCT version FROM sitegen_forms")])
    assert first not in kept and second not in kept and len(kept) <= sites.KEEP_VERSIONS
