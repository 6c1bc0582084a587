"""Mail rules: each user's Sieve scripts (list, show, check, put, activate,
rename, delete), for ManageSieve, the CLI and the panel.

A script is checked (:func:`appliance.sieve.compile_script`) before it is
stored: one that does not parse or uses what we do not support is refused
with its line and reason, and the stored scripts - the active one first -
stay as they were. Sizes and counts are held to ``[sieve]``.

Methods block (SQLite): a front end on the event loop runs them in a
thread. Each takes the business's handle and the user's id, which a
protocol has from its login and the CLI from :meth:`Scripts.account`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass

from storage import directory
from storage import names
from storage import sieve as sievedb
from storage.tenants import TenantHandle

from ..errors import InvalidInput, NotFound
from ..sieve import SieveError, compile_script
from .base import Stores


class InvalidScript(InvalidInput):
    """The script does not parse or validate; ``line`` says where."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class ScriptInfo:
    name: str
    active: bool
    size: int
    updated: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Account:
    """Whose scripts: a user of one business."""

    handle: TenantHandle
    user_id: int
    address: str


class Scripts:
    def __init__(self, stores: Stores):
        self.stores = stores
        self.limits = stores.settings.sieve

    def account(self, address: str) -> Account:
        """The user ``address`` names (not an alias). Raises InvalidInput, NotFound."""
        address = names.address(address)
        handle = self.stores.handle_for_address(address)
        row = handle.read_sync("sieve account", lambda c: directory.get_user(c, address))
        if row is None:
            raise NotFound(f"no user {address}")
        return Account(handle, row["id"], address)

    def check(self, text: str) -> None:
        """Raise InvalidScript if ``text`` is not a script we can run, or
        InvalidInput if it is too large; changes nothing."""
        if len(text.encode("utf-8", "surrogatepass")) > self.limits.max_script_bytes:
            raise InvalidInput(f"a script may be at most {self.limits.max_script_bytes} bytes")
        try:
            compile_script(text, self.limits.max_depth)
        except SieveError as exc:
            raise InvalidScript(exc.line, exc.reason) from None

    def list(self, account: Account) -> list[ScriptInfo]:
        """The user's scripts by name, the active one marked."""
        rows = account.handle.read_sync("sieve list", lambda c: sievedb.list_scripts(c, account.user_id))
        return [ScriptInfo(r["name"], r["active"], r["size"], r["updated"]) for r in rows]

    def get(self, account: Account, name: str) -> str:
        """A script's text. Raises NotFound."""
        return account.handle.read_sync("sieve get", lambda c: sievedb.get_script(c, account.user_id, name))

    def have_space(self, account: Account, name: str, size: int) -> None:
        """Raise LimitExceeded unless a script of ``size`` bytes may be stored as ``name``."""
        sievedb.check_name(name)
        lim = self.limits
        account.handle.read_sync("sieve space", lambda c: sievedb.check_space(
            c, account.user_id, name, size, max_scripts=lim.max_scripts, max_bytes=lim.max_script_bytes,
            max_total=lim.max_total_bytes))

    def put(self, account: Account, name: str, text: str, *, actor: str, activate: bool = False) -> None:
        """Check and store a script (replacing one of that name; an active
        script stays active), and with ``activate`` make it the active one.
        Changes: the business file and its audit log. Raises InvalidScript,
        InvalidInput, LimitExceeded."""
        self.check(text)
        lim = self.limits

        def write(conn: sqlite3.Connection) -> None:
            sievedb.put_script(conn, account.user_id, name, text, max_scripts=lim.max_scripts,
                               max_bytes=lim.max_script_bytes, max_total=lim.max_total_bytes)
            if activate:
                sievedb.set_active(conn, account.user_id, name)
            directory.audit(conn, actor, "sieve.put", f"{account.address} {name}" + (" (active)" if activate else ""))

        account.handle.write_sync("sieve put", write)

    def activate(self, account: Account, name: str | None, *, actor: str) -> None:
        """Make ``name`` the active script; None or "" deactivates every
        script. Raises NotFound."""

        def write(conn: sqlite3.Connection) -> None:
            sievedb.set_active(conn, account.user_id, name)
            directory.audit(conn, actor, "sieve.activate", f"{account.address} {name or '(none)'}")

        account.handle.write_sync("sieve activate", write)

    def delete(self, account: Account, name: str, *, actor: str) -> None:
        """Delete a script that is not active. Raises NotFound, Conflict."""

        def write(conn: sqlite3.Connection) -> None:
            sievedb.delete_script(conn, account.user_id, name)
            directory.audit(conn, actor, "sieve.delete", f"{account.address} {name}")

        account.handle.write_sync("sieve delete", write)

    def rename(self, account: Account, old: str, new: str, *, actor: str) -> None:
        """Rename a script. Raises NotFound, Conflict, InvalidInput."""

        def write(conn: sqlite3.Connection) -> None:
            sievedb.rename_script(conn, account.user_id, old, new)
            directory.audit(conn, actor, "sieve.rename", f"{account.address} {old} -> {new}")

        account.handle.write_sync("sieve rename", write)
