"""Zero-touch client set-up through the daemon, checked with curl:
Thunderbird's autoconfig against the ports the daemon really bound,
Outlook's autodiscover for hosted and other addresses, and the Apple
profile."""

from __future__ import annotations

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
    assert root.find(f".//{OUTLOOK}DisplayName").text == "Ann Smith"


@pytest.mark.parametrize("body", [
    REQUEST.format(address="nobody@acme.example").encode(),
    REQUEST.format(address="olga@other.example").encode(),  # another business's user
    REQUEST.format(address="someone@not-hosted.example").encode(),
    b"<Autodiscover><Request>",
    b"not xml at all",
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
])
def test_autodiscover_refuses_everything_else_with_one_error(env, body):
    """Unknown users, other businesses' users, malformed XML and entity tricks all get the same error bytes."""
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
    reply = env.curl("acme.example", "/.well-known/appliance/apple.mobileconfig?email=ann%40acme.example")
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


@pytest.mark.parametrize("query", ["?email=nobody%40acme.example", "?email=olga%40other.example", "", "?email=not-an-address"])
def test_mobileconfig_refuses_other_addresses_with_the_neutral_404(env, query):
    """Unknown users, another business's user, no or bad address: the neutral 404."""
    reply = env.curl("acme.example", "/.well-known/appliance/apple.mobileconfig" + query)
    unknown = env.curl("nobody.example", "/")
    assert reply.status == 404 and reply.body == unknown.body
