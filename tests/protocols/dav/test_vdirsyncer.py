"""vdirsyncer (the Debian package) syncs 500 events and 500 contacts both
ways with no duplicates, and a second sync transfers nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.skipif(shutil.which("vdirsyncer") is None, reason="vdirsyncer not installed")

COUNT = 500
ACTIONS = re.compile(r"^(Copying|Updating|Deleting) ", re.M)


def event(n: int, summary: str = "Delivery") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:vds-event-{n}\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:2025{1 + n % 12:02d}{1 + n % 28:02d}T080000Z\r\n"
        f"DTEND:2025{1 + n % 12:02d}{1 + n % 28:02d}T090000Z\r\nSUMMARY:{summary} {n}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def card(n: int) -> str:
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:vds-card-{n}\r\nFN:Customer {n}\r\nN:{n};Customer;;;\r\n"
        f"ORG:Firm {n}\r\nEMAIL:c{n}@example.org\r\nX-CRM-STAGE:lead\r\nEND:VCARD\r\n"
    )


def config(tmp: Path, dav, account) -> Path:
    text = f'[general]\nstatus_path = "{tmp}/status/"\n'
    for name, kind, ext, coll in (("cal", "caldav", ".ics", "calendar"), ("book", "carddav", ".vcf", "contacts")):
        text += (
            f'\n[pair {name}]\na = "{name}_local"\nb = "{name}_remote"\ncollections = null\n'
            f'conflict_resolution = "a wins"\n'
            f'\n[storage {name}_local]\ntype = "filesystem"\npath = "{tmp}/{name}/"\nfileext = "{ext}"\n'
            f'\n[storage {name}_remote]\ntype = "{kind}"\nurl = "{dav.url}{account.address}/{coll}/"\n'
            f'username = "{account.address}"\npassword = "{account.password}"\nverify = "{dav.ca_file}"\n'
        )
    path = tmp / "config"
    path.write_text(text)
    return path


def sync(cfg: Path) -> str:
    proc = subprocess.run(
        ["vdirsyncer", "-c", str(cfg), "sync"], capture_output=True, text=True, timeout=300, input="",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def uids(dav, account, collection: str, prop: str) -> list[str]:
    reply = requests.request(
        "PROPFIND", f"{dav.url}{account.address}/{collection}/", auth=account.auth, headers={"Depth": "1"}, timeout=30, verify=dav.ca_file,
        data='<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>',
    )
    return sorted(re.findall(r"<href>[^<]*/([^/<]+)</href>", reply.text))


def test_two_way_sync_of_500_events_and_500_contacts(dav, bob, tmp_path):
    """Local items all arrive once; a server-side and a local change both
    propagate; the sync after that transfers nothing."""
    for name in ("cal", "book"):
        (tmp_path / name).mkdir()
    for n in range(COUNT):
        (tmp_path / "cal" / f"vds-event-{n}.ics").write_text(event(n), newline="")
        (tmp_path / "book" / f"vds-card-{n}.vcf").write_text(card(n), newline="")
    cfg = config(tmp_path, dav, bob)
    subprocess.run(["vdirsyncer", "-c", str(cfg), "discover"], input="", capture_output=True, text=True, timeout=60, check=True)
    first = sync(cfg)
    assert len(ACTIONS.findall(first)) == 2 * COUNT
    events = uids(dav, bob, "calendar", "getetag")
    cards = uids(dav, bob, "contacts", "getetag")
    assert len(events) == COUNT and len(set(events)) == COUNT
    assert len(cards) == COUNT and len(set(cards)) == COUNT

    # One change on each side.
    server_href = f"{dav.url}{bob.address}/calendar/vds-event-7.ics"
    etag = requests.get(server_href, auth=bob.auth, timeout=10, verify=dav.ca_file).headers["etag"]
    changed = requests.put(server_href, data=event(7, "Moved delivery"), auth=bob.auth,
                           headers={"If-Match": etag, "Content-Type": "text/calendar"}, timeout=10, verify=dav.ca_file)
    assert changed.status_code == 204
    (tmp_path / "book" / "vds-card-9.vcf").write_text(card(9).replace("lead", "won"), newline="")
    second = sync(cfg)
    assert len(ACTIONS.findall(second)) == 2, second
    assert "Moved delivery 7" in (tmp_path / "cal" / "vds-event-7.ics").read_text()
    assert "X-CRM-STAGE:won" in requests.get(f"{dav.url}{bob.address}/contacts/vds-card-9.vcf", auth=bob.auth, timeout=10, verify=dav.ca_file).text

    third = sync(cfg)
    assert ACTIONS.findall(third) == [], third
    assert len(list((tmp_path / "cal").iterdir())) == COUNT and len(list((tmp_path / "book").iterdir())) == COUNT
