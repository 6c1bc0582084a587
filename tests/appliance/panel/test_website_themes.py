"""The theme picker's thumbnails: each theme's real build of the owner's
draft home page, served under /website/themes/NAME/ for frames of the
panel's own website page only."""

from __future__ import annotations

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
