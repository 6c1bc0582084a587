"""Photos made fit for a website (sitegen.photos), on pictures made here
with Pillow as phones and editors write them."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from sitegen import photos
from storage.errors import InvalidInput, LimitExceeded
from tests.heic import LIBHEIF, heic


def _encode(im: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def test_a_turned_phone_photo_is_made_upright_and_loses_its_exif():
    """EXIF orientation 6 (turned a quarter): the variants are portrait,
    1200x1600 and 600x800, and carry no EXIF (no GPS, no camera)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}
    data = _encode(Image.new("RGB", (4000, 3000), (10, 200, 90)), "JPEG", exif=exif)
    photo = photos.process(data)
    assert (photo.type, photo.extension) == ("image/jpeg", "jpg")
    for variant, size in ((photo.large, (1200, 1600)), (photo.phone, (600, 800))):
        im = Image.open(io.BytesIO(variant.data))
        assert (variant.width, variant.height) == im.size == size
        assert len(im.getexif()) == 0 and b"PhoneMaker" not in variant.data


@pytest.mark.skipif(LIBHEIF is None, reason="no libheif with an HEVC encoder to make a HEIC with")
def test_a_heic_from_a_phone_becomes_a_jpeg_without_its_exif():
    """A 2000x1500 HEIC with the camera and the GPS position in its EXIF:
    the variants are JPEGs of 1600x1200 and 800x600 with no EXIF, and the
    colours survive the trip."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 7.0)}
    data = heic(Image.new("RGB", (2000, 1500), (200, 40, 40)), exif.tobytes())
    assert data[4:12] == b"ftypheic"
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the phone's position is in it
    photo = photos.process(data, "IMG_0001.HEIC")
    assert (photo.type, photo.extension) == ("image/jpeg", "jpg")
    for variant, size in ((photo.large, (1600, 1200)), (photo.phone, (800, 600))):
        im = Image.open(io.BytesIO(variant.data))
        assert im.format == "JPEG" and (variant.width, variant.height) == im.size == size
        assert len(im.getexif()) == 0 and b"PhoneMaker" not in variant.data
        red, green, blue = im.convert("RGB").getpixel((size[0] // 2, size[1] // 2))
        assert red > 170 and green < 80 and blue < 80


def test_small_pictures_are_not_enlarged_and_keep_their_format():
    """A 300x200 WebP stays 300x200 and WebP in both variants."""
    photo = photos.process(_encode(Image.new("RGBA", (300, 200)), "WEBP"))
    assert photo.type == "image/webp"
    assert (photo.large.width, photo.large.height) == (photo.phone.width, photo.phone.height) == (300, 200)


def test_a_cmyk_jpeg_becomes_rgb():
    photo = photos.process(_encode(Image.new("CMYK", (100, 100)), "JPEG"))
    assert Image.open(io.BytesIO(photo.large.data)).mode == "RGB"


@pytest.mark.parametrize("data", [
    b'<svg xmlns="http://www.w3.org/2000/svg"/>',
    b"GIF89a" + b"\0" * 100,
    b"not a picture at all",
    _encode(Image.new("RGB", (50, 50)), "GIF"),
    _encode(Image.new("RGB", (50, 50)), "BMP"),
])
def test_anything_but_jpeg_png_and_webp_is_refused(data):
    with pytest.raises(InvalidInput, match="is not a JPEG, PNG, WebP or HEIC picture"):
        photos.process(data, "upload")


def test_too_many_pixels_or_bytes_are_refused():
    """A PNG of 9000x9000 pixels (a few KB) and a file past the byte limit."""
    with pytest.raises(LimitExceeded, match="too many pixels|million"):
        photos.process(_encode(Image.new("1", (9000, 9000)), "PNG"))
    with pytest.raises(LimitExceeded, match="at most 15 MB"):
        photos.process(b"\xff\xd8\xff" + b"\0" * photos.MAX_UPLOAD_BYTES)


def test_a_logo_is_a_png_of_at_most_512_pixels():
    logo = photos.logo(_encode(Image.new("RGB", (2048, 1024)), "JPEG"))
    im = Image.open(io.BytesIO(logo.data))
    assert (im.format, im.size) == ("PNG", (512, 256))
