"""``appliance site ...`` builder commands end to end, with the real command
on a state directory."""

from __future__ import annotations

import io
import json
import random
import sqlite3
import zipfile
from xml.etree import ElementTree

import pytest
from PIL import Image

from storage import sitegen as store
from tests.conftest import TEST_CONFIG, Cli

from . import sample


@pytest.fixture
def business(cli, tmp_path):
    """A business with a warm-themed site (its starter home page) and the sample pictures as files."""
    cli("tenant", "add", "bakery", "--name", "Bakery GmbH", "--domain", "bakery.example")
    cli("site", "init", "bakery", "--theme", "warm", "--name", "Müller's Bakery")
    for name, data in sample.IMAGES.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path


def _sources(state) -> store.Sources:
    """Everything the builder stores for the bakery, read from its file."""
    conn = sqlite3.connect(f"{(state / 'tenants' / 'bakery.sqlite3').as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return store.sources(conn)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One business for the refusals (which change nothing): a site with a gallery page showing cake.png."""
    work = tmp_path_factory.mktemp("site-cli")
    (work / "state").mkdir()
    config = work / "appliance.toml"
    config.write_text(TEST_CONFIG)
    cli = Cli(work / "state", config)
    cli("tenant", "add", "bakery", "--name", "Bakery GmbH")
    cli("site", "init", "bakery", "--theme", "warm")
    (work / "cake.png").write_bytes(sample.IMAGES["cake.png"])
    cli("site", "image", "add", "bakery", str(work / "cake.png"))
    cli("site", "page", "add", "bakery", "gallery", input="::: gallery\n- cake.png | A cake\n:::\n")
    return cli


def test_owner_builds_and_publishes_a_site_from_pages_and_profile(cli, business):
    """init, image add, profile, page add (file and stdin), page edit, nav and build
    publish a site whose pages carry the profile and follow the menu order."""
    for name in sample.IMAGES:
        if name != "logo.png":
            cli("site", "image", "add", "bakery", str(business / name))
    (business / "prices.md").write_text(sample.PRICES)
    (business / "home.md").write_text(sample.HOME)
    cli("site", "profile", "bakery", "--logo", str(business / "logo.png"),
        "--set", "tagline=Sourdough since 1987", "--set", "phone=+49 30 1234 5678",
        "--set", "hours=Tue-Fri 7-18; Sat 7-14", "--set", "colour=#7a3b10",
        "--set", "address=Market Street 12; Springfield", "--set", "map=https://maps.example/?q=bakery")
    cli("site", "page", "add", "bakery", "prices", str(business / "prices.md"))
    cli("site", "page", "add", "bakery", "contact", input=sample.CONTACT)
    cli("site", "page", "edit", "bakery", "home", str(business / "home.md"))
    assert cli("site", "nav", "bakery", "home", "contact", "prices").stdout.splitlines() == [
        "1. Home (/)", "2. Contact (/contact/)", "3. Prices (/prices/)",
    ]
    pages = cli.json("site", "page", "list", "bakery")
    assert [(p["name"], p["title"], p["nav"]) for p in pages] == [("home", "Home", 1), ("contact", "Visit us", 2), ("prices", "Prices", 3)]
    assert cli("site", "page", "show", "bakery", "prices").stdout == sample.PRICES

    result = cli.json("site", "build", "bakery")
    assert result["version"] >= 1 and result["url"] == "https://bakery.example/"
    profile = cli.json("site", "profile", "bakery")
    assert profile["logo"] == "logo.png" and profile["colour"] == "#7a3b10"

    target = business / "site.zip"
    cli("site", "download", "bakery", str(target))
    with zipfile.ZipFile(target) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    assert {"index.html", "contact/index.html", "prices/index.html", "404.html", "sitemap.xml", "images/logo.png"} <= set(files)
    home = files["index.html"].decode()
    assert "Müller&#39;s Bakery" in home and 'href="tel:+493012345678"' in home and "Sat 7-14" in home
    assert home.index('href="/contact/"') < home.index('href="/prices/"')
    assert "--brand:#7a3b10" in files["style.css"].decode()


@pytest.mark.parametrize(
    "args, message",
    [
        (("site", "init", "bakery", "--theme", "neon"), "unknown theme 'neon'"),
        (("site", "theme", "bakery", "neon"), "unknown theme 'neon'"),
        (("site", "profile", "bakery", "--set", "colour=reddish"), "invalid colour 'reddish'"),
        (("site", "profile", "bakery", "--set", "phone=call us"), "invalid phone number"),
        (("site", "profile", "bakery", "--set", "colour"), "write KEY=VALUE"),
        (("site", "page", "edit", "bakery", "nowhere", "-"), "no page nowhere"),
        (("site", "page", "remove", "bakery", "nowhere"), "no page nowhere"),
        (("site", "page", "add", "bakery", "../x", "-"), "invalid page name"),
        (("site", "nav", "bakery", "home", "nowhere"), "no page nowhere"),
        (("site", "image", "remove", "bakery", "cake.png"), "still used by page gallery"),
        (("site", "build", "nobody"), "no business"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(shared, args, message):
    """Each mistake exits non-zero with one line naming it, and the site's sources stay as they were."""
    before = _sources(shared.state)
    proc = shared(*args, input="hello\n", check=False)
    assert proc.returncode == 1
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert _sources(shared.state) == before


def test_pages_with_mistakes_or_unknown_pictures_are_refused(cli, business):
    """A page with a syntax error or showing a picture that is not stored is not saved."""
    proc = cli("site", "page", "add", "bakery", "menu", input="::: servces\n- Tea | 2\n:::\n", check=False)
    assert proc.returncode == 1 and "line 1: unknown block type 'servces'" in proc.stderr
    proc = cli("site", "page", "add", "bakery", "photos", input="::: image\nfile: nope.jpg\nalt: x\n:::\n", check=False)
    assert proc.returncode == 1 and "shows image nope.jpg, which is not stored" in proc.stderr
    assert [p["name"] for p in cli.json("site", "page", "list", "bakery")] == ["home"]


def test_images_are_checked_for_type_size_and_web_space(cli, business):
    """Not-an-image, a file over 15 MB, a name whose extension is not the
    picture's and a picture past the plan's web space are refused."""
    cli("site", "image", "add", "bakery", str(business / "cake.png"))
    (business / "fake.png").write_bytes(b"<svg onload='alert(1)'/>")
    (business / "huge.png").write_bytes(sample.png(10, 10, (0, 0, 0), (1, 1, 1)) + b"\x00" * (15 * 1024 * 1024))
    (business / "photo.jpg").write_bytes(sample.IMAGES["cake.png"])
    for path, name, message in (("fake.png", "fake.png", "is not a JPEG, PNG, WebP or HEIC picture"),
                                ("huge.png", "huge.png", "larger than 15360 KiB"),
                                ("photo.jpg", "photo.jpg", "is made a image/png picture; name it .png")):
        proc = cli("site", "image", "add", "bakery", str(business / path), "--name", name, check=False)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    with open(cli.config, "a") as fh:
        fh.write("\n[plans.tiny]\nweb_mb = 1\n")
    cli("tenant", "plan", "bakery", "tiny")
    # Noise: a picture no encoder makes small (two variants of 1.5 MB each).
    noise = Image.frombytes("RGB", (700, 700), random.Random(7).randbytes(700 * 700 * 3))
    noise.save(business / "big.png")
    proc = cli("site", "image", "add", "bakery", str(business / "big.png"), check=False)
    assert proc.returncode == 1 and "web space" in proc.stderr
    names = [i["name"] for i in cli.json("site", "image", "list", "bakery")]
    assert names == ["cake.png"]


def test_a_phone_photo_is_stored_without_its_exif_and_gps_position(cli, business):
    """``site image add`` makes a picture as the panel's library does: a
    4000x3000 JPEG with the camera and its GPS position in its EXIF is
    stored as a 1600x1200 JPEG with a phone variant, neither with any EXIF;
    the same name again replaces it."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 7.0)}
    Image.new("RGB", (4000, 3000), (180, 90, 40)).save(business / "IMG_0042.JPG", quality=95, exif=exif)
    cli("site", "image", "add", "bakery", str(business / "IMG_0042.JPG"), "--alt", "The shop window")
    stored = _sources(cli.state)
    ctype, width, height, data = stored.images["img_0042.jpg"]
    assert (ctype, width, height) == ("image/jpeg", 1600, 1200)
    assert stored.alts["img_0042.jpg"] == "The shop window"
    phone = stored.phones["img_0042.jpg"]
    assert phone[:2] == (800, 600)
    for variant in (data, phone[2]):
        im = Image.open(io.BytesIO(variant))
        assert len(im.getexif()) == 0 and not im.getexif().get_ifd(0x8825) and b"PhoneMaker" not in variant
    cli("site", "image", "add", "bakery", str(business / "IMG_0042.JPG"), "--name", "img_0042.jpg")
    assert [i["name"] for i in cli.json("site", "image", "list", "bakery")].count("img_0042.jpg") == 1


def test_a_new_logo_of_another_type_replaces_the_old_one(cli, business):
    """A GIF logo after a PNG one leaves only the GIF stored; the old logo
    stays only when a page shows it too."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(buffer, "GIF")
    (business / "logo.gif").write_bytes(buffer.getvalue())
    cli("site", "profile", "bakery", "--logo", str(business / "logo.png"))
    cli("site", "profile", "bakery", "--logo", str(business / "logo.gif"))
    assert [i["name"] for i in cli.json("site", "image", "list", "bakery")] == ["logo.gif"]
    assert cli.json("site", "profile", "bakery")["logo"] == "logo.gif"
    cli("site", "page", "add", "bakery", "about", input="::: image\nfile: logo.gif\nalt: Our logo\n:::\n")
    cli("site", "profile", "bakery", "--logo", str(business / "logo.png"))
    assert sorted(i["name"] for i in cli.json("site", "image", "list", "bakery")) == ["logo.gif", "logo.png"]


def test_themes_are_listed_and_switching_theme_rebuilds_with_it(cli, business):
    """site themes --json lists at least three; after site theme the build uses the new stylesheet."""
    themes = cli.json("site", "themes")
    assert {"clean", "warm", "bold"} <= {t["name"] for t in themes}
    cli("site", "theme", "bakery", "bold")
    cli("site", "build", "bakery")
    target = business / "bold.zip"
    cli("site", "download", "bakery", str(target))
    with zipfile.ZipFile(io.BytesIO(target.read_bytes())) as archive:
        assert b"theme-bold" in archive.read("index.html")
        assert b"Bold:" in archive.read("style.css")
    assert json.loads(cli("site", "show", "bakery", "--json").stdout)["source"] == "builder"


def test_a_removed_page_is_restored_until_the_next_build(cli, business):
    """site page remove keeps the page in the draft: site page restore puts
    it back as it was; removed again and built, it cannot be restored."""
    cli("site", "page", "add", "bakery", "hours", input="Open at 7.\n")
    cli("site", "page", "remove", "bakery", "hours")
    assert "hours" not in [p["name"] for p in cli.json("site", "page", "list", "bakery")]
    cli("site", "page", "restore", "bakery", "hours")
    assert cli("site", "page", "show", "bakery", "hours").stdout == "Open at 7.\n"
    cli("site", "page", "remove", "bakery", "hours")
    cli("site", "build", "bakery")
    refused = cli("site", "page", "restore", "bakery", "hours", check=False)
    assert refused.returncode != 0 and "no removed page hours" in refused.stderr


NEWS_PAGE = """---
title: News
---
::: map
address: Market Street 12; Springfield
at: 52.5200, 13.4050
:::

::: news
--- 2026-11-01 | Autumn cakes
image: cake.png | A raspberry cream cake
Plum cake is back.
--- 2026-12-05 | Open on Sunday
We open at 8.
:::
"""


def test_map_and_news_pages_are_written_with_the_cli_and_published_with_their_feed(cli, business):
    """'site page add' reads map and news blocks (a mistake is one line
    naming its line); 'site build' publishes the page and news/feed.atom,
    whose addresses are on the site's own host; a picture a post shows
    cannot be removed."""
    cli("site", "image", "add", "bakery", str(business / "cake.png"))
    bad = cli("site", "page", "add", "bakery", "news", input=NEWS_PAGE.replace("at: 52.5200", "at: 152.5200"),
              check=False)
    assert bad.returncode == 1 and "page news, map block on line 4: line 6: invalid latitude" in bad.stderr
    cli("site", "page", "add", "bakery", "news", input=NEWS_PAGE)
    shown = cli("site", "page", "show", "bakery", "news").stdout
    assert "--- 2026-11-01 | Autumn cakes\nimage: cake.png | A raspberry cream cake\n" in shown
    cli("site", "build", "bakery")
    target = business / "site.zip"
    cli("site", "download", "bakery", str(target))
    with zipfile.ZipFile(target) as archive:
        page, feed = archive.read("news/index.html").decode(), archive.read("news/feed.atom")
    assert page.index("Open on Sunday") < page.index("Autumn cakes") and "Open the map" in page
    root = ElementTree.fromstring(feed)
    atom = "{http://www.w3.org/2005/Atom}"
    assert root.find(f"{atom}link[@rel='self']").get("href") == "https://bakery.example/news/feed.atom"
    assert len(root.findall(f"{atom}entry")) == 2
    refused = cli("site", "image", "remove", "bakery", "cake.png", check=False)
    assert refused.returncode == 1 and "still used by page news" in refused.stderr
