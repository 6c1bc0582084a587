"""The relay battery: no form of address makes the MX relay, and each
recipient gets its own answer at RCPT time."""

from __future__ import annotations

import smtplib

import pytest

RELAY_FORMS = [
    "someone@remote.test",
    "user%remote.test@acme.test",
    "remote.test!user@acme.test",
    '"user@remote.test"@acme.test',
    "<@acme.test:user@remote.test>",
    "user@remote.test@acme.test",
    "user%remote.test@[127.0.0.1]",
    "user@[127.0.0.1]",
    "user@acme.test.",
    "user@remote.test.",
    "@remote.test",
    "user@localhost",
    '"user%remote.test"@acme.test',
    "user@acme.test@remote.test",
    "acme.test!remote.test!user",
]


def mx(mta) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10)
    client.ehlo("client.test")
    return client


@pytest.mark.parametrize("address", RELAY_FORMS)
def test_relay_form_is_refused(mta, address):
    """A relay trick is never accepted at RCPT: 550 5.7.1, 550 5.1.1 or a 5xx syntax error."""
    with mx(mta) as client:
        client.mail("sender@example.org")
        target = address if address.startswith("<") else f"<{address}>"
        code, text = client.docmd("RCPT", f"TO:{target}")
        assert 500 <= code < 600, (code, text)


@pytest.mark.parametrize(
    "address",
    ["user%remote.test@acme.test", "remote.test!user@acme.test", '"user@remote.test"@globex.test', "x%y@globex.test"],
)
def test_relay_forms_are_refused_even_with_a_catch_all(mta, address):
    """globex.test has a catch-all, yet %, ! and quoted local parts are still refused."""
    with mx(mta) as client:
        client.mail("sender@example.org")
        code, _ = client.docmd("RCPT", f"TO:<{address}>")
        assert code in (550, 553)


def test_unhosted_domain_is_relaying_denied(mta):
    """A domain the box does not host gets exactly 550 5.7.1."""
    with mx(mta) as client:
        client.mail("sender@example.org")
        code, text = client.rcpt("someone@remote.test")
        assert (code, text[:5]) == (550, b"5.7.1")


def test_unknown_user_is_refused_at_rcpt(mta):
    """An unknown user of a hosted domain without catch-all gets 550 5.1.1 at RCPT."""
    with mx(mta) as client:
        client.mail("sender@example.org")
        code, text = client.rcpt("nobody@acme.test")
        assert (code, text[:5]) == (550, b"5.1.1")


def test_each_recipient_gets_its_own_answer(mta):
    """In one transaction a known user, an unknown user and a remote domain get 250, 550 5.1.1, 550 5.7.1."""
    with mx(mta) as client:
        client.mail("sender@example.org")
        answers = [client.rcpt(a) for a in ("alice@acme.test", "nobody@acme.test", "x@remote.test")]
        assert [(c, t[:5]) for c, t in answers] == [(250, b"2.1.5"), (550, b"5.1.1"), (550, b"5.7.1")]


def test_known_forms_are_accepted(mta):
    """User, alias, catch-all and plus-address recipients are accepted at RCPT."""
    with mx(mta) as client:
        client.mail("sender@example.org")
        for address in ("alice@acme.test", "sales@acme.test", "anything@globex.test", "bob+news@acme.test"):
            code, _ = client.rcpt(address)
            assert code == 250, address


def test_suspended_business_is_a_temporary_refusal(mta):
    """A recipient of a suspended business gets 450 4.2.1 at RCPT, and 250 again once resumed."""
    mta.cli("tenant", "suspend", "globex")
    try:
        with mx(mta) as client:
            client.mail("sender@example.org")
            code, text = client.rcpt("carol@globex.test")
            assert (code, text[:5]) == (450, b"4.2.1")
    finally:
        mta.cli("tenant", "resume", "globex")
    with mx(mta) as client:
        client.mail("sender@example.org")
        assert client.rcpt("carol@globex.test")[0] == 250
