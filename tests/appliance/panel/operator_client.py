"""Operators for the panel tests: made with the CLI, signed in over real
HTTPS the way a browser does it, the TOTP codes computed here from the
secret the CLI printed (as an authenticator app would).

A code is accepted once (the box stores the last step used), so each
operator remembers the last step it spent and the next sign-in uses a later
one: the current step, or the next one (the box accepts one step of clock
drift), waiting only when both are spent.
"""

from __future__ import annotations

import json
import time
import re
from dataclasses import dataclass, field

import pyotp

from .conftest import Env, PanelClient

STEP = 30


@dataclass
class Operator:
    name: str
    password: str
    secret: str
    last_step: int = -1
    #: The recovery codes shown when the TOTP was set up.
    recovery: list[str] = field(default_factory=list)

    def code(self, step: int) -> str:
        return pyotp.TOTP(self.secret).at(step * STEP)

    def next_code(self) -> str:
        """A code for a step after the last one used, within the drift the box allows."""
        while True:
            now = int(time.time()) // STEP
            step = max(now - 1, self.last_step + 1)
            # Step s is accepted while now is s-1, s or s+1: keep a few seconds in hand.
            if step <= now + 1 and (step + 2) * STEP - time.time() > 3:
                self.last_step = step
                return self.code(step)
            time.sleep(1)


def add_operator(env: Env, name: str, password: str = "operator secret") -> Operator:
    """A new operator, added with ``appliance operator add`` (its TOTP not confirmed yet)."""
    proc = env.cli("operator", "add", name, "--password-stdin", "--json", input=password + "\n")
    return Operator(name, password, json.loads(proc.stdout)["totp_secret"])


def operator_cookie(client: PanelClient) -> str | None:
    return client.http.cookies.get("__Host-operator")


def password_step(env: Env, operator: Operator) -> PanelClient:
    """A client that gave the right name and password, its second factor still due."""
    client = env.client()
    client.get("/operator")
    reply = client.post("/operator", {"name": operator.name, "password": operator.password})
    assert reply.status_code == 303, reply.text[:500]
    return client


def sign_in(env: Env, operator: Operator) -> PanelClient:
    """A client signed in as ``operator`` with a fresh code (setting the TOTP up the first time)."""
    client = password_step(env, operator)
    page = client.last.headers["location"]
    assert page in ("/operator/setup", "/operator/code"), page
    client.get(page)
    reply = client.post(page, {"code": operator.next_code()})
    if page == "/operator/setup":
        assert reply.status_code == 200 and "recovery-codes" in reply.text, reply.text[:500]
        operator.recovery = re.findall(r"<li><code>([a-z0-9-]+)</code></li>", reply.text)
    else:
        assert (reply.status_code, reply.headers.get("location")) == (303, "/operator/businesses"), reply.text[:500]
    client.get("/operator/businesses")
    return client


def support_cookie(operator_client: PanelClient, slug: str) -> str:
    """Open business ``slug``'s panel for support; the new panel session cookie."""
    operator_client.get(f"/operator/businesses/{slug}")
    reply = operator_client.post(f"/operator/businesses/{slug}/support")
    assert (reply.status_code, reply.headers.get("location")) == (303, "/people"), reply.text[:500]
    return operator_client.http.cookies.get("__Host-session")
