"""Operators' sessions, and the support sessions they open in a business's
panel.

An operator's session is its own: the ``__Host-operator`` cookie (Secure,
HttpOnly, SameSite=Strict, Path=/), the SHA-256 of its id in the box
database (:mod:`storage.operators`), its own CSRF token. It starts when the
password is right, at stage ``code`` (or ``setup`` when the operator has no
confirmed TOTP yet), and only becomes ``full`` with a second factor, under
a new id. A session still waiting for its second factor lives at most
:data:`PENDING_SECONDS` and allows :data:`MAX_CODE_TRIES` wrong codes. A
full one ends after ``[panel] idle_seconds`` unused or ``[panel]
max_age_seconds`` old, at sign-out, and when the operator is removed or
given a new password or second factor.

A support session is a business's panel session (``__Host-session``) with
owner rights whose row names the operator's session: it ends with it, and
lives at most :data:`SUPPORT_SECONDS` (:meth:`SessionStore.load` checks).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

from storage import operators as rows
from storage import sessions as panel_rows

from .sessions import TOUCH_EVERY, digest, new_token

log = logging.getLogger(__name__)

COOKIE = "__Host-operator"
#: Over plain HTTP on loopback (the demo) a ``__Host-`` cookie cannot be set.
PLAIN_COOKIE = "operator"
#: How long the second factor may take after the password (seconds).
PENDING_SECONDS = 300
#: Wrong codes one sign-in may try before it must start again.
MAX_CODE_TRIES = 5
#: The absolute timeout of a support session (seconds), shorter than a
#: user's; ``[panel] max_age_seconds`` when that is shorter still.
SUPPORT_SECONDS = 3600


@dataclass
class OperatorSession:
    id_hash: str
    name: str
    stage: str
    csrf: str
    created: float
    #: Set when this request issued a new id: the cookie to send.
    new_token: str | None = None

    @property
    def full(self) -> bool:
        return self.stage == "full"


def alive(row: dict, now: float, idle: float, max_age: float) -> bool:
    """Whether the operator session ``row`` is within its timeouts."""
    if now - row["seen"] > idle:
        return False
    limit = max_age if row["stage"] == "full" else PENDING_SECONDS
    return now - row["created"] <= limit


def support_alive(row: dict, operator_row: dict | None, now: float, idle: float, max_age: float) -> bool:
    """Whether the support session ``row`` may go on: within its own
    timeouts, and its operator's full session (``operator_row``) alive."""
    if now - row["seen"] > idle or now - row["created"] > min(SUPPORT_SECONDS, max_age):
        return False
    return operator_row is not None and operator_row["stage"] == "full" and alive(operator_row, now, idle, max_age)


class OperatorSessionStore:
    """Operators' sessions and the support sessions opened from them (see module doc)."""

    def __init__(self, app: Any):
        self.app = app
        self.idle = app.settings.panel.idle_seconds
        self.max_age = app.settings.panel.max_age_seconds

    async def start(self, name: str, stage: str, *, peer: str, replaces: str | None) -> OperatorSession:
        """A session for an operator whose password was right, at ``stage``;
        ``replaces`` (the token the browser had) is ended."""
        token, csrf, now = new_token(), new_token(), time.time()
        id_hash = digest(token)

        def write(conn) -> None:
            rows.purge_sessions(conn, now - self.idle, now - self.max_age)
            if replaces:
                self._end(conn, digest(replaces))
            rows.create_session(conn, id_hash, name, stage, csrf, now, peer)

        await self.app.box.write("operator session start", write)
        log.info("%s: operator session started for %s (stage %s)", peer, name, stage)
        return OperatorSession(id_hash, name, stage, csrf, now, new_token=token)

    async def load(self, token: str) -> OperatorSession | None:
        """The live session of ``token``, or None."""
        if not token or len(token) > 100:
            return None
        id_hash = digest(token)
        row = await self.app.box.read("operator session", lambda c: rows.get_session(c, id_hash))
        if row is None:
            return None
        now = time.time()
        if not alive(row, now, self.idle, self.max_age):
            await self.app.box.write("operator session end", lambda c: self._end(c, id_hash))
            return None
        if now - row["seen"] > TOUCH_EVERY:
            await self.app.box.write("operator session seen", lambda c: rows.touch_session(c, id_hash, now))
        return OperatorSession(id_hash, row["name"], row["stage"], row["csrf"], row["created"])

    async def promote(self, session: OperatorSession) -> None:
        """The second factor is done: the session is full, under a new id."""
        token, csrf, now = new_token(), new_token(), time.time()
        new_hash = digest(token)
        done = await self.app.box.write(
            "operator session promote", lambda c: rows.promote_session(c, session.id_hash, new_hash, csrf, now))
        if done:
            session.id_hash, session.csrf, session.stage, session.new_token = new_hash, csrf, "full", token
            session.created = now

    async def set_stage(self, session: OperatorSession, stage: str) -> None:
        await self.app.box.write("operator session stage", lambda c: rows.set_stage(c, session.id_hash, stage))
        session.stage = stage

    async def wrong_code(self, session: OperatorSession) -> bool:
        """Count a wrong code; True (and the session is ended) when it was
        the last one allowed."""
        tries = await self.app.box.write("operator session try", lambda c: rows.count_try(c, session.id_hash))
        if tries >= MAX_CODE_TRIES:
            await self.end(session)
            return True
        return False

    async def end(self, session: OperatorSession) -> None:
        """End the session and the support sessions opened from it."""
        await self.app.box.write("operator session end", lambda c: self._end(c, session.id_hash))

    @staticmethod
    def _end(conn, id_hash: str) -> None:
        rows.delete_session(conn, id_hash)
        panel_rows.delete_support_of(conn, id_hash)

    async def start_support(self, session: OperatorSession, slug: str, actor: str, *, peer: str,
                            agent: str) -> str:
        """A support session in business ``slug`` for the operator's
        ``session``; returns its token (the panel session cookie)."""
        token, csrf, ref, now = new_token(), new_token(), secrets.token_hex(8), time.time()
        id_hash = digest(token)
        await self.app.box.write("support session start", lambda c: panel_rows.create_support(
            c, id_hash, ref, slug, actor, csrf, now, peer, agent, session.id_hash))
        log.info("%s: support session in %s started for operator %s", peer, slug, session.name)
        return token
