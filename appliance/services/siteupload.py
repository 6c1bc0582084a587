"""Reading a website from a directory or a zip archive, and writing one.

Reading refuses anything that could reach outside the site or blow up on
the way in (symbolic links, absolute or ``..`` paths, encrypted or oversized
members, sizes a member lies about, too many files, more bytes than the
plan's web space), before anything is published.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path
from typing import BinaryIO, Mapping

from storage import sites

from ..errors import InvalidInput, LimitExceeded

#: Largest expansion accepted for a zip member over RATIO_FLOOR bytes.
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024
CHUNK = 64 * 1024


def read_directory(root: Path, limit: int) -> dict[str, bytes]:
    """Every regular file under ``root`` by relative POSIX path.

    Refuses symbolic links (to files or directories) and special files;
    stops as soon as the count or the bytes pass the limits.
    """
    files: dict[str, bytes] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            full = base / name
            rel = full.relative_to(root).as_posix()
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                raise InvalidInput(f"{rel} is a symbolic link; upload the files themselves")
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise InvalidInput(f"{rel} is not a regular file")
            sites.check_path(rel)
            if len(files) >= sites.MAX_FILES:
                raise LimitExceeded(f"more than {sites.MAX_FILES} files")
            total += st.st_size
            if total > limit:
                raise LimitExceeded(f"the files pass the plan's web space of {limit} bytes ({limit // 2**20} MiB)")
            with open(full, "rb", opener=_no_follow) as fh:
                body = fh.read(st.st_size + 1)
            if len(body) != st.st_size:
                raise InvalidInput(f"{rel} changed while it was read")
            files[rel] = body
    return files


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def read_zip(path: Path | BinaryIO, limit: int) -> dict[str, bytes]:
    """Every file of the zip archive ``path`` (a file name or a seekable
    binary stream) by its name in the archive.

    Checked before anything is read: names (no absolute, ``..``, backslash
    or duplicate names), symbolic links (Unix mode in ``external_attr``),
    encryption, the member count, the declared sizes against ``limit`` and
    the compression ratio. While reading, a member that yields more than it
    declared is refused, so a lying header cannot get past ``limit`` either.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        label = path if isinstance(path, (str, Path)) else "the file"
        raise InvalidInput(f"{label} is not a readable zip archive ({exc})") from None
    with archive:
        members = [i for i in archive.infolist() if not i.is_dir()]
        if len(members) > sites.MAX_FILES:
            raise LimitExceeded(f"the archive has {len(members)} files; at most {sites.MAX_FILES} are allowed")
        declared = 0
        seen: set[str] = set()
        for info in members:
            name = info.filename
            sites.check_path(name)
            if name in seen:
                raise InvalidInput(f"{name} appears twice in the archive")
            seen.add(name)
            # The high 16 bits are the Unix mode when the archiver set one;
            # many (Python's zipfile among them) leave the file type bits 0.
            kind = stat.S_IFMT(info.external_attr >> 16)
            if kind == stat.S_IFLNK:
                raise InvalidInput(f"{name} is a symbolic link; archive the files themselves")
            if kind and kind != stat.S_IFREG:
                raise InvalidInput(f"{name} is not a regular file")
            if info.flag_bits & 0x1:
                raise InvalidInput(f"{name} is encrypted")
            if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
                raise LimitExceeded(f"{name} expands more than {MAX_RATIO} times: refused as a zip bomb")
            declared += info.file_size
            if declared > limit:
                raise LimitExceeded(f"the archive holds more than the plan's web space of {limit} bytes ({limit // 2**20} MiB)")
        files: dict[str, bytes] = {}
        for info in members:
            chunks = []
            got = 0
            try:
                with archive.open(info) as fh:
                    while True:
                        chunk = fh.read(CHUNK)
                        if not chunk:
                            break
                        got += len(chunk)
                        if got > info.file_size:
                            raise LimitExceeded(f"{info.filename} holds more than it declares: refused as a zip bomb")
                        chunks.append(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
                raise InvalidInput(f"{info.filename}: cannot be read from the archive ({exc})") from None
            if got != info.file_size:
                raise InvalidInput(f"{info.filename} is shorter than it declares")
            files[info.filename] = b"".join(chunks)
        return files


def write_zip(files: Mapping[str, bytes], target: Path) -> None:
    """Write ``files`` as a zip archive to ``target``, atomically (a
    temporary file renamed into place). Raises InvalidInput when it cannot
    be written."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, body in files.items():
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, body)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
