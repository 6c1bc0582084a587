"""The listing PROPFIND and the multiget REPORTs answer item for item what
Radicale itself answers, refuse what Radicale refuses, and gzip the same.

Radicale's own answer is had by asking one property more than the fast
paths serve (``displayname``), which sends the same request through it.
"""

from __future__ import annotations

import gzip
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from protocols.dav import listing, multiget, sync
from tests.protocols.dav.conftest import PASSWORD

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dav"
D = "{DAV:}"
PLAIN = {"Accept-Encoding": "identity"}
MULTI_STATUS = 207
BAD_REQUEST = 400
UNAUTHORIZED = 401
FORBIDDEN = 403
NOT_FOUND_STATUS = "HTTP/1.1 404 Not Found"

ITEM_PROPS = "<getetag/><getlastmodified/><getcontenttype/><getcontentlength/><resourcetype/>"
FAST_PROPFIND = f'<?xml version="1.0"?><propfind xmlns="DAV:"><prop>{ITEM_PROPS}</prop></propfind>'
SLOW_PROPFIND = FAST_PROPFIND.replace("<resourcetype/>", "<resourcetype/><displayname/>")
CALDAV = "urn:ietf:params:xml:ns:caldav"
CARDDAV = "urn:ietf:params:xml:ns:carddav"

CAL = "alice@bakery.example/calendar/"
BOOK = "alice@bakery.example/contacts/"
SHARED_BOOK = "bakery/customers/"
EMPTY = "alice@bakery.example/tasks/"
#: An item name that must be percent-quoted in hrefs.
AWKWARD = "order <7>&co @home.ics"

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:fast-{n}\r\n"
    "DTSTAMP:20250101T000000Z\r\nDTSTART:202503{day:02d}T100000Z\r\nDTEND:202503{day:02d}T110000Z\r\n"
    "SUMMARY:Delivery {n}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-{n}\r\nFN:Customer {n}\r\nN:{n};Customer;;;\r\nEND:VCARD\r\n"


def multiget_body(report: str, hrefs: list[str], props: str) -> str:
    ns, prefix = (CALDAV, "C") if report == "calendar-multiget" else (CARDDAV, "CR")
    return (
        f'<?xml version="1.0"?><{prefix}:{report} xmlns="DAV:" xmlns:{prefix}="{ns}"><prop>{props}</prop>'
        + "".join(f"<href>{h}</href>" for h in hrefs)
        + f"</{prefix}:{report}>"
    )


def propfind(dav, account, path: str, body: str, headers: dict | None = None, **kwargs) -> requests.Response:
    return requests.request(
        "PROPFIND", dav.url + path, data=body.encode(), auth=account.auth, timeout=30, verify=dav.ca_file,
        headers={"Depth": "1", "Content-Type": "application/xml", **PLAIN, **(headers or {})}, **kwargs,
    )


def report(dav, account, path: str, body: str, headers: dict | None = None, **kwargs) -> requests.Response:
    return requests.request(
        "REPORT", dav.url + path, data=body.encode(), auth=account.auth, timeout=30, verify=dav.ca_file,
        headers={"Depth": "1", "Content-Type": "application/xml", **PLAIN, **(headers or {})}, **kwargs,
    )


def responses(text: str) -> dict[str, dict]:
    """href -> {property tag: (status, text, child tags)}, plus "status" for
    responses that carry one of their own; in document order."""
    found: dict[str, dict] = {}
    for response in ET.fromstring(text).findall(D + "response"):
        entry: dict = {"status": response.findtext(D + "status")}
        for propstat in response.findall(D + "propstat"):
            status = propstat.findtext(D + "status")
            for prop in propstat.find(D + "prop"):
                entry[prop.tag] = (status, prop.text, [child.tag for child in prop])
        found[response.findtext(D + "href")] = entry
    return found


def overlap(fast: dict[str, dict], slow: dict[str, dict]) -> dict[str, dict]:
    """``slow`` cut down to the properties ``fast`` has for each href."""
    return {href: {k: v for k, v in props.items() if k in fast.get(href, {})} for href, props in slow.items()}


@pytest.fixture(scope="module")
def filled(dav):
    """alice's calendar with 30 events (one with markup and umlauts, one
    with an awkward name, a recurring one), her address book and the shared
    one with cards; her task list stays empty."""
    auth = ("alice@bakery.example", PASSWORD)
    session = requests.Session()

    def put(path: str, text: str, kind: str) -> None:
        reply = session.put(dav.url + path, data=text.encode(), auth=auth, timeout=30, verify=dav.ca_file, headers={"Content-Type": kind})
        assert reply.status_code in (201, 204), (path, reply.status_code, reply.text)

    for n in range(30):
        put(f"{CAL}ev-{n}.ics", EVENT.format(n=n, day=1 + n % 28), "text/calendar")
    put(CAL + quote(AWKWARD), (FIXTURES / "order_with_markup_and_umlauts.ics").read_text(), "text/calendar")
    put(CAL + "standup.ics", (FIXTURES / "weekly_standup_with_moved_exception.ics").read_text(), "text/calendar")
    for n in range(12):
        put(f"{BOOK}card-{n}.vcf", CARD.format(n=n), "text/vcard")
        put(f"{SHARED_BOOK}card-{n}.vcf", CARD.format(n=100 + n), "text/vcard")
    put(f"{SHARED_BOOK}outlook.vcf", (FIXTURES / "outlook_customer_with_x_properties.vcf").read_text(), "text/vcard")
    return dav


def test_bodies_used_here_take_the_fast_paths_or_not():
    """The "fast" bodies of these tests qualify for the fast paths and the
    "slow" ones (one property more) do not, so the comparisons below compare
    the fast paths with Radicale."""
    assert listing.wanted_props(FAST_PROPFIND.encode()) is not None
    assert listing.wanted_props(SLOW_PROPFIND.encode()) is None
    fast = multiget_body("calendar-multiget", ["/x"], "<getetag/><C:calendar-data/>")
    assert multiget.parse_request(fast.encode()) is not None
    assert multiget.parse_request(fast.replace("<getetag/>", "<getetag/><displayname/>").encode()) is None


@pytest.mark.parametrize("path", [CAL, BOOK, SHARED_BOOK, EMPTY])
def test_listing_equals_radicales_item_for_item(filled, alice, path):
    """PROPFIND depth 1 with etag, last-modified, content type and length and
    resourcetype gives the same hrefs in the same order, each with the same
    values, as Radicale gives for the same properties."""
    fast = propfind(filled, alice, path, FAST_PROPFIND)
    slow = propfind(filled, alice, path, SLOW_PROPFIND)
    assert (fast.status_code, slow.status_code) == (MULTI_STATUS, MULTI_STATUS)
    assert fast.headers["Content-Type"] == slow.headers["Content-Type"]
    assert int(fast.headers["Content-Length"]) == len(fast.content)
    got, want = responses(fast.text), responses(slow.text)
    assert list(got) == list(want)
    assert got == overlap(got, want)
    expected_items = {CAL: 32, BOOK: 12, SHARED_BOOK: 13, EMPTY: 0}[path]
    assert len(got) == 1 + expected_items
    for href, props in list(got.items())[1:]:
        assert set(props) == {"status"} | {D + p for p in ("getetag", "getlastmodified", "getcontenttype", "getcontentlength", "resourcetype")}


def test_listing_quotes_hrefs_and_counts_bytes_as_radicale(filled, alice):
    """An item name with spaces, markup and ``@`` is quoted as Radicale
    quotes it, and a text with umlauts has its length in bytes."""
    got = responses(propfind(filled, alice, CAL, FAST_PROPFIND).text)
    href = "/dav/" + quote(CAL + AWKWARD)
    assert href in got
    text = requests.get(filled.url + CAL + quote(AWKWARD), auth=alice.auth, timeout=30, verify=filled.ca_file).content
    assert got[href][D + "getcontentlength"][1] == str(len(text))
    assert got[href][D + "getcontenttype"][1] == "text/calendar;charset=utf-8;component=VEVENT"


def test_listing_shows_a_write_at_once(filled, alice):
    """After a PUT the listing gives the item's new etag."""
    reply = requests.put(
        filled.url + CAL + "ev-3.ics", data=EVENT.format(n=3, day=9).replace("Delivery", "Moved").encode(),
        auth=alice.auth, timeout=30, verify=filled.ca_file, headers={"Content-Type": "text/calendar"},
    )
    assert reply.status_code == 204
    got = responses(propfind(filled, alice, CAL, FAST_PROPFIND).text)
    assert got["/dav/" + quote(CAL) + "ev-3.ics"][D + "getetag"][1] == reply.headers["ETag"]


def test_listing_follows_writes_deletes_and_moves(filled, alice):
    """Once a collection was listed, new, changed, deleted and moved items
    and changed collection properties show in the next listings, plain and
    gzip'd, exactly as Radicale lists them."""
    shared = "bakery/calendar/"

    def put(name: str, n: int, summary: str = "Delivery") -> None:
        reply = requests.put(
            filled.url + shared + name, data=EVENT.format(n=n, day=1 + n % 28).replace("Delivery", summary).encode(),
            auth=alice.auth, timeout=30, verify=filled.ca_file, headers={"Content-Type": "text/calendar"},
        )
        assert reply.status_code in (201, 204)

    def same() -> None:
        fast = propfind(filled, alice, shared, FAST_PROPFIND)
        slow = propfind(filled, alice, shared, SLOW_PROPFIND)
        got, want = responses(fast.text), responses(slow.text)
        assert list(got) == list(want)
        assert got == overlap(got, want)
        zipped = propfind(filled, alice, shared, FAST_PROPFIND, {"Accept-Encoding": "gzip"}, stream=True)
        assert gzip.decompress(zipped.raw.read(decode_content=False)) == fast.content

    for n in range(5):
        put(f"s-{n}.ics", 200 + n)
    same()
    put("s-1.ics", 201, "Changed")
    put("a-first.ics", 300)
    put("z-last.ics", 301)
    assert requests.delete(filled.url + shared + "s-3.ics", auth=alice.auth, timeout=30, verify=filled.ca_file).status_code in (200, 204)
    same()
    moved = requests.request(
        "MOVE", filled.url + shared + "s-2.ics", auth=alice.auth, timeout=30, verify=filled.ca_file,
        headers={"Destination": filled.url + shared + "m-moved.ics"},
    )
    assert moved.status_code in (201, 204)
    proppatch = (
        '<?xml version="1.0"?><propertyupdate xmlns="DAV:"><set><prop>'
        "<displayname>Renamed</displayname></prop></set></propertyupdate>"
    )
    assert requests.request("PROPPATCH", filled.url + shared, data=proppatch, auth=alice.auth, timeout=30, verify=filled.ca_file).status_code == 207
    same()
    same()


def test_gzipped_listing_decodes_to_the_plain_one(filled, alice):
    """With Accept-Encoding gzip the listing comes gzip'd, with the
    compressed length, and decodes to the plain answer."""
    plain = propfind(filled, alice, CAL, FAST_PROPFIND)
    zipped = propfind(filled, alice, CAL, FAST_PROPFIND, {"Accept-Encoding": "gzip, deflate"}, stream=True)
    raw = zipped.raw.read(decode_content=False)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert int(zipped.headers["Content-Length"]) == len(raw)
    assert gzip.decompress(raw) == plain.content


REFUSED = [
    ("carol", CAL),
    ("carol", "bakery/calendar/"),
    ("carol", "nosuchbusiness/calendar/"),
    ("bob", CAL),
    ("alice", "alice@bakery.example/no-such-calendar/"),
]


@pytest.mark.parametrize("who,path", REFUSED)
@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_listing_refuses_as_radicale(filled, alice, bob, carol, who, path, encoding):
    """Another business's or member's collection, and a missing one, get
    the same status and body through the fast path as through Radicale."""
    account = {"alice": alice, "bob": bob, "carol": carol}[who]
    headers = {"Accept-Encoding": encoding}
    fast = propfind(filled, account, path, FAST_PROPFIND, headers)
    slow = propfind(filled, account, path, SLOW_PROPFIND, headers)
    assert fast.status_code in (FORBIDDEN, 404, UNAUTHORIZED)
    assert (fast.status_code, fast.content, fast.headers.get("Content-Encoding")) == (
        slow.status_code, slow.content, slow.headers.get("Content-Encoding"))


def test_listing_with_a_wrong_password_asks_to_log_in(filled, alice):
    """A wrong password gets Radicale's 401 with its challenge."""
    fast = requests.request(
        "PROPFIND", filled.url + CAL, data=FAST_PROPFIND, auth=(alice.address, "wrong"), timeout=30, verify=filled.ca_file,
        headers={"Depth": "1", **PLAIN},
    )
    assert fast.status_code == UNAUTHORIZED
    assert fast.headers["WWW-Authenticate"].startswith("Basic")


def test_malformed_listing_body_is_refused_as_before(filled, alice):
    """A PROPFIND body that is not well-formed XML gets Radicale's 400."""
    reply = propfind(filled, alice, CAL, FAST_PROPFIND[:-12])
    assert reply.status_code == BAD_REQUEST


def test_depth_zero_and_allprop_are_radicales(filled, alice):
    """Depth 0 and allprop are answered by Radicale: the collection alone,
    and all properties of every item."""
    zero = propfind(filled, alice, CAL, FAST_PROPFIND, {"Depth": "0"})
    assert list(responses(zero.text)) == ["/dav/" + quote(CAL)]
    allprop = propfind(filled, alice, CAL, '<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>')
    assert len(responses(allprop.text)) == 33


# -- multiget ------------------------------------------------------------------------


def _multiget_case(path: str) -> tuple[str, list[str], str]:
    report_name, data = (
        ("calendar-multiget", "<C:calendar-data/>") if path == CAL else ("addressbook-multiget", "<CR:address-data/>")
    )
    base = "/dav/" + quote(path)
    names = [quote(AWKWARD), "standup.ics"] if path == CAL else ["card-1.vcf", "card-2.vcf"]
    names += [f"ev-{n}.ics" for n in range(10, 20)] if path == CAL else [f"card-{n}.vcf" for n in range(3, 9)]
    hrefs = [base + n for n in names]
    hrefs += [
        base + "missing.ics",  # absent: 404
        "/dav/" + quote(EMPTY) + "elsewhere.ics",  # another collection: 404
        "/dav/" + quote(path) + "sub/deeper.ics",  # not an item name: 404
        "/outside/x.ics",  # outside the DAV root: skipped
        "http://box.appliance.test" + hrefs[0],  # the same item again
    ]
    return report_name, hrefs, data


@pytest.mark.parametrize("path", [CAL, BOOK])
def test_multiget_equals_radicales_item_for_item(filled, alice, path):
    """A multiget for etag, content type and data gives, for every href,
    what Radicale gives: the same etag, type and text for items, 404 for
    absent ones and names outside the collection, nothing for hrefs
    outside the DAV root."""
    report_name, hrefs, data = _multiget_case(path)
    props = "<getetag/><getcontenttype/>" + data
    fast = report(filled, alice, path, multiget_body(report_name, hrefs, props))
    slow = report(filled, alice, path, multiget_body(report_name, hrefs, props + "<displayname/>"))
    assert (fast.status_code, slow.status_code) == (MULTI_STATUS, MULTI_STATUS)
    assert fast.headers["Content-Type"] == slow.headers["Content-Type"]
    got, want = responses(fast.text), responses(slow.text)
    assert got == overlap(got, want)
    assert sorted(got) == sorted(want)
    missing = [h for h, props in got.items() if props["status"] == NOT_FOUND_STATUS]
    assert len(missing) == 3
    assert len(got) == len(hrefs) - 2


def test_multiget_text_comes_back_unchanged(filled, alice):
    """Item text with markup, umlauts and CRLF comes back as stored."""
    href = "/dav/" + quote(CAL + AWKWARD)
    reply = report(filled, alice, CAL, multiget_body("calendar-multiget", [href], "<getetag/><C:calendar-data/>"))
    stored = requests.get(filled.url + CAL + quote(AWKWARD), auth=alice.auth, timeout=30, verify=filled.ca_file).content.decode()
    element = ET.fromstring(reply.content).find(f"{D}response/{D}propstat/{D}prop/{{{CALDAV}}}calendar-data")
    # XML parsers turn CRLF into LF (XML 1.0 section 2.11).
    assert element.text == stored.replace("\r\n", "\n")


def test_gzipped_multiget_decodes_to_the_plain_one(filled, alice):
    """With Accept-Encoding gzip the multiget comes gzip'd, with the
    compressed length, and decodes to the plain answer."""
    report_name, hrefs, data = _multiget_case(CAL)
    body = multiget_body(report_name, hrefs[:5], "<getetag/>" + data)
    plain = report(filled, alice, CAL, body)
    zipped = report(filled, alice, CAL, body, {"Accept-Encoding": "gzip"}, stream=True)
    raw = zipped.raw.read(decode_content=False)
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert int(zipped.headers["Content-Length"]) == len(raw)
    assert gzip.decompress(raw) == plain.content


@pytest.mark.parametrize("who,path", REFUSED)
def test_multiget_refuses_as_radicale(filled, alice, bob, carol, who, path):
    """Another business's or member's calendar, and a missing one, get the
    same status and body through the fast path as through Radicale."""
    account = {"alice": alice, "bob": bob, "carol": carol}[who]
    hrefs = ["/dav/" + quote(path) + "ev-1.ics"]
    fast = report(filled, account, path, multiget_body("calendar-multiget", hrefs, "<getetag/><C:calendar-data/>"))
    slow = report(filled, account, path, multiget_body("calendar-multiget", hrefs, "<getetag/><C:calendar-data/><displayname/>"))
    assert fast.status_code in (FORBIDDEN, 404, UNAUTHORIZED)
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content)


def test_multiget_without_login_asks_to_log_in(filled):
    """No credentials: Radicale's 401 with its challenge, as for the slow path."""
    hrefs = ["/dav/" + quote(CAL) + "ev-1.ics"]
    replies = [
        requests.request("REPORT", filled.url + CAL, data=multiget_body("calendar-multiget", hrefs, props), timeout=30, verify=filled.ca_file, headers=PLAIN)
        for props in ("<getetag/><C:calendar-data/>", "<getetag/><C:calendar-data/><displayname/>")
    ]
    assert [r.status_code for r in replies] == [UNAUTHORIZED, UNAUTHORIZED]
    assert replies[0].content == replies[1].content
    assert replies[0].headers["WWW-Authenticate"] == replies[1].headers["WWW-Authenticate"]


def test_multiget_of_the_wrong_kind_is_refused_as_radicale(filled, alice):
    """A calendar-multiget on an address book gets Radicale's 403."""
    hrefs = ["/dav/" + quote(BOOK) + "card-1.vcf"]
    fast = report(filled, alice, BOOK, multiget_body("calendar-multiget", hrefs, "<getetag/><C:calendar-data/>"))
    slow = report(filled, alice, BOOK, multiget_body("calendar-multiget", hrefs, "<getetag/><C:calendar-data/><displayname/>"))
    assert fast.status_code == FORBIDDEN
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content)


# -- sync-collection -----------------------------------------------------------------


def sync_body(token: str, props: str = "<getetag/>") -> str:
    return (
        f'<?xml version="1.0"?><sync-collection xmlns="DAV:"><sync-token>{token}</sync-token>'
        f"<sync-level>1</sync-level><prop>{props}</prop></sync-collection>"
    )


def current_token(dav, account, path: str) -> str:
    reply = propfind(dav, account, path, '<?xml version="1.0"?><propfind xmlns="DAV:"><prop><sync-token/></prop></propfind>', {"Depth": "0"})
    return ET.fromstring(reply.content).findtext(f"{D}response/{D}propstat/{D}prop/{D}sync-token")


def test_sync_bodies_used_here_take_the_fast_path_or_not():
    """The "fast" sync body qualifies for the fast path, the "slow" one
    (one property more) does not."""
    assert sync.parse_request(sync_body("t").encode()) is not None
    assert sync.parse_request(sync_body("t", "<getetag/><displayname/>").encode()) is None


@pytest.mark.parametrize("path", [CAL, SHARED_BOOK])
def test_sync_equals_radicales_after_changes(filled, alice, path):
    """With a token from before some writes and deletes, and with no token,
    the sync answer has Radicale's new token and the same responses in the
    same order: changed items with their etag and type, deleted ones 404."""
    token = current_token(filled, alice, path)
    suffix, kind = (".ics", "text/calendar") if path == CAL else (".vcf", "text/vcard")
    for n in (40, 41, 42):
        body = EVENT.format(n=n, day=n % 28) if path == CAL else CARD.format(n=n)
        requests.put(filled.url + path + f"new-{n}{suffix}", data=body.encode(), auth=alice.auth, timeout=30, verify=filled.ca_file, headers={"Content-Type": kind})
    requests.delete(filled.url + path + f"new-41{suffix}", auth=alice.auth, timeout=30, verify=filled.ca_file)
    for old in (token, ""):
        fast = report(filled, alice, path, sync_body(old, "<getetag/><getcontenttype/>"))
        slow = report(filled, alice, path, sync_body(old, "<getetag/><getcontenttype/><displayname/>"))
        assert (fast.status_code, slow.status_code) == (MULTI_STATUS, MULTI_STATUS)
        assert ET.fromstring(fast.content).findtext(D + "sync-token") == ET.fromstring(slow.content).findtext(D + "sync-token")
        got, want = responses(fast.text), responses(slow.text)
        assert list(got) == list(want)
        assert got == overlap(got, want)
    assert sum(1 for props in responses(report(filled, alice, path, sync_body(token)).text).values() if props["status"] == NOT_FOUND_STATUS) == 1


@pytest.mark.parametrize("token", ["urn:x-appliance:sync:0000:1", "garbage", "urn:x-appliance:sync:"])
def test_sync_with_an_invalid_token_is_refused_as_radicale(filled, alice, token):
    """A token that is not this collection's gets Radicale's 403."""
    fast = report(filled, alice, CAL, sync_body(token))
    slow = report(filled, alice, CAL, sync_body(token, "<getetag/><displayname/>"))
    assert fast.status_code == FORBIDDEN
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content)


@pytest.mark.parametrize("who,path", REFUSED)
def test_sync_refuses_as_radicale(filled, alice, bob, carol, who, path):
    """Another business's or member's collection, and a missing one, get
    the same status and body through the fast path as through Radicale."""
    account = {"alice": alice, "bob": bob, "carol": carol}[who]
    fast = report(filled, account, path, sync_body(""))
    slow = report(filled, account, path, sync_body("", "<getetag/><displayname/>"))
    assert fast.status_code in (FORBIDDEN, 404, UNAUTHORIZED)
    assert (fast.status_code, fast.content) == (slow.status_code, slow.content)
