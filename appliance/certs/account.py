"""The box's ACME account (RFC 8555 section 7.3) and the client session
that speaks for it.

One EC P-256 account key per directory URL, made once and kept in the box
database. Every session registers the key again with
``termsOfServiceAgreed``; for a key the CA knows, that just returns the
account's URL (section 7.3.1), so a CA that lost its accounts (a test CA
restarted) gets a fresh one without anybody noticing.

Everything here except :func:`open_session` blocks: call it in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import josepy as jose
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from storage import certs as certdb

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

T = TypeVar("T")

USER_AGENT = "appliance-acme"
#: Seconds one HTTP request to the CA may take.
REQUEST_SECONDS = 20
#: A request refused for a stale nonce is sent again this often (RFC 8555
#: section 6.5: the client retries badNonce with the nonce of the error).
NONCE_RETRIES = 6


def retrying(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args)``, sent again after ``badNonce`` (the acme library
    retries once itself; test CAs refuse 5% of nonces on purpose)."""
    for attempt in range(NONCE_RETRIES):
        try:
            return fn(*args, **kwargs)
        except messages.Error as exc:
            if exc.code != "badNonce" or attempt == NONCE_RETRIES - 1:
                raise
            log.debug("badNonce from the CA; sending again")
    raise AssertionError("unreachable")


@dataclass
class Session:
    """A registered client: ``client`` (acme ClientV2) and the account key."""

    client: acme_client.ClientV2
    key: jose.JWK
    account_uri: str

    @property
    def has_renewal_info(self) -> bool:
        return "renewalInfo" in self.client.directory


def new_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def connect(directory_url: str, ca_file: str, key_pem: str, contact: str) -> Session:
    """Fetch the directory and register (or find) the account. Blocking."""
    key = jose.JWKEC(key=serialization.load_pem_private_key(key_pem.encode("ascii"), password=None))
    net = acme_client.ClientNetwork(
        key, alg=jose.ES256, verify_ssl=ca_file or True, user_agent=USER_AGENT, timeout=REQUEST_SECONDS
    )
    directory = acme_client.ClientV2.get_directory(directory_url, net)
    client = acme_client.ClientV2(directory, net)
    registration = messages.NewRegistration.from_data(
        email=contact or None, terms_of_service_agreed=True
    )
    try:
        regr = retrying(client.new_account, registration)
        uri = regr.uri
    except acme_errors.ConflictError as exc:
        # The CA knows this key: the Location header is the account.
        uri = exc.location
        net.account = messages.RegistrationResource(uri=uri, body=messages.Registration())
    return Session(client, key, uri)


async def open_session(app: App) -> Session:
    """A session for ``[acme] directory`` with the box's account key
    (made and stored on first use). Network work runs in a thread."""
    acme = app.settings.acme
    directory = acme.directory
    stored = await app.box.read("acme account", lambda c: certdb.account(c, directory))
    if stored is None:
        key_pem = await asyncio.to_thread(new_key_pem)
        await app.box.write("acme account", lambda c: certdb.save_account(c, directory, key_pem, None))
        stored = {"key_pem": key_pem, "uri": None}
    contact = acme.contact or app.settings.box.admin_email
    started = time.monotonic()
    session = await asyncio.to_thread(connect, directory, acme.ca_file, stored["key_pem"], contact)
    if session.account_uri != stored["uri"]:
        log.info("ACME account at %s: %s", directory, session.account_uri)
        await app.box.write(
            "acme account", lambda c: certdb.save_account(c, directory, stored["key_pem"], session.account_uri)
        )
    log.debug("ACME session ready in %.2fs", time.monotonic() - started)
    return session
