"""A readers-writer lock, one per business: Radicale's storage lock.

Radicale takes the storage lock ``"r"`` around every read and ``"w"`` around
every check-then-write (a PUT looks up the item, checks ``If-Match``, then
uploads). SQLite already makes each single read or write atomic; the lock
keeps those sequences whole. Writers are preferred so a stream of readers
cannot starve a PUT. Not re-entrant: Radicale never nests its locks.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator


class RWLock:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
