"""Images an owner may put on a site: type and pixel size from the bytes.

Only raster formats every browser shows are accepted (PNG, JPEG, GIF, WebP),
identified by their signature, never by the file name. SVG is refused: it is
a document that can carry scripts. The pixel size is read from the header so
pages can give ``width``/``height`` and the layout does not jump as images
load.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from storage.errors import InvalidInput, LimitExceeded

#: Largest single image, in bytes.
MAX_IMAGE_BYTES = 2 * 1024 * 1024
#: Largest width or height, in pixels.
MAX_DIMENSION = 10_000

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_.-]{0,78}[a-z0-9])?$")

EXTENSIONS = {"image/png": ("png",), "image/jpeg": ("jpg", "jpeg"), "image/gif": ("gif",), "image/webp": ("webp",)}


@dataclass(frozen=True)
class ImageInfo:
    type: str
    width: int
    height: int


def name(value: str) -> str:
    """A stored image's name: lower-case, ``a-z 0-9 . _ -``, with an image extension."""
    value = value.strip().lower()
    ext = value.rpartition(".")[2]
    if not NAME_RE.match(value) or ".." in value or ext not in {e for es in EXTENSIONS.values() for e in es}:
        raise InvalidInput(
            f"invalid image name {value!r}: use a-z, 0-9, '-', '_' and '.', ending in .jpg, .png, .gif or .webp"
        )
    return value


def inspect(data: bytes, label: str = "image") -> ImageInfo:
    """Type and size of ``data``; :class:`InvalidInput` unless it is a sane image."""
    if len(data) > MAX_IMAGE_BYTES:
        raise LimitExceeded(f"{label} is {len(data)} bytes; images may be at most {MAX_IMAGE_BYTES // 1024} KiB")
    try:
        info = _sniff(data)
    except (struct.error, IndexError, ValueError):
        info = None
    if info is None:
        raise InvalidInput(f"{label} is not a PNG, JPEG, GIF or WebP image")
    if not (0 < info.width <= MAX_DIMENSION and 0 < info.height <= MAX_DIMENSION):
        raise InvalidInput(f"{label} is {info.width}x{info.height} pixels; at most {MAX_DIMENSION} each way")
    return info


def matches_name(info: ImageInfo, image_name: str) -> bool:
    return image_name.rpartition(".")[2] in EXTENSIONS[info.type]


def _sniff(data: bytes) -> ImageInfo | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return ImageInfo("image/png", w, h)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        w, h = struct.unpack("<HH", data[6:10])
        return ImageInfo("image/gif", w, h)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg(data)
    return None


def _webp(data: bytes) -> ImageInfo | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return ImageInfo("image/webp", w & 0x3FFF, h & 0x3FFF)
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return ImageInfo("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return ImageInfo("image/webp", w, h)
    return None


def _jpeg(data: bytes) -> ImageInfo | None:
    # Walk the marker segments (ITU T.81 B.1.1) to the first start-of-frame.
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return ImageInfo("image/jpeg", w, h)
        if length < 2:
            return None
        pos += 2 + length
    return None
