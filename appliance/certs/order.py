"""One ACME order (RFC 8555 section 7.4): from a fresh key and CSR to an
issued chain.

Every request to the CA runs in a thread; publishing the challenges happens
on the loop, through the DNS and web services:

* DNS-01 (section 8.4): ``_acme-challenge.<name>`` TXT from our own DNS
  server, which answers with it at once (no propagation wait: we are the
  authority). A domain and its wildcard share that name, so all values of
  a name are published together before any challenge is answered.
* HTTP-01 (section 8.3): ``/.well-known/acme-challenge/<token>`` on our
  HTTP listener, for any host name.

Authorizations the CA already holds as valid (reused) are skipped. The
challenges are withdrawn whatever the outcome.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from acme import challenges
from acme import crypto_util as acme_crypto
from acme import errors as acme_errors
from acme import messages
from cryptography import x509
from cryptography.x509.oid import NameOID

from .account import Session, new_key_pem, retrying
from .names import DNS01, Wanted

log = logging.getLogger(__name__)

#: Polling an authorization starts this often and slows to the cap.
POLL_FIRST, POLL_CAP = 0.2, 2.0


class OrderFailed(Exception):
    """The order did not produce a certificate; the message is one line
    fit for ``appliance cert list``."""


@dataclass(frozen=True)
class Issued:
    chain_pem: str
    key_pem: str
    not_before: float
    not_after: float
    issuer: str


def describe(exc: BaseException) -> str:
    """One line saying why an attempt failed."""
    if isinstance(exc, OrderFailed):
        return str(exc)
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "CA unreachable: cannot connect to the ACME directory"
    if isinstance(exc, requests.exceptions.Timeout):
        return "CA unreachable: request timed out"
    if isinstance(exc, messages.Error):
        return f"CA refused: {exc.typ}: {exc.detail or exc.title or ''}".strip()
    if isinstance(exc, acme_errors.IssuanceError):
        return f"CA refused to issue: {exc.error.detail or exc.error.typ}"
    if isinstance(exc, acme_errors.TimeoutError):
        return "the CA did not finish the order in time"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]


def certificate_facts(chain_pem: str) -> tuple[float, float, str]:
    """(not_before, not_after, issuer common name) of the leaf."""
    leaf = x509.load_pem_x509_certificate(chain_pem.encode("ascii"))
    issuer = leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    return (
        leaf.not_valid_before_utc.timestamp(),
        leaf.not_valid_after_utc.timestamp(),
        issuer[0].value if issuer else leaf.issuer.rfc4514_string(),
    )


def _wait_valid(session: Session, authzrs: list[messages.AuthorizationResource], deadline: float) -> None:
    """Poll each authorization until valid; raise OrderFailed when one is
    not (with the CA's reason). Blocking."""
    for authzr in authzrs:
        delay = POLL_FIRST
        while True:
            current, _response = retrying(session.client.poll, authzr)
            status = current.body.status
            if status == messages.STATUS_VALID:
                break
            if status not in (messages.STATUS_PENDING, messages.STATUS_PROCESSING):
                name = current.body.identifier.value
                reasons = [str(c.error.detail or c.error.typ) for c in current.body.challenges if c.error is not None]
                raise OrderFailed(f"validation of {name} failed: {'; '.join(reasons) or status.name}")
            if time.monotonic() > deadline:
                raise OrderFailed(f"validation of {current.body.identifier.value} timed out")
            time.sleep(delay)
            delay = min(delay * 2, POLL_CAP)


def _finalize(session: Session, orderr: messages.OrderResource, deadline: float) -> messages.OrderResource:
    try:
        orderr = retrying(session.client.begin_finalization, orderr)
    except messages.Error as exc:
        if exc.code != "orderNotReady":
            raise
    until = datetime.datetime.now() + datetime.timedelta(seconds=max(1.0, deadline - time.monotonic()))
    return retrying(session.client.poll_finalization, orderr, until)


def _pick(authzr: messages.AuthorizationResource, kind: str) -> messages.ChallengeBody:
    wanted = challenges.DNS01 if kind == DNS01 else challenges.HTTP01
    for challb in authzr.body.challenges:
        if isinstance(challb.chall, wanted):
            return challb
    raise OrderFailed(f"the CA offers no {kind} challenge for {authzr.body.identifier.value}")


class DnsChallenges(Protocol):
    """Where DNS-01 answers are published (the DNS service)."""

    async def set_acme_challenge(self, name: str, values: list[str]) -> None: ...

    async def clear_acme_challenge(self, name: str) -> None: ...


class HttpChallenges(Protocol):
    """Where HTTP-01 answers are published (the web service)."""

    def set_challenge(self, token: str, key_authorization: str) -> None: ...

    def clear_challenge(self, token: str) -> None: ...


@dataclass(frozen=True)
class Publishers:
    """The services that publish challenge answers; None: not running."""

    dns: DnsChallenges | None = None
    web: HttpChallenges | None = None


async def issue(session: Session, wanted: Wanted, timeout: float, publishers: Publishers,
                key_pem: str | None = None) -> Issued:
    """Run one order for ``wanted`` and return the issued certificate,
    publishing its challenge answers through ``publishers``. ``key_pem``:
    the key of the certificate being renewed, kept (the TLSA records that
    name it stay true, :mod:`appliance.tlsa`); None: a new key.

    Raises OrderFailed (or the acme/requests error) when it does not work
    out; see :func:`describe`.
    """
    deadline = time.monotonic() + timeout
    if key_pem is None:
        key_pem = await asyncio.to_thread(new_key_pem)
    csr = acme_crypto.make_csr(key_pem.encode("ascii"), list(wanted.names))
    orderr = await asyncio.to_thread(retrying, session.client.new_order, csr)
    dns_values: dict[str, list[str]] = {}
    tokens: dict[str, str] = {}
    answers: list[tuple[messages.ChallengeBody, Any]] = []
    pending: list[messages.AuthorizationResource] = []
    for authzr in orderr.authorizations:
        if authzr.body.status == messages.STATUS_VALID:
            continue  # the CA reused an earlier validation
        # Wildcards can only be validated with DNS-01 (RFC 8555 section 7.1.3).
        kind = DNS01 if authzr.body.wildcard else wanted.challenge
        challb = _pick(authzr, kind)
        response, validation = challb.response_and_validation(session.key)
        if kind == DNS01:
            dns_values.setdefault(authzr.body.identifier.value, []).append(validation)
        else:
            tokens[challb.chall.encode("token")] = validation
        answers.append((challb, response))
        pending.append(authzr)
    dns, web = publishers.dns, publishers.web
    published: list[str] = []
    try:
        for token, key_authorization in tokens.items():
            if web is None:
                raise OrderFailed("HTTP-01 needs the web service, which is not running")
            web.set_challenge(token, key_authorization)
        for name, values in dns_values.items():
            if dns is None:
                raise OrderFailed("DNS-01 needs the DNS service, which is not running")
            await dns.set_acme_challenge(name, values)
            published.append(name)
        for challb, response in answers:
            await asyncio.to_thread(retrying, session.client.answer_challenge, challb, response)
        await asyncio.to_thread(_wait_valid, session, pending, deadline)
        orderr = await asyncio.to_thread(_finalize, session, orderr, deadline)
    finally:
        for name in published:
            try:
                await dns.clear_acme_challenge(name)
            except Exception:  # noqa: BLE001 - withdrawing must not hide the outcome
                log.exception("cannot withdraw the DNS challenge of %s", name)
        for token in tokens:
            if web is not None:
                web.clear_challenge(token)
    chain = orderr.fullchain_pem
    if not chain:
        raise OrderFailed("the CA returned no certificate")
    not_before, not_after, issuer = certificate_facts(chain)
    return Issued(chain, key_pem, not_before, not_after, issuer)
