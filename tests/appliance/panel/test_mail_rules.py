"""Mail rules in the panel: the forms write one Sieve script through the
sieve service, mail arriving over SMTP then follows it (read back over
IMAP and in the outbound queue), and a script written elsewhere is shown
as text and only replaced when the user asks."""

from __future__ import annotations

import imaplib
import shutil
import smtplib
import subprocess
import uuid

import pytest
from markupsafe import escape

from appliance.sieve import panelscript
from tests.browser import AXE, CHROMIUM, Browser
from tests.conftest import wait_for

from .conftest import PASSWORD, _no_verify

HAND_WRITTEN = 'require ["fileinto", "variables"];\nset "who" "me";\nif header :contains "subject" "${who}" { fileinto "Mine"; }\n'


def _folder(env, address: str, folder: str, tag: str) -> int:
    """How many messages carrying ``tag`` are in ``folder``, read over IMAPS."""
    with imaplib.IMAP4_SSL("127.0.0.1", env.daemon.port("imaps"), ssl_context=_no_verify(), timeout=30) as imap:
        imap.login(address, PASSWORD)
        typ, _ = imap.select(f'"{folder}"', readonly=True)
        if typ != "OK":
            return 0
        _typ, data = imap.search(None, "HEADER", "Message-ID", tag)
        return len(data[0].split())


def _queued_to(env, address: str) -> list[dict]:
    """Messages of acme's outbound queue with ``address`` among their recipients."""
    return [m for m in env.cli.json("queue", "list", "acme") if any(r["address"] == address for r in m["recipients"])]


def _new_user(env) -> str:
    address = f"rules-{uuid.uuid4().hex[:8]}@acme.example"
    env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    return address


@pytest.fixture(scope="module", autouse=True)
def _bob_without_rules_after(env):
    """bob is shared by the whole package: the vacation reply and the
    Suppliers rule this module gives him end with it (no script active),
    so files run after this one, on any worker, get his mail as before."""
    yield
    env.cli("sieve", "activate", "bob@acme.example", "")


@pytest.fixture(scope="module")
def browser(env, tmp_path_factory):
    if CHROMIUM is None or not AXE.is_file():
        pytest.skip("chromium or axe-core is not installed")
    chromium = Browser(tmp_path_factory.mktemp("chromium-rules"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en",
    ))
    yield chromium
    chromium.close()


def _tick(browser, label: str) -> None:
    """Tick the checkbox whose label reads ``label``, as a click on the label does."""
    done = browser.evaluate(
        "(() => { const l = [...document.querySelectorAll('label')].find(l => l.textContent.trim() === "
        f"{label!r}); if (!l) return 'none'; const box = document.getElementById(l.htmlFor);"
        " if (!box.checked) l.click(); return String(box.checked); })()")
    assert done == "true", (label, done)


def test_bob_turns_on_a_vacation_reply_and_a_folder_rule_and_mail_follows_them(env, browser):
    """At phone width bob opens Mail rules, turns on an automatic reply and
    adds "from supplier.example -> Suppliers"; the page passes axe. A
    message from orders@supplier.example over the MX then lands in
    Suppliers (IMAP) and its sender gets bob's reply (queued to them)."""
    browser.viewport(390, 844, mobile=True)
    browser.clear_cookies()
    base = f"https://box.appliance.test:{env.daemon.port('https')}"
    browser.visit(base + "/")
    browser.fill("E-mail address", "bob@acme.example")
    browser.fill("Password", PASSWORD)
    assert browser.press("Sign in").h1 == "Overview"
    visit = browser.press("Mail rules")
    assert visit.h1 == "Mail rules" and visit.errors == []
    assert visit.scroll_width <= visit.inner_width
    _tick(browser, "Send an automatic reply")
    browser.fill("Subject of the reply", "Away this week")
    browser.fill("Text of the reply", "I am back on Monday.")
    assert browser.press("Save the automatic reply").h1 == "Mail rules"
    browser.fill("When the sender's address contains", "supplier.example")
    browser.fill("move it to the folder", "Suppliers")
    visit = browser.press("Add the rule")
    assert visit.h1 == "Mail rules" and visit.errors == []
    assert browser.accessibility() == []
    listed = browser.evaluate("document.querySelector('ol.rules').textContent")
    assert "From “supplier.example”: to Suppliers" in listed

    tag = uuid.uuid4().hex
    message = (f"From: Orders <orders@supplier.example>\r\nTo: bob@acme.example\r\nSubject: Order 7\r\n"
               f"Message-ID: <{tag}@supplier.example>\r\n\r\nYour flour ships today.\r\n")
    with smtplib.SMTP("127.0.0.1", env.daemon.port("smtp"), timeout=30) as client:
        client.ehlo("mx.supplier.example")
        client.sendmail("orders@supplier.example", ["bob@acme.example"], message.encode())
    assert _folder(env, "bob@acme.example", "Suppliers", tag) == 1
    assert _folder(env, "bob@acme.example", "INBOX", tag) == 0
    reply = wait_for(lambda: _queued_to(env, "orders@supplier.example"), timeout=15)[0]
    assert reply["from"] == ""  # RFC 3834 section 3.3: a null return path


def test_a_script_written_elsewhere_is_shown_as_text_and_kept(env):
    """A script set with the CLI shows on the page as text, without the
    forms; saving a vacation reply anyway is refused (409) and leaves the
    script exactly as it was, still active."""
    address = _new_user(env)
    env.cli("sieve", "put", address, "thunderbird", "-", "--activate", input=HAND_WRITTEN)
    client = env.signed_in(address)
    page = client.get("/rules")
    assert page.status_code == 200
    assert str(escape(HAND_WRITTEN)).strip() in page.text
    assert "Save the automatic reply" not in page.text
    reply = client.post("/rules/vacation", {"vacation-enabled": "y", "vacation-text": "Away"})
    assert reply.status_code == 409
    assert env.cli("sieve", "show", address, "thunderbird").stdout == HAND_WRITTEN
    assert [(s["name"], s["active"]) for s in env.cli.json("sieve", "list", address)] == [("thunderbird", True)]


def _sieve_connect(env, address: str, *args: str) -> None:
    """Run sieve-connect against the daemon's ManageSieve port (STARTTLS, self-signed certificate)."""
    cmd = ["sieve-connect", "-s", "127.0.0.1", "-p", str(env.daemon.port("managesieve")), "-u", address,
           "--passwordfd", "0", "--notlsverify", *args]
    done = subprocess.run(cmd, input=PASSWORD + "\n", capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which("sieve-connect") is None, reason="sieve-connect is not installed")
def test_a_mail_client_sees_the_panels_script_and_its_edit_is_kept(env, tmp_path):
    """A rule made in the panel is in the script a ManageSieve client
    downloads; once the client uploads an edit the forms cannot show, the
    page shows the script as text and a new rule is refused (409), the
    edit kept."""
    address = _new_user(env)
    client = env.signed_in(address)
    client.get("/rules")
    assert client.post("/rules/add", {"rule-sender": "a@example.com", "rule-folder": "A"}).status_code == 303
    local = tmp_path / "rules.sieve"
    _sieve_connect(env, address, "--download", "--remotesieve", panelscript.SCRIPT_NAME, "--localsieve", str(local))
    text = local.read_text()
    assert text.startswith(panelscript.MARKER) and 'fileinto :create "A";' in text
    edited = text.replace('fileinto :create "A";', 'fileinto :create "A";\n    addflag "\\\\Seen";') \
        .replace('"mailbox"', '"mailbox", "imap4flags"')
    local.write_text(edited)
    _sieve_connect(env, address, "--upload", "--localsieve", str(local), "--remotesieve", panelscript.SCRIPT_NAME)
    page = client.get("/rules")
    assert "Your rules were written in a mail program" in page.text and "addflag" in page.text
    assert client.post("/rules/add", {"rule-sender": "b@example.com", "rule-folder": "B"}).status_code == 409
    assert env.cli("sieve", "show", address, panelscript.SCRIPT_NAME).stdout == edited


def test_replacing_a_script_written_elsewhere_is_explicit_and_keeps_it(env):
    """Asked to, the panel makes its own (empty) script the active one; the
    hand-written one stays stored, turned off, and the forms are back."""
    address = _new_user(env)
    env.cli("sieve", "put", address, "thunderbird", "-", "--activate", input=HAND_WRITTEN)
    client = env.signed_in(address)
    client.get("/rules")
    assert client.post("/rules/replace").status_code == 303
    assert "Save the automatic reply" in client.get("/rules").text
    assert {(s["name"], s["active"]) for s in env.cli.json("sieve", "list", address)} == {
        ("thunderbird", False), (panelscript.SCRIPT_NAME, True)}
    assert env.cli("sieve", "show", address, "thunderbird").stdout == HAND_WRITTEN


def test_bad_input_is_shown_beside_the_field_and_changes_nothing(env):
    """A last day before the first, a forward to oneself and a rule with a
    folder name that is not allowed are each answered 400 with the error
    beside the field; no script is written."""
    address = _new_user(env)
    client = env.signed_in(address)
    client.get("/rules")
    reply = client.post("/rules/vacation", {"vacation-enabled": "y", "vacation-start": "2030-05-10",
                                            "vacation-until": "2030-05-01", "vacation-text": "Away"})
    assert reply.status_code == 400 and 'id="vacation-until-error"' in reply.text
    reply = client.post("/rules/forward", {"forward-to": address.upper()})
    assert reply.status_code == 400 and 'id="forward-to-error"' in reply.text
    reply = client.post("/rules/add", {"rule-sender": "x", "rule-folder": "../&Inbox"})
    assert reply.status_code == 400 and 'id="rule-folder-error"' in reply.text
    assert env.cli.json("sieve", "list", address) == []


def test_forwarding_without_a_copy_redirects_and_keeps_nothing(env):
    """Forwarding to an outside address without a copy: a message over the
    MX is queued to that address and nothing lands in the user's INBOX."""
    address = _new_user(env)
    client = env.signed_in(address)
    client.get("/rules")
    assert client.post("/rules/forward", {"forward-to": "me@elsewhere.example"}).status_code == 303
    tag = uuid.uuid4().hex
    message = f"From: a@remote.example\r\nTo: {address}\r\nSubject: hi\r\nMessage-ID: <{tag}@remote.example>\r\n\r\nhi\r\n"
    with smtplib.SMTP("127.0.0.1", env.daemon.port("smtp"), timeout=30) as client_smtp:
        client_smtp.sendmail("a@remote.example", [address], message.encode())
    wait_for(lambda: _queued_to(env, "me@elsewhere.example"), timeout=15)
    assert _folder(env, address, "INBOX", tag) == 0
