"""Panel sessions: ids, cookies, timeouts, rotation and CSRF tokens.

A session id is 32 random bytes the browser holds in the ``__Host-session``
cookie (``Secure; HttpOnly; SameSite=Strict; Path=/``); the box database
holds only its SHA-256 (:mod:`storage.sessions`). A new id is issued at
sign-in and whenever the user's role differs from the one the session was
issued for (a privilege change); the old id stops working at once.

A session ends when it has been idle for ``[panel] idle_seconds``, when it
is older than ``[panel] max_age_seconds``, at sign-out, when the user signs
out everywhere, changes their password or is removed, and when the
business is suspended. Every check reads the user's row again, so a role
or a removal made elsewhere (the CLI) counts from the next request on.

For a user with two-step sign-in on, a right password only opens a sign-in
challenge: the browser gets its id in the ``__Host-signin`` cookie, valid
for :data:`CHALLENGE_SECONDS` and :data:`CHALLENGE_TRIES` wrong codes, and
no session exists until a code is accepted (then a new session id is
issued as for any sign-in).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from storage import directory
from storage import sessions as rows
from storage.errors import NotFound

log = logging.getLogger(__name__)

COOKIE = "__Host-session"
#: Over plain HTTP on loopback (the demo) a ``__Host-`` cookie cannot be
#: set (it must be Secure); these names are used there instead.
PLAIN_COOKIE = "session"
#: ``seen`` is written at most this often per session (seconds).
TOUCH_EVERY = 60.0
#: The cookie of a sign-in waiting for its code (see module doc).
CHALLENGE_COOKIE, PLAIN_CHALLENGE_COOKIE = "__Host-signin", "signin"
#: How long a sign-in may wait for its code, and how many wrong codes end it.
CHALLENGE_SECONDS = 300
CHALLENGE_TRIES = 5


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class Session:
    """A signed-in user of one business, as the panel sees them."""

    id_hash: str
    ref: str
    slug: str
    user_id: int
    address: str
    display_name: str | None
    role: str
    language: str
    csrf: str
    created: float
    #: Set when this request issued a new id: the cookie to send.
    new_token: str | None = None

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


class SessionStore:
    """Sessions of the panel in the box database (see module doc)."""

    def __init__(self, app: Any):
        self.app = app
        self.idle = app.settings.panel.idle_seconds
        self.max_age = app.settings.panel.max_age_seconds

    async def _user(self, slug: str, user_id: int) -> dict | None:
        """The user's row when the user and their business are active."""
        if not self.app.tenants.exists(slug):
            return None

        def read(conn) -> dict | None:
            try:
                tenant = directory.get_tenant(conn)
            except NotFound:
                return None
            user = directory.user_by_id(conn, user_id)
            if tenant.state != "active" or user is None or user["state"] != "active":
                return None
            return user

        return await self.app.tenants.handle(slug).read("panel user", read)

    async def start(self, slug: str, user_id: int, *, peer: str, agent: str, replaces: str | None) -> Session:
        """A new session for a user who just signed in; ``replaces`` (the
        token the browser had, if any) is ended."""
        user = await self._user(slug, user_id)
        if user is None:
            raise NotFound("no such user")
        token, csrf, ref, now = new_token(), new_token(), secrets.token_hex(8), time.time()
        id_hash = digest(token)

        def write(conn) -> None:
            # Expired rows go at each sign-in: the table never outgrows the
            # sessions alive within the timeouts.
            rows.purge(conn, now - self.idle, now - self.max_age)
            if replaces:
                rows.delete(conn, digest(replaces))
            rows.create(conn, id_hash, ref, slug, user_id, user["address"], user["role"], csrf, now, peer, agent)

        await self.app.box.write("panel session start", write)
        log.info("%s: panel session started for %s", peer, user["address"])
        return Session(id_hash, ref, slug, user_id, user["address"], user["display_name"], user["role"],
                       user["language"], csrf, now, new_token=token)

    async def load(self, token: str) -> Session | None:
        """The live session of ``token``, or None (unknown, expired, its user
        gone or suspended). A role change issues a new id (``new_token``)."""
        if not token or len(token) > 100:
            return None
        id_hash = digest(token)
        row = await self.app.box.read("panel session", lambda c: rows.get(c, id_hash))
        if row is None:
            return None
        now = time.time()
        expired = now - row["seen"] > self.idle or now - row["created"] > self.max_age
        user = None if expired else await self._user(row["slug"], row["user_id"])
        if user is None or user["address"] != row["address"]:
            await self.app.box.write("panel session end", lambda c: rows.delete(c, id_hash))
            return None
        session = Session(id_hash, row["ref"], row["slug"], row["user_id"], user["address"], user["display_name"],
                          user["role"], user["language"], row["csrf"], row["created"])
        if user["role"] != row["role"]:
            await self.rotate(session)
        elif now - row["seen"] > TOUCH_EVERY:
            await self.app.box.write("panel session seen", lambda c: rows.touch(c, id_hash, now))
        return session

    async def rotate(self, session: Session) -> None:
        """Give ``session`` a new id and CSRF token (the old id ends)."""
        token, csrf, now = new_token(), new_token(), time.time()
        new_hash = digest(token)
        replaced = await self.app.box.write(
            "panel session rotate", lambda c: rows.replace(c, session.id_hash, new_hash, session.role, csrf, now)
        )
        if replaced:
            session.id_hash, session.csrf, session.new_token = new_hash, csrf, token

    async def end(self, session: Session) -> None:
        await self.app.box.write("panel session end", lambda c: rows.delete(c, session.id_hash))

    async def end_all(self, slug: str, user_id: int, *, keep: Session | None = None) -> int:
        """End every session of a user (but ``keep``)."""
        keep_hash = keep.id_hash if keep else None
        return await self.app.box.write(
            "panel sessions end", lambda c: rows.delete_for_user(c, slug, user_id, keep=keep_hash)
        )

    async def end_one(self, session: Session, ref: str) -> bool:
        """End the user's own session ``ref``; another user's does nothing."""
        return await self.app.box.write(
            "panel session end one", lambda c: rows.delete_one_of_user(c, session.slug, session.user_id, ref)
        )

    async def list(self, session: Session) -> list[dict]:
        return await self.app.box.read(
            "panel sessions", lambda c: rows.list_for_user(c, session.slug, session.user_id)
        )


    # -- sign-in challenges ------------------------------------------------

    async def begin_challenge(self, slug: str, user_id: int, address: str) -> str:
        """Open a sign-in challenge for a user whose password was right;
        returns the token for the browser's cookie."""
        token, now = new_token(), time.time()
        await self.app.box.write("panel challenge start", lambda c: rows.create_challenge(
            c, digest(token), slug, user_id, address, now, now - CHALLENGE_SECONDS))
        return token

    async def challenge(self, token: str) -> dict | None:
        """The open challenge of ``token`` (``id_hash``, ``slug``,
        ``user_id``, ``address``), or None: unknown, or older than
        :data:`CHALLENGE_SECONDS` (then it ends)."""
        if not token or len(token) > 100:
            return None
        id_hash = digest(token)
        row = await self.app.box.read("panel challenge", lambda c: rows.get_challenge(c, id_hash))
        if row is not None and time.time() - row["created"] > CHALLENGE_SECONDS:
            await self.app.box.write("panel challenge end", lambda c: rows.delete_challenge(c, id_hash))
            return None
        return row

    async def challenge_failed(self, challenge: dict) -> bool:
        """Count a wrong code; False when that ended the challenge."""
        return await self.app.box.write("panel challenge failed", lambda c: rows.challenge_failed(
            c, challenge["id_hash"], CHALLENGE_TRIES))

    async def end_challenge(self, challenge: dict) -> bool:
        """End it; False when it was already gone (used by a parallel request)."""
        return await self.app.box.write("panel challenge end", lambda c: rows.delete_challenge(
            c, challenge["id_hash"]))

    async def end_for_address(self, slug: str, address: str) -> int:
        """End every session of the user ``address`` (reset or removed by an owner)."""
        return await self.app.box.write(
            "panel sessions end", lambda c: rows.delete_for_address(c, slug, address)
        )
