"""The directory of one business: its row, plan limits, domains, users,
aliases, usage counters and audit log, in the business's own file.

Functions take a :class:`sqlite3.Connection` and run inside a transaction of
:class:`storage.database.Database`; validation of names and addresses happens
before they are called (``storage.names``), so they only enforce what the
schema and the plan say.
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import dataclass
from typing import Iterable

import sqlite_utils

from .errors import Conflict, InvalidInput, LimitExceeded, NotFound

MIGRATIONS = sqlite_utils.Migrations("directory")


@MIGRATIONS(name="0001_directory")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE tenant (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            slug TEXT NOT NULL,
            name TEXT NOT NULL,
            plan TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'suspended')),
            created TEXT NOT NULL,
            max_users INTEGER NOT NULL,
            mailbox_bytes INTEGER NOT NULL,
            web_bytes INTEGER NOT NULL,
            messages_per_day INTEGER NOT NULL
        );
        CREATE TABLE domains (
            name TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('free', 'own')),
            created TEXT NOT NULL
        );
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            address TEXT UNIQUE NOT NULL,
            local TEXT NOT NULL,
            domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE ON UPDATE CASCADE,
            password_hash TEXT NOT NULL,
            display_name TEXT,
            quota_bytes INTEGER,
            state TEXT NOT NULL DEFAULT 'active',
            created TEXT NOT NULL
        );
        CREATE TABLE aliases (
            id INTEGER PRIMARY KEY,
            address TEXT NOT NULL,
            local TEXT NOT NULL,
            domain TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE ON UPDATE CASCADE,
            target TEXT NOT NULL,
            created TEXT NOT NULL,
            UNIQUE (address, target)
        );
        CREATE INDEX aliases_by_address ON aliases(address);
        CREATE TABLE usage (
            counter TEXT NOT NULL,
            period TEXT NOT NULL,
            value INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (counter, period)
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        """
    )


@MIGRATIONS(name="0002_roles")
def _m0002(db: sqlite_utils.Database) -> None:
    # A user is the business's owner or a member; the first user of a
    # business is its owner. The language is the one the user chose for the
    # control panel ('' : the browser's).
    db.executescript(
        """
        ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member'));
        ALTER TABLE users ADD COLUMN language TEXT NOT NULL DEFAULT '';
        UPDATE users SET role = 'owner' WHERE id = (SELECT min(id) FROM users);
        """
    )


@MIGRATIONS(name="0004_people_state")
def _m0004(db: sqlite_utils.Database) -> None:
    # A person can be suspended (no login anywhere; mail still accepted) or
    # invited (no login until they choose a password through a one-time
    # link). A link is kept only as its SHA-256, one per person at most.
    # The audit log says where a change came from when the front end knew.
    db.executescript(
        """
        CREATE TABLE invitations (
            user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            token_hash TEXT UNIQUE NOT NULL,
            created TEXT NOT NULL,
            expires TEXT NOT NULL,
            used TEXT
        );
        ALTER TABLE audit ADD COLUMN source TEXT NOT NULL DEFAULT '';
        """
    )


@MIGRATIONS(name="0005_outbound_hold")
def _m0005(db: sqlite_utils.Database) -> None:
    # A business made by self-service sign-up may send only this many
    # messages a day (below its plan's) until an operator lifts it; NULL:
    # only the plan's limit.
    db.executescript("ALTER TABLE tenant ADD COLUMN outbound_hold INTEGER CHECK (outbound_hold > 0);")


@MIGRATIONS(name="0006_extras")
def _m0006(db: sqlite_utils.Database) -> None:
    # Paid extras on top of the plan, one row each so a reseller can add
    # and take back single items; the limits are the plan's plus their sum.
    db.executescript(
        """
        CREATE TABLE extras (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('people', 'mailbox_mb', 'web_mb')),
            amount INTEGER NOT NULL CHECK (amount > 0),
            created TEXT NOT NULL
        );
        """
    )


#: The roles a user may have.
ROLES = ("owner", "member")
#: The states a user may be in: only ``active`` users log in; mail to
#: every one of them is accepted.
USER_STATES = ("active", "suspended", "invited")


class Actor(str):
    """Who asks for a change (an address, ``cli``...), as the audit log
    names them, and, when the front end knows it, where from (``source``,
    e.g. the browser's IP address). A plain ``str`` actor has no source."""

    source: str

    def __new__(cls, name: str, source: str = "") -> "Actor":
        actor = super().__new__(cls, name)
        actor.source = source
        return actor


class AddressTaken(Conflict):
    """The address asked for an alias is a person's."""


class BadTarget(InvalidInput):
    """An alias target that may not be used: malformed, unknown, outside
    the business, or the alias itself. Its field is ``targets``."""

    def __init__(self, *args: object, field: str | None = "targets"):
        super().__init__(*args, field=field)


def now() -> str:
    """UTC timestamp in ISO 8601, second precision."""
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Plan:
    """Limits of a plan, copied into the business's file so it is whole."""

    name: str
    max_users: int
    mailbox_bytes: int
    web_bytes: int
    messages_per_day: int


#: The kinds of extra a business can have, and the limit each adds to.
EXTRA_KINDS = ("people", "mailbox_mb", "web_mb")
#: Extras one business may have at once.
MAX_EXTRAS = 100


@dataclass(frozen=True)
class Extra:
    """An amount on top of the plan: people, or MiB of mailbox or web space."""

    id: int
    kind: str
    amount: int
    created: str


@dataclass(frozen=True)
class TenantRow:
    slug: str
    name: str
    plan: Plan
    state: str
    created: str
    #: Messages to outside addresses it may send a day until an operator
    #: lifts the hold; None: no hold.
    outbound_hold: int | None = None


# -- the business itself ----------------------------------------------------


def init_tenant(conn: sqlite3.Connection, slug: str, name: str, plan: Plan, free_domain: str) -> None:
    """Write the business row and its free domain into a new file."""
    conn.execute(
        "INSERT INTO tenant (id, slug, name, plan, created, max_users, mailbox_bytes, web_bytes,"
        " messages_per_day) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
        (slug, name, plan.name, now(), plan.max_users, plan.mailbox_bytes, plan.web_bytes, plan.messages_per_day),
    )
    conn.execute("INSERT INTO domains (name, kind, created) VALUES (?, 'free', ?)", (free_domain, now()))


def get_tenant(conn: sqlite3.Connection) -> TenantRow:
    row = conn.execute("SELECT * FROM tenant WHERE id = 1").fetchone()
    if row is None:
        raise NotFound("this file holds no business")
    plan = Plan(row["plan"], row["max_users"], row["mailbox_bytes"], row["web_bytes"], row["messages_per_day"])
    return TenantRow(row["slug"], row["name"], plan, row["state"], row["created"], row["outbound_hold"])


def list_extras(conn: sqlite3.Connection) -> list[Extra]:
    """The business's extras, oldest first."""
    return [Extra(r["id"], r["kind"], r["amount"], r["created"])
            for r in conn.execute("SELECT id, kind, amount, created FROM extras ORDER BY id")]


def add_extra(conn: sqlite3.Connection, kind: str, amount: int) -> Extra:
    """Add an extra; InvalidInput for an unknown kind or an amount < 1,
    LimitExceeded past :data:`MAX_EXTRAS`."""
    if kind not in EXTRA_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(EXTRA_KINDS)}", field="kind")
    if not isinstance(amount, int) or amount < 1:
        raise InvalidInput("amount must be a whole number above 0", field="amount")
    if conn.execute("SELECT count(*) FROM extras").fetchone()[0] >= MAX_EXTRAS:
        raise LimitExceeded(f"a business has at most {MAX_EXTRAS} extras")
    cur = conn.execute("INSERT INTO extras (kind, amount, created) VALUES (?, ?, ?)", (kind, amount, now()))
    return Extra(cur.lastrowid, kind, amount, now())


def remove_extra(conn: sqlite3.Connection, extra_id: int) -> Extra:
    """Take back one extra; returns it. NotFound when there is none."""
    row = conn.execute("SELECT id, kind, amount, created FROM extras WHERE id = ?", (extra_id,)).fetchone()
    if row is None:
        raise NotFound(f"no extra {extra_id}")
    conn.execute("DELETE FROM extras WHERE id = ?", (extra_id,))
    return Extra(row["id"], row["kind"], row["amount"], row["created"])


def limits(conn: sqlite3.Connection) -> Plan:
    """The business's effective limits: its plan's, plus the sum of its
    extras of each kind. Every check of a plan limit reads this (in the
    transaction that writes, so a change of plan or extras counts at once).
    """
    row = conn.execute(
        "SELECT t.plan, t.max_users, t.mailbox_bytes, t.web_bytes, t.messages_per_day,"
        " coalesce((SELECT sum(amount) FROM extras WHERE kind = 'people'), 0) AS people,"
        " coalesce((SELECT sum(amount) FROM extras WHERE kind = 'mailbox_mb'), 0) AS mailbox_mb,"
        " coalesce((SELECT sum(amount) FROM extras WHERE kind = 'web_mb'), 0) AS web_mb"
        " FROM tenant t WHERE t.id = 1"
    ).fetchone()
    if row is None:
        raise NotFound("this file holds no business")
    mib = 1024 * 1024
    return Plan(row["plan"], row["max_users"] + row["people"], row["mailbox_bytes"] + row["mailbox_mb"] * mib,
                row["web_bytes"] + row["web_mb"] * mib, row["messages_per_day"])


def set_outbound_hold(conn: sqlite3.Connection, limit: int | None) -> None:
    """Hold the business to ``limit`` messages a day (None: lift the hold)."""
    conn.execute("UPDATE tenant SET outbound_hold = ? WHERE id = 1", (limit,))


def set_state(conn: sqlite3.Connection, state: str) -> None:
    conn.execute("UPDATE tenant SET state = ? WHERE id = 1", (state,))


def set_plan(conn: sqlite3.Connection, plan: Plan) -> None:
    conn.execute(
        "UPDATE tenant SET plan = ?, max_users = ?, mailbox_bytes = ?, web_bytes = ?, messages_per_day = ?"
        " WHERE id = 1",
        (plan.name, plan.max_users, plan.mailbox_bytes, plan.web_bytes, plan.messages_per_day),
    )


# -- domains ---------------------------------------------------------------


def list_domains(conn: sqlite3.Connection) -> list[dict]:
    return [dict(r) for r in conn.execute("SELECT name, kind, created FROM domains ORDER BY kind, name")]


def add_domain(conn: sqlite3.Connection, domain: str) -> None:
    if conn.execute("SELECT 1 FROM domains WHERE name = ?", (domain,)).fetchone():
        raise Conflict(f"domain {domain} already belongs to this business")
    conn.execute("INSERT INTO domains (name, kind, created) VALUES (?, 'own', ?)", (domain, now()))


def remove_domain(conn: sqlite3.Connection, domain: str) -> None:
    row = conn.execute("SELECT kind FROM domains WHERE name = ?", (domain,)).fetchone()
    if row is None:
        raise NotFound(f"no domain {domain}")
    if row["kind"] == "free":
        raise InvalidInput(f"{domain} is the business's free domain and cannot be removed")
    # Users and aliases of the domain go with it (ON DELETE CASCADE).
    conn.execute("DELETE FROM domains WHERE name = ?", (domain,))


def _rename_domain(conn: sqlite3.Connection, old: str, new: str) -> None:
    """Rename the domain ``old`` to ``new`` with the addresses of its users
    and aliases, and every alias target at it."""
    conn.execute("UPDATE domains SET name = ? WHERE name = ?", (new, old))
    for table in ("users", "aliases"):
        conn.execute(
            f"UPDATE {table} SET address = local || '@' || domain WHERE domain = ? AND address != ''", (new,)
        )
    conn.execute("UPDATE aliases SET address = '@' || domain WHERE domain = ? AND local = ''", (new,))
    conn.execute(
        "UPDATE aliases SET target = substr(target, 1, instr(target, '@')) || ? WHERE target LIKE ?",
        (new, f"%@{old}"),
    )


def rename_free_domain(conn: sqlite3.Connection, new: str) -> str | None:
    """Move the business's free domain (and its addresses) to ``new``.

    For a file that comes from a box with another box domain. Returns the
    old name, or None when it already was ``new`` (nothing changed).
    """
    row = conn.execute("SELECT name FROM domains WHERE kind = 'free'").fetchone()
    if row is None or row["name"] == new:
        return None
    old = row["name"]
    _rename_domain(conn, old, new)
    return old


def domain_names(conn: sqlite3.Connection) -> list[str]:
    """The business's domain names: the free one first, then its own, sorted."""
    return [r["name"] for r in conn.execute("SELECT name FROM domains ORDER BY kind, name")]


def has_domain(conn: sqlite3.Connection, domain: str) -> bool:
    return conn.execute("SELECT 1 FROM domains WHERE name = ?", (domain,)).fetchone() is not None


# -- users -----------------------------------------------------------------


def add_user(conn: sqlite3.Connection, address: str, password_hash: str, display_name: str | None = None,
             state: str = "active") -> int:
    """Create a user; returns its id. Enforces the user count of
    :func:`limits`. The
    first user of a business is its owner, every later one a member."""
    if state not in USER_STATES:
        raise InvalidInput(f"state must be one of {', '.join(USER_STATES)}")
    local, _, domain = address.partition("@")
    if not has_domain(conn, domain):
        raise NotFound(f"domain {domain} does not belong to this business")
    if conn.execute("SELECT 1 FROM users WHERE address = ?", (address,)).fetchone():
        raise Conflict(f"user {address} already exists")
    if conn.execute("SELECT 1 FROM aliases WHERE address = ?", (address,)).fetchone():
        raise Conflict(f"{address} is already an alias")
    limit = limits(conn).max_users
    count = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    if count >= limit:
        raise LimitExceeded(f"the plan allows {limit} users")
    role = "owner" if count == 0 else "member"
    cur = conn.execute(
        "INSERT INTO users (address, local, domain, password_hash, display_name, created, role, state)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (address, local, domain, password_hash, display_name, now(), role, state),
    )
    return cur.lastrowid


def get_user(conn: sqlite3.Connection, address: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM users WHERE address = ?", (address,)).fetchone()


def login_row(conn: sqlite3.Connection, address: str) -> tuple[int, str, str, str] | None:
    """(user id, password hash, user state, business state) for a login, or None."""
    row = conn.execute(
        "SELECT u.id, u.password_hash, u.state, t.state AS tstate FROM users u, tenant t WHERE u.address = ?",
        (address,),
    ).fetchone()
    return None if row is None else (row["id"], row["password_hash"], row["state"], row["tstate"])


def set_password_hash(conn: sqlite3.Connection, address: str, password_hash: str) -> None:
    cur = conn.execute("UPDATE users SET password_hash = ? WHERE address = ?", (password_hash, address))
    if cur.rowcount == 0:
        raise NotFound(f"no user {address}")


def set_quota(conn: sqlite3.Connection, address: str, quota_bytes: int | None) -> None:
    """A user's own mailbox quota; None: the plan's ``mailbox_bytes``."""
    cur = conn.execute("UPDATE users SET quota_bytes = ? WHERE address = ?", (quota_bytes, address))
    if cur.rowcount == 0:
        raise NotFound(f"no user {address}")


def set_role(conn: sqlite3.Connection, address: str, role: str) -> None:
    """Make a user ``owner`` or ``member``; a business keeps at least one owner."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
    row = get_user(conn, address)
    if row is None:
        raise NotFound(f"no user {address}")
    if row["role"] == "owner" and role != "owner":
        owners = conn.execute("SELECT count(*) FROM users WHERE role = 'owner'").fetchone()[0]
        if owners <= 1:
            raise Conflict(f"{address} is the business's only owner")
    conn.execute("UPDATE users SET role = ? WHERE address = ?", (role, address))


def set_user_state(conn: sqlite3.Connection, address: str, state: str) -> None:
    """Suspend (``suspended``) or resume (``active``) a user.

    Only an active user can be suspended and only a suspended one resumed
    (an invited person becomes active by accepting the invitation); the
    business keeps at least one active owner.
    """
    if state not in ("active", "suspended"):
        raise InvalidInput("state must be active or suspended", field="state")
    row = get_user(conn, address)
    if row is None:
        raise NotFound(f"no user {address}")
    wanted_from = "active" if state == "suspended" else "suspended"
    if row["state"] != wanted_from:
        raise Conflict(f"{address} is {row['state']}, not {wanted_from}")
    if state == "suspended" and row["role"] == "owner":
        owners = conn.execute("SELECT count(*) FROM users WHERE role = 'owner' AND state = 'active'").fetchone()[0]
        if owners <= 1:
            raise Conflict(f"{address} is the business's only active owner")
    conn.execute("UPDATE users SET state = ? WHERE address = ?", (state, address))


def set_invitation(conn: sqlite3.Connection, user_id: int, token_hash: str, expires: str) -> None:
    """The invitation link of an invited user (replacing any earlier one)."""
    conn.execute(
        "INSERT INTO invitations (user_id, token_hash, created, expires) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET token_hash = excluded.token_hash, created = excluded.created,"
        " expires = excluded.expires, used = NULL",
        (user_id, token_hash, now(), expires),
    )


def invitation_state(conn: sqlite3.Connection, address: str, token_hash: str) -> str | None:
    """``valid``, ``used`` or ``expired`` for the invitation of ``address``
    with this token hash; None when there is no such invitation."""
    row = conn.execute(
        "SELECT i.expires, i.used, u.state FROM invitations i JOIN users u ON u.id = i.user_id"
        " WHERE u.address = ? AND i.token_hash = ?",
        (address, token_hash),
    ).fetchone()
    if row is None:
        return None
    if row["used"] or row["state"] != "invited":
        return "used"
    return "expired" if row["expires"] <= now() else "valid"


def accept_invitation(conn: sqlite3.Connection, address: str, token_hash: str, password_hash: str) -> str:
    """Use a valid invitation: the user gets ``password_hash`` and becomes
    active, and the link is spent. Returns the state the invitation was in
    (:func:`invitation_state`); nothing changes unless it was ``valid``."""
    state = invitation_state(conn, address, token_hash)
    if state == "valid":
        conn.execute("UPDATE users SET password_hash = ?, state = 'active' WHERE address = ?", (password_hash, address))
        conn.execute("UPDATE invitations SET used = ? WHERE token_hash = ?", (now(), token_hash))
    return state or "unknown"


def user_by_id(conn: sqlite3.Connection, user_id: int) -> dict | None:
    """Address, display name, role, language and state of a user, or None."""
    row = conn.execute(
        "SELECT id, address, display_name, role, language, state FROM users WHERE id = ?", (user_id,)
    ).fetchone()
    return dict(row) if row else None


def set_language(conn: sqlite3.Connection, user_id: int, language: str) -> None:
    """The language the user chose for the control panel."""
    conn.execute("UPDATE users SET language = ? WHERE id = ?", (language, user_id))


def replace_hash_if_unchanged(conn: sqlite3.Connection, user_id: int, old_hash: str, new_hash: str) -> None:
    """Upgrade a legacy hash, unless the password changed meanwhile."""
    conn.execute(
        "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?", (new_hash, user_id, old_hash)
    )


def count_users(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM users").fetchone()[0]


def list_users(conn: sqlite3.Connection) -> list[dict]:
    return [
        dict(r)
        for r in conn.execute(
            "SELECT address, display_name, quota_bytes, state, created, role FROM users ORDER BY domain, local"
        )
    ]


def remove_user(conn: sqlite3.Connection, address: str) -> None:
    """Remove a user. When that was the only owner, the longest-standing
    remaining user becomes the owner: a business with people has one."""
    cur = conn.execute("DELETE FROM users WHERE address = ?", (address,))
    if cur.rowcount == 0:
        raise NotFound(f"no user {address}")
    if not conn.execute("SELECT 1 FROM users WHERE role = 'owner'").fetchone():
        conn.execute("UPDATE users SET role = 'owner' WHERE id = (SELECT min(id) FROM users)")
    # Aliases that pointed only at this user would bounce; drop those targets.
    conn.execute("DELETE FROM aliases WHERE target = ?", (address,))


# -- aliases ---------------------------------------------------------------


def add_alias(conn: sqlite3.Connection, address: str, targets: Iterable[str]) -> None:
    """Add targets to an alias. ``address`` may be ``@domain`` (catch-all).

    Every target must be a user or an alias of this business: an alias never
    forwards mail outside the business.
    """
    local, _, domain = address.partition("@")
    if not has_domain(conn, domain):
        raise NotFound(f"domain {domain} does not belong to this business")
    if conn.execute("SELECT 1 FROM users WHERE address = ?", (address,)).fetchone():
        raise AddressTaken(f"{address} is already a user")
    for target in targets:
        if target == address:
            raise BadTarget(f"alias {address} cannot point at itself")
        known = conn.execute(
            "SELECT 1 FROM users WHERE address = ? UNION SELECT 1 FROM aliases WHERE address = ?", (target, target)
        ).fetchone()
        if not known:
            raise BadTarget(f"target {target} is not a user or alias of this business")
        if conn.execute("SELECT 1 FROM aliases WHERE address = ? AND target = ?", (address, target)).fetchone():
            raise Conflict(f"alias {address} already points at {target}")
        conn.execute(
            "INSERT INTO aliases (address, local, domain, target, created) VALUES (?, ?, ?, ?, ?)",
            (address, local, domain, target, now()),
        )


def list_aliases(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute("SELECT address, target FROM aliases ORDER BY domain, local, target")
    grouped: dict[str, list[str]] = {}
    for r in rows:
        grouped.setdefault(r["address"], []).append(r["target"])
    return [{"address": a, "targets": t} for a, t in grouped.items()]


def remove_alias(conn: sqlite3.Connection, address: str, targets: Iterable[str] = ()) -> None:
    targets = list(targets)
    if targets:
        removed = 0
        for target in targets:
            removed += conn.execute(
                "DELETE FROM aliases WHERE address = ? AND target = ?", (address, target)
            ).rowcount
    else:
        removed = conn.execute("DELETE FROM aliases WHERE address = ?", (address,)).rowcount
    if removed == 0:
        raise NotFound(f"no alias {address}" + (f" -> {' '.join(targets)}" if targets else ""))


def resolve(conn: sqlite3.Connection, address: str, *, max_depth: int = 8) -> list[int]:
    """User ids that mail to ``address`` reaches, in this business.

    Order of lookup, as Postfix does it: exact user, exact alias, the address
    without its ``+tag``, then the domain's catch-all (``@domain``). Alias
    chains are followed to ``max_depth``; loops end there. Empty list: no such
    recipient.
    """
    local, _, domain = address.partition("@")
    candidates = [address]
    if "+" in local:
        candidates.append(f"{local.split('+', 1)[0]}@{domain}")
    candidates.append(f"@{domain}")
    for candidate in candidates:
        found = _expand(conn, candidate, max_depth, set())
        if found:
            return sorted(found)
    return []


def _expand(conn: sqlite3.Connection, address: str, depth: int, seen: set[str]) -> set[int]:
    if depth <= 0 or address in seen:
        return set()
    seen.add(address)
    # Whatever the person's state: mail to a suspended or invited person is
    # still accepted and waits in their mailbox.
    user = conn.execute("SELECT id FROM users WHERE address = ?", (address,)).fetchone()
    if user:
        return {user["id"]}
    found: set[int] = set()
    for row in conn.execute("SELECT target FROM aliases WHERE address = ?", (address,)).fetchall():
        found |= _expand(conn, row["target"], depth - 1, seen)
    return found


def owner_ids(conn: sqlite3.Connection) -> list[int]:
    """The business's owner: its first active user (DESIGN section 10,
    "owner ... the first user of a business"); empty if it has none.

    There is no owner role stored yet; when there is, its holders go here.
    """
    row = conn.execute("SELECT id FROM users WHERE state = 'active' ORDER BY id LIMIT 1").fetchone()
    return [row["id"]] if row else []


def addresses_of(conn: sqlite3.Connection, user_id: int) -> list[str]:
    """The user's own address and every alias that reaches it (for sender checks)."""
    row = conn.execute("SELECT address FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        return []
    own = row["address"]
    result = [own]
    frontier = [own]
    seen = {own}
    while frontier:
        target = frontier.pop()
        for r in conn.execute("SELECT address FROM aliases WHERE target = ?", (target,)).fetchall():
            if r["address"] not in seen and not r["address"].startswith("@"):
                seen.add(r["address"])
                result.append(r["address"])
                frontier.append(r["address"])
    return result


# -- usage and audit -------------------------------------------------------


def bump_usage(conn: sqlite3.Connection, counter: str, amount: int = 1, period: str | None = None) -> int:
    """Add ``amount`` to a counter for a period (default: today, UTC); returns the new value."""
    period = period or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    conn.execute(
        "INSERT INTO usage (counter, period, value) VALUES (?, ?, ?)"
        " ON CONFLICT (counter, period) DO UPDATE SET value = value + excluded.value",
        (counter, period, amount),
    )
    return conn.execute("SELECT value FROM usage WHERE counter = ? AND period = ?", (counter, period)).fetchone()[0]


def usage_on(conn: sqlite3.Connection, period: str, counters: Iterable[str]) -> dict[str, int]:
    """The values of ``counters`` for ``period`` (a counter never bumped is absent)."""
    names = list(counters)
    marks = ", ".join("?" * len(names))
    rows = conn.execute(
        f"SELECT counter, value FROM usage WHERE period = ? AND counter IN ({marks})", (period, *names)
    )
    return {r["counter"]: r["value"] for r in rows}


def usage(conn: sqlite3.Connection) -> dict:
    """Usage figures for billing: counts now, and counters by period."""
    counts = {
        "users": conn.execute("SELECT count(*) FROM users").fetchone()[0],
        "aliases": conn.execute("SELECT count(DISTINCT address) FROM aliases").fetchone()[0],
        "domains": conn.execute("SELECT count(*) FROM domains").fetchone()[0],
    }
    counters: dict[str, dict[str, int]] = {}
    for r in conn.execute("SELECT counter, period, value FROM usage ORDER BY counter, period"):
        counters.setdefault(r["counter"], {})[r["period"]] = r["value"]
    return {"counts": counts, "counters": counters}


def audit(conn: sqlite3.Connection, actor: str, action: str, detail: str = "") -> None:
    """One line of the audit log; an :class:`Actor` also gives its source."""
    conn.execute(
        "INSERT INTO audit (at, actor, action, detail, source) VALUES (?, ?, ?, ?, ?)",
        (now(), str(actor), action, detail, getattr(actor, "source", "")),
    )


def count_audit(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM audit").fetchone()[0]


def list_audit(conn: sqlite3.Connection, limit: int, offset: int = 0) -> list[dict]:
    """Audit lines, newest first: ``limit`` of them after the ``offset`` newest."""
    rows = conn.execute(
        "SELECT id, at, actor, action, detail, source FROM audit ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
    )
    return [dict(r) for r in rows]


def count_aliases(conn: sqlite3.Connection) -> int:
    """How many alias addresses (catch-alls included) the business has."""
    return conn.execute("SELECT count(DISTINCT address) FROM aliases").fetchone()[0]


def has_alias(conn: sqlite3.Connection, address: str) -> bool:
    return conn.execute("SELECT 1 FROM aliases WHERE address = ?", (address,)).fetchone() is not None


def rename_business(conn: sqlite3.Connection, slug: str, free_domain: str) -> None:
    """Make this file a separate copy named ``slug``: the business row takes
    the slug and the free domain ``free_domain``, and each own domain ``d``
    becomes ``<d with dots as dashes>.<free_domain>`` (its users, aliases and
    mail go with it), so the copy shares no name with the original.
    """
    conn.execute("UPDATE tenant SET slug = ? WHERE id = 1", (slug,))
    rename_free_domain(conn, free_domain)
    for row in conn.execute("SELECT name FROM domains WHERE kind = 'own'").fetchall():
        old = row["name"]
        label = old.replace(".", "-")[:63].strip("-")
        _rename_domain(conn, old, f"{label}.{free_domain}")
