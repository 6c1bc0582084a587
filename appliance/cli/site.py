"""``appliance site upload|download|show ...``: a business's website.

``upload`` reads a directory or a zip archive whole, refusing anything that
could reach outside the site or blow up on the way in (symbolic links,
absolute or ``..`` paths, encrypted or oversized members, sizes a member
lies about, too many files, more bytes than the plan's web space), and only
then publishes it as one new version in one transaction: a refusal changes
nothing, and visitors see the old version or the new one.

The site builder's commands (``init``, ``page``, ``build``...) are added to
the same ``site`` command by :mod:`sitegen.commands`.
"""

from __future__ import annotations

import argparse
import os
import stat
import zipfile
from pathlib import Path

from appliance.errors import InvalidInput, LimitExceeded, NotFound
from storage import sites

from .common import add_json, table

#: Largest expansion accepted for a zip member over RATIO_FLOOR bytes.
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024
CHUNK = 64 * 1024


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("site", help="websites")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = actions.add_parser("upload", help="publish a directory or zip archive as the business's website")
    a.add_argument("slug")
    a.add_argument("source", metavar="DIR|ZIP")
    add_json(a)
    a.set_defaults(handler=_upload)

    a = actions.add_parser("download", help="save the published website as a zip archive")
    a.add_argument("slug")
    a.add_argument("target", metavar="ZIP")
    add_json(a)
    a.set_defaults(handler=_download)

    a = actions.add_parser("show", help="the published version, its files and the web space used")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=_show)

    from sitegen import commands

    commands.register(actions)


def _limit(ctx, slug: str) -> tuple[object, int]:
    handle = ctx.app.provisioning.handle(slug)
    limit = handle.read_sync("web space", lambda c: sites.summary(c)["limit_bytes"])
    return handle, limit


def _upload(ctx) -> None:
    handle, limit = _limit(ctx, ctx.args.slug)
    source = Path(ctx.args.source)
    try:
        if source.is_symlink():
            raise InvalidInput(f"{source} is a symbolic link")
        if source.is_dir():
            files = read_directory(source, limit)
        elif source.is_file():
            files = read_zip(source, limit)
        else:
            raise NotFound(f"no directory or zip archive {source}")
    except OSError as exc:
        raise InvalidInput(f"cannot read {exc.filename or source}: {exc.strerror or exc}") from None
    version = handle.write_sync(
        "site upload", lambda c: sites.publish(c, files, limit_bytes=limit, source="upload")
    )
    total = sum(len(b) for b in files.values())
    ctx.emit(
        {"slug": handle.slug, "version": version, "files": len(files), "bytes": total},
        lambda r: f"published {r['slug']} version {r['version']}: {r['files']} files, {r['bytes']} bytes",
    )


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


def read_zip(path: Path, limit: int) -> dict[str, bytes]:
    """Every file of the zip archive ``path`` by its name in the archive.

    Checked before anything is read: names (no absolute, ``..``, backslash
    or duplicate names), symbolic links (Unix mode in ``external_attr``),
    encryption, the member count, the declared sizes against ``limit`` and
    the compression ratio. While reading, a member that yields more than it
    declared is refused, so a lying header cannot get past ``limit`` either.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(f"{path} is not a readable zip archive ({exc})") from None
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


def _download(ctx) -> None:
    handle = ctx.app.provisioning.handle(ctx.args.slug)
    files = handle.read_sync("site download", sites.files_of)
    if not files:
        raise NotFound(f"{handle.slug} has no published website")
    target = Path(ctx.args.target)
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
    ctx.emit(
        {"slug": handle.slug, "file": str(target), "files": len(files), "bytes": sum(map(len, files.values()))},
        lambda r: f"saved {r['files']} files ({r['bytes']} bytes) to {r['file']}",
    )


def _show(ctx) -> None:
    handle = ctx.app.provisioning.handle(ctx.args.slug)
    ctx.emit(handle.read_sync("site show", sites.summary), _plain_show)


def _plain_show(s: dict) -> str:
    if not s["version"]:
        return f"no website published (web space {s['limit_bytes']} bytes)"
    head = (
        f"version {s['version']} published {s['published']} ({s['source']}): {len(s['files'])} files,"
        f" {s['bytes']} of {s['limit_bytes']} bytes"
    )
    return head + "\n" + table(s["files"], ("path", "bytes", "gzip_bytes", "type"))
