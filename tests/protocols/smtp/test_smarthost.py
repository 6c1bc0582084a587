"""The smarthost mode: every outgoing message goes to one relay instead of
the recipients' MX hosts (many VPS providers block port 25)."""

from __future__ import annotations

import smtplib
import uuid

import pytest

from tests.conftest import free_port, wait_for

from .conftest import PASSWORD, Mta, Receiver, provision, tls_client_context


@pytest.fixture(scope="module")
def relayed(tmp_path_factory, stub_dns):
    relay = Receiver(free_port()).start()
    mta = Mta(
        tmp_path_factory.mktemp("smarthost"), stub_dns,
        extra=f'smarthost = "127.0.0.1:{relay.port}"\nsmarthost_tls = "none"',
    )
    provision(mta)
    mta.daemon.start()
    yield mta, relay
    mta.daemon.stop()
    relay.stop()


def test_every_remote_domain_goes_to_the_smarthost(relayed):
    """Mail for two unrelated domains (no MX anywhere) is handed to the smarthost."""
    mta, relay = relayed
    tag = uuid.uuid4().hex
    with smtplib.SMTP("127.0.0.1", mta.port("submission"), timeout=10) as client:
        client.starttls(context=tls_client_context())
        client.login("bob@acme.test", PASSWORD)
        client.sendmail(
            "bob@acme.test", ["a@far-away.example", "b@elsewhere.example"],
            f"From: bob@acme.test\r\nSubject: {tag}\r\n\r\nx\r\n".encode(),
        )
    got = wait_for(lambda: [m for m in relay.messages if tag.encode() in m.data])
    assert sorted(r for m in got for r in m.rcpt_tos) == ["a@far-away.example", "b@elsewhere.example"]
    assert not mta.remote.messages
