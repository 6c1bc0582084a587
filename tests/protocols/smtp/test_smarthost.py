"""The smarthost mode: every outgoing message goes to one relay instead of
the recipients' MX hosts (many VPS providers block port 25)."""

from __future__ import annotations

import smtplib
import uuid

import pytest

from tests.conftest import free_port, wait_for
from tests.outsidemx import Receiver

from .conftest import PASSWORD, Mta, provision, queue_cli, tls_client_context


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


class AuthRelay:
    """A smarthost that demands STARTTLS and AUTH before it takes mail."""

    def __init__(self, port: int, cert_dir, user: str, password: str, implicit: bool = False):
        import ssl

        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        from appliance.tls import self_signed

        self.cert, key = self_signed(cert_dir, "localhost")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.port = port
        self.logins: list[str] = []
        self.messages: list[tuple[str, bytes]] = []
        relay = self

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            if ok:
                relay.logins.append(auth_data.login.decode())
            return AuthResult(success=ok)

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                relay.messages.append(("auth" if session.authenticated else "anon", envelope.original_content))
                return "250 2.0.0 Accepted"

        if implicit:
            # TLS from the first byte (port 465 style); aiosmtpd cannot tell
            # that such a session is encrypted, so it must not insist on it.
            self.controller = Controller(
                Handler(), hostname="127.0.0.1", port=port, ssl_context=context,
                authenticator=authenticator, auth_required=True, auth_require_tls=False,
            )
        else:
            self.controller = Controller(
                Handler(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                authenticator=authenticator, auth_required=True, auth_require_tls=True,
            )
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def submit(mta, tag: str) -> None:
    with smtplib.SMTP("127.0.0.1", mta.port("submission"), timeout=10) as client:
        client.starttls(context=tls_client_context())
        client.login("bob@acme.test", PASSWORD)
        client.sendmail("bob@acme.test", ["someone@far-away.example"], f"From: bob@acme.test\r\nSubject: {tag}\r\n\r\nx\r\n".encode())


@pytest.mark.parametrize("mode, trusted", [("starttls", True), ("starttls", False), ("tls", True)])
def test_smarthost_with_tls_and_auth_verifies_its_certificate(tmp_path_factory, stub_dns, mode, trusted):
    """With STARTTLS or implicit TLS, and AUTH, the relay gets the message when its CA is configured; with another CA nothing is sent."""
    relay = AuthRelay(free_port(), tmp_path_factory.mktemp("relay-cert"), "box@relay.example", "relay secret", implicit=mode == "tls")
    if trusted:
        ca = relay.cert
    else:
        from appliance.tls import self_signed

        ca, _ = self_signed(tmp_path_factory.mktemp("other-ca"), "localhost")
    mta = Mta(
        tmp_path_factory.mktemp("smarthost-tls"), stub_dns,
        extra=(
            f'smarthost = "127.0.0.1:{relay.port}"\nsmarthost_tls = "{mode}"\nsmarthost_ca = "{ca}"\n'
            'smarthost_user = "box@relay.example"\nsmarthost_password = "relay secret"'
        ),
    )
    provision(mta)
    mta.daemon.start()
    try:
        tag = uuid.uuid4().hex
        submit(mta, tag)
        if trusted:
            got = wait_for(lambda: [m for m in relay.messages if tag.encode() in m[1]], timeout=20)
            assert got[0][0] == "auth" and relay.logins == ["box@relay.example"]
        else:
            import time

            time.sleep(3)
            assert relay.messages == [] and relay.logins == []
            queued = queue_cli(mta, "list", "--json")
            assert tag in queued.stdout or "far-away.example" in queued.stdout
    finally:
        mta.daemon.stop()
        relay.stop()
