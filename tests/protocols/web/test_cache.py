"""protocols.web.site.FileCache: the byte bound, least recently used
eviction and forgetting one business's answers when it publishes."""

from __future__ import annotations

from protocols.web.site import ENTRY_OVERHEAD, Answer, FileCache, Prepared
from storage.sites import SiteFile


def answer(version: int, size: int) -> Answer:
    body = b"x" * size
    f = SiteFile("p", "text/plain; charset=utf-8", '"e"', 0, size, body, None)
    return Answer(version, "file", Prepared.of(f))


def test_least_recently_used_answers_go_first_past_the_bound():
    """With room for two answers, adding a third drops the one used longest ago."""
    cache = FileCache(max_bytes=2 * (1000 + ENTRY_OVERHEAD), max_entry=10_000)
    cache.put("a", "one", answer(1, 1000))
    cache.put("a", "two", answer(1, 1000))
    assert cache.get("a", "one", 1) is not None  # "two" is now the oldest
    cache.put("a", "three", answer(1, 1000))
    assert cache.get("a", "two", 1) is None
    assert cache.get("a", "one", 1) is not None and cache.get("a", "three", 1) is not None
    assert cache.bytes <= cache.max_bytes


def test_answers_over_the_entry_limit_are_not_kept():
    """A file larger than max_entry is never cached."""
    cache = FileCache(max_bytes=1 << 20, max_entry=4096)
    cache.put("a", "big", answer(1, 5000))
    assert cache.get("a", "big", 1) is None and cache.bytes == 0


def test_an_answer_of_another_version_is_a_miss():
    """An answer cached for version 1 is not served once version 2 is live."""
    cache = FileCache(max_bytes=1 << 20, max_entry=1 << 20)
    cache.put("a", "p", answer(1, 10))
    assert cache.get("a", "p", 2) is None


def test_drop_forgets_one_business_only():
    """drop("a") removes a's answers and their bytes, and keeps b's."""
    cache = FileCache(max_bytes=1 << 20, max_entry=1 << 20)
    cache.put("a", "p", answer(1, 100))
    cache.put("a", "q", answer(1, 100))
    cache.put("b", "p", answer(1, 100))
    cache.drop("a")
    assert cache.get("a", "p", 1) is None and cache.get("a", "q", 1) is None
    assert cache.get("b", "p", 1) is not None
    assert cache.bytes == 100 + ENTRY_OVERHEAD
