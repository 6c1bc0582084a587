"""Logins for DAV: our users, login by full address, through the App's one
login checker (``DavBackend.check_login``).

:class:`LoginGate` runs first in every request. Over plain HTTP it refuses
every request (403, before Radicale could answer 401 and invite a password
in clear) unless ``[dav] plain_http_logins`` allows the client (by default
one on loopback: a TLS proxy on the box), as IMAP and submission accept no
login before TLS. Credentials are then checked once, and a right password of a suspended business is answered
``403 Forbidden`` with a plain-text reason, as IMAP and SMTP say
"suspended" rather than "wrong password". 403, not 401: a 401 makes a
client ask its user for the password again although it was right (RFC
9110 section 15.5.4: with 403 the credentials were understood and are not
enough, and a client should not repeat them unchanged); not 503 either,
which clients retry in a loop while a suspension lasts days.
:class:`Auth` is Radicale's plugin (see ``radicale.auth.BaseAuth``); it
reads the gate's verdict for the same request instead of checking again.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import urllib.parse
from typing import Any, Callable, Iterable

from radicale.auth import AuthContext, BaseAuth

from appliance.errors import Suspended
from storage.errors import Frozen

from .backend import DavBackend

log = logging.getLogger(__name__)

SUSPENDED_BODY = b"this business is suspended; ask your provider\n"
PLAIN_HTTP_BODY = b"sign in over HTTPS: passwords are not accepted over plain HTTP\n"


def _loopback(peer: str) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _fixed(start_response: Callable[..., Any], status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def basic_credentials(environ: dict) -> tuple[str, str] | None:
    """(login, password) of an ``Authorization: Basic`` header, as Radicale
    decodes it, or None."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Basic"):
        return None
    try:
        decoded = base64.b64decode(header[len("Basic"):].strip().encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    login, sep, password = decoded.partition(":")
    return (login, password) if sep and login else None


class LoginGate:
    """WSGI middleware in front of the DAV application (see module doc)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], backend: DavBackend, plain_http_logins: str = "loopback"):
        self.app = app
        self.backend = backend
        #: ``[dav] plain_http_logins``: who may send credentials without TLS.
        self.plain_http_logins = plain_http_logins

    def _plain_http_refused(self, environ: dict, peer: str) -> bool:
        if environ.get("wsgi.url_scheme") == "https":
            return False
        return self.plain_http_logins == "never" or not _loopback(peer)

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR") or "-"
        if self._plain_http_refused(environ, peer):
            # Before Radicale can answer 401 and invite a password in clear;
            # credentials already sent are not checked (nor counted).
            log.info("%s: DAV over plain HTTP refused: credentials only over HTTPS", peer)
            return _fixed(start_response, "403 Forbidden", PLAIN_HTTP_BODY)
        credentials = basic_credentials(environ)
        if credentials is None:
            return self.app(environ, start_response)
        try:
            self.backend.begin_request(credentials[0], credentials[1], peer)
        except Suspended:
            log.info("%s: DAV login of a suspended business refused", peer)
            return _fixed(start_response, "403 Forbidden", SUSPENDED_BODY)
        except Frozen as exc:
            # Moved to another box (before, a login is not refused): the
            # same request there (RFC 9110 section 15.4.8: 307 keeps the
            # method and body, so a PUT stays a PUT).
            location = f"https://{exc.target}{_request_uri(environ)}"
            log.info("%s: DAV request of a business moved to %s redirected", peer, exc.target)
            start_response("307 Temporary Redirect", [("Location", location), ("Content-Length", "0")])
            return [b""]
        try:
            return self.app(environ, start_response)
        finally:
            self.backend.end_request()


def _request_uri(environ: dict) -> str:
    """The path and query the client asked for (PEP 3333's way back)."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    uri = urllib.parse.quote(path.encode("latin-1"), safe="/@:+!$&'()*,;=~-._")
    query = environ.get("QUERY_STRING")
    return f"{uri}?{query}" if query else uri


class Auth(BaseAuth):
    def __init__(self, configuration: Any, backend: DavBackend):
        super().__init__(configuration)
        self.backend = backend

    def _login_ext(self, login: str, password: str, context: AuthContext) -> str:
        try:
            return self.backend.check_login(login, password, context.remote_addr or "-")
        except Suspended:
            # Only without the gate in front (it answers 403 first).
            return ""

    def _sleep_for_constant_exec_time(self, time_ns_begin: int) -> None:
        # Radicale pads failed logins with time.sleep in the request thread,
        # which would park a pool thread per attempt. An unknown address
        # already costs a real hash, and repeated failures are refused by the
        # throttle without hashing, so there is nothing to pad.
        return None
