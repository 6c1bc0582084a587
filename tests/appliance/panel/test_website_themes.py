"""The theme picker's thumbnails: each theme's real build of the owner's
draft home page, served under /website/themes/NAME/ for frames of the
panel's own website page only."""

from __future__ import annotations

import time

from .test_website import _business


def test_each_theme_frame_is_the_draft_built_in_that_theme(env):
    """The website page frames /website/themes/NAME/ for every theme, each
    titled; each answer is the draft home page (its unpublished text) with
    that theme's stylesheet under its own prefix, may be framed by the panel
    alone, and leaves the draft's theme as it was. An unknown theme is the 404."""
    _business(env, "thumbs", "tia@thumbs.example")
    tia = env.signed_in("tia@thumbs.example")
    tia.post("/website/start", {"theme": "warm"})
    tia.post("/website/pages/home", {"title": "Home", "body": "Draft: fresh flowers daily."})
    page = tia.get("/website").text
    for name, title in (("bold", "Bold"), ("clean", "Clean"), ("warm", "Warm")):
        assert (f'<iframe src="/website/themes/{name}/" title="Your home page in the {title} theme"'
                in page), name
        frame = tia.get(f"/website/themes/{name}/")
        assert frame.status_code == 200 and "Draft: fresh flowers daily." in frame.text
        assert f'href="/website/themes/{name}/style.css?v=' in frame.text
        assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
        assert frame.headers["x-frame-options"] == "SAMEORIGIN"
        css = tia.get(f"/website/themes/{name}/style.css")
        assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    styles = {tia.get(f"/website/themes/{name}/style.css").text for name in ("bold", "clean", "warm")}
    assert len(styles) == 3
    assert env.cli.json("site", "show", "thumbs")["version"] == 0
    assert "Use the Bold theme" in page and "Use the Warm theme" not in page
    missing = tia.get("/no/such/page")
    assert tia.get("/website/themes/neon/").content == missing.content
    assert tia.get("/website").headers["x-frame-options"] == "DENY"


def _frames(client) -> float:
    """Seconds to load the website page, its three theme frames and their
    stylesheets, as a browser asks for them (each frame's page, then its
    stylesheet)."""
    started = time.perf_counter()
    assert client.get("/website").status_code == 200
    for name in ("bold", "clean", "warm"):
        assert client.get(f"/website/themes/{name}/").status_code == 200
        assert client.get(f"/website/themes/{name}/style.css").status_code == 200
    return time.perf_counter() - started


def test_the_preview_shows_a_block_edit_at_once(env):
    """pia looks at her preview and the theme frames, edits the text block
    of her home page, and the very next preview and frames show the new
    text, not a kept build of the old one. (The seconds the website page
    and its frames take, first and then again, are printed.)"""
    _business(env, "pialab", "pia@pialab.example")
    pia = env.signed_in("pia@pialab.example")
    pia.post("/website/start", {"theme": "clean"})
    pia.post("/website/pages/home/blocks/2", {"markdown": "Sourdough on Fridays."})
    first, again = _frames(pia), _frames(pia)
    print(f"\nwebsite page, three frames and their stylesheets: {first:.2f} s, then {again:.2f} s")
    assert "Sourdough on Fridays." in pia.get("/website/preview/").text
    edited = pia.post("/website/pages/home/blocks/2", {"markdown": "Rye on Saturdays."})
    assert edited.status_code == 303
    shown = pia.get("/website/preview/").text
    assert "Rye on Saturdays." in shown and "Sourdough" not in shown
    for name in ("bold", "clean", "warm"):
        assert "Rye on Saturdays." in pia.get(f"/website/themes/{name}/").text


def test_another_business_never_sees_a_kept_draft_of_the_first(env):
    """Two new businesses with the same theme and the same page names but
    their own words: each owner's preview, page and frames show their own
    words only, however their asks interleave."""
    owners = {"northmill": "nia@northmill.example", "southmill": "sam@southmill.example"}
    clients = {}
    for slug, owner in owners.items():
        _business(env, slug, owner)
        clients[slug] = env.signed_in(owner)
        clients[slug].post("/website/start", {"theme": "warm"})
        clients[slug].post("/website/pages/home/blocks/2", {"markdown": f"Flour from {slug}."})
        assert clients[slug].post("/website/new-page", {"name": "prices", "title": "Prices"}).status_code == 303
    for _ in range(2):
        for slug, client in clients.items():
            other = next(s for s in owners if s != slug)
            for path in ("/website/preview/", "/website/themes/bold/", "/website/themes/warm/"):
                text = client.get(path).text
                assert f"Flour from {slug}." in text and other not in text, (slug, path)
            prices = client.get("/website/preview/prices/")
            assert prices.status_code == 200 and other not in prices.text
