"""The sending side of a move between boxes: the other box's provisioning
API over HTTPS, signed in with one of its API keys.

Three calls, all under ``/api/v1/moves/<slug>`` of the target:

* ``POST .../check`` with ``{"bytes": N}``: may a business file of N bytes
  come? Answered before the business is frozen here, so a wrong key, a
  business that already exists there or a target without room costs the
  business nothing.
* ``PUT ...`` with the file as the body and its SHA-256 in ``Repr-Digest``
  (RFC 9530): the target spools it to its state filesystem, checks the
  digest and the file, imports it and answers ``201`` only once it serves
  the business.
* ``POST .../announce``: once this box has dropped the business's zones,
  the target announces its catalog zone again, so the fleet's secondaries
  take the zones from it (see :func:`appliance.zones.catalog_zone`).

Every failure is a :class:`MoveFailed` whose message is one line an
operator can act on ("target refused the API key", "target unreachable").
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import socket
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import ApplianceError

log = logging.getLogger(__name__)

#: Bytes read from the file and sent at a time.
CHUNK = 1 << 20
#: Seconds to connect, and to wait for any one read or write.
CONNECT_SECONDS = 15
#: Seconds the target may take after the last byte: it hashes, checks and
#: imports the file before it answers (about 20 s for 1 GB).
ANSWER_SECONDS = 600
#: The longest answer body read (an error or the business as JSON).
MAX_ANSWER = 1 << 20


class MoveFailed(ApplianceError):
    """The target refused or could not be reached; the message says which."""


@dataclass(frozen=True)
class Target:
    """The other box: ``url`` is ``https://host[:port]`` (its box host
    name), ``token`` one of its API keys with write scope, ``ca_file`` a
    PEM file of the CA of its certificate (empty: the system's),
    ``address`` the address to connect to instead of resolving the host
    name (its certificate is still checked against the name)."""

    url: str
    token: str
    ca_file: str = ""
    address: str = ""

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or ""

    def _connection(self, timeout: float) -> http.client.HTTPSConnection:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme != "https" or not parts.hostname:
            raise MoveFailed(f"the target must be an https:// URL, not {self.url!r}")
        context = ssl.create_default_context(cafile=self.ca_file or None)
        return _Connection(parts.hostname, parts.port or 443, self.address, timeout=timeout, context=context)

    def check(self, slug: str, size: int) -> None:
        """Raise MoveFailed unless the target would take a file of ``size``
        bytes for business ``slug``."""
        self._post(f"/api/v1/moves/{slug}/check", {"bytes": size})

    def announce(self, slug: str) -> None:
        """Ask the target, which serves business ``slug`` now, to announce
        its catalog zone again; MoveFailed if it could not."""
        self._post(f"/api/v1/moves/{slug}/announce", {})

    def _post(self, path: str, document: dict) -> dict:
        """POST ``document`` as JSON to ``path``; the JSON answer of a
        ``200``, else MoveFailed saying why."""
        body = json.dumps(document).encode()
        conn = self._connection(CONNECT_SECONDS)
        try:
            try:
                conn.request("POST", path, body=body, headers=self._headers({
                    "content-type": "application/json", "content-length": str(len(body))}))
                status, answer = _answer(conn)
            except (OSError, http.client.HTTPException) as exc:
                raise MoveFailed(f"target {self.host} unreachable: {_why(exc)}") from None
        finally:
            conn.close()
        if status != 200:
            raise MoveFailed(_refusal(self.host, status, answer))
        return answer

    def send(self, slug: str, path: Path, digest: bytes, progress: Callable[[int, int], None] | None = None) -> dict:
        """PUT the file ``path`` (``digest``: its SHA-256) as business
        ``slug``; returns the target's business (JSON) once it serves it.
        ``progress(sent, total)`` is called after each chunk."""
        size = os.path.getsize(path)
        conn = self._connection(CONNECT_SECONDS)
        try:
            try:
                conn.putrequest("PUT", f"/api/v1/moves/{slug}", skip_accept_encoding=True)
                for name, value in self._headers({
                    "content-type": "application/vnd.sqlite3",
                    "content-length": str(size),
                    "repr-digest": "sha-256=:" + base64.b64encode(digest).decode("ascii") + ":",
                }).items():
                    conn.putheader(name, value)
                conn.endheaders()
                sent = 0
                with open(path, "rb") as fh:
                    while chunk := fh.read(CHUNK):
                        conn.send(chunk)
                        sent += len(chunk)
                        if progress is not None:
                            progress(sent, size)
                conn.sock.settimeout(ANSWER_SECONDS)
                status, answer = _answer(conn)
            except (BrokenPipeError, ConnectionResetError) as exc:
                # The target may have answered (413, 401) and closed before
                # the whole body was in: read what it said if it did.
                try:
                    status, answer = _answer(conn)
                except (OSError, http.client.HTTPException):
                    raise MoveFailed(f"target {self.host} closed the connection: {_why(exc)}") from None
            except (OSError, http.client.HTTPException) as exc:
                raise MoveFailed(f"target {self.host} unreachable: {_why(exc)}") from None
        finally:
            conn.close()
        if status != 201:
            raise MoveFailed(_refusal(self.host, status, answer))
        return answer

    def _headers(self, extra: dict[str, str]) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", **extra}


class _Connection(http.client.HTTPSConnection):
    """HTTPS to ``address`` when given, with SNI, ``Host`` and the
    certificate check for the host name."""

    def __init__(self, host: str, port: int, address: str, **kwargs: object):
        super().__init__(host, port, **kwargs)  # type: ignore[arg-type]
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address or self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def _answer(conn: http.client.HTTPSConnection) -> tuple[int, dict]:
    response = conn.getresponse()
    raw = response.read(MAX_ANSWER)
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    return response.status, body if isinstance(body, dict) else {}


def _refusal(host: str, status: int, answer: dict) -> str:
    error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
    message = str(error.get("message") or "")[:200]
    if status == 401:
        return f"target {host} refused the API key (401)"
    if status == 403:
        return f"target {host}: the API key may not do this ({message or 'read-only key'})"
    return f"target {host} refused ({status}): {message or 'no reason given'}"


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "unknown host name"
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).strip()


__all__ = ["MoveFailed", "Target"]
