"""A few threads that do the SQLite work of many database files.

A box with a thousand businesses must not keep a thousand writer threads
(and their read pools) alive: most files are quiet most of the time. Every
:class:`storage.database.Database` of a :class:`storage.tenants.TenantPool`
hands its work to one shared :class:`Workers`; a file's writes still run one
transaction at a time (the database schedules at most one drain of its
queue at once), so sharing the threads changes who runs the work, not its
order or its guarantees.

Contract for the functions databases pass in: they may read any database
(a read asked for on a worker runs inline, so it can never wait for a
worker), but must not wait for another database's *writes*: with every
worker waiting so, none would be left to commit.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Callable


class Workers:
    """``threads`` threads, started on demand, shared by many databases."""

    def __init__(self, threads: int, name: str = "db") -> None:
        self.threads = max(1, threads)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix=name)
        self._local = threading.local()

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        """Run ``fn(*args)`` on a worker; its future. Raises RuntimeError
        after :meth:`shutdown`."""
        return self._executor.submit(self._run, fn, args)

    def _run(self, fn: Callable[..., Any], args: tuple) -> Any:
        self._local.inside = True
        return fn(*args)

    @property
    def inside(self) -> bool:
        """True on one of these workers' threads."""
        return getattr(self._local, "inside", False)

    def shutdown(self) -> None:
        """Finish what was submitted, then stop the threads. Idempotent."""
        self._executor.shutdown(wait=True)
