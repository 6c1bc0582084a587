"""Removing a page can be taken back until the next publish: the removed
page is kept in the draft (the business's file), listed on the website
page with "Restore", and forgotten by the next publish."""

from __future__ import annotations

from .test_devices import _curl
from .test_website import _business, _pages
from .test_website_upload import _upload, _zip


def test_a_removed_page_comes_back_until_the_next_publish(env, tmp_path):
    """An owner removes a page out of the menu: it is listed under "Removed
    pages"; restoring it brings it back whole and out of the menu again.
    Removed once more and published, the list is gone, restoring it is the
    404, and the site served by its domain has no such page."""
    _business(env, "undo", "uma@undo.example")
    uma = env.signed_in("uma@undo.example")
    uma.post("/website/start", {"theme": "clean"})
    env.cli("site", "page", "add", "undo", "hours", input="---\ntitle: Opening hours\n---\nOpen at 8.\n")
    assert uma.post("/website/pages/hours/menu", {"shown": "no"}).status_code == 303
    assert uma.post("/website/publish").status_code == 200
    site = f"https://undo.example:{env.daemon.port('https')}/hours/"
    assert _curl(site, tmp_path)[0] == 200

    assert uma.post("/website/pages/hours/remove").headers["location"] == "/website#pages"
    assert "hours" not in dict(_pages(env, "undo"))
    page = uma.get("/website").text
    assert "Removed pages" in page and 'action="/website/pages/hours/restore"' in page
    assert _curl(site, tmp_path)[0] == 200  # the published site keeps it until the next publish
    restored = uma.post("/website/pages/hours/restore")
    assert restored.status_code == 200 and "The page hours is back in your draft." in restored.text
    assert "Removed pages" not in restored.text
    assert dict(_pages(env, "undo"))["hours"] is None
    assert env.cli("site", "page", "show", "undo", "hours").stdout == "---\ntitle: Opening hours\n---\nOpen at 8.\n"

    uma.post("/website/pages/hours/remove")
    assert uma.post("/website/publish").status_code == 200
    assert "Removed pages" not in uma.get("/website").text
    missing = uma.get("/no/such/page")
    gone = uma.post("/website/pages/hours/restore")
    assert gone.status_code == 404 and gone.content == missing.content
    assert "hours" not in dict(_pages(env, "undo"))
    assert _curl(site, tmp_path)[0] == 404


def test_a_page_added_again_under_the_name_is_not_overwritten_by_a_restore(env):
    """A removed page whose address was given to a new page meanwhile is
    not restored over it: the owner is told, and the new page stays."""
    _business(env, "redo", "rita@redo.example")
    rita = env.signed_in("rita@redo.example")
    rita.post("/website/start", {"theme": "warm"})
    rita.post("/website/new-page", {"name": "team", "title": "Old team"})
    rita.post("/website/pages/team/remove")
    rita.post("/website/new-page", {"name": "team", "title": "New team"})
    refused = rita.post("/website/pages/team/restore")
    assert refused.status_code == 409 and "Your site has a page at this address again" in refused.text
    assert "title: New team" in env.cli("site", "page", "show", "redo", "team").stdout


def test_an_upload_or_a_roll_back_leaves_removed_pages_restorable(env):
    """An owner removes a page, publishes a ready-made zip for a while,
    then rolls back to her builder version: neither touched her draft, so
    the removed page is still listed and comes back whole."""
    _business(env, "keepit", "kim@keepit.example")
    kim = env.signed_in("kim@keepit.example")
    kim.post("/website/start", {"theme": "clean"})
    env.cli("site", "page", "add", "keepit", "menu", input="---\ntitle: Our menu\n---\nSoup of the day.\n")
    assert kim.post("/website/publish").status_code == 200
    built = env.cli.json("site", "show", "keepit")["version"]
    kim.post("/website/pages/menu/remove")
    uploaded = _upload(kim, _zip({"index.html": b"<!DOCTYPE html><title>Z</title><p>Zipped."}))
    assert uploaded.status_code == 200 and env.cli.json("site", "show", "keepit")["source"] == "upload"
    assert 'action="/website/pages/menu/restore"' in kim.get("/website").text
    assert kim.post("/website/roll-back", {"version": str(built)}).status_code == 200
    assert 'action="/website/pages/menu/restore"' in kim.get("/website").text
    assert kim.post("/website/pages/menu/restore").status_code == 200
    assert env.cli("site", "page", "show", "keepit", "menu").stdout == "---\ntitle: Our menu\n---\nSoup of the day.\n"
