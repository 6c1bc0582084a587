"""Page sources, profile values and images: what is accepted and the one-line
errors for what is not."""

from __future__ import annotations

import re
import struct

import pytest

from appliance.errors import InvalidInput, LimitExceeded
from sitegen import images, model

from . import sample


def test_sample_pages_parse_into_every_block_type():
    """The sample pages use heading, text, image, gallery, services and contact, in source order."""
    home = model.parse_page("home", sample.HOME)
    assert [b.kind for b in home.blocks] == ["heading", "text", "image", "gallery"]
    assert home.title == "Home" and home.description.startswith("Sourdough")
    assert home.images() == {"shopfront.png", "bread.png", "cake.png", "coffee.png"}
    prices = model.parse_page("prices", sample.PRICES)
    assert [b.kind for b in prices.blocks] == ["text", "services", "heading", "services"]
    assert prices.blocks[1].items[0] == model.Service("Sourdough loaf", "4.80 EUR", "1 kg, rye and wheat, 36 hours of rising")
    assert prices.blocks[1].items[1] == model.Service("Baguette", "2.20 EUR", "")
    contact = model.parse_page("contact", sample.CONTACT)
    assert contact.menu == "Contact" and contact.blocks[0].kind == "contact"


def test_plain_markdown_without_front_matter_is_one_text_block():
    """A page that is only Markdown needs no fences; its title comes from its name."""
    page = model.parse_page("about-us", "We bake.\n\nEvery day.\n")
    assert page.title == "About us" and [b.kind for b in page.blocks] == ["text"]


@pytest.mark.parametrize(
    "source, message",
    [
        ("::: galery\n- a.png | x\n:::\n", "line 1: unknown block type 'galery'"),
        ("::: text\nhello\n", "line 1: block 'text' is never closed"),
        ("hello\n:::\n", "line 2: ':::' closes no block"),
        ("::: text\nx\n::: image\n:::\n", "line 3: block 'text' opened on line 1 is not closed"),
        ("::: image\nfile: a.png\n:::\n", "describe the picture with 'alt: ...'"),
        ("::: image\nalt: a shop\n:::\n", "say which picture"),
        ("::: image\nfile: a.svg\nalt: x\n:::\n", "invalid image name"),
        ("::: image\nfile: a.png\nalt: x\nsize: big\n:::\n", "line 4: expected 'file:', 'alt:' or 'caption:'"),
        ("::: gallery\n- a.png\n:::\n", "the description is required"),
        ("::: services\n:::\n", "list the services"),
        ("::: heading\n:::\n", "write the heading on the first line"),
        ("---\ntitle: x\ncolour: red\n---\n", "expected 'title:', 'menu:' or 'description:'"),
        ("---\ntitle: x\n", "not closed with another '---'"),
    ],
)
def test_mistakes_in_a_page_are_reported_with_their_line(source, message):
    """Each kind of mistake is an InvalidInput naming the page and the line or block."""
    with pytest.raises(InvalidInput) as caught:
        model.parse_page("prices", source)
    assert message in str(caught.value) and "page prices" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_page_names_are_checked_and_reserved_names_refused():
    """Page names are lower-case a-z 0-9 -; names of generated files are reserved."""
    assert model.page_name(" Prices ") == "prices"
    for bad in ("../etc", "a/b", "-x", "x" * 41, "", "über"):
        with pytest.raises(InvalidInput, match="invalid page name"):
            model.page_name(bad)
    for reserved in ("images", "404", "sitemap"):
        with pytest.raises(InvalidInput, match="reserved"):
            model.page_name(reserved)


def test_oversized_pages_and_too_many_items_are_limits():
    """A page over 64 KiB, or a gallery over its count, is LimitExceeded."""
    with pytest.raises(LimitExceeded):
        model.parse_page("big", "x" * (model.MAX_PAGE_BYTES + 1))
    many = "::: gallery\n" + "".join(f"- p{i}.png | picture {i}\n" for i in range(model.MAX_GALLERY + 1)) + ":::\n"
    with pytest.raises(LimitExceeded, match="at most"):
        model.parse_page("photos", many)


def test_profile_values_are_validated_and_normalised():
    """Colours normalise, e-mail lower-cases, empty clears; bad phone, e-mail, map and keys are refused."""
    profile = model.set_profile(model.Profile("Shop"), {"colour": "ABC", "email": "Info@Shop.Example", "hours": "Mon 9-5; Tue 9-5"})
    assert profile.colour == "#aabbcc" and profile.email == "info@shop.example"
    assert profile.hours_lines == ["Mon 9-5", "Tue 9-5"]
    assert model.set_profile(profile, {"colour": ""}).colour == ""
    assert model.Profile("x", phone="+49 (30) 123-45").tel == "tel:+493012345"
    for key, value, message in [
        ("phone", "call me", "invalid phone"),
        ("email", "not-an-address", "invalid address"),
        ("map", "javascript:alert(1)", "must be a web address"),
        ("accent", "blue", "invalid colour"),
        ("name", "   ", "must not be empty"),
        ("fax", "1", "unknown profile key"),
        ("language", "english!", "invalid language"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            model.set_profile(profile, {key: value})


def test_image_types_and_sizes_come_from_the_bytes():
    """PNG, GIF, JPEG and WebP headers give type and size; SVG and junk are refused; big files are limits."""
    assert images.inspect(sample.png(33, 21, (0, 0, 0), (9, 9, 9))) == images.ImageInfo("image/png", 33, 21)
    assert images.inspect(b"GIF89a" + struct.pack("<HH", 10, 20) + b"\x00" * 10) == images.ImageInfo("image/gif", 10, 20)
    jpeg = b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9 + b"\xff\xc0" + struct.pack(">HBHH", 17, 8, 480, 640) + b"\x00" * 12
    assert images.inspect(jpeg) == images.ImageInfo("image/jpeg", 640, 480)
    webp = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8X" + struct.pack("<I", 10) + b"\x00" * 4 + (99).to_bytes(3, "little") + (49).to_bytes(3, "little")
    assert images.inspect(webp) == images.ImageInfo("image/webp", 100, 50)
    for junk in (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', b"", b"\x89PNG\r\n\x1a\n"):
        with pytest.raises(InvalidInput, match="not a PNG, JPEG, GIF or WebP"):
            images.inspect(junk)
    with pytest.raises(LimitExceeded, match="at most"):
        images.inspect(b"\x89PNG" + b"\x00" * images.MAX_IMAGE_BYTES)


def test_a_page_composed_from_its_parts_parses_back_to_them():
    """compose() writes title, menu label and description as front matter
    (whitespace folded, an empty menu label left out) before the body;
    parse_page reads them back and page_body returns the body as written."""
    body = "Fair prices.\n\n::: services\n- Loaf | 4 EUR\n:::"
    source = model.compose("Our  prices", "", "What\nit costs", body)
    assert source == "---\ntitle: Our prices\ndescription: What it costs\n---\n" + body + "\n"
    page = model.parse_page("prices", source)
    assert (page.title, page.menu, page.description) == ("Our prices", "Our prices", "What it costs")
    assert [b.kind for b in page.blocks] == ["text", "services"]
    assert model.page_body("prices", source) == body


def test_a_body_parsed_alone_names_lines_from_its_own_top():
    """Without front matter, the line of a mistake counts from the body's
    first line (what an editor's text box shows), not the stored source's."""
    with pytest.raises(InvalidInput, match="line 3: block 'services' is never closed"):
        model.parse_page("prices", "Hello\n\n::: services\n- Tea | 2\n", front_matter=False)
    with pytest.raises(InvalidInput, match="line 6: block 'services' is never closed"):
        model.parse_page("prices", model.compose("Prices", "", "", "Hello\n\n::: services\n- Tea | 2"))


def test_every_sample_page_written_back_reads_the_same():
    """page_source writes a parsed page in the page format; it parses back
    to the very same page, for every block type."""
    for name, source in (("home", sample.HOME), ("prices", sample.PRICES), ("contact", sample.CONTACT)):
        page = model.parse_page(name, source)
        assert model.parse_page(name, model.page_source(page)) == page


def test_a_value_the_page_format_cannot_hold_is_refused_when_written():
    """A service name holding '|' would read back as two values: page_source
    refuses it rather than store a different page."""
    page = model.Page("prices", "Prices", "Prices", "", (model.Services((model.Service("Tea | cake"),)),))
    with pytest.raises(InvalidInput, match="holds a line ':::' or, in a list, a '|'"):
        model.page_source(page)


def test_blocks_come_from_form_values_as_the_page_format_reads_them():
    """block_from_fields reads a form's values as a fenced block and
    block_fields gives them back; what the format refuses is refused, with
    the line counted from the block's opening line."""
    services = model.block_from_fields("services", {"items": "Tea | 2 EUR\r\nCake |  | Lemon"})
    assert services == model.Services((model.Service("Tea", "2 EUR"), model.Service("Cake", "", "Lemon")))
    assert model.block_from_fields("services", model.block_fields(services)) == services
    assert model.block_from_fields("heading", {"title": " Hi ", "lead": "a\nb"}) == model.Heading("Hi", "a b")
    gallery = model.block_from_fields("gallery", {"items": "a.png | The shop\r\n- b.jpg | The team"})
    assert gallery == model.Gallery((model.GalleryItem("a.png", "The shop"), model.GalleryItem("b.jpg", "The team")))
    assert model.block_from_fields("gallery", model.block_fields(gallery)) == gallery
    image = model.block_from_fields("image", {"file": "a.png", "alt": " The  shop ", "caption": ""})
    assert image == model.Image("a.png", "The shop")
    assert model.block_from_fields("image", model.block_fields(image)) == image
    for kind, fields, message in (
        ("services", {"items": "a | b | c | d"}, "line 2: write '- name | price | description'"),
        ("text", {"markdown": "a\n:::\nb"}, "cannot be in a block"),
        ("text", {"markdown": ""}, "the block is empty"),
        ("gallery", {"items": "a.png"}, "the description is required"),
        ("image", {"file": "a.png"}, "describe the picture with 'alt: ...'"),
        ("chart", {"items": "a.png | A"}, "unknown block type 'chart'"),
    ):
        with pytest.raises(InvalidInput, match=re.escape(message)):
            model.block_from_fields(kind, fields)
