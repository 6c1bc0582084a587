"""Operators: the box's own accounts (a reseller's, a freelancer's), and
what they see of the businesses.

An operator has a name, a password and a required second factor: a TOTP
secret that the operator confirms with a first code before anything else,
and ten one-time recovery codes given at that moment. Accounts live in the
box database (:mod:`storage.operators`); changes to them are logged (they
belong to no business's audit log). What an operator does to a business
goes through the same services the CLI calls, with ``operator:NAME`` as
the actor, so it lands in that business's audit log.

The methods block (SQLite, argon2): a front end on the event loop runs them
in a thread. Throttling failed sign-ins is the caller's (the panel's login
step, on the loop).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import asdict, dataclass

from storage import directory
from storage import names
from storage import operators as rows

from .. import passwords, twofactor
from ..errors import ApplianceError, Conflict, InvalidInput, NotFound
from .base import Stores
from .businesses import Business, Businesses, Usage
from .people import People, Person

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,30}[a-z0-9])?$")
MAX_NAME = 32
#: The prefix of an operator's name in a business's audit log.
ACTOR_PREFIX = "operator:"
#: Businesses one overview page shows at most.
MAX_LISTED = 50
MAX_QUERY = 100


def actor(name: str) -> str:
    """How the audit log names the operator ``name``."""
    return ACTOR_PREFIX + name


def check_name(value: str) -> str:
    """An operator's name, normalised; InvalidInput when it is not one."""
    name = value.strip().lower()
    if len(name) > MAX_NAME or not NAME_RE.match(name):
        raise InvalidInput("an operator's name is 1 to 32 of a-z, 0-9, '.', '_' and '-', starting and ending"
                           " with a letter or digit")
    return name


@dataclass(frozen=True)
class Operator:
    name: str
    totp_confirmed: bool
    created: str
    last_signin: str | None
    recovery_left: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Credentials:
    """What an operator is given once: a generated password (None when
    they chose theirs) and the TOTP secret with its ``otpauth://`` link."""

    name: str
    password: str | None
    totp_secret: str
    otpauth: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Summary:
    """One line of the operators' list of businesses."""

    slug: str
    name: str
    plan: str
    state: str
    people: int
    file_bytes: int
    domains: list[str]


@dataclass(frozen=True)
class Detail:
    """One business as an operator's page shows it."""

    business: Business
    people: list[Person]
    usage: Usage


@dataclass(frozen=True)
class Created:
    """A new business and its owner: the password generated for them
    ("" when the caller chose it or invited them), or the token of their
    invitation link (None unless invited)."""

    business: Business
    owner: str
    password: str
    invitation: str | None = None


class Operators:
    """The operators of the box (see module doc)."""

    def __init__(self, stores: Stores, businesses: Businesses, people: People):
        self.stores = stores
        self.businesses = businesses
        self.people = people

    # -- accounts ------------------------------------------------------------

    def list(self) -> list[Operator]:
        """Every operator, by name. Changes nothing."""
        found = self.stores.box.read_sync("operator list", rows.list_all)
        return [Operator(r["name"], bool(r["totp_confirmed"]), r["created"], r["last_signin"], r["recovery_left"])
                for r in found]

    def _credentials(self, name: str, password: str | None, secret: str) -> Credentials:
        issuer = self.stores.settings.box.hostname
        return Credentials(name, password, secret, twofactor.provisioning_uri(secret, name, issuer))

    def add(self, name: str, password: str | None = None, *, actor: str) -> Credentials:
        """Create an operator; their TOTP must be confirmed at first sign-in.

        Checks: the name; the password's length and characters (generated
        when None). Changes: the operator's row. Returns the credentials to
        show once. Raises InvalidInput, Conflict, LimitExceeded.
        """
        name = check_name(name)
        generated = None
        if password is None:
            password = generated = passwords.generate()
        hashed = passwords.hash_password(password)
        secret = twofactor.new_secret()
        self.stores.box.write_sync("operator add",
                                   lambda c: rows.add(c, name, hashed, secret, directory.now()))
        log.info("operator %s added by %s", name, actor)
        return self._credentials(name, generated, secret)

    def remove(self, name: str, *, actor: str) -> None:
        """Remove an operator; their sessions (support sessions too) end.
        Raises InvalidInput, NotFound."""
        name = check_name(name)
        self.stores.box.write_sync("operator remove", lambda c: rows.remove(c, name))
        log.info("operator %s removed by %s", name, actor)

    def set_password(self, name: str, password: str | None = None, *, actor: str) -> str | None:
        """A new password (generated when None, and returned); the
        operator's sessions end. Raises InvalidInput, NotFound."""
        name = check_name(name)
        generated = None
        if password is None:
            password = generated = passwords.generate()
        hashed = passwords.hash_password(password)

        def change(conn: sqlite3.Connection) -> None:
            rows.set_password_hash(conn, name, hashed)
            rows.delete_sessions_of(conn, name)

        self.stores.box.write_sync("operator passwd", change)
        log.info("operator %s: password set by %s", name, actor)
        return generated

    def reset_2fa(self, name: str, *, actor: str) -> Credentials:
        """A new TOTP secret to confirm at the next sign-in; the recovery
        codes and the operator's sessions are gone. Raises InvalidInput, NotFound."""
        name = check_name(name)
        secret = twofactor.new_secret()

        def change(conn: sqlite3.Connection) -> None:
            rows.reset_totp(conn, name, secret)
            rows.delete_sessions_of(conn, name)

        self.stores.box.write_sync("operator reset 2fa", change)
        log.info("operator %s: second factor reset by %s", name, actor)
        return self._credentials(name, None, secret)

    # -- signing in ----------------------------------------------------------

    def check_password(self, name: str, password: str) -> bool | None:
        """None when ``name``/``password`` is wrong (an unknown name costs
        the same hash); else whether the operator's TOTP is confirmed.
        Changes nothing."""
        try:
            name = check_name(name)
        except InvalidInput:
            name = ""
        found = self.stores.box.read_sync("operator login", lambda c: rows.get(c, name)) if name else None
        ok, _ = passwords.verify(password, found["password_hash"] if found else _DUMMY_HASH)
        if not ok or found is None:
            return None
        return bool(found["totp_confirmed"])

    def setup_link(self, name: str) -> Credentials:
        """The secret and link of an operator whose TOTP is not confirmed
        yet (for the set-up page). Raises NotFound, Conflict (confirmed)."""
        found = self.stores.box.read_sync("operator setup", lambda c: rows.require(c, name))
        if found["totp_confirmed"]:
            raise Conflict("this operator's second factor is set up already")
        return self._credentials(name, None, found["totp_secret"])

    def confirm_2fa(self, name: str, code: str) -> list[str] | None:
        """Confirm the operator's TOTP with a first ``code``; returns the new
        recovery codes (to show once), or None when the code is wrong.
        Changes: confirmed, the step used, the recovery codes' digests."""
        codes = twofactor.new_recovery_codes()

        def confirm(conn: sqlite3.Connection) -> bool:
            found = rows.require(conn, name)
            if found["totp_confirmed"]:
                return False
            step = twofactor.verify(found["totp_secret"], code, found["last_step"])
            if step is None:
                return False
            rows.confirm_totp(conn, name, step, [twofactor.recovery_hash(c) for c in codes])
            rows.signed_in(conn, name, directory.now())
            return True

        if not self.stores.box.write_sync("operator confirm 2fa", confirm):
            return None
        log.info("operator %s: second factor confirmed", name)
        return codes

    def check_code(self, name: str, code: str) -> bool:
        """Whether ``code`` is the operator's TOTP code (never one accepted
        before) or one of their unused recovery codes (which is then used
        up). Changes: the step used or the recovery codes; the last sign-in."""

        def check(conn: sqlite3.Connection) -> bool:
            found = rows.get(conn, name)
            if found is None or not found["totp_confirmed"]:
                return False
            step = twofactor.verify(found["totp_secret"], code, found["last_step"])
            if step is not None:
                rows.set_last_step(conn, name, step)
            else:
                digest = twofactor.recovery_hash(code)
                if digest not in found["recovery"]:
                    return False
                rows.set_recovery(conn, name, [h for h in found["recovery"] if h != digest])
                log.info("operator %s used a recovery code (%d left)", name, len(found["recovery"]) - 1)
            rows.signed_in(conn, name, directory.now())
            return True

        return self.stores.box.write_sync("operator code", check)

    # -- what operators see and do ------------------------------------------

    def summaries(self, query: str = "", limit: int = MAX_LISTED) -> tuple[int, list[Summary]]:
        """The businesses whose slug, name or a domain contains ``query``
        (case-insensitive): how many match, and the first ``limit`` (at most
        :data:`MAX_LISTED`) with plan, people and file size. Changes nothing."""
        wanted = query.strip().lower()[:MAX_QUERY]
        matching = [b for b in self.businesses.list()
                    if not wanted or wanted in b.slug or wanted in b.name.lower()
                    or any(wanted in d for d in b.domains)]
        shown = []
        for entry in matching[:min(limit, MAX_LISTED)]:
            try:
                business = self.businesses.show(entry.slug)
                size = self.businesses.usage(entry.slug).file_bytes
            except NotFound:  # removed meanwhile
                continue
            shown.append(Summary(entry.slug, business.name, business.plan.name, business.state, business.users,
                                 size, entry.domains))
        return len(matching), shown

    def detail(self, slug: str) -> Detail:
        """One business with its people and usage. Raises InvalidInput, NotFound."""
        return Detail(self.businesses.show(slug), self.people.list(slug), self.businesses.usage(slug))

    def create_business(self, slug: str, name: str | None, domain: str | None, plan: str | None, owner: str,
                        *, actor: str, password: str | None = None, invite: bool = False) -> Created:
        """Create a business (:meth:`Businesses.create`) and its first user,
        its owner, with ``password`` or a generated one (:meth:`People.add`),
        or invited to choose theirs (:meth:`People.invite`) when ``invite``.

        Checks, before anything is made: the owner's address is valid and at
        the business's free domain or its own ``domain``. When the owner
        cannot be added, the new business is removed again. Raises what
        those two raise (InvalidInput, Conflict, LimitExceeded).
        """
        slug = names.slug(slug)
        try:
            owner = names.address(owner)
        except InvalidInput as exc:
            raise InvalidInput(str(exc), field="owner") from None
        own = names.domain(domain) if domain else None
        owner_domain = owner.rpartition("@")[2]
        if owner_domain not in (self.stores.free_domain(slug), own):
            raise InvalidInput(f"the owner's address must be at {self.stores.free_domain(slug)}"
                               + (f" or {own}" if own else ""), field="owner")
        if invite and password is not None:
            raise InvalidInput("an owner is given a password or an invitation, not both", field="password")
        if password is not None:
            passwords.check_password(password)
        business = self.businesses.create(slug, name, own, plan, actor=actor)
        try:
            if invite:
                return Created(business, owner, "", self.people.invite(owner, None, actor=actor))
            password = self.people.add(owner, password, None, actor=actor)
        except ApplianceError:
            # A business without its owner is not what was asked for (a plan
            # that allows no user, say): it goes, and the caller may retry.
            self.businesses.remove(business.slug, actor=actor)
            raise
        return Created(business, owner, password or "")

    def open_support(self, name: str, slug: str) -> Business:
        """Record in the business's audit log that operator ``name`` opened
        its panel for support. Raises InvalidInput, NotFound."""
        handle = self.stores.handle(slug)
        handle.write_sync("support open", lambda c: directory.audit(c, actor(name), "support.open"))
        log.info("operator %s opened the panel of %s for support", name, handle.slug)
        return self.businesses.show(handle.slug)

    def close_support(self, name: str, slug: str) -> None:
        """Record that the support session of ``name`` in ``slug`` ended. Raises InvalidInput, NotFound."""
        self.stores.handle(slug).write_sync("support close",
                                            lambda c: directory.audit(c, actor(name), "support.close"))


# Verifying against it costs what a real check costs (unknown names are not
# told apart by timing); it matches no password.
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$2ZtzrlXKWUtpbQ1B6B3DmA$clJWMR3aPSSSvB3dOlNjiZzaY8s3ukH4I4iXvYygj30"

__all__ = ["Operators", "Operator", "Credentials", "Summary", "Detail", "Created", "actor", "check_name"]
