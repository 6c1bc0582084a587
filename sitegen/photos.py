"""Photos as phones take them, made fit for a website.

:func:`process` takes the bytes an owner uploaded (a JPEG, PNG, WebP or
HEIC/HEIF of up to :data:`MAX_UPLOAD_BYTES`, as a phone's camera writes it)
and returns the variants a theme shows: ``large`` (at most :data:`LARGE`
pixels on the longest side) and ``phone`` (at most :data:`PHONE`), each
turned upright by its orientation first, re-encoded in the same format (a
HEIC as a JPEG, which every browser shows) and carrying no metadata at all:
no EXIF (so no GPS position, camera or date), no XMP, no comments. Only the
colour profile is kept, which says nothing of the place.

HEIC/HEIF is read by pi-heif, a decoder only, registered with Pillow here.

Anything else is refused with :class:`InvalidInput` or
:class:`LimitExceeded` before a byte is stored: SVG and every other format
(the type is read from the bytes, never from the name), a file that is not
an image or is cut short, and a decompression bomb (more than
:data:`MAX_PIXELS` pixels, checked from the header before decoding). The
work is CPU-bound: callers run it off the event loop.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import pi_heif
from PIL import Image, ImageOps

from storage.errors import InvalidInput, LimitExceeded

pi_heif.register_heif_opener()

#: Largest upload of one picture, in bytes (a 12 MB phone photo, with room).
MAX_UPLOAD_BYTES = 15 * 1024 * 1024
#: Most pixels a picture may have (a 50-megapixel phone camera, with room).
MAX_PIXELS = 64_000_000
#: The longest side of each variant, in pixels.
LARGE = 1600
PHONE = 800
#: The longest side of a logo, in pixels.
LOGO = 512

# Pillow warns past MAX_IMAGE_PIXELS and raises past twice that; ours is
# checked before decoding, and the warning is turned into a refusal below.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

#: Pillow's format name -> (content type, extension), for what is made.
FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp")}
#: What is accepted: Pillow's format name -> the format it is made into.
ACCEPTED = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WEBP", "HEIF": "JPEG"}
_QUALITY = {"JPEG": {"quality": 85, "optimize": True, "progressive": True},
            "PNG": {"optimize": True},
            "WEBP": {"quality": 82, "method": 4}}


@dataclass(frozen=True)
class Variant:
    width: int
    height: int
    data: bytes


@dataclass(frozen=True)
class Photo:
    """A processed picture: its type, extension and two variants."""

    type: str
    extension: str
    large: Variant
    phone: Variant


def process(data: bytes, label: str = "the file") -> Photo:
    """The web variants of ``data`` (see module doc). Raises InvalidInput
    (not a JPEG, PNG, WebP or HEIC picture, or unreadable) or LimitExceeded
    (too many bytes or pixels)."""
    fmt, upright = _open(data, label)
    fmt = ACCEPTED[fmt]
    upright, icc = _plain_mode(upright, fmt)
    ctype, ext = FORMATS[fmt]
    return Photo(ctype, ext, _variant(upright, fmt, LARGE, icc), _variant(upright, fmt, PHONE, icc))


def logo(data: bytes, label: str = "the logo") -> Variant:
    """A business's logo from ``data`` (checked as :func:`process` checks
    a photo): at most :data:`LOGO` pixels each way, as a PNG (which keeps
    transparency) with no metadata."""
    _, upright = _open(data, label)
    plain, icc = _plain_mode(upright, "PNG")
    return _variant(plain, "PNG", LOGO, icc)


def _open(data: bytes, label: str) -> tuple[str, Image.Image]:
    """(Pillow's format, one of :data:`ACCEPTED`; the decoded picture turned upright)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise LimitExceeded(f"{label} is {len(data) // (1024 * 1024)} MB; a picture may be at most "
                            f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(ACCEPTED)) as im:
                fmt = im.format
                width, height = im.size
                if width * height > MAX_PIXELS:
                    raise LimitExceeded(f"{label} is {width}x{height} pixels; a picture may have at most "
                                        f"{MAX_PIXELS // 1_000_000} million")
                im.seek(0)
                upright = ImageOps.exif_transpose(im)
                upright.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise LimitExceeded(f"{label} has too many pixels; a picture may have at most "
                                f"{MAX_PIXELS // 1_000_000} million") from None
        except (OSError, SyntaxError, ValueError, EOFError, Image.UnidentifiedImageError):
            raise InvalidInput(f"{label} is not a JPEG, PNG, WebP or HEIC picture") from None
    if fmt not in ACCEPTED:
        raise InvalidInput(f"{label} is not a JPEG, PNG, WebP or HEIC picture")
    return fmt, upright


def _plain_mode(im: Image.Image, fmt: str) -> tuple[Image.Image, bytes | None]:
    """``im`` in a mode its format saves as a photo (RGB or grey for JPEG;
    RGB, RGBA or grey for PNG and WebP, keeping transparency), and the
    colour profile that still describes it (a CMYK profile does not
    describe the RGB pixels it is converted to)."""
    icc = im.info.get("icc_profile")
    keep = ("RGB", "L") if fmt == "JPEG" else ("RGB", "RGBA", "L")
    if im.mode in keep:
        return im, icc
    if fmt == "JPEG":
        target = "RGB"
    else:
        target = "RGBA" if im.mode in ("LA", "PA", "RGBa") or "transparency" in im.info else "RGB"
    return im.convert(target), icc if im.mode.startswith(target) else None


def _variant(im: Image.Image, fmt: str, longest: int, icc: bytes | None) -> Variant:
    # A fresh image from the pixels alone: nothing of the original's info
    # (EXIF, XMP, comments, text chunks) can travel with it.
    out = Image.frombytes(im.mode, im.size, im.tobytes())
    out.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    params = dict(_QUALITY[fmt])
    if icc:
        params["icc_profile"] = icc
    out.save(buf, fmt, **params)
    return Variant(out.width, out.height, buf.getvalue())
