"""Self-service sign-up: a visitor makes a business on the free subdomain,
with themselves as its owner (``[signup]`` settings).

Abuse is held back by what needs no third party: an arithmetic question
whose answer is bound to the form by an HMAC'd token that expires and is
spent on its first use (right or wrong, so one question is one try and one
solved question one business); a number of sign-ups per source address and
hour; optional invitation codes; the reserved slugs
(``storage.names.RESERVED_SLUGS``); and a hold on the new business's
outbound mail (``[signup] outbound_per_day``) until an operator lifts it.

The token key and the spent tokens live in memory: a restart makes the
forms that were open ask their question again, which is the safe side.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Callable

from storage import directory, names
from storage import mail as maildb

from .. import mime, passwords, welcome
from ..errors import ApplianceError, Conflict, InvalidInput, LimitExceeded
from .base import Stores
from .brand import Brand, Brands
from .businesses import Businesses
from .people import People

log = logging.getLogger(__name__)

#: Spent tokens and rate-limited sources remembered at most; past it the
#: oldest are forgotten (a spent token is also refused once expired).
MAX_REMEMBERED = 50_000
#: Operands of the question: small, so anyone can do it in their head.
MAX_OPERAND = 12
#: An answer as typed, and an invitation code, at most.
MAX_ANSWER = 8
MAX_CODE = 64
WINDOW_SECONDS = 3600.0


class SignupRefused(InvalidInput):
    """A field's value cannot be used; ``field`` names it (``name``,
    ``address``, ``password``, ``answer``, ``code``) and ``reason`` says why
    (``reserved``, ``taken``, ``invalid``, ``wrong``, ``expired``, ``spent``)."""

    def __init__(self, field: str, reason: str, message: str):
        super().__init__(message)
        self.field, self.reason = field, reason


class TooManySignups(LimitExceeded):
    """This source has signed up ``[signup] per_hour`` businesses within the hour."""


@dataclass(frozen=True)
class Challenge:
    """``a`` plus ``b``, and the token that carries its answer."""

    a: int
    b: int
    token: str


@dataclass(frozen=True)
class SignedUp:
    slug: str
    owner: str


class Challenges:
    """Arithmetic questions whose tokens are ``expires.nonce.mac``, the mac
    an HMAC-SHA256 over expiry, nonce and answer under a per-process key."""

    def __init__(self, lifetime: float, clock=time.time):
        self.lifetime = lifetime
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._spent: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def _mac(self, expires: int, nonce: str, answer: int) -> str:
        return hmac.new(self._key, f"{expires}.{nonce}.{answer}".encode(), hashlib.sha256).hexdigest()

    def issue(self) -> Challenge:
        a, b = secrets.randbelow(MAX_OPERAND) + 1, secrets.randbelow(MAX_OPERAND) + 1
        expires = int(self.clock() + self.lifetime)
        nonce = secrets.token_urlsafe(12)
        return Challenge(a, b, f"{expires}.{nonce}.{self._mac(expires, nonce, a + b)}")

    def spend(self, token: str, answer: str) -> None:
        """Check ``answer`` against ``token`` and spend the token whatever
        the answer. Raises SignupRefused (field ``answer``)."""
        parts = token.split(".")
        try:
            expires, nonce, mac = int(parts[0]), parts[1], parts[2]
        except (ValueError, IndexError):
            raise SignupRefused("answer", "expired", "the question is unknown") from None
        now = self.clock()
        if len(parts) != 3 or len(nonce) > 32 or expires < now:
            raise SignupRefused("answer", "expired", "the question has expired")
        if expires > now + self.lifetime + 1:
            # Forged (no question lives that long): not worth remembering.
            raise SignupRefused("answer", "wrong", "wrong answer")
        with self._lock:
            while self._spent and (len(self._spent) >= MAX_REMEMBERED or next(iter(self._spent.values())) < now):
                self._spent.popitem(last=False)
            if nonce in self._spent:
                raise SignupRefused("answer", "spent", "the question was answered already")
            self._spent[nonce] = float(expires)
        typed = answer.strip()[:MAX_ANSWER]
        if not typed.isdigit() or not hmac.compare_digest(self._mac(expires, nonce, int(typed)), mac):
            raise SignupRefused("answer", "wrong", "wrong answer")


class SourceLimit:
    """At most ``per_window`` sign-ups per source within ``window`` seconds."""

    def __init__(self, per_window: int, window: float = WINDOW_SECONDS, clock=time.monotonic):
        self.per_window, self.window, self.clock = per_window, window, clock
        self._seen: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, source: str) -> None:
        """Count one sign-up of ``source``; raises TooManySignups past the limit."""
        now = self.clock()
        with self._lock:
            times = self._seen.pop(source, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.per_window:
                self._seen[source] = times
                raise TooManySignups(f"{source} signed up {len(times)} businesses within the hour")
            times.append(now)
            self._seen[source] = times
            while len(self._seen) > MAX_REMEMBERED:
                self._seen.popitem(last=False)

    def give_back(self, source: str) -> None:
        """Undo one :meth:`take` whose sign-up did not happen."""
        with self._lock:
            times = self._seen.get(source)
            if times:
                times.pop()


class Signup:
    """The sign-up service; one per daemon (it holds the spent tokens)."""

    def __init__(self, stores: Stores, businesses: Businesses, people: People,
                 brand: Callable[[], Brand] | None = None):
        """``brand``: the brand now, which signs the welcome message (by default the settings')."""
        self.stores, self.businesses, self.people = stores, businesses, people
        self.brand = brand or Brands(stores).current
        conf = stores.settings.signup
        self.conf = conf
        self.challenges = Challenges(conf.challenge_minutes * 60.0)
        self.sources = SourceLimit(conf.per_hour)

    @property
    def enabled(self) -> bool:
        return bool(self.conf.enabled)

    @property
    def codes_required(self) -> bool:
        return bool(self.conf.codes)

    def challenge(self) -> Challenge:
        return self.challenges.issue()

    def sign_up(self, name: str, local: str, slug: str, password: str, *, token: str, answer: str, code: str = "",
                source: str, panel_url: str = "", lang: str = "en") -> SignedUp:
        """Make business ``slug`` named ``name`` on ``[box] default_plan``,
        with ``local@<slug>.<box domain>`` its owner with ``password``, its
        outbound mail held to ``[signup] outbound_per_day``.

        Checks, in this order, before anything is made: the invitation code
        (when codes are set); the shapes of name, slug, address and password
        and that the slug is not reserved; the question's token (spent here,
        answered right or not); that the slug and its domain are free; then
        the source's hourly limit. Changes: the business and its owner,
        together - when the owner cannot be added the business is removed
        again, so a failure leaves nothing; then a welcome message in the
        owner's INBOX (:mod:`appliance.welcome`, in ``lang``, naming
        ``panel_url``), whose failure is logged and undoes nothing. Raises SignupRefused,
        TooManySignups; LimitExceeded (the default plan allows no user).
        """
        if self.conf.codes and not any(hmac.compare_digest(code.strip()[:MAX_CODE].encode(), c.encode())
                                       for c in self.conf.codes):
            raise SignupRefused("code", "wrong", "unknown invitation code")
        try:
            display = names.display_name(name)
        except InvalidInput:
            raise SignupRefused("name", "invalid", "invalid business name") from None
        try:
            slug = names.new_slug(slug)
        except names.ReservedSlug:
            raise SignupRefused("slug", "reserved", f"{slug} is reserved") from None
        except InvalidInput:
            raise SignupRefused("slug", "invalid", "invalid slug") from None
        try:
            owner = names.address(f"{local}@{self.stores.free_domain(slug)}")
        except InvalidInput:
            raise SignupRefused("address", "invalid", "invalid address") from None
        try:
            passwords.check_password(password)
        except InvalidInput:
            raise SignupRefused("password", "invalid", "password refused") from None
        self.challenges.spend(token, answer)
        if slug in {b.slug for b in self.businesses.list()}:
            raise SignupRefused("slug", "taken", f"{slug} is taken")
        self.sources.take(source)
        actor = f"signup:{source}"
        try:
            try:
                self.businesses.create(slug, display, None, None, actor=actor,
                                       outbound_hold=self.conf.outbound_per_day)
            except Conflict:
                raise SignupRefused("slug", "taken", f"{slug} is taken") from None
            try:
                self.people.add(owner, password, None, actor=actor)
            except ApplianceError:
                # A business without its owner is not what was asked for.
                self.businesses.remove(slug, actor=actor)
                raise
        except BaseException:
            self.sources.give_back(source)
            raise
        log.info("%s signed up business %s (owner %s)", source, slug, owner)
        self._welcome(slug, owner, display, panel_url, lang)
        return SignedUp(slug, owner)

    def _welcome(self, slug: str, owner: str, business: str, panel_url: str, lang: str) -> None:
        brand = self.brand()
        hostname = self.stores.settings.box.hostname
        raw = welcome.message(brand=brand.name, hostname=hostname, address=owner, business=business,
                              panel=panel_url or f"https://{hostname}/", support_email=brand.support_email,
                              support_url=brand.support_url, lang=lang)
        parsed = mime.for_storage(raw)

        def deliver(conn) -> None:
            user = directory.get_user(conn, owner)
            maildb.deliver(conn, user["id"], maildb.store_body(conn, raw, parsed))

        try:
            self.stores.handle(slug).write_sync("signup welcome", deliver)
        except ApplianceError as exc:
            # The business is made and usable: a missing welcome is no reason to undo it.
            log.warning("%s: welcome message for %s not filed: %s", slug, owner, exc)


__all__ = ["Signup", "SignupRefused", "TooManySignups", "Challenge", "Challenges", "SourceLimit", "SignedUp"]
