"""Radicale's auth plugin: our users, login by full address.

See ``radicale.auth.BaseAuth``. Verification, the login cache and the
throttle live in :class:`DavBackend.check_login`.
"""

from __future__ import annotations

from typing import Any

from radicale.auth import AuthContext, BaseAuth

from .backend import DavBackend


class Auth(BaseAuth):
    def __init__(self, configuration: Any, backend: DavBackend):
        super().__init__(configuration)
        self.backend = backend

    def _login_ext(self, login: str, password: str, context: AuthContext) -> str:
        return self.backend.check_login(login, password, context.remote_addr or "-")

    def _sleep_for_constant_exec_time(self, time_ns_begin: int) -> None:
        # Radicale pads failed logins with time.sleep in the request thread,
        # which would park a pool thread per attempt. An unknown address
        # already costs a real hash, and repeated failures are refused by the
        # throttle without hashing, so there is nothing to pad.
        return None
