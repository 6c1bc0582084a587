"""``/.well-known/acme-challenge/<token>`` (RFC 8555 section 8.3) on every
host name, for the certificate code: it registers a token's key
authorization here while an order is being validated and clears it after.

The path is reserved: it is never routed to a website and never redirected
to HTTPS. An unknown token gets the neutral 404.
"""

from __future__ import annotations

import re

from twisted.web import resource, server

from . import pages

#: base64url, as RFC 8555 section 8.3 defines tokens; bounded.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
#: More pending challenges than this is a bug in the caller.
MAX_CHALLENGES = 1000


class Challenges:
    """The key authorizations being served, by token (in memory only)."""

    def __init__(self) -> None:
        self._pending: dict[str, bytes] = {}

    def set(self, token: str, key_authorization: str) -> None:
        if not TOKEN_RE.match(token):
            raise ValueError("an ACME token is 1-128 base64url characters")
        if token not in self._pending and len(self._pending) >= MAX_CHALLENGES:
            raise ValueError(f"more than {MAX_CHALLENGES} pending ACME challenges")
        self._pending[token] = key_authorization.encode("ascii")

    def clear(self, token: str) -> None:
        self._pending.pop(token, None)

    def get(self, token: str) -> bytes | None:
        return self._pending.get(token)


class AcmeChallenge(resource.Resource):
    """Serves :class:`Challenges` below ``/.well-known/acme-challenge/``."""

    isLeaf = True

    def __init__(self, challenges: Challenges):
        super().__init__()
        self.challenges = challenges

    def render(self, request: server.Request) -> bytes:
        refused = pages.refuse_method(request)
        if refused is not None:
            return refused
        # request.postpath is what follows acme-challenge/: exactly one token.
        rest = request.postpath
        token = rest[0].decode("ascii", "replace") if len(rest) == 1 else ""
        value = self.challenges.get(token) if TOKEN_RE.match(token) else None
        if value is None:
            return pages.fixed(request, 404, pages.NOT_FOUND)
        return pages.fixed(request, 200, value, b"application/octet-stream")
