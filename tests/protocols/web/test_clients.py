"""Zero-touch client set-up through the daemon, checked with curl:
Thunderbird's autoconfig against the ports the daemon really bound,
Outlook's autodiscover (XML and the new Outlook's JSON) for hosted and other
addresses, and the Apple profile - none of which tells a stranger whether an
address exists."""

from __future__ import annotations

import json
import plistlib
import subprocess
import xml.etree.ElementTree as ET

import pytest

AUTOCONFIG_URLS = (
    ("autoconfig.acme.example", "/mail/config-v1.1.xml"),
    ("acme.example", "/.well-known/autoconfig/mail/config-v1.1.xml"),
)
REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
"""
OUTLOOK = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
<Request><EMailAddress>&lol3;@acme.example</EMailAddress></Request></Autodiscover>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
<Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>
"""


@pytest.mark.parametrize("host,path", AUTOCONFIG_URLS)
def test_autoconfig_matches_what_the_box_listens_on(env, host, path):
    """config-v1.1.xml names the box host, IMAP over TLS, submission over TLS and STARTTLS on the bound ports."""
    reply = env.curl(host, path, scheme="http")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(reply.body)
    provider = root.find("emailProvider")
    assert provider.get("id") == "acme.example" and provider.findtext("domain") == "acme.example"
    servers = [
        (s.tag, s.get("type"), s.findtext("hostname"), int(s.findtext("port")), s.findtext("socketType"),
         s.findtext("username"), s.findtext("authentication"))
        for s in provider if s.tag in ("incomingServer", "outgoingServer")
    ]
    port = env.daemon.port
    assert servers == [
        ("incomingServer", "imap", "box.appliance.test", port("imaps"), "SSL", "%EMAILADDRESS%", "password-cleartext"),
        ("outgoingServer", "smtp", "box.appliance.test", port("submissions"), "SSL", "%EMAILADDRESS%", "password-cleartext"),
        ("outgoingServer", "smtp", "box.appliance.test", port("submission"), "STARTTLS", "%EMAILADDRESS%", "password-cleartext"),
    ]
    assert root.find("calendar").findtext("serverURL") == f"https://box.appliance.test:{port('https')}/dav/"


def test_autoconfig_host_serves_nothing_else(env):
    """autoconfig.<domain> answers only the configuration: its / is the neutral 404, not the website."""
    assert env.curl("autoconfig.acme.example", "/").status == 404


def _autodiscover(env, host: str, body: bytes, path: str = "/autodiscover/autodiscover.xml"):
    return env.curl(host, path, data=body)


@pytest.mark.parametrize("host,path", [
    ("autodiscover.acme.example", "/autodiscover/autodiscover.xml"),
    ("autodiscover.acme.example", "/Autodiscover/Autodiscover.xml"),
    ("acme.example", "/autodiscover/autodiscover.xml"),
])
def test_autodiscover_answers_a_hosted_address(env, host, path):
    """A POST for ann@acme.example gets IMAP 993-style and SMTP settings with her address as login."""
    reply = _autodiscover(env, host, REQUEST.format(address="ann@acme.example").encode(), path)
    assert reply.status == 200
    root = ET.fromstring(reply.body)
    protocols = {
        p.findtext(f"{OUTLOOK}Type"): (p.findtext(f"{OUTLOOK}Server"), int(p.findtext(f"{OUTLOOK}Port")),
                                       p.findtext(f"{OUTLOOK}LoginName"), p.findtext(f"{OUTLOOK}SSL"))
        for p in root.iter(f"{OUTLOOK}Protocol")
    }
    assert protocols == {
        "IMAP": ("box.appliance.test", env.daemon.port("imaps"), "ann@acme.example", "on"),
        "SMTP": ("box.appliance.test", env.daemon.port("submissions"), "ann@acme.example", "on"),
    }
    assert b"Ann Smith" not in reply.body and root.find(f".//{OUTLOOK}User") is None


@pytest.mark.parametrize("host", ["autodiscover.acme.example", "acme.example"])
def test_autodiscover_answers_alike_for_a_user_and_an_address_nobody_has(env, host):
    """A stranger learns nothing from autodiscover: ann@ (a user) and
    nobody@ (no one) at the same domain get the same bytes but for the address."""
    ann = _autodiscover(env, host, REQUEST.format(address="ann@acme.example").encode()).body
    nobody = _autodiscover(env, host, REQUEST.format(address="nobody@acme.example").encode()).body
    assert b"<ErrorCode>" not in nobody and b"nobody@acme.example" in nobody
    assert nobody.replace(b"nobody@", b"ann@") == ann


@pytest.mark.parametrize("body", [
    REQUEST.format(address="olga@other.example").encode(),  # another business's user
    REQUEST.format(address="someone@not-hosted.example").encode(),
    b"<Autodiscover><Request>",
    b"not xml at all",
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
])
def test_autodiscover_refuses_everything_else_with_one_error(env, body):
    """Other businesses' users, domains not hosted, malformed XML and entity tricks all get the same error bytes."""
    reference = _autodiscover(env, "autodiscover.acme.example", REQUEST.format(address="x@y.example").encode())
    reply = _autodiscover(env, "autodiscover.acme.example", body)
    assert reply.body == reference.body and b"<ErrorCode>600</ErrorCode>" in reply.body
    assert b"root:" not in reply.body and b"lol" not in reply.body


def test_autodiscover_refuses_a_large_body_and_get(env):
    """A body over 16 KiB is answered 413; GET is 405."""
    assert _autodiscover(env, "autodiscover.acme.example", b"<a>" + b" " * 20_000 + b"</a>").status == 413
    refused = env.curl("autodiscover.acme.example", "/autodiscover/autodiscover.xml")
    assert (refused.status, refused.headers.get("allow")) == (405, "POST")


def test_mobileconfig_for_a_hosted_address(env):
    """The Apple profile, signed by the box (openssl checks the signature),
    holds IMAP, CalDAV and CardDAV accounts for ann on the box's real ports."""
    reply = env.curl("acme.example", "/.well-known/mail-setup/apple.mobileconfig?email=ann%40acme.example")
    assert reply.status == 200 and reply.headers["content-type"] == "application/x-apple-aspen-config"
    verified = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-inform", "DER"], input=reply.body,
                              capture_output=True, timeout=30)
    assert verified.returncode == 0, verified.stderr
    profile = plistlib.loads(verified.stdout)
    by_type = {p["PayloadType"]: p for p in profile["PayloadContent"]}
    mail = by_type["com.apple.mail.managed"]
    assert (mail["IncomingMailServerHostName"], mail["IncomingMailServerPortNumber"], mail["IncomingMailServerUsername"]) == (
        "box.appliance.test", env.daemon.port("imaps"), "ann@acme.example")
    assert mail["OutgoingMailServerPortNumber"] == env.daemon.port("submissions")
    assert by_type["com.apple.caldav.account"]["CalDAVPort"] == env.daemon.port("https")
    assert by_type["com.apple.carddav.account"]["CardDAVPrincipalURL"] == "/dav/ann@acme.example/"


def test_mobileconfig_is_alike_for_a_user_and_an_address_nobody_has(env):
    """A stranger learns nothing from the profile: ann@ (a user, "Ann Smith")
    and nobody@ at the same domain get the same plist but for the address,
    and no one's name is in it."""
    def plist(local: str) -> bytes:
        reply = env.curl("acme.example", f"/.well-known/appliance/apple.mobileconfig?email={local}%40acme.example")
        assert reply.status == 200
        return subprocess.run(["openssl", "cms", "-verify", "-noverify", "-inform", "DER"], input=reply.body,
                              capture_output=True, timeout=30, check=True).stdout

    def without_uuids(node):
        # Each payload's UUID is derived from the address (so a profile
        # installed again replaces itself): part of "the address".
        if isinstance(node, dict):
            return {k: without_uuids(v) for k, v in node.items() if k != "PayloadUUID"}
        return [without_uuids(v) for v in node] if isinstance(node, list) else node

    ann, nobody = plist("ann"), plist("nobody")
    assert b"Ann Smith" not in ann and b"nobody@acme.example" in nobody
    assert without_uuids(plistlib.loads(nobody.replace(b"nobody@", b"ann@"))) == without_uuids(plistlib.loads(ann))


@pytest.mark.parametrize("query", ["?email=olga%40other.example", "?email=x%40not-hosted.example", "", "?email=not-an-address"])
def test_mobileconfig_refuses_other_addresses_with_the_neutral_404(env, query):
    """Another business's domain, a domain not hosted, no or bad address: the neutral 404."""
    reply = env.curl("acme.example", "/.well-known/appliance/apple.mobileconfig" + query)
    unknown = env.curl("nobody.example", "/")
    assert reply.status == 404 and reply.body == unknown.body


@pytest.mark.parametrize("host,path", [
    ("autodiscover.acme.example", "/autodiscover/autodiscover.json?Email=ann%40acme.example&Protocol=AutodiscoverV1"),
    ("acme.example", "/autodiscover/autodiscover.json/v1.0/ann@acme.example?Protocol=AutodiscoverV1"),
    ("acme.example", "/Autodiscover/Autodiscover.json/v1.0/ann%40acme.example?protocol=autodiscoverv1"),
])
def test_json_autodiscover_points_the_new_outlook_at_the_xml(env, host, path):
    """Both JSON forms answer where the POX autodiscover is, on the address's
    autodiscover host and the public HTTPS port - and that URL answers."""
    reply = env.curl(host, path)
    assert reply.status == 200 and reply.headers["content-type"] == "application/json; charset=utf-8"
    port = env.daemon.port("https")
    url = f"https://autodiscover.acme.example:{port}/Autodiscover/Autodiscover.xml"
    assert json.loads(reply.body) == {"Protocol": "AutodiscoverV1", "Url": url}
    followed = env.curl("autodiscover.acme.example", "/Autodiscover/Autodiscover.xml",
                        data=REQUEST.format(address="ann@acme.example").encode())
    assert [t.text for t in ET.fromstring(followed.body).iter(f"{OUTLOOK}Type")] == ["IMAP", "SMTP"]


def test_json_autodiscover_is_alike_for_a_user_and_an_address_nobody_has(env):
    """ann@ and nobody@ at the same domain get the same JSON."""
    def ask(local: str) -> bytes:
        return env.curl("acme.example", f"/autodiscover/autodiscover.json/v1.0/{local}@acme.example?Protocol=AutodiscoverV1").body

    assert ask("ann") == ask("nobody")


@pytest.mark.parametrize("protocol", ["ActiveSync", "Ews", "Rest", ""])
def test_json_autodiscover_answers_exchange_protocols_with_a_404_error(env, protocol):
    """Exchange's own protocols are not spoken here: a 404 with Exchange's JSON error shape."""
    reply = env.curl("autodiscover.acme.example", f"/autodiscover/autodiscover.json?Email=ann%40acme.example&Protocol={protocol}")
    assert reply.status == 404 and reply.headers["content-type"] == "application/json; charset=utf-8"
    error = json.loads(reply.body)
    assert set(error) == {"ErrorCode", "ErrorMessage"} and error["ErrorCode"] == "ProtocolNotSupported"


@pytest.mark.parametrize("email", ["olga%40other.example", "x%40not-hosted.example", "not-an-address", ""])
def test_json_autodiscover_refuses_addresses_of_other_domains(env, email):
    """Another business's domain, a domain not hosted, a bad or missing address: one 404 JSON error."""
    reply = env.curl("autodiscover.acme.example", f"/autodiscover/autodiscover.json?Email={email}&Protocol=AutodiscoverV1")
    assert reply.status == 404 and json.loads(reply.body)["ErrorCode"] == "InvalidUser"
