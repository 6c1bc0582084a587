"""People: the users of a business (mailboxes and logins)."""

from __future__ import annotations

import datetime
import hashlib
import secrets
import sqlite3
from dataclasses import asdict, dataclass

from storage import directory, schema

from storage import names

from .. import passwords
from ..errors import Conflict, InvalidInput, LimitExceeded, NotFound
from .base import Stores

#: The largest quota a user can be given (MiB).
MAX_QUOTA_MIB = 10_000_000
#: How long an invitation link can be used.
INVITATION_DAYS = 7
#: The length an invitation token has (``secrets.token_urlsafe(32)``).
TOKEN_LENGTH = 43
MIB = 1024 * 1024


class InvitationUnusable(NotFound):
    """The invitation link cannot be used; ``reason`` is ``unknown``,
    ``used`` or ``expired``."""

    def __init__(self, reason: str):
        super().__init__(f"this invitation link is {reason}")
        self.reason = reason


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@dataclass(frozen=True)
class Person:
    address: str
    display_name: str | None
    quota_bytes: int | None  # None: the plan's mailbox_bytes
    state: str
    created: str
    #: ``owner`` or ``member``: the control panel's rights.
    role: str = "member"

    def as_dict(self) -> dict:
        return asdict(self)


class People:
    """Users of businesses, named by address. Hashing runs in the calling
    thread: callers on the event loop run these methods in a thread. A
    ``slug`` given to a method is the business the address must be in:
    NotFound otherwise, as for an address no business has."""

    def __init__(self, stores: Stores):
        self.stores = stores

    def list(self, slug: str) -> list[Person]:
        """The users of business ``slug``. Raises InvalidInput, NotFound."""
        rows = self.stores.handle(slug).read_sync("user list", directory.list_users)
        return [Person(**r) for r in rows]

    def add(self, address: str, password: str | None = None, name: str | None = None, *, actor: str,
            slug: str | None = None) -> str | None:
        """Create a user; returns the generated password when none was given.

        Checks: the address and name are valid; the domain belongs to a
        business; the address is neither a user nor an alias yet; the plan's
        user count. Changes: the user (with its mailboxes, calendars and
        address book) in the business file; the catalog generation. Raises
        InvalidInput, NotFound, Conflict, LimitExceeded.
        """
        address = names.address(address)
        display = names.display_name(name) if name else None
        generated = None
        if password is None:
            password = generated = passwords.generate()
        hashed = passwords.hash_password(password)
        handle = self.stores.handle_for_address(address, slug)

        def add(conn: sqlite3.Connection) -> int:
            user_id = directory.add_user(conn, address, hashed, display)
            directory.audit(conn, actor, "user.add", address)
            for hook in schema.ON_USER_CREATED:
                hook(conn, user_id)
            return user_id

        handle.write_sync("user add", add)
        self.stores.changed("user add")
        return generated

    def invite(self, address: str, name: str | None = None, *, actor: str) -> str:
        """Create a user who chooses their own password through a one-time
        link; returns the link's token (valid :data:`INVITATION_DAYS` days,
        kept only hashed). Until then the user cannot log in anywhere, but
        mail to them is accepted. Checks and raises as :meth:`add`."""
        address = names.address(address)
        display = names.display_name(name) if name else None
        # Nobody knows this password: the account is locked until the link is used.
        hashed = passwords.hash_password(secrets.token_urlsafe(32))
        token = secrets.token_urlsafe(32)
        expires = _expiry()
        handle = self.stores.handle_for_address(address)

        def add(conn: sqlite3.Connection) -> None:
            user_id = directory.add_user(conn, address, hashed, display, state="invited")
            directory.set_invitation(conn, user_id, _token_hash(token), expires)
            directory.audit(conn, actor, "user.invite", address)
            for hook in schema.ON_USER_CREATED:
                hook(conn, user_id)

        handle.write_sync("user invite", add)
        self.stores.changed("user invite")
        return token

    def reinvite(self, address: str, *, actor: str) -> str:
        """A new invitation link for a user who has not used theirs (the
        old link stops working). Raises InvalidInput, NotFound, Conflict
        (the user is not invited)."""
        address = names.address(address)
        token = secrets.token_urlsafe(32)
        expires = _expiry()

        def change(conn: sqlite3.Connection) -> None:
            row = directory.get_user(conn, address)
            if row is None:
                raise NotFound(f"no user {address}")
            if row["state"] != "invited":
                raise Conflict(f"{address} has already chosen a password")
            directory.set_invitation(conn, row["id"], _token_hash(token), expires)
            directory.audit(conn, actor, "user.reinvite", address)

        self.stores.handle_for_address(address).write_sync("user reinvite", change)
        return token

    def invitation(self, address: str, token: str) -> None:
        """Check an invitation link without using it. Raises
        InvitationUnusable (unknown, used or expired)."""
        handle, address = self._invitation_handle(address, token)
        state = handle.read_sync("invitation", lambda c: directory.invitation_state(c, address, _token_hash(token)))
        if state != "valid":
            raise InvitationUnusable(state or "unknown")

    def accept_invitation(self, address: str, token: str, password: str, *, source: str = "") -> None:
        """The invited user chooses their password: from now on they log in
        like everyone, and the link is spent. Checks: the link is valid;
        the password's length. ``source`` (where the invitee is) goes to
        the audit log. Raises InvalidInput, InvitationUnusable."""
        handle, address = self._invitation_handle(address, token)
        # A link that cannot be used costs no password hash.
        state = handle.read_sync("invitation", lambda c: directory.invitation_state(c, address, _token_hash(token)))
        if state != "valid":
            raise InvitationUnusable(state or "unknown")
        hashed = passwords.hash_password(password)

        def accept(conn: sqlite3.Connection) -> str:
            state = directory.accept_invitation(conn, address, _token_hash(token), hashed)
            if state == "valid":
                directory.audit(conn, directory.Actor(address, source), "user.accept", address)
            return state

        state = handle.write_sync("invitation accept", accept)
        if state != "valid":
            raise InvitationUnusable(state)

    def _invitation_handle(self, address: str, token: str):
        try:
            address = names.address(address)
            handle = self.stores.handle_for_address(address)
        except (InvalidInput, NotFound):
            raise InvitationUnusable("unknown") from None
        if len(token) != TOKEN_LENGTH:
            raise InvitationUnusable("unknown")
        return handle, address

    def set_state(self, address: str, state: str, *, actor: str, slug: str | None = None) -> None:
        """Suspend (``suspended``) or resume (``active``) one person. A
        suspended person cannot log in on any protocol or the panel; mail
        to them is still accepted.

        Checks: only an active person is suspended, a suspended one resumed;
        nobody suspends themselves; the business keeps an active owner.
        Raises InvalidInput, NotFound, Conflict.
        """
        address = names.address(address)
        if state == "suspended" and str(actor) == address:
            raise InvalidInput("you cannot suspend yourself")

        def change(conn: sqlite3.Connection) -> None:
            directory.set_user_state(conn, address, state)
            directory.audit(conn, actor, "user.suspend" if state == "suspended" else "user.resume", address)

        self.stores.handle_for_address(address, slug).write_sync("user state", change)
        self.stores.changed("user state")

    def set_password(self, address: str, password: str | None = None, *, actor: str,
                     slug: str | None = None) -> str | None:
        """Set a user's password; returns the generated one when none was
        given. Raises InvalidInput, NotFound."""
        address = names.address(address)
        generated = None
        if password is None:
            password = generated = passwords.generate()
        hashed = passwords.hash_password(password)

        def change(conn: sqlite3.Connection) -> None:
            directory.set_password_hash(conn, address, hashed)
            directory.audit(conn, actor, "user.passwd", address)

        self.stores.handle_for_address(address, slug).write_sync("user passwd", change)
        return generated

    def set_quota(self, address: str, megabytes: int, *, actor: str, slug: str | None = None) -> None:
        """A user's mailbox quota in MiB; 0 gives the plan's back.

        Checks: 0 <= megabytes <= :data:`MAX_QUOTA_MIB`; no more than the
        plan's mailbox size. Raises InvalidInput, NotFound, LimitExceeded.
        """
        address = names.address(address)
        if not 0 <= megabytes <= MAX_QUOTA_MIB:
            raise InvalidInput(f"quota must be between 0 and {MAX_QUOTA_MIB} MiB", field="megabytes")
        value = megabytes * MIB if megabytes else None

        def change(conn: sqlite3.Connection) -> None:
            plan = directory.limits(conn)
            if value is not None and value > plan.mailbox_bytes:
                raise LimitExceeded(f"the plan allows mailboxes of at most {plan.mailbox_bytes // MIB} MiB")
            directory.set_quota(conn, address, value)
            directory.audit(conn, actor, "user.quota", f"{address} {value}")

        self.stores.handle_for_address(address, slug).write_sync("user quota", change)

    def set_role(self, address: str, role: str, *, actor: str, slug: str | None = None) -> None:
        """Make a user ``owner`` or ``member`` of its business (the control
        panel's rights). Checks: the role is one of those; the only owner
        cannot be made a member. Raises InvalidInput, NotFound, Conflict."""
        address = names.address(address)

        def change(conn: sqlite3.Connection) -> None:
            directory.set_role(conn, address, role)
            directory.audit(conn, actor, "user.role", f"{address} {role}")

        self.stores.handle_for_address(address, slug).write_sync("user role", change)
        # Signed-in panel sessions notice the new role at their next request.
        self.stores.changed("user role")

    def remove(self, address: str, *, actor: str, slug: str | None = None) -> None:
        """Remove a user with their mail; alias targets naming them go too.
        Raises InvalidInput, NotFound."""
        address = names.address(address)

        def remove(conn: sqlite3.Connection) -> None:
            directory.remove_user(conn, address)
            directory.audit(conn, actor, "user.remove", address)

        self.stores.handle_for_address(address, slug).write_sync("user remove", remove)
        self.stores.changed("user remove")


def _expiry() -> str:
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=INVITATION_DAYS)
    return when.replace(microsecond=0).isoformat()
