"""Operators' sign-in checks, throttled like every other login.

The operators service checks passwords and codes (on a thread: argon2 and
SQLite block); this wraps each check in the login checker's throttle
(:class:`appliance.auth.Authenticator`): the same failure counters per
source and per account, the same known sources, the same queue of hash
slots, the same growing delay, and the same fixed log line for fail2ban::

    auth failed: protocol=operator user=NAME source=192.0.2.7

A wrong password and a wrong code both count as failures of the account.
"""

from __future__ import annotations

import asyncio
from typing import Any

from appliance.errors import AuthFailed
from appliance.throttle import Busy, source_key

PROTOCOL = "operator"
#: The hash queue's key for an operator (addresses always have an ``@``).
QUEUE_PREFIX = "operator:"
MAX_NAME = 64


class OperatorLogin:
    """The throttled checks of an operator's sign-in (see module doc)."""

    def __init__(self, app: Any):
        self.auth = app.auth
        self.operators = app.core.operators

    @staticmethod
    def account(name: str) -> str:
        return name.strip().lower()[:MAX_NAME]

    async def password(self, name: str, password: str, *, peer: str) -> bool:
        """Whether the operator's TOTP is confirmed, once ``name`` and
        ``password`` are right. Raises AuthFailed (Busy: too many wait)."""
        account = self.account(name)
        key = QUEUE_PREFIX + account
        confirmed = None
        try:
            async with self.auth.attempt(account, peer) as known:
                await self.auth.queue.acquire(key, urgent=known)
                try:
                    confirmed = await asyncio.to_thread(self.operators.check_password, account, password)
                finally:
                    self.auth.queue.release(key)
        except Busy:
            raise
        except AuthFailed:
            pass
        if confirmed is None:
            await self._failed(account, peer)
        self.auth.known.add(account, source_key(peer))
        return confirmed

    async def code(self, name: str, code: str, *, peer: str) -> None:
        """Accept the operator's TOTP or recovery code; raises AuthFailed."""
        if not await self._checked(name, peer, self.operators.check_code, name, code):
            await self._failed(name, peer)

    async def confirm(self, name: str, code: str, *, peer: str) -> list[str]:
        """Confirm the operator's new TOTP with a first code; returns their
        recovery codes. Raises AuthFailed."""
        codes = await self._checked(name, peer, self.operators.confirm_2fa, name, code)
        if codes is None:
            await self._failed(name, peer)
        return codes

    async def _checked(self, account: str, peer: str, check, *args) -> Any:
        """``check(*args)`` on a thread, admitted by the throttle; None when
        the throttle refused it (Busy is raised: not a failure)."""
        try:
            async with self.auth.attempt(account, peer):
                return await asyncio.to_thread(check, *args)
        except Busy:
            raise
        except AuthFailed:
            return None

    async def _failed(self, account: str, peer: str) -> None:
        self.auth.record_failure(PROTOCOL, account, peer)
        await asyncio.sleep(self.auth.failure_delay(account, peer))
        raise AuthFailed("authentication failed")
