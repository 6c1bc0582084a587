"""Built drafts kept for the pages that ask for many files of one draft.

The website page shows each theme's home page in a frame, and every frame
asks for its page and its stylesheet; the preview asks for a page and its
files. Each of these answers is one file of a whole build. A
:class:`DraftCache` keeps the last few builds, so the files of one draft
are built once.

Keys are chosen by the caller and must hold everything the build depends
on, the business first (one business never gets another's build). The
cache is bounded by entries and by bytes, least recently used out first;
a build larger than the byte bound is returned but not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable

Files = dict[str, bytes]


class DraftCache:
    """A thread-safe LRU of builds (``{path: bytes}``) by key.

    ``get`` calls ``build`` on a miss, in the calling thread (never the
    event loop's: builds are CPU-bound); callers asking for the same key
    while it builds wait for that build instead of starting theirs.
    ``builds`` counts the builds it ran (tests and benchmarks read it).
    """

    def __init__(self, max_entries: int = 8, max_bytes: int = 32 * 1024 * 1024):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.builds = 0
        self._entries: OrderedDict[Hashable, tuple[Files, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, build: Callable[[], Files]) -> Files:
        """The build of ``key``, kept or made by ``build`` now. The caller
        must not change the dict it gets."""
        with self._lock:
            found = self._hit(key)
            if found is not None:
                return found
            own = self._building.setdefault(key, threading.Lock())
        with own:
            with self._lock:
                found = self._hit(key)
                if found is not None:
                    return found
            try:
                files = build()
            except BaseException:
                with self._lock:
                    self._building.pop(key, None)
                raise
            with self._lock:
                self.builds += 1
                self._keep(key, files)
                self._building.pop(key, None)
            return files

    def _hit(self, key: Hashable) -> Files | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def _keep(self, key: Hashable, files: Files) -> None:
        size = sum(len(k) + len(v) for k, v in files.items())
        if size > self.max_bytes:
            return
        if key in self._entries:
            self._bytes -= self._entries.pop(key)[1]
        self._entries[key] = (files, size)
        self._bytes += size
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            self._bytes -= self._entries.popitem(last=False)[1][1]
