"""Reading the DATA section: end of data, dot-unstuffing, size limits and
bare line ends.

Only ``<CR><LF>.<CR><LF>`` ends DATA (RFC 5321 section 4.1.1.4). Lines are
split at ``<CR><LF>`` only, so none of the SMTP smuggling end-of-data
variants (``<LF>.<LF>``, ``<LF>.<CR><LF>``, ``<CR>.<CR>``, ``<CR>.<LF>``, ...)
can end a message early. A bare ``<LF>`` or bare ``<CR>`` is then
normalised to ``<CR><LF>``, as Postfix's
``smtpd_forbid_bare_newline = normalize`` does, so what is stored (and
later relayed) has only standard line ends: a "." that was smuggled in on
its own line stays content, and is dot-stuffed again if the message is
sent on.
"""

from __future__ import annotations

import asyncio
import enum
import re
from dataclasses import dataclass
from typing import Callable


class DataError(enum.Enum):
    LINE_TOO_LONG = "500 5.5.2 Line too long (RFC 5321 section 4.5.3.1.6)"
    TOO_BIG = "552 5.3.4 Message too big"
    HEADER_TOO_BIG = "552 5.3.4 Message header too big"


@dataclass
class DataResult:
    content: bytes
    error: DataError | None
    #: Lines in which a bare CR or LF was normalised.
    normalised: int


#: How much the stream may buffer while DATA is read in bulk.
BULK_LIMIT = 1 << 16


async def read_data(
    reader: asyncio.StreamReader,
    *,
    max_bytes: int,
    max_line: int,
    max_header: int,
    progress: Callable[[], None] | None = None,
    bulk_limit: int = BULK_LIMIT,
) -> DataResult:
    """Read up to the end-of-data line; see module doc.

    The data is read in bulk, from one line that starts with a dot to the
    next (``readuntil(b"\\r\\n.")``), not line by line: a line that
    starts with a dot is either the end of data or dot-stuffed, and every
    other line needs no look at all. Limits are checked on the whole:
    size as it arrives (the excess is read and thrown away, never kept),
    line length and header size at the end; the stream never buffers more
    than ``bulk_limit`` bytes. On any error the rest of the
    data is still read, so the reply comes after the end of data as
    RFC 5321 section 4.2.5 expects.

    Only ``\\r\\n`` separates lines here, so a dot after a bare CR or LF
    is content (and is kept as it is, not unstuffed).
    """
    saved_limit = reader._limit  # type: ignore[attr-defined]
    # The stream's limit is one command line; DATA is read in larger pieces.
    reader._limit = bulk_limit  # type: ignore[attr-defined]
    try:
        parts, error = await _read_parts(reader, max_bytes, progress)
    except asyncio.IncompleteReadError:
        # The client went away in the middle of DATA: nothing is stored.
        raise ConnectionResetError("connection closed during DATA") from None
    finally:
        reader._limit = saved_limit  # type: ignore[attr-defined]
    if error is not None:
        return DataResult(b"", error, 0)
    content = b"".join(parts)
    parts.clear()
    crlf = content.count(b"\r\n")
    normalised = (content.count(b"\r") - crlf) + (content.count(b"\n") - crlf)
    if normalised:
        content = _BARE_END.sub(b"\r\n", content)
    if content and max(map(len, content.split(b"\r\n"))) + 2 > max_line:
        return DataResult(b"", DataError.LINE_TOO_LONG, normalised)
    end = content.find(b"\r\n\r\n")
    header = len(content) if end < 0 else end + 2
    if header > max_header:
        return DataResult(b"", DataError.HEADER_TOO_BIG, normalised)
    return DataResult(content, None, normalised)


_BARE_END = re.compile(rb"\r\n|\r|\n")

# States of the reader: where in a line the stream is positioned.
_AFTER_CRLF, _AFTER_CR, _MID_LINE, _AFTER_DOT = range(4)

#: A run of bare CRs longer than this is read in bulk: a CRLF "." split
#: right after it may then go unseen, which can only make DATA end later,
#: never earlier.
MAX_CR_RUN = 1000


async def _read_parts(
    reader: asyncio.StreamReader, max_bytes: int, progress: Callable[[], None] | None
) -> tuple[list[bytes], DataError | None]:
    parts: list[bytes] = []
    total = 0
    error: DataError | None = None
    state = _AFTER_CRLF
    cr_run = 0
    while True:
        if state == _AFTER_CRLF:
            piece = await reader.readexactly(1)
            if piece == b".":
                state = _AFTER_DOT
                continue
            cr_run = 0
            state = _AFTER_CR if piece == b"\r" else _MID_LINE
        elif state == _AFTER_CR:
            # The last byte was a CR: a LF now completes a line ending, and
            # "\r\n." must not be missed because the CR is already consumed.
            piece = await reader.readexactly(1)
            cr_run += 1
            if piece == b"\n":
                state = _AFTER_CRLF
            elif piece != b"\r" or cr_run > MAX_CR_RUN:
                state = _MID_LINE
        elif state == _MID_LINE:
            try:
                chunk = await reader.readuntil(b"\r\n.")
                piece = chunk[:-1]  # the dot is consumed: the next line starts with it
                state = _AFTER_DOT
            except asyncio.LimitOverrunError as exc:
                piece = await reader.read(exc.consumed)
        else:  # _AFTER_DOT: a line that started with "."
            piece = await _line(reader)
            if piece == b"\r\n":
                break  # "." alone: the end of data
            # Dot-unstuffing (RFC 5321 section 4.5.2): the dot is dropped.
            state = _AFTER_CRLF if piece.endswith(b"\r\n") else _MID_LINE
            cr_run = 0
        total += len(piece)
        if progress is not None:
            progress()
        if error is None:
            if total > max_bytes:
                error = DataError.TOO_BIG
                parts.clear()
            else:
                parts.append(piece)
    return parts, error


async def _line(reader: asyncio.StreamReader) -> bytes:
    """The rest of the current line with its CRLF, or a piece of it if it is
    longer than the stream's limit (the caller goes on mid-line)."""
    try:
        return await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError as exc:
        return await reader.read(exc.consumed)
