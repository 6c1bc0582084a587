"""From the request line to a site path, and the small HTTP header grammars
serving needs (dates, entity tags, ranges, Accept-Encoding).

:func:`site_path` is where every traversal trick ends: it decodes the
percent-encoding exactly once and refuses what a file name of ours can never
be, rather than trying to normalise it into something harmless.
"""

from __future__ import annotations

import calendar
import time
from urllib.parse import unquote_to_bytes

from appliance.errors import InvalidInput
from storage.sites import check_path

#: Longest request path considered (raw, before decoding).
MAX_RAW_PATH = 4096


class BadPath(Exception):
    """The request path cannot name a file of a site (answered 400)."""


def site_path(raw: bytes) -> str:
    """The site path for a raw request path (``/a/b%20c.html`` -> ``a/b c.html``).

    The result has no leading slash; it is ``""`` for the root and ends in
    ``/`` for a directory. Raises :class:`BadPath` for: no leading slash
    (absolute-form or ``*``), over-long paths, an encoded slash, backslash or
    NUL, any ``%`` left after one decoding (double encoding), bytes that are
    not strict UTF-8 (overlong forms such as ``%c0%ae`` included), control
    characters, and ``.``, ``..`` or empty segments.
    """
    if not raw.startswith(b"/") or len(raw) > MAX_RAW_PATH:
        raise BadPath("not an origin-form path")
    lowered = raw.lower()
    # An encoded separator would let a segment smuggle a slash past any
    # per-segment check; nothing legitimate needs one.
    for bad in (b"%2f", b"%5c", b"%00", b"\\", b"\x00"):
        if bad in lowered:
            raise BadPath("encoded separator or NUL")
    decoded = unquote_to_bytes(raw[1:])
    if b"%" in decoded:
        raise BadPath("double percent-encoding")
    try:
        text = decoded.decode("utf-8")  # strict: overlong forms are errors
    except UnicodeDecodeError:
        raise BadPath("not UTF-8") from None
    directory = text.endswith("/")
    name = text[:-1] if directory else text
    if name:
        try:
            check_path(name)
        except InvalidInput as exc:
            raise BadPath(str(exc)) from None
    elif directory:
        raise BadPath("empty segment")  # "//"
    return text


def http_date(stamp: float) -> bytes:
    """RFC 9110 section 5.6.7 IMF-fixdate."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(stamp)).encode("ascii")


def parse_http_date(value: bytes) -> int | None:
    """Seconds since the epoch from an IMF-fixdate, or None."""
    try:
        return calendar.timegm(time.strptime(value.decode("ascii").strip(), "%a, %d %b %Y %H:%M:%S GMT"))
    except (ValueError, UnicodeDecodeError):
        return None


def etag_matches(header: bytes, tags: tuple[bytes, ...]) -> bool:
    """If-None-Match: weak comparison (RFC 9110 section 13.1.2) against ``tags``."""
    header = header.strip()
    if header == b"*":
        return True
    for item in header.split(b","):
        item = item.strip()
        if item.startswith(b"W/"):
            item = item[2:]
        if item in tags:
            return True
    return False


def accepts_gzip(header: bytes | None) -> bool:
    """Whether Accept-Encoding allows gzip (``gzip;q=0`` and ``*;q=0`` do not)."""
    if not header:
        return False
    star = None
    for item in header.lower().split(b","):
        coding, _, params = item.strip().partition(b";")
        q = 1.0
        params = params.strip()
        if params.startswith(b"q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        coding = coding.strip()
        if coding in (b"gzip", b"x-gzip"):
            return q > 0
        if coding == b"*":
            star = q > 0
    return bool(star)


class Unsatisfiable(Exception):
    """A byte range that starts past the end (answered 416)."""


def byte_range(header: bytes, size: int) -> tuple[int, int] | None:
    """The one range (first, last inclusive) a Range header asks for.

    None means "send the whole" (not a bytes range, several ranges, or a
    malformed one: RFC 9110 section 14.2 lets a server ignore Range).
    Raises :class:`Unsatisfiable` when the range starts past the end.
    """
    header = header.strip()
    if not header.startswith(b"bytes=") or b"," in header:
        return None
    spec = header[6:].strip()
    first_s, dash, last_s = spec.partition(b"-")
    if not dash:
        return None
    if not first_s:
        if not last_s.isdigit():
            return None
        suffix = int(last_s)
        if suffix == 0 or size == 0:
            raise Unsatisfiable()
        return max(0, size - suffix), size - 1
    if not first_s.isdigit() or (last_s and not last_s.isdigit()):
        return None
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if first >= size:
        raise Unsatisfiable()
    if last < first:
        return None
    return first, min(last, size - 1)
