"""An invitation to an outside address leaves the box: a daemon of its own
whose outbound route for ``outside.test`` is a static transport to an SMTP
server on loopback (aiosmtpd, the "rest of the Internet"), as the SMTP
tests route theirs. Nothing leaves the machine."""

from __future__ import annotations

import email
import email.policy
import email.utils
import time

import icalendar
import pytest
from aiosmtpd.controller import Controller

from tests.conftest import Cli, Daemon, free_port

from .conftest import PANEL_CONFIG, PASSWORD, Env
from .test_agenda import _form, _refs

SLUG = "farco"
OWNER = f"ada@{SLUG}.example"
GUEST = "guest@outside.test"


class _Inbox:
    """What the loopback MX accepted: (envelope recipients, message)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Accepted"


@pytest.fixture(scope="module")
def outbound(tmp_path_factory):
    """The daemon, its business (ada, owner) and the loopback MX."""
    work = tmp_path_factory.mktemp("agenda-outbound")
    state = work / "state"
    state.mkdir()
    inbox = _Inbox()
    mx = Controller(inbox, hostname="127.0.0.1", port=free_port())
    mx.start()
    config = work / "appliance.toml"
    config.write_text(PANEL_CONFIG + f'\n[smtp]\nretry_schedule = ["1s"]\ntransport = ["outside.test=127.0.0.1:{mx.port}"]\n')
    cli = Cli(state, config)
    cli("tenant", "add", SLUG, "--name", "Far Co", "--domain", f"{SLUG}.example")
    cli("user", "add", OWNER, "--password-stdin", input=PASSWORD + "\n")
    daemon = Daemon(state, config, work / "daemon.log")
    daemon.start()
    try:
        # The web routes learn of the new domain within a second or two.
        time.sleep(2.5)
        yield Env(cli, daemon, state), inbox
    finally:
        daemon.stop()
        mx.stop()


def test_an_outside_guest_gets_the_invitation_at_their_own_mx(outbound):
    """ada invites guest@outside.test to "Open day": the loopback MX gets
    one message for the guest from ada, with a text/calendar part whose
    method is REQUEST, naming the event, its organiser and the guest."""
    env, inbox = outbound
    ada = env.signed_in(OWNER)
    reply = ada.post("/agenda/new", _form(_refs(ada)["Calendar"], title="Open day", start_date="2027-05-04",
                                          end_date="2027-05-04", contacts=[GUEST]))
    assert reply.status_code == 303 and reply.headers["location"].endswith("&invited=1"), reply.text[:2000]
    deadline = time.monotonic() + 30
    while not inbox.received and time.monotonic() < deadline:
        time.sleep(0.3)
    ((recipients, raw),) = inbox.received
    assert recipients == [GUEST]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert email.utils.parseaddr(str(msg["From"]))[1] == OWNER and str(msg["Subject"]) == "Invitation: Open day"
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REQUEST"
    (event,) = icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Open day" and str(event["ORGANIZER"]) == f"mailto:{OWNER}"
    assert str(event["ATTENDEE"]) == f"mailto:{GUEST}"
