"""API keys: how a reseller's billing system (WHMCS, Blesta, their own)
signs in to the provisioning API.

A key has a name, a scope (``read``: look only; ``write``: change too) and a
token shown once, when it is made; the box keeps only the token's SHA-256
(:mod:`storage.apikeys`). A key is revoked, never deleted, so the list still
names it. Adding and revoking keys is logged (keys belong to no business's
audit log); what a key does to a business goes through the same services
the CLI calls, with ``apikey:NAME`` as the actor, so it lands in that
business's audit log.

The methods block (SQLite): a front end on the event loop runs them in a
thread.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import asdict, dataclass

from storage import apikeys as rows
from storage import directory

from ..errors import InvalidInput
from .base import Stores

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,30}[a-z0-9])?$")
#: What every token starts with, so a leaked one is recognisable (secret scanners).
TOKEN_PREFIX = "apk_"
#: Random bytes in a token: far beyond guessing, so SHA-256 stores it safely.
TOKEN_BYTES = 32
#: The longest token worth hashing; longer ones are no key of ours.
MAX_TOKEN = 100
#: The prefix of a key's name in a business's audit log.
ACTOR_PREFIX = "apikey:"


def actor(name: str) -> str:
    """How the audit log names the API key ``name``."""
    return ACTOR_PREFIX + name


def check_name(value: str) -> str:
    """A key's name, normalised; InvalidInput when it is not one."""
    name = value.strip().lower()
    if not NAME_RE.match(name):
        raise InvalidInput("an API key's name is 1 to 32 of a-z, 0-9, '.', '_' and '-', starting and ending"
                           " with a letter or digit")
    return name


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    name: str
    scope: str
    created: str
    last_used: str | None
    revoked: str | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class NewKey:
    """A key as it is made: the token is shown this once."""

    name: str
    scope: str
    token: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Caller:
    """Who a valid token belongs to."""

    name: str
    scope: str

    @property
    def actor(self) -> str:
        return actor(self.name)

    @property
    def may_write(self) -> bool:
        return self.scope == "write"


class ApiKeys:
    """The box's API keys (see module doc)."""

    def __init__(self, stores: Stores):
        self.stores = stores

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones too, by name. Changes nothing."""
        found = self.stores.box.read_sync("apikey list", rows.list_all)
        return [ApiKey(r["name"], r["scope"], r["created"], r["last_used"], r["revoked"]) for r in found]

    def add(self, name: str, scope: str = "read", *, actor: str) -> NewKey:
        """Make a key with a new random token (returned, to show once).

        Checks: the name; the scope is ``read`` or ``write``. Changes: the
        key's row (the token's digest). Raises InvalidInput, Conflict (the
        name is taken, revoked keys' too), LimitExceeded.
        """
        name = check_name(name)
        if scope not in rows.SCOPES:
            raise InvalidInput(f"an API key's scope is one of {', '.join(rows.SCOPES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        digest = token_hash(token)
        self.stores.box.write_sync("apikey add", lambda c: rows.add(c, name, scope, digest, directory.now()))
        log.info("API key %s (%s) added by %s", name, scope, actor)
        return NewKey(name, scope, token)

    def revoke(self, name: str, *, actor: str) -> None:
        """Revoke a key: its token is refused from the next request on.
        Raises InvalidInput, NotFound (no such key in use)."""
        name = check_name(name)
        self.stores.box.write_sync("apikey revoke", lambda c: rows.revoke(c, name, directory.now()))
        log.info("API key %s revoked by %s", name, actor)

    def authenticate(self, token: str) -> Caller | None:
        """The key in use whose token is ``token``, or None. Changes: the
        key's last use (to the minute, so a busy key does not write on
        every request)."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN:
            return None
        found = self.stores.box.read_sync("apikey check", lambda c: rows.by_token_hash(c, token_hash(token)))
        if found is None:
            return None
        now = directory.now()
        if (found["last_used"] or "")[:16] != now[:16]:
            self.stores.box.write_sync("apikey used", lambda c: rows.used(c, found["name"], now))
        return Caller(found["name"], found["scope"])


__all__ = ["ApiKeys", "ApiKey", "NewKey", "Caller", "actor", "check_name", "token_hash"]
