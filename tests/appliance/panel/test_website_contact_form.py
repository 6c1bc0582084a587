"""A site's contact form, end to end against the daemon: the owner adds the
block in the page editor choosing the mailbox among the business's
addresses and publishes; visitors post to ``/_contact`` on the site's own
host (the web listener, over real HTTPS) and the message is in that mailbox
over IMAP at once, Reply-To the visitor. The trap, the limits (per source
address, body size), bad input and forms that do not exist are refused as
documented, and the published head carries the business as JSON-LD.

Each test posts from its own loopback address (127.0.0.N), so the limit
per source address of one test does not touch another's.
"""

from __future__ import annotations

import email
import email.policy
import html
import http.client
import imaplib
import json
import re
import socket
import time
import urllib.parse

import pytest

from appliance.services import contactform
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD, _no_verify
from .test_browser import _clean
from .test_website import _business

EVIL = "</script><script>alert(1)</script>"
HOURS = ["Tue-Sat 9:00-19:00", "Sun 9:00-13:00"]


def _fetch(env, path: str = "/", host: str = "florist.example") -> tuple[int, str]:
    conn = http.client.HTTPSConnection("127.0.0.1", env.daemon.port("https"), context=_no_verify(), timeout=30)
    try:
        conn.request("GET", path, headers={"Host": host})
        reply = conn.getresponse()
        return reply.status, reply.read().decode()
    finally:
        conn.close()


def _post(env, source: str, fields: dict | None = None, *, host: str = "florist.example", body: bytes | None = None,
          ctype: str = "application/x-www-form-urlencoded", method: str = "POST") -> tuple[int, dict, str]:
    """(status, headers, page) of a post to ``/_contact`` on ``host`` from
    the loopback address ``source``."""
    conn = http.client.HTTPSConnection("127.0.0.1", env.daemon.port("https"), context=_no_verify(), timeout=30,
                                       source_address=(source, 0))
    try:
        data = body if body is not None else urllib.parse.urlencode(fields or {}).encode()
        conn.request(method, "/_contact", body=data, headers={"Host": host, "Content-Type": ctype})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read().decode()
    finally:
        conn.close()


def _visitor(**changes: str) -> dict:
    return {"page": "home", "form": "1", "name": "Vera Visitor", "email": "vera@visitor.example",
            "message": "Do you deliver roses on Sunday?", "website": "", **changes}


def _inbox(env, address: str) -> list[email.message.EmailMessage]:
    """Every message in ``address``'s INBOX, read over IMAP."""
    with imaplib.IMAP4_SSL("127.0.0.1", env.daemon.port("imaps"), ssl_context=_no_verify(), timeout=30) as conn:
        conn.login(address, PASSWORD)
        conn.select("INBOX", readonly=True)
        _, found = conn.search(None, "ALL")
        messages = []
        for number in found[0].split():
            _, parts = conn.fetch(number, "(RFC822)")
            messages.append(email.message_from_bytes(parts[0][1], policy=email.policy.default))
        conn.logout()
        return messages


def _subjects(env, address: str = "orders@florist.example") -> list[str]:
    return [str(m["Subject"]) for m in _inbox(env, address)]


def _error_beside(page: str, field: str) -> str:
    found = re.search(rf'<span class="form-error" id="form-1-{field}-error">(.*?)</span>', page, re.S)
    return html.unescape(found.group(1)) if found else ""


def _jsonld(page: str) -> dict:
    [script] = re.findall(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    return json.loads(script)


@pytest.fixture(scope="module")
def florist(env):
    """florist.example: fiona, its owner, and orders@, a colleague; its
    home page has a contact form sending to orders@, published, with
    opening hours and a tagline that tries to close a script element."""
    _business(env, "florist", "fiona@florist.example")
    env.cli("user", "add", "orders@florist.example", "--password-stdin", input=PASSWORD + "\n")
    fiona = env.signed_in("fiona@florist.example")
    assert fiona.post("/website/start", {"theme": "clean"}).status_code == 200
    profile = {"name": "Fiona's Flowers", "tagline": EVIL, "hours": "\n".join(HOURS), "language": "en",
               "phone": "+33 1 23 45 67 89"}
    assert fiona.post("/website/profile", profile).status_code == 200
    added = fiona.post("/website/pages/home/add/contact-form", {"mailbox": "orders@florist.example", "heading": ""})
    assert (added.status_code, added.headers["location"]) == (303, "/website/pages/home#blocks")
    assert fiona.post("/website/publish").status_code == 200
    deadline = time.monotonic() + 10
    while _fetch(env)[0] != 200 and time.monotonic() < deadline:  # the web routes learn the domain
        time.sleep(0.2)
    return fiona


def test_the_owner_chooses_the_mailbox_among_the_business_addresses(env, florist):
    """The block's form offers the business's own addresses; another
    business's address is refused beside the field (the form and the
    page's text alike) and nothing changes; the saved block is in the page
    format, and the published page has the form without the address."""
    form = florist.get("/website/pages/home/add/contact-form")
    assert form.status_code == 200
    select = re.search(r'<select[^>]*name="mailbox"[^>]*>(.*?)</select>', form.text, re.S).group(1)
    offered = re.findall(r'<option[^>]*value="([^"]+)"', select)
    assert offered == ["fiona@florist.example", "orders@florist.example"]
    before = env.cli("site", "page", "show", "florist", "home").stdout
    foreign = florist.post("/website/pages/home/add/contact-form", {"mailbox": "olga@other.example"})
    assert foreign.status_code == 400
    assert "Choose one of the business&#39;s addresses." in foreign.text
    written = florist.post("/website/pages/home", {"title": "Home", "body": "::: contact-form\nto: olga@other.example\n:::"})
    assert written.status_code == 400 and "not an address of this business" in written.text
    by_cli = env.cli("site", "page", "edit", "florist", "home", input="::: contact-form\nto: olga@other.example\n:::\n",
                     check=False)
    assert by_cli.returncode != 0 and "olga@other.example, which is not an address of this business" in by_cli.stderr
    assert env.cli("site", "page", "show", "florist", "home").stdout == before
    assert "::: contact-form\nto: orders@florist.example\n:::" in before
    status, page = _fetch(env)
    assert status == 200 and 'action="/_contact"' in page and "orders@" not in page
    assert "messages go to orders@florist.example" in florist.get("/website/pages/home").text


def test_a_visitor_message_is_in_the_chosen_mailbox_with_reply_to_the_visitor(env, florist):
    """A post with good values gets the thank-you page (200), and orders@
    has the message over IMAP: From the business's no-reply address,
    Reply-To the visitor, the subject naming them, the text as typed."""
    status, _, page = _post(env, "127.0.0.2", _visitor())
    assert status == 200 and '<h1 id="page-title">Thank you</h1>' in page
    [mail] = [m for m in _inbox(env, "orders@florist.example") if "Vera Visitor" in str(m["Subject"])]
    assert str(mail["Subject"]) == "Message from your website: Vera Visitor"
    assert mail["Reply-To"].addresses[0].addr_spec == "vera@visitor.example"
    assert mail["From"].addresses[0].addr_spec == "no-reply@florist.example"
    assert mail["To"].addresses[0].addr_spec == "orders@florist.example"
    assert "Do you deliver roses on Sunday?" in mail.get_content()
    assert mail["Message-ID"] and mail["Date"]
    assert _subjects(env, "fiona@florist.example") == []


def test_a_post_with_the_trap_filled_is_thanked_and_dropped(env, florist):
    """A robot fills every field, the hidden one too: it sees the same
    thank-you page, and nothing arrives."""
    status, _, page = _post(env, "127.0.0.3", _visitor(name="Robot Roberts", website="https://spam.example"))
    assert status == 200 and '<h1 id="page-title">Thank you</h1>' in page
    assert not any("Robot Roberts" in s for s in _subjects(env))


def test_the_sixth_post_from_one_address_is_refused_with_a_clear_page(env, florist):
    """Five posts from one address within ten minutes are taken (here with
    a bad address, so nothing is sent); the sixth, good one, gets 429 with
    Retry-After and a page saying to try later, and is not delivered.
    Another address is still served."""
    for _ in range(contactform.PER_SOURCE):
        assert _post(env, "127.0.0.4", _visitor(email="not an address"))[0] == 400
    status, headers, page = _post(env, "127.0.0.4", _visitor(name="Sixth Sender"))
    assert status == 429 and headers["retry-after"] == str(contactform.SOURCE_WINDOW)
    assert '<h1 id="page-title">Please try again later</h1>' in page
    assert not any("Sixth Sender" in s for s in _subjects(env))
    assert _post(env, "127.0.0.14", _visitor(email="still bad"))[0] == 400


def test_a_five_megabyte_post_is_refused_before_it_is_read(env, florist):
    """A post declaring 5 MB gets 413 and the connection closed while the
    body is still being sent; nothing is delivered."""
    before = len(_subjects(env))
    raw = socket.create_connection(("127.0.0.1", env.daemon.port("https")), timeout=10,
                                   source_address=("127.0.0.5", 0))
    with _no_verify().wrap_socket(raw) as sock:
        sock.sendall(b"POST /_contact HTTP/1.1\r\nHost: florist.example\r\n"
                     b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % (5 * 1024 * 1024))
        body = urllib.parse.urlencode(_visitor(message="x" * (5 * 1024 * 1024))).encode()
        try:
            sock.sendall(body[:1024 * 1024])
        except OSError:
            pass  # closed while we were sending: refused
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except OSError:
            pass
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:100]
    assert len(_subjects(env)) == before


def test_bad_input_comes_back_with_the_error_beside_the_field(env, florist):
    """A bad e-mail address, an empty name and a message past its limit:
    400, the form again with what was typed and each error beside its
    field; nothing is delivered."""
    before = len(_subjects(env))
    status, _, page = _post(env, "127.0.0.6", _visitor(email="vera at home"))
    assert status == 400 and _error_beside(page, "email") == "Enter an e-mail address such as name@example.com."
    assert 'value="vera at home" aria-invalid="true"' in page and "Do you deliver roses on Sunday?</textarea>" in page
    assert _error_beside(page, "name") == "" and 'role="alert"' in page
    status, _, page = _post(env, "127.0.0.6", _visitor(name="", message="m" * (contactform.MAX_MESSAGE + 1)))
    assert status == 400 and _error_beside(page, "name") == "Enter your name."
    assert _error_beside(page, "message") == f"Your message may have at most {contactform.MAX_MESSAGE} characters."
    assert len(_subjects(env)) == before


def test_only_urlencoded_posts_are_taken(env, florist):
    """GET is 405 (Allow: POST), another content type 415, a body that is
    not UTF-8 400."""
    status, headers, _ = _post(env, "127.0.0.7", method="GET", body=b"")
    assert (status, headers["allow"]) == (405, "POST")
    for ctype in ("text/plain", "application/json", "application/x-www-form-urlencoded-x"):
        assert _post(env, "127.0.0.7", _visitor(), ctype=ctype)[0] == 415, ctype
    assert _post(env, "127.0.0.7", body=b"name=%ff%fe&page=home")[0] == 400


def test_a_form_that_does_not_exist_or_another_business_site_is_not_found(env, florist):
    """A second form the page does not have, a page that does not exist, a
    bad page name, and the same form posted to another business's host:
    404, and nothing is delivered."""
    before = len(_subjects(env))
    for host, fields in (("florist.example", _visitor(form="2")), ("florist.example", _visitor(page="nowhere")),
                         ("florist.example", _visitor(page="../etc")), ("florist.example", _visitor(form="x")),
                         ("other.example", _visitor()), ("www.other.example", _visitor())):
        assert _post(env, "127.0.0.8", fields, host=host)[0] == 404, (host, fields)
    assert len(_subjects(env)) == before


def test_a_published_form_sends_where_it_was_published_until_the_next_publication(env, florist):
    """The draft is changed - the form now for fiona@, a second form added -
    but not published: the published form still sends to orders@ and the
    second one does not exist yet. Once published, the form sends to
    fiona@ and the second one is there; rolled back, orders@ again."""
    source = env.cli("site", "page", "show", "florist", "home").stdout
    draft = source.replace("to: orders@florist.example", "to: fiona@florist.example")
    draft += "\n::: contact-form\nto: orders@florist.example\nheading: Large orders\n:::\n"
    env.cli("site", "page", "edit", "florist", "home", input=draft)
    first = int(env.cli.json("site", "show", "florist")["version"])
    assert _post(env, "127.0.0.9", _visitor(name="Draft Dora"))[0] == 200
    assert any("Draft Dora" in s for s in _subjects(env)) and _subjects(env, "fiona@florist.example") == []
    assert _post(env, "127.0.0.9", _visitor(form="2"))[0] == 404
    assert florist.post("/website/publish").status_code == 200
    assert _post(env, "127.0.0.10", _visitor(name="Published Paul"))[0] == 200
    assert _subjects(env, "fiona@florist.example") == ["Message from your website: Published Paul"]
    status, _, page = _post(env, "127.0.0.10", _visitor(form="2", email="bad"))
    assert status == 400 and '<h1 id="page-title">Large orders</h1>' in page
    assert florist.post("/website/roll-back", {"version": str(first)}).status_code == 200
    assert _post(env, "127.0.0.11", _visitor(name="Rolled Back Rita"))[0] == 200
    assert any("Rolled Back Rita" in s for s in _subjects(env)) and len(_subjects(env, "fiona@florist.example")) == 1


def test_a_form_whose_mailbox_is_gone_says_so_and_cannot_be_published_again(env):
    """A form publishes for temp@ of an atelier; temp@ is then removed: a
    visitor's message gets 503 and a page saying it could not be sent
    (nothing is stored anywhere), and publishing again is refused with
    the reason until the form is changed."""
    _business(env, "atelier", "amy@atelier.example")
    env.cli("user", "add", "temp@atelier.example", "--password-stdin", input=PASSWORD + "\n")
    amy = env.signed_in("amy@atelier.example")
    amy.post("/website/start", {"theme": "clean"})
    amy.post("/website/pages/home/add/contact-form", {"mailbox": "temp@atelier.example"})
    assert amy.post("/website/publish").status_code == 200
    deadline = time.monotonic() + 10
    while _fetch(env, host="atelier.example")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    env.cli("user", "remove", "temp@atelier.example")
    status, _, page = _post(env, "127.0.0.12", _visitor(name="Lost Lucy"), host="atelier.example")
    assert status == 503 and '<h1 id="page-title">The message could not be sent</h1>' in page
    assert _subjects(env, "amy@atelier.example") == []
    refused = amy.post("/website/publish")
    assert refused.status_code == 400 and "The site cannot be published yet:" in refused.text
    assert "temp@atelier.example, which is not an address of this business" in refused.text


def test_a_business_receives_at_most_its_daily_number_of_messages(env, florist):
    """A kiosk's form delivers its daily number of messages (posted from
    many addresses, so that no source limit is reached); the next one, from
    a fresh address, gets 429 and is not delivered. Florist's form is not
    affected."""
    _business(env, "kiosk", "kim@kiosk.example")
    kim = env.signed_in("kim@kiosk.example")
    kim.post("/website/start", {"theme": "warm"})
    kim.post("/website/pages/home/add/contact-form", {"mailbox": "kim@kiosk.example"})
    assert kim.post("/website/publish").status_code == 200
    deadline = time.monotonic() + 10
    while _fetch(env, host="kiosk.example")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    for n in range(contactform.PER_SITE_DAY):
        source = f"127.0.{100 + n // contactform.PER_SOURCE}.{1 + n % contactform.PER_SOURCE}"
        assert _post(env, source, _visitor(name=f"Visitor {n}"), host="kiosk.example")[0] == 200, n
    status, _, page = _post(env, "127.0.99.1", _visitor(name="One Too Many"), host="kiosk.example")
    assert status == 429 and "Please try again later" in page
    subjects = _subjects(env, "kim@kiosk.example")
    assert len(subjects) == contactform.PER_SITE_DAY and not any("One Too Many" in s for s in subjects)
    assert _post(env, "127.0.99.2", _visitor(name="Florist Still Served"))[0] == 200


def test_the_published_head_has_the_business_as_json_ld_with_a_script_tag_escaped(env, florist):
    """The published home page's head has one JSON-LD script: it parses, is
    a LocalBusiness with the name, phone and each opening-hours line; the
    tagline holding ``</script><script>`` reads back as typed and the page
    has no other script element."""
    status, page = _fetch(env)
    head = page.split("</head>")[0]
    assert status == 200 and page.count("<script") == 1 and EVIL not in page
    data = _jsonld(head)
    assert data["@type"] == "LocalBusiness" and data["name"] == "Fiona's Flowers"
    assert data["openingHours"] == HOURS and data["telephone"] == "+33 1 23 45 67 89"
    assert data["description"] == EVIL


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_an_owner_adds_a_form_and_a_visitor_writes_to_the_business(env, tmp_path):
    """sam, owner of a new studio, starts the site, adds a contact form to
    the home page choosing hello@ as its mailbox, and publishes. A visitor
    opens studio.example in a browser, fills in the form and sends it: the
    thank-you page shows, and hello@ has the message over IMAP, Reply-To
    the visitor. Every page is clean (no console error, no accessibility
    violation)."""
    _business(env, "studio", "sam@studio.example")
    env.cli("user", "add", "hello@studio.example", "--password-stdin", input=PASSWORD + "\n")
    https = env.daemon.port("https")
    browser = Browser(tmp_path / "chromium", args=(
        "--ignore-certificate-errors", "--accept-lang=en",
        "--host-resolver-rules=MAP box.appliance.test 127.0.0.1, MAP studio.example 127.0.0.1"))
    try:
        browser.visit(f"https://box.appliance.test:{https}/")
        browser.fill("E-mail address", "sam@studio.example")
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.press("Website"), "Your website")
        browser.fill("Theme", "Bold")
        _clean(browser.press("Start my website"), "Your website")
        _clean(browser.visit(f"https://box.appliance.test:{https}/website/pages/home"), "Home")
        _clean(browser.press("Contact form"), "Add a block: Contact form", browser)
        browser.fill("Messages go to", "hello@studio.example")
        browser.fill("Heading above the form", "Book a session")
        _clean(browser.press("Save the block"), "Home")
        _clean(browser.visit(f"https://box.appliance.test:{https}/website"), "Your website")
        _clean(browser.press("Publish"), "Your website")
        assert browser.evaluate("document.querySelector('[role=status]').textContent").startswith("Published: version")

        home = browser.visit(f"https://studio.example:{https}/")
        assert home.errors == [] and browser.accessibility() == []
        assert browser.evaluate("document.querySelector('.block-form h2').textContent") == "Book a session"
        browser.fill("Your name", "Victor Visitor")
        browser.fill("Your e-mail address", "victor@visitor.example")
        browser.fill("Your message", "A portrait session next week?")
        thanks = browser.press("Send the message")
        _clean(thanks, "Thank you", browser)
        [mail] = _inbox(env, "hello@studio.example")
        assert str(mail["Subject"]) == "Message from your website: Victor Visitor"
        assert mail["Reply-To"].addresses[0].addr_spec == "victor@visitor.example"
        assert "A portrait session next week?" in mail.get_content()
    finally:
        browser.close()
