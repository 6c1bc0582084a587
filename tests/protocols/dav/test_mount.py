"""DAV is served by the daemon's web service under ``/dav/``: routed by Host
like every other path, with the web service's headers, over verified HTTPS."""

from __future__ import annotations

from urllib.parse import unquote

import requests

PROPFIND = '<?xml version="1.0"?><propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>'
MULTI_STATUS = 207
NOT_FOUND = 404


def _propfind(dav, account, host: str | None = None) -> requests.Response:
    headers = {"Depth": "0", "Content-Type": "application/xml"}
    if host is not None:
        headers["Host"] = host
    return requests.request("PROPFIND", dav.url, data=PROPFIND, headers=headers, auth=account.auth,
                            timeout=10, verify=dav.ca_file)


def test_dav_answers_on_the_box_address_and_a_business_domain(dav, alice):
    """/dav/ answers 207 with alice's principal at the box address and on her business's own domain."""
    for host in (None, "bakery.example", "www.bakery.example"):
        reply = _propfind(dav, alice, host)
        assert reply.status_code == MULTI_STATUS, (host, reply.status_code)
        assert "/dav/alice@bakery.example/" in unquote(reply.text), host


def test_dav_on_an_unhosted_name_is_the_neutral_404(dav, alice):
    """On a Host nobody hosts, /dav/ gets the same 404 as any unknown name, whatever the login."""
    unhosted = _propfind(dav, alice, "nobody.example")
    assert unhosted.status_code == NOT_FOUND
    other = requests.get(dav.origin() + "/", headers={"Host": "nobody.example"}, timeout=10, verify=dav.ca_file)
    assert (unhosted.status_code, unhosted.content) == (other.status_code, other.content)
    assert "alice" not in unhosted.text and "bakery" not in unhosted.text


def test_dav_replies_carry_the_web_services_headers(dav, alice):
    """DAV replies carry the headers every reply of the web service carries."""
    reply = _propfind(dav, alice)
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
