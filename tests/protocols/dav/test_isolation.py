"""Nobody reaches another business's data, nor another member's own
collections: 403 or 404 for every verb, whether the target exists or not."""

from __future__ import annotations

import pytest
import requests

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:x-1\r\n"
    "DTSTAMP:20250101T000000Z\r\nDTSTART:20250101T100000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
PROPFIND = '<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>'
REPORT = (
    '<?xml version="1.0"?><C:calendar-query xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    '<prop><getetag/></prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>'
)
DENIED = {401, 403, 404}

# (verb, relative path, body, extra headers)
VERBS = [
    ("GET", "calendar/", None, {}),
    ("PROPFIND", "", PROPFIND, {"Depth": "1"}),
    ("PROPFIND", "calendar/", PROPFIND, {"Depth": "1"}),
    ("REPORT", "calendar/", REPORT, {"Depth": "1"}),
    ("PUT", "calendar/intruder.ics", EVENT, {"Content-Type": "text/calendar"}),
    ("DELETE", "calendar/", None, {}),
    ("PROPPATCH", "calendar/", '<?xml version="1.0"?><propertyupdate xmlns="DAV:"><set><prop><displayname>x</displayname></prop></set></propertyupdate>', {}),
    ("MKCALENDAR", "newcal/", None, {}),
    ("MKCOL", "newcol/", None, {}),
    ("MOVE", "calendar/standup.ics", None, {}),
]


def _send(dav, account, verb, path, body, headers):
    return requests.request(
        verb, dav.url + path, data=body, headers=headers, auth=account.auth, timeout=10, verify=dav.ca_file, allow_redirects=False
    )


@pytest.mark.parametrize("owner", ["bakery", "alice@bakery.example", "nobody@bakery.example", "nosuchbusiness"])
@pytest.mark.parametrize("verb,rel,body,headers", VERBS, ids=[f"{v[0]}-{v[1]}" for v in VERBS])
def test_outsider_is_refused_everything(dav, carol, owner, verb, rel, body, headers):
    """carol (garage) gets 403/404 for any verb on bakery's shared area, on a
    bakery member's home, and on names that do not exist, alike."""
    if verb == "MOVE":
        headers = {"Destination": f"{dav.url}carol@garage.example/calendar/stolen.ics"}
    reply = _send(dav, carol, verb, f"{owner}/{rel}", body, headers)
    assert reply.status_code in DENIED, (verb, owner, rel, reply.status_code, reply.text[:200])


@pytest.mark.parametrize("verb,rel,body,headers", VERBS, ids=[f"{v[0]}-{v[1]}" for v in VERBS])
def test_member_cannot_touch_another_members_home(dav, bob, verb, rel, body, headers):
    """bob (bakery) gets 403/404 for any verb on alice's personal collections."""
    if verb == "MOVE":
        headers = {"Destination": f"{dav.url}bob@bakery.example/calendar/stolen.ics"}
    reply = _send(dav, bob, verb, f"alice@bakery.example/{rel}", body, headers)
    assert reply.status_code in DENIED, (verb, rel, reply.status_code, reply.text[:200])


def test_refusal_does_not_reveal_existence(dav, carol):
    """An existing and a made-up collection of another business answer alike."""
    real = _send(dav, carol, "PROPFIND", "bakery/calendar/", PROPFIND, {"Depth": "0"})
    made_up = _send(dav, carol, "PROPFIND", "bakery/no-such-calendar/", PROPFIND, {"Depth": "0"})
    assert (real.status_code, real.text) == (made_up.status_code, made_up.text)


def test_cannot_move_an_item_into_another_business(dav, alice):
    """A MOVE whose destination is in another business is refused and the item stays."""
    url = dav.url + "alice@bakery.example/calendar/move-me.ics"
    put = requests.put(url, data=EVENT.replace("x-1", "move-me"), auth=alice.auth, headers={"Content-Type": "text/calendar"}, timeout=10, verify=dav.ca_file)
    assert put.status_code == 201
    reply = requests.request(
        "MOVE", url, headers={"Destination": dav.url + "carol@garage.example/calendar/move-me.ics"}, auth=alice.auth, timeout=10, verify=dav.ca_file
    )
    assert reply.status_code in DENIED
    assert requests.get(url, auth=alice.auth, timeout=10, verify=dav.ca_file).status_code == 200


def test_root_listing_shows_no_other_principal(dav, carol):
    """PROPFIND depth 1 on /dav/ lists nothing of anyone (clients use
    current-user-principal instead)."""
    reply = _send(dav, carol, "PROPFIND", "", PROPFIND, {"Depth": "1"})
    assert reply.status_code == 207
    assert "bakery" not in reply.text and "alice" not in reply.text
