"""People: the users of a business (mailboxes and logins)."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass

from storage import directory, schema

from storage import names

from .. import passwords
from ..errors import InvalidInput
from .base import Stores

#: The largest quota a user can be given (MiB).
MAX_QUOTA_MIB = 10_000_000


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
    thread: callers on the event loop run these methods in a thread."""

    def __init__(self, stores: Stores):
        self.stores = stores

    def list(self, slug: str) -> list[Person]:
        """The users of business ``slug``. Raises InvalidInput, NotFound."""
        rows = self.stores.handle(slug).read_sync("user list", directory.list_users)
        return [Person(**r) for r in rows]

    def add(self, address: str, password: str | None = None, name: str | None = None, *, actor: str) -> str | None:
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
        handle = self.stores.handle_for_address(address)

        def add(conn: sqlite3.Connection) -> int:
            user_id = directory.add_user(conn, address, hashed, display)
            directory.audit(conn, actor, "user.add", address)
            for hook in schema.ON_USER_CREATED:
                hook(conn, user_id)
            return user_id

        handle.write_sync("user add", add)
        self.stores.changed("user add")
        return generated

    def set_password(self, address: str, password: str | None = None, *, actor: str) -> str | None:
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

        self.stores.handle_for_address(address).write_sync("user passwd", change)
        return generated

    def set_quota(self, address: str, megabytes: int, *, actor: str) -> None:
        """A user's mailbox quota in MiB; 0 gives the plan's back.

        Checks: 0 <= megabytes <= :data:`MAX_QUOTA_MIB`. Raises InvalidInput,
        NotFound.
        """
        address = names.address(address)
        if not 0 <= megabytes <= MAX_QUOTA_MIB:
            raise InvalidInput(f"quota must be between 0 and {MAX_QUOTA_MIB} MiB")
        value = megabytes * 1024 * 1024 if megabytes else None

        def change(conn: sqlite3.Connection) -> None:
            directory.set_quota(conn, address, value)
            directory.audit(conn, actor, "user.quota", f"{address} {value}")

        self.stores.handle_for_address(address).write_sync("user quota", change)

    def set_role(self, address: str, role: str, *, actor: str) -> None:
        """Make a user ``owner`` or ``member`` of its business (the control
        panel's rights). Checks: the role is one of those; the only owner
        cannot be made a member. Raises InvalidInput, NotFound, Conflict."""
        address = names.address(address)

        def change(conn: sqlite3.Connection) -> None:
            directory.set_role(conn, address, role)
            directory.audit(conn, actor, "user.role", f"{address} {role}")

        self.stores.handle_for_address(address).write_sync("user role", change)
        # Signed-in panel sessions notice the new role at their next request.
        self.stores.changed("user role")

    def remove(self, address: str, *, actor: str) -> None:
        """Remove a user with their mail; alias targets naming them go too.
        Raises InvalidInput, NotFound."""
        address = names.address(address)

        def remove(conn: sqlite3.Connection) -> None:
            directory.remove_user(conn, address)
            directory.audit(conn, actor, "user.remove", address)

        self.stores.handle_for_address(address).write_sync("user remove", remove)
        self.stores.changed("user remove")
