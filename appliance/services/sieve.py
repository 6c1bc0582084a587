"""Mail rules: each user's Sieve scripts (list, show, check, put, activate,
rename, delete), for ManageSieve, the CLI and the panel; and the panel's
forms (vacation reply, forwarding, folder rules), which keep one script of
their own (:mod:`appliance.sieve.panelscript`) and never overwrite one
they did not write unless asked (:meth:`Scripts.replace_with_panel_rules`).

A script is checked (:func:`appliance.sieve.compile_script`) before it is
stored: one that does not parse or uses what we do not support is refused
with its line and reason, and the stored scripts - the active one first -
stay as they were. Sizes and counts are held to ``[sieve]``.

Methods block (SQLite): a front end on the event loop runs them in a
thread. Each takes the business's handle and the user's id, which a
protocol has from its login and the CLI from :meth:`Scripts.account`.
"""

from __future__ import annotations

import datetime
import logging
import re
import sqlite3
from dataclasses import asdict, dataclass
from typing import Callable

from storage import box as boxdb
from storage import directory
from storage import names
from storage import sieve as sievedb
from storage.errors import Frozen
from storage.tenants import TenantHandle

from ..errors import Conflict, InvalidInput, LimitExceeded, NotFound
from ..sieve import SieveError, compile_script
from ..sieve import panelscript
from ..sieve.panelscript import Forward, PanelRules, Rule, Vacation
from .base import Stores

log = logging.getLogger(__name__)

#: A folder the rule builder may file into: plain ASCII (our mailbox
#: names are stored as given; nothing here needs RFC 3501's modified UTF-7).
FOLDER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/-]*\Z")


class InvalidScript(InvalidInput):
    """The script does not parse or validate; ``line`` says where."""

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class HandEdited(Conflict):
    """The active script is not one the panel's forms can show (written or
    changed over ManageSieve or the CLI); it is left as it is."""


class InvalidRule(InvalidInput):
    """One field of a mail-rules form is not acceptable; ``field`` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class PanelView:
    """What the panel shows: the forms' state, or (``rules`` None) the
    active script's name and text, which the forms may only replace when asked."""

    rules: PanelRules | None
    name: str | None
    text: str


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

    # -- the panel's forms (appliance.sieve.panelscript) ---------------------

    def panel_rules(self, account: Account) -> PanelView:
        """The user's mail rules as the panel's forms show them."""
        return account.handle.read_sync("sieve panel", lambda c: _panel_view(c, account.user_id))

    def set_vacation(self, account: Account, vacation: Vacation, *, actor: str) -> None:
        """Turn the vacation reply on (between its dates) or off. Checks the
        subject, text and dates. Raises InvalidRule, HandEdited, LimitExceeded."""
        if vacation.enabled:
            if not vacation.text.strip():
                raise InvalidRule("text", "the reply needs a text")
            for name in ("start", "until"):
                value = getattr(vacation, name)
                if value:
                    try:
                        datetime.date.fromisoformat(value)
                    except ValueError:
                        raise InvalidRule(name, "a date is YYYY-MM-DD") from None
            if vacation.start and vacation.until and vacation.until < vacation.start:
                raise InvalidRule("until", "the last day comes before the first")
        if len(vacation.subject) > panelscript.MAX_SUBJECT or _control(vacation.subject):
            raise InvalidRule("subject", f"a subject is one line of at most {panelscript.MAX_SUBJECT} characters")
        if len(vacation.text) > panelscript.MAX_TEXT:
            raise InvalidRule("text", f"the text has at most {panelscript.MAX_TEXT} characters")
        self._change(account, lambda s: PanelRules(vacation, s.forward, s.rules), actor=actor,
                     what="vacation " + ("on" if vacation.enabled else "off"))

    def set_forward(self, account: Account, forward: Forward, *, actor: str) -> None:
        """Forward mail to one address (keeping a copy or not), or stop
        (``to`` ""). Raises InvalidRule, HandEdited, LimitExceeded."""
        if forward.to:
            try:
                to = names.address(forward.to)
            except InvalidInput:
                raise InvalidRule("to", "this is not an e-mail address") from None
            if to == account.address:
                raise InvalidRule("to", "mail cannot be forwarded to the same address")
            forward = Forward(to, forward.keep)
        self._change(account, lambda s: PanelRules(s.vacation, forward, s.rules), actor=actor,
                     what=f"forward to {forward.to}" if forward.to else "forward off")

    def add_rule(self, account: Account, rule: Rule, *, actor: str) -> None:
        """Add a rule at the end. Raises InvalidRule, HandEdited, LimitExceeded."""
        if not rule.sender and not rule.subject:
            raise InvalidRule("sender", "say whom the mail is from, or what its subject contains")
        for name in ("sender", "subject"):
            value = getattr(rule, name)
            if len(value) > panelscript.MAX_MATCH or _control(value):
                raise InvalidRule(name, f"at most {panelscript.MAX_MATCH} characters on one line")
        if len(rule.folder) > panelscript.MAX_FOLDER or not FOLDER_RE.match(rule.folder) \
                or rule.folder.upper() == "INBOX":
            raise InvalidRule("folder", "a folder name is letters, digits, spaces and . _ / -")

        def change(state: PanelRules) -> PanelRules:
            if len(state.rules) >= panelscript.MAX_RULES:
                raise LimitExceeded(f"at most {panelscript.MAX_RULES} rules")
            return state.with_rule(rule)

        self._change(account, change, actor=actor, what=f"rule to {rule.folder}")

    def delete_rule(self, account: Account, index: int, *, actor: str) -> None:
        """Delete the rule at ``index`` (0-based). Raises NotFound, HandEdited."""

        def change(state: PanelRules) -> PanelRules:
            if not 0 <= index < len(state.rules):
                raise NotFound("no such rule")
            return state.without_rule(index)

        self._change(account, change, actor=actor, what=f"rule {index + 1} deleted")

    def replace_with_panel_rules(self, account: Account, *, actor: str) -> None:
        """Make the panel's script the active one: empty, replacing a
        hand-made script of the panel's name (one of another name stays
        stored, inactive); the panel's own rules, kept, if they are active
        already. Raises LimitExceeded."""
        self._change(account, lambda s: s, actor=actor, what="replaces the active script", force=True)

    def refresh_vacations(self, today: datetime.date | None = None) -> int:
        """Re-render every panel script whose vacation window opened or
        closed by ``today``, in every business; returns how many changed."""
        today = today or datetime.date.today()
        changed = 0
        for business in self.stores.box.read_sync("sieve businesses", boxdb.list_tenants):
            slug = business["slug"]

            def due(conn: sqlite3.Connection) -> bool:
                for _user_id, text in sievedb.active_named(conn, panelscript.SCRIPT_NAME):
                    state = panelscript.read(text)
                    if state is not None and panelscript.render(state, today) != text:
                        return True
                return False

            try:
                # Read first, and without keeping the file open: on most
                # days no script changes, and a write (an fsync) per
                # business would make every start slow with many of them.
                if not self.stores.tenants.sweep_read(slug, "sieve vacation due", due):
                    continue
                handle = self.stores.tenants.handle(slug)
            except Exception:  # noqa: BLE001 - one business must not stop the others
                log.exception("%s: cannot refresh vacation replies", slug)
                continue

            def write(conn: sqlite3.Connection) -> int:
                done = 0
                for user_id, text in sievedb.active_named(conn, panelscript.SCRIPT_NAME):
                    state = panelscript.read(text)
                    if state is None:
                        continue
                    new = panelscript.render(state, today)
                    if new != text:
                        self._store(conn, user_id, new)
                        directory.audit(conn, "system", "sieve.put", f"user {user_id} {panelscript.SCRIPT_NAME}"
                                        " (vacation dates)")
                        done += 1
                return done

            try:
                changed += handle.write_sync("sieve vacation dates", write)
            except Frozen:
                continue  # moving: the box that serves it turns them on or off
            except Exception:  # noqa: BLE001 - one business must not stop the others
                log.exception("%s: cannot refresh vacation replies", slug)
        return changed

    def _store(self, conn: sqlite3.Connection, user_id: int, text: str) -> None:
        lim = self.limits
        self.check(text)
        sievedb.put_script(conn, user_id, panelscript.SCRIPT_NAME, text, max_scripts=lim.max_scripts,
                           max_bytes=lim.max_script_bytes, max_total=lim.max_total_bytes)
        sievedb.set_active(conn, user_id, panelscript.SCRIPT_NAME)

    def _change(self, account: Account, change: Callable[[PanelRules], PanelRules], *, actor: str, what: str,
                force: bool = False) -> None:
        """Read the active script, apply ``change`` to the panel's state and
        store the result, in one transaction: a script changed by hand in
        between is never overwritten (HandEdited) unless ``force``."""

        def write(conn: sqlite3.Connection) -> None:
            view = _panel_view(conn, account.user_id)
            if view.rules is not None:
                state = view.rules
            elif force:
                state = PanelRules()
            else:
                raise HandEdited(f"the script {view.name!r} was not written by the panel")
            self._store(conn, account.user_id, panelscript.render(change(state), datetime.date.today()))
            directory.audit(conn, actor, "sieve.panel", f"{account.address} {what}")

        account.handle.write_sync("sieve panel", write)


def _panel_view(conn: sqlite3.Connection, user_id: int) -> PanelView:
    """The active script as the panel sees it; with none active, the
    panel's own script if one is stored (deactivated over ManageSieve)."""
    current = sievedb.active_scripts(conn, [user_id]).get(user_id)
    if current is None:
        try:
            current = (panelscript.SCRIPT_NAME, sievedb.get_script(conn, user_id, panelscript.SCRIPT_NAME))
        except NotFound:
            return PanelView(PanelRules(), None, "")
    name, text = current
    return PanelView(panelscript.read(text) if name == panelscript.SCRIPT_NAME else None, name, text)


def _control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)
