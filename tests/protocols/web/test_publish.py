"""``appliance site upload|download|show`` as the operator runs them: round
trips through directories and zip archives, and every hostile archive or
directory refused with one line while the published version stays as it was.

The business here is on a plan with 1 MiB of web space.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest

from tests.conftest import TEST_CONFIG, Cli

CONFIG = TEST_CONFIG + "\n[plans.tiny]\nweb_mb = 1\n"
LIMIT = 1024 * 1024
SITE = {
    "index.html": b"<!DOCTYPE html><title>Shop</title><h1>Shop</h1>\n",
    "css/style.css": b"body { margin: 0 }\n" * 30,
    "img/logo.png": b"\x89PNG\r\n\x1a\n" + os.urandom(2000),
    "caf\u00e9/index.html": b"<h1>Caf\xc3\xa9</h1>",
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    work = tmp_path_factory.mktemp("publish")
    (work / "state").mkdir()
    config = work / "appliance.toml"
    config.write_text(CONFIG)
    cli = Cli(work / "state", config)
    cli("tenant", "add", "shop", "--plan", "tiny")
    root = write_tree(work / "site", SITE)
    cli("site", "upload", "shop", str(root))
    return cli, work


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, body in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return root


def zip_of(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, body in members:
            archive.writestr(info, body)
    return path


def download(cli: Cli, work: Path) -> dict[str, bytes]:
    target = work / "download.zip"
    cli("site", "download", "shop", str(target))
    with zipfile.ZipFile(target) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def refused(cli: Cli, work: Path, source: Path, expected: str) -> None:
    """Upload ``source``: it must fail with one line containing ``expected``
    and leave the published version and its files as they were."""
    before = cli.json("site", "show", "shop")
    proc = cli("site", "upload", "shop", str(source), check=False)
    assert proc.returncode != 0, proc.stdout
    message = proc.stderr.strip()
    assert "\n" not in message and expected in message, message
    # Versions are never changed once published: the same live version with
    # the same file list is the same site.
    assert cli.json("site", "show", "shop") == before


def test_a_directory_round_trips_through_download(shop):
    """What was uploaded from a directory comes back byte for byte from download."""
    cli, work = shop
    assert download(cli, work) == SITE


def test_show_reports_version_files_bytes_and_web_space(shop):
    """site show --json gives the live version, each file and the plan's web space."""
    cli, _ = shop
    shown = cli.json("site", "show", "shop")
    assert shown["version"] >= 1 and shown["source"] == "upload"
    assert sorted(f["path"] for f in shown["files"]) == sorted(SITE)
    assert shown["bytes"] == sum(map(len, SITE.values())) and shown["limit_bytes"] == LIMIT


def test_a_zip_upload_is_a_new_version_and_round_trips(shop):
    """Uploading a zip archive publishes a higher version holding exactly its files."""
    cli, work = shop
    before = cli.json("site", "show", "shop")["version"]
    other = {"index.html": b"<h1>zipped</h1>", "a/b/c.txt": b"deep"}
    archive = zip_of(work / "other.zip", [(name, body) for name, body in other.items()] + [("a/", b"")])
    cli("site", "upload", "shop", str(archive))
    assert cli.json("site", "show", "shop")["version"] > before
    assert download(cli, work) == other
    cli("site", "upload", "shop", str(work / "site"))
    assert download(cli, work) == SITE


@pytest.mark.parametrize("name,expected", [
    ("../evil.html", "not a plain relative path"),
    ("a/../../evil.html", "not a plain relative path"),
    ("/etc/cron.d/evil", "absolute"),
    ("a\\..\\evil.html", "backslash"),
    ("a\x01b.html", "control character"),
])
def test_zip_slip_names_are_refused(shop, tmp_path, name, expected):
    """Members named outside the site (.., absolute, backslashes, control characters) refuse the archive."""
    cli, work = shop
    source = zip_of(tmp_path / "slip.zip", [("index.html", b"ok"), (zipfile.ZipInfo(name), b"evil")])
    refused(cli, work, source, expected)


def test_a_symlink_member_in_a_zip_is_refused(shop, tmp_path):
    """A member whose Unix mode (external_attr) is a symbolic link refuses the archive."""
    cli, work = shop
    link = zipfile.ZipInfo("passwd.html")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    source = zip_of(tmp_path / "link.zip", [("index.html", b"ok"), (link, b"/etc/passwd")])
    refused(cli, work, source, "symbolic link")


@pytest.mark.parametrize("target_kind", ["file", "directory"])
def test_a_symlink_in_a_directory_is_refused(shop, tmp_path, target_kind):
    """A symbolic link to a file or a directory anywhere in the tree refuses the upload."""
    cli, work = shop
    root = write_tree(tmp_path / "linked", {"index.html": b"ok"})
    (root / "escape").symlink_to("/etc/passwd" if target_kind == "file" else "/etc")
    refused(cli, work, root, "symbolic link")


def test_a_zip_bomb_is_refused_by_its_ratio(shop, tmp_path):
    """A member that declares a huge expansion of a tiny compressed size is refused before it is read."""
    cli, work = shop
    source = zip_of(tmp_path / "bomb.zip", [("index.html", b"ok"), ("zeros.html", b"\0" * (2 * LIMIT))])
    assert source.stat().st_size < 20_000
    refused(cli, work, source, "zip bomb")


def test_a_member_lying_about_its_size_is_refused(shop, tmp_path):
    """A member whose headers declare fewer bytes than it expands to is refused, not truncated and published."""
    cli, work = shop
    body = b"A" * 200_000
    source = zip_of(tmp_path / "liar.zip", [("index.html", b"ok"), ("big.html", body)])
    raw = bytearray(source.read_bytes())
    # Shrink the declared uncompressed size in both the local header and the
    # central directory entry (the 4-byte little-endian field after the
    # compressed size).
    declared = len(body).to_bytes(4, "little")
    count = 0
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            if raw[start + offset:start + offset + 4] == declared:
                raw[start + offset:start + offset + 4] = (100).to_bytes(4, "little")
                count += 1
            start += 4
    assert count == 2
    source.write_bytes(bytes(raw))
    refused(cli, work, source, "big.html")


def test_more_than_the_web_space_is_refused(shop, tmp_path):
    """A directory holding more than the plan's 1 MiB is refused, naming the web space."""
    cli, work = shop
    root = write_tree(tmp_path / "big", {"index.html": b"ok", "video.mp4": os.urandom(LIMIT + 1)})
    refused(cli, work, root, "web space")


def test_a_zip_declaring_more_than_the_web_space_is_refused(shop, tmp_path):
    """An archive whose members add up to more than the web space is refused before they are read."""
    cli, work = shop
    members = [(f"part{i}.bin", os.urandom(300_000)) for i in range(4)]
    refused(cli, work, zip_of(tmp_path / "parts.zip", members), "web space")


def test_too_many_files_are_refused(shop, tmp_path):
    """An archive of more than 10,000 members is refused by its count."""
    cli, work = shop
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for i in range(10_001):
            archive.writestr(f"f{i}.txt", b"")
    source = tmp_path / "many.zip"
    source.write_bytes(buffer.getvalue())
    refused(cli, work, source, "at most 10000")


def test_a_file_that_is_neither_dir_nor_zip_is_refused(shop, tmp_path):
    """A plain file that is not a zip archive is one clear error."""
    cli, work = shop
    source = tmp_path / "notes.txt"
    source.write_text("hello")
    refused(cli, work, source, "not a readable zip archive")


def test_download_of_a_business_without_a_site_fails_cleanly(shop, tmp_path):
    """download for a business that published nothing is one line and writes no file."""
    cli, work = shop
    cli("tenant", "add", "bare")
    target = tmp_path / "bare.zip"
    proc = cli("site", "download", "bare", str(target), check=False)
    assert proc.returncode != 0 and "no published website" in proc.stderr and "\n" not in proc.stderr.strip()
    assert not target.exists()


def test_unreadable_sources_and_unwritable_targets_are_one_line(shop, tmp_path):
    """A missing source, an unreadable file inside a directory and a download into a missing directory fail in one line."""
    cli, work = shop
    missing = cli("site", "upload", "shop", str(tmp_path / "nothing-here"), check=False)
    assert missing.returncode == 1 and "no directory or zip archive" in missing.stderr
    root = write_tree(tmp_path / "fifo-site", {"index.html": b"ok"})
    os.mkfifo(root / "pipe")
    refused(cli, work, root, "not a regular file")
    target = tmp_path / "no" / "such" / "dir" / "site.zip"
    proc = cli("site", "download", "shop", str(target), check=False)
    assert proc.returncode == 1 and "cannot write" in proc.stderr and "\n" not in proc.stderr.strip()
