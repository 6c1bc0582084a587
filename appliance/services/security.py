"""A user's own sign-in security: two-step sign-in (TOTP) and app passwords.

Proving who you are (a password, a code, with throttling and the fail2ban
line) is the login checker's (:mod:`appliance.auth`); these methods change
the settings once a front end has done so where the method says it must.
Each writes the business's audit log with ``actor``; secrets never go in
it.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import asdict, dataclass

from storage import credentials, directory, names

from .. import apppasswords, twofactor
from ..errors import Conflict, InvalidInput, NotFound
from .base import Stores


@dataclass(frozen=True)
class TwoStep:
    """Where a user stands: ``enabled``; ``pending`` when a secret waits
    for its first code; how many recovery codes are left."""

    enabled: bool
    pending: bool
    recovery_left: int


@dataclass(frozen=True)
class Setup:
    """A secret to enter in an authenticator app, and its ``otpauth://`` link."""

    secret: str
    uri: str


@dataclass(frozen=True)
class AppPassword:
    ref: str
    name: str
    created: str
    last_used: float | None

    def as_dict(self) -> dict:
        return asdict(self)


class Security:
    """Two-step sign-in and app passwords of users, named by address."""

    def __init__(self, stores: Stores):
        self.stores = stores

    def _user(self, conn: sqlite3.Connection, address: str) -> int:
        row = directory.get_user(conn, address)
        if row is None:
            raise NotFound(f"no user {address}")
        return row["id"]

    def _run(self, address: str, desc: str, fn, *, write: bool = True):
        address = names.address(address)
        handle = self.stores.handle_for_address(address)

        def run(conn: sqlite3.Connection):
            return fn(conn, self._user(conn, address), address)

        return handle.write_sync(desc, run) if write else handle.read_sync(desc, run)

    # -- two-step sign-in ----------------------------------------------------

    def two_step(self, address: str) -> TwoStep:
        """Where ``address`` stands. Raises InvalidInput, NotFound."""
        def read(conn, user_id, _):
            state = credentials.two_step(conn, user_id)
            if state is None:
                return TwoStep(False, False, 0)
            return TwoStep(state["enabled"], not state["enabled"], state["recovery_left"])

        return self._run(address, "two-step state", read, write=False)

    def begin_two_step(self, address: str, *, actor: str) -> Setup:
        """Make a new secret for ``address``, not on until
        :meth:`confirm_two_step` gets a code of it (a secret made earlier and
        not confirmed is replaced). Raises Conflict when it is on already,
        InvalidInput, NotFound."""
        secret = twofactor.new_secret()

        def begin(conn, user_id, address):
            if credentials.is_on(conn, user_id):
                raise Conflict(f"two-step sign-in is already on for {address}")
            credentials.begin(conn, user_id, secret)
            issuer = directory.get_tenant(conn).name
            directory.audit(conn, actor, "twostep.begin", address)
            return Setup(secret, twofactor.provisioning_uri(secret, address, issuer))

        return self._run(address, "two-step begin", begin)

    def pending_setup(self, address: str) -> Setup | None:
        """The secret waiting for its first code, or None."""
        def read(conn, user_id, address):
            state = credentials.two_step(conn, user_id)
            if state is None or state["enabled"]:
                return None
            issuer = directory.get_tenant(conn).name
            return Setup(state["secret"], twofactor.provisioning_uri(state["secret"], address, issuer))

        return self._run(address, "two-step pending", read, write=False)

    def confirm_two_step(self, address: str, code: str, *, actor: str) -> list[str]:
        """Turn two-step sign-in on: ``code`` must be a current code of the
        pending secret. Returns ten new recovery codes (only their hashes
        are kept: show them now). Raises InvalidInput for a wrong code
        (nothing changes), NotFound when no secret is pending."""
        codes = twofactor.new_recovery_codes()
        hashes = [twofactor.recovery_hash(c) for c in codes]

        def confirm(conn, user_id, address):
            state = credentials.two_step(conn, user_id)
            if state is None or state["enabled"]:
                raise NotFound(f"no two-step sign-in waiting for {address}")
            step = twofactor.verify(state["secret"], code, None)
            if step is None:
                raise InvalidInput("this is not a current code of the new secret")
            credentials.enable(conn, user_id, step, hashes)
            directory.audit(conn, actor, "twostep.on", address)
            return codes

        return self._run(address, "two-step confirm", confirm)

    def turn_off_two_step(self, address: str, *, actor: str) -> None:
        """Turn two-step sign-in off, forgetting the secret and the recovery
        codes. The caller must have checked the password and a code
        (``Authenticator.confirm``). Raises NotFound when it is not on."""
        def off(conn, user_id, address):
            if not credentials.disable(conn, user_id):
                raise NotFound(f"two-step sign-in is not on for {address}")
            directory.audit(conn, actor, "twostep.off", address)

        self._run(address, "two-step off", off)

    def new_recovery_codes(self, address: str, *, actor: str) -> list[str]:
        """Replace the recovery codes with ten new ones (returned; show them
        once). The caller must have checked a code. Raises NotFound when
        two-step sign-in is not on."""
        codes = twofactor.new_recovery_codes()
        hashes = [twofactor.recovery_hash(c) for c in codes]

        def renew(conn, user_id, address):
            if not credentials.is_on(conn, user_id):
                raise NotFound(f"two-step sign-in is not on for {address}")
            credentials.replace_recovery_codes(conn, user_id, hashes)
            directory.audit(conn, actor, "twostep.recovery", address)
            return codes

        return self._run(address, "two-step recovery codes", renew)

    # -- app passwords -------------------------------------------------------

    def app_passwords(self, address: str) -> list[AppPassword]:
        """The app passwords of ``address`` (never the passwords themselves)."""
        def read(conn, user_id, _):
            return [AppPassword(**r) for r in credentials.list_app_passwords(conn, user_id)]

        return self._run(address, "app passwords", read, write=False)

    def add_app_password(self, address: str, name: str, *, actor: str) -> tuple[AppPassword, str]:
        """Make an app password named ``name``; returns it with the password
        (shown once; only its digest is kept). Checks: the name (1 to
        :data:`apppasswords.MAX_NAME` printable characters), at most
        :data:`credentials.MAX_APP_PASSWORDS` per user. Raises InvalidInput,
        LimitExceeded, NotFound."""
        clean = apppasswords.clean_name(name)
        if clean is None:
            raise InvalidInput(f"an app password's name has 1 to {apppasswords.MAX_NAME} printable characters")
        password = apppasswords.generate()
        ref = secrets.token_hex(8)

        def add(conn, user_id, address):
            credentials.add_app_password(conn, user_id, ref, clean, apppasswords.digest(password))
            directory.audit(conn, actor, "apppassword.add", f"{address} {clean}")
            return AppPassword(ref, clean, directory.now(), None)

        return self._run(address, "app password add", add), password

    def revoke_app_password(self, address: str, ref: str, *, actor: str) -> None:
        """Revoke the app password ``ref`` of ``address``: it stops working
        at once, everywhere. Raises NotFound when the user has none of that
        ref."""
        def revoke(conn, user_id, address):
            name = credentials.revoke_app_password(conn, user_id, ref)
            if name is None:
                raise NotFound("no such app password")
            directory.audit(conn, actor, "apppassword.revoke", f"{address} {name}")

        self._run(address, "app password revoke", revoke)
