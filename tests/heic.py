"""HEIC files for the tests, written by the system's libheif (its x265
encoder) through ctypes: pi-heif, which the appliance uses, only decodes.
:func:`encoder` is None where no libheif with an HEVC encoder is installed."""

from __future__ import annotations

import ctypes
import ctypes.util
import tempfile
from pathlib import Path

from PIL import Image

HEVC = 1  # enum heif_compression_format
RGB = 1  # enum heif_colorspace
INTERLEAVED_RGB = 10  # enum heif_chroma
INTERLEAVED = 10  # enum heif_channel


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("subcode", ctypes.c_int), ("message", ctypes.c_char_p)]


def _library():
    name = ctypes.util.find_library("heif")
    if name is None:
        return None
    lib = ctypes.CDLL(name)
    for fn in ("heif_context_get_encoder_for_format", "heif_image_create", "heif_image_add_plane",
               "heif_encoder_set_lossy_quality", "heif_context_encode_image", "heif_context_add_exif_metadata",
               "heif_context_write_to_file"):
        getattr(lib, fn).restype = _Error
    lib.heif_context_alloc.restype = ctypes.c_void_p
    lib.heif_image_get_plane.restype = ctypes.POINTER(ctypes.c_uint8)
    lib.heif_image_get_plane.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    lib.heif_context_free.argtypes = [ctypes.c_void_p]
    ctx = lib.heif_context_alloc()
    encoder = ctypes.c_void_p()
    found = lib.heif_context_get_encoder_for_format(ctypes.c_void_p(ctx), HEVC, ctypes.byref(encoder))
    lib.heif_context_free(ctx)
    if found.code:
        return None
    lib.heif_encoder_release(encoder)
    return lib


LIBHEIF = _library()


def _check(error: _Error) -> None:
    if error.code:
        raise RuntimeError(f"libheif: {error.message.decode()}")


def heic(image: Image.Image, exif: bytes | None = None) -> bytes:
    """``image`` (RGB) as a HEIC file, with the ``exif`` block (as
    ``Image.Exif().tobytes()`` gives it) when one is given."""
    lib = LIBHEIF
    assert lib is not None, "no libheif with an HEVC encoder"
    width, height = image.size
    ctx = ctypes.c_void_p(lib.heif_context_alloc())
    encoder, img, handle = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
    try:
        _check(lib.heif_context_get_encoder_for_format(ctx, HEVC, ctypes.byref(encoder)))
        _check(lib.heif_encoder_set_lossy_quality(encoder, 90))
        _check(lib.heif_image_create(width, height, RGB, INTERLEAVED_RGB, ctypes.byref(img)))
        _check(lib.heif_image_add_plane(img, INTERLEAVED, width, height, 8))
        stride = ctypes.c_int()
        plane = lib.heif_image_get_plane(img, INTERLEAVED, ctypes.byref(stride))
        pixels = image.convert("RGB").tobytes()
        for row in range(height):
            ctypes.memmove(ctypes.addressof(plane.contents) + row * stride.value,
                           pixels[row * width * 3:(row + 1) * width * 3], width * 3)
        _check(lib.heif_context_encode_image(ctx, img, encoder, None, ctypes.byref(handle)))
        if exif:
            _check(lib.heif_context_add_exif_metadata(ctx, handle, exif, len(exif)))
        with tempfile.TemporaryDirectory() as work:
            path = Path(work) / "photo.heic"
            _check(lib.heif_context_write_to_file(ctx, str(path).encode()))
            return path.read_bytes()
    finally:
        if handle:
            lib.heif_image_handle_release(handle)
        if img:
            lib.heif_image_release(img)
        if encoder:
            lib.heif_encoder_release(encoder)
        lib.heif_context_free(ctx)
