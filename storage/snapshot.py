"""A snapshot of the whole state: the box database and every business file,
each copied with SQLite's online backup API, as they are (no migration runs).

What an upgrade takes before the new code touches the state, so that the
old version can be given back its files. The layout mirrors the state
directory's: ``<target>/box.sqlite3`` and ``<target>/tenants/<slug>.sqlite3``,
each a standalone file (no WAL beside it). Putting a snapshot back is
copying these files over the state's while the daemon is stopped (the
installer does it, README "Upgrades").
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from .database import connect

log = logging.getLogger(__name__)

#: Snapshots hold every business whole: the owner's and nobody else's.
MODE = 0o600


def databases(state_dir: str | Path) -> list[Path]:
    """The box database and the business files of ``state_dir``, relative
    to it (staging files, which start with a dot, are not part of the state)."""
    state_dir = Path(state_dir)
    found = [Path("box.sqlite3")] if (state_dir / "box.sqlite3").exists() else []
    tenants = state_dir / "tenants"
    if tenants.is_dir():
        found += [p.relative_to(state_dir) for p in sorted(tenants.glob("[a-z0-9]*.sqlite3"))]
    return found


def take(state_dir: str | Path, target: str | Path) -> list[Path]:
    """Copy every database of ``state_dir`` into the new directory ``target``
    and return the copies' paths.

    The files are written into ``<target>.partial`` and flushed, and that
    directory is renamed to ``target`` last: a ``target`` that exists is
    complete. Raises FileExistsError when ``target`` exists (a snapshot is
    never overwritten); the state is only read.
    """
    state_dir, target = Path(state_dir), Path(target)
    if target.exists():
        raise FileExistsError(f"{target} exists")
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        for old in sorted(partial.rglob("*"), reverse=True):
            old.rmdir() if old.is_dir() else old.unlink()
        partial.rmdir()
    partial.mkdir(mode=0o700)
    (partial / "tenants").mkdir(mode=0o700)
    written = []
    for rel in databases(state_dir):
        copy = partial / rel
        _backup(state_dir / rel, copy)
        written.append(target / rel)
    for directory in (partial / "tenants", partial):
        _fsync_dir(directory)
    os.rename(partial, target)
    _fsync_dir(target.parent)
    log.info("snapshot of %s: %d databases in %s", state_dir, len(written), target)
    return written


def _backup(source: Path, copy: Path) -> None:
    src = connect(source, readonly=True)
    try:
        os.close(os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE))
        dst = sqlite3.connect(str(copy))
        try:
            src.backup(dst)
            # A copy must stand alone: no WAL beside it.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
        with open(copy, "rb") as fh:
            os.fsync(fh.fileno())
    finally:
        src.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["databases", "take"]
