"""The DATA reader on its own: the same bytes give the same message however
the network splits them, and only CRLF "." CRLF ends the data."""

from __future__ import annotations

import asyncio

import pytest

from protocols.smtp.data import DataError, read_data

SMUGGLING_ENDINGS = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r.\n", b"\r\n.\n", b"\n.\r", b"\r\n.\r", b"\r.\r\n", b"\r\r\n.\r\r\n"]


def run(stream: bytes, chunk: int, *, bulk_limit: int = 16, max_line: int = 1000) -> tuple[bytes, DataError | None, bytes]:
    """Feed ``stream`` in pieces of ``chunk`` bytes; return (content, error, what is left unread)."""

    async def go():
        reader = asyncio.StreamReader(limit=64)

        async def feed():
            for i in range(0, len(stream), chunk):
                reader.feed_data(stream[i : i + chunk])
                await asyncio.sleep(0)
            reader.feed_eof()

        feeder = asyncio.ensure_future(feed())
        result = await read_data(reader, max_bytes=10_000, max_line=max_line, max_header=2_000, bulk_limit=bulk_limit)
        await feeder
        rest = await reader.read()
        return result.content, result.error, rest

    return asyncio.run(go())


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 64, 100_000])
@pytest.mark.parametrize("ending", SMUGGLING_ENDINGS, ids=[repr(e) for e in SMUGGLING_ENDINGS])
def test_smuggled_endings_never_end_data_wherever_the_stream_is_split(ending, chunk):
    """A fake end-of-data is content for every split of the stream; the real one ends it."""
    stream = b"Subject: x\r\n\r\nfirst" + ending + b"MAIL FROM:<evil@x>\r\n.\r\nQUIT\r\n"
    content, error, rest = run(stream, chunk)
    assert error is None
    assert rest == b"QUIT\r\n"
    assert b"MAIL FROM:<evil@x>\r\n" in content
    assert content.count(b"\n") == content.count(b"\r\n") == content.count(b"\r")


@pytest.mark.parametrize("chunk", [1, 3, 7, 100_000])
def test_dot_stuffing_and_empty_lines_for_every_split(chunk):
    """Stuffed lines lose one dot, empty lines before the end survive, wherever the stream is split."""
    stream = b"A: b\r\n\r\n..x\r\n..\r\n\r\n\r\n.\r\nNEXT\r\n"
    content, error, rest = run(stream, chunk)
    assert (content, error, rest) == (b"A: b\r\n\r\n.x\r\n.\r\n\r\n\r\n", None, b"NEXT\r\n")


@pytest.mark.parametrize("chunk", [1, 4, 100_000])
def test_empty_message(chunk):
    """DATA followed at once by "." is an empty message."""
    assert run(b".\r\nNEXT\r\n", chunk) == (b"", None, b"NEXT\r\n")


@pytest.mark.parametrize("chunk", [1, 9, 100_000])
def test_long_line_tail_that_looks_like_the_end_is_content(chunk):
    """The tail ".\\r\\n" of an over-long line is not an end of data."""
    stream = b"S: t\r\n\r\n" + b"x" * 40 + b".\r\n" + b"more\r\n.\r\nNEXT\r\n"
    content, error, rest = run(stream, chunk, max_line=20)
    assert error is DataError.LINE_TOO_LONG and rest == b"NEXT\r\n"
