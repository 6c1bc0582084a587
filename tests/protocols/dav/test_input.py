"""Hostile and broken input is refused and changes nothing; what clients
write comes back intact; logins fail fast."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import subprocess
import time
from pathlib import Path

import requests
import vobject

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dav"
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
VCF = {"Content-Type": "text/vcard; charset=utf-8"}


def url(dav, path: str) -> str:
    return dav.url + path


def count_items(dav, account, collection: str) -> int:
    reply = requests.request(
        "PROPFIND", url(dav, collection), auth=account.auth, headers={"Depth": "1"}, timeout=10, verify=dav.ca_file,
        data='<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>',
    )
    assert reply.status_code == 207
    return reply.text.count("<response>") - 1


def test_customer_card_keeps_crm_and_x_properties(dav, alice):
    """A vCard with ORG, TITLE, NOTE, CATEGORIES, RELATED and X- properties
    (what Outlook and Thunderbird write) comes back with every one intact."""
    card = (FIXTURES / "outlook_customer_with_x_properties.vcf").read_text()
    target = url(dav, "bakery/customers/customer-0042.vcf")
    assert requests.put(target, data=card.encode(), headers=VCF, auth=alice.auth, timeout=10, verify=dav.ca_file).status_code == 201
    back = vobject.readOne(requests.get(target, auth=alice.auth, timeout=10, verify=dav.ca_file).text)
    sent = vobject.readOne(card)
    for prop in ("org", "title", "note", "categories", "related", "x-ms-ol-design", "x-mozilla-html", "x-crm-stage", "tel", "email"):
        assert [(p.value, p.params) for p in back.contents[prop]] == [(p.value, p.params) for p in sent.contents[prop]], prop


def test_malformed_icalendar_is_refused(dav, alice):
    """Garbage, a truncated VCALENDAR and an event without UID get 400 and store nothing."""
    before = count_items(dav, alice, "alice@bakery.example/calendar/")
    bodies = [
        b"this is not a calendar",
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:half\r\n",
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:notadate\r\nUID:bad-date\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        b"\xff\xfe\x00garbage",
    ]
    for n, body in enumerate(bodies):
        reply = requests.put(url(dav, f"alice@bakery.example/calendar/bad-{n}.ics"), data=body, headers=ICS, auth=alice.auth, timeout=10, verify=dav.ca_file)
        assert reply.status_code == 400, (n, reply.status_code)
    assert count_items(dav, alice, "alice@bakery.example/calendar/") == before


def test_malformed_vcard_is_refused(dav, alice):
    """A vCard missing its END and a calendar sent to an address book get 400."""
    for n, body in enumerate([b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\n", (FIXTURES / "task_with_due_and_alarm.ics").read_bytes()]):
        reply = requests.put(url(dav, f"alice@bakery.example/contacts/bad-{n}.vcf"), data=body, headers=VCF, auth=alice.auth, timeout=10, verify=dav.ca_file)
        assert reply.status_code in (400, 403, 409, 415), (n, reply.status_code)
    assert count_items(dav, alice, "alice@bakery.example/contacts/") == 0


def test_oversized_request_is_refused_before_reading(dav, alice):
    """A body over [dav] max_request_bytes is answered 413."""
    big = b"X" * (3 * 1024 * 1024)
    reply = requests.put(url(dav, "alice@bakery.example/calendar/big.ics"), data=big, headers=ICS, auth=alice.auth, timeout=30, verify=dav.ca_file)
    assert reply.status_code == 413


def test_oversized_item_is_refused(dav, alice):
    """An event over [dav] max_item_bytes (but under the request limit) is not stored."""
    description = "D" * 300_000
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:huge\r\nDTSTAMP:20250101T000000Z\r\n"
        f"DTSTART:20250101T100000Z\r\nSUMMARY:huge\r\nDESCRIPTION:{description}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    target = url(dav, "alice@bakery.example/calendar/huge.ics")
    reply = requests.put(target, data=body.encode(), headers=ICS, auth=alice.auth, timeout=30, verify=dav.ca_file)
    assert reply.status_code in (412, 413, 507)
    assert requests.get(target, auth=alice.auth, timeout=10, verify=dav.ca_file).status_code == 404


def _curl(dav, account, method: str, path: str, body: str) -> tuple[int, str]:
    proc = subprocess.run(
        ["curl", "-s", "--cacert", str(dav.ca_file), "-o", "-", "-w", "\n%{http_code}", "-X", method, "-u", f"{account.address}:{account.password}",
         "-H", "Depth: 1", "-H", "Content-Type: application/xml", "--data-binary", body, url(dav, path)],
        capture_output=True, text=True, timeout=30,
    )
    text, _, code = proc.stdout.rpartition("\n")
    return int(code), text


def test_xml_bomb_is_refused(dav, alice):
    """A billion-laughs PROPFIND is answered 400 quickly, without expanding."""
    bomb = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9)
    ) + ']><propfind xmlns="DAV:"><prop><displayname>&j;</displayname></prop></propfind>'
    started = time.monotonic()
    code, _ = _curl(dav, alice, "PROPFIND", "alice@bakery.example/", bomb)
    assert code == 400
    assert time.monotonic() - started < 5


def test_external_entity_is_refused(dav, alice):
    """A REPORT with an external entity (XXE) is answered 400 and never reads the file."""
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<C:calendar-query xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><prop><getetag/></prop>'
        '<C:filter><C:comp-filter name="&x;"/></C:filter></C:calendar-query>'
    )
    code, text = _curl(dav, alice, "REPORT", "alice@bakery.example/calendar/", xxe)
    assert code == 400
    assert "root:" not in text


def test_wrong_password_is_refused_at_once(dav, bob):
    """A wrong password gets 401 without the request thread sleeping."""
    started = time.monotonic()
    reply = requests.request("PROPFIND", url(dav, "bob@bakery.example/"), auth=(bob.address, "wrong password!"), timeout=10, verify=dav.ca_file)
    assert reply.status_code == 401
    assert time.monotonic() - started < 1.5


def test_ics_feed_is_off_until_turned_on_then_serves_calendar_by_secret_url_only(dav, dav_state, alice):
    """A calendar has no feed and PROPFIND tells no feed URL; once its feed
    is on (the token's hash stored, as the panel's service does) the URL
    of the token serves the calendar without a login, read-only; a wrong
    token, the hash itself, or another business's slug is a 404."""
    requests.put(
        url(dav, "bakery/calendar/feed-1.ics"), headers=ICS, auth=alice.auth, timeout=10, verify=dav.ca_file,
        data=(FIXTURES / "weekly_standup_with_moved_exception.ics").read_bytes().replace(b"standup-4711", b"feed-1"),
    )
    reply = requests.request(
        "PROPFIND", url(dav, "bakery/calendar/"), auth=alice.auth, headers={"Depth": "0"}, timeout=10, verify=dav.ca_file,
        data='<?xml version="1.0"?><propfind xmlns="DAV:"><prop><F:feed-url xmlns:F="urn:x-appliance:dav"/></prop></propfind>',
    )
    assert reply.status_code == 207 and "/_feed/" not in reply.text
    token = secrets.token_urlsafe(24)
    conn = sqlite3.connect(dav_state[0] / "tenants" / "bakery.sqlite3", timeout=10)
    try:
        with conn:
            conn.execute("UPDATE dav_collections SET feed_token = ?, feed_since = 0 WHERE path = 'bakery/calendar'",
                         (hashlib.sha256(token.encode()).hexdigest(),))
    finally:
        conn.close()
    feed_path = f"/dav/_feed/bakery/{token}.ics"
    feed = requests.get(f"{dav.origin()}{feed_path}", timeout=10, verify=dav.ca_file)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "UID:feed-1" in feed.text and "BEGIN:VTIMEZONE" in feed.text
    for wrong in (f"bakery/{'A' * 32}", f"bakery/{hashlib.sha256(token.encode()).hexdigest()}", f"garage/{token}"):
        assert requests.get(f"{dav.origin()}/dav/_feed/{wrong}.ics", timeout=10, verify=dav.ca_file).status_code == 404
    assert requests.put(f"{dav.origin()}{feed_path}", data=b"x", timeout=10, verify=dav.ca_file).status_code == 405
