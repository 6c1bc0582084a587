"""Greylisting on the MX (RFC 6647): the first attempt of an unknown
(client network, envelope sender, recipient) triplet is deferred with a
temporary failure; a real mail server retries after the delay and is let
through, and the triplet stays allowed (``[greylist]`` settings). Most
spam engines never retry.

Who is never delayed:

* authenticated submission - the MX hook alone asks;
* senders of a domain hosted here: on the MX such a sender has passed the
  SPF check that refuses a client our record does not name
  (:meth:`appliance.mailauth.Verifier.check_sender`), so it is one of ours;
* clients in ``exempt_networks`` (the box itself, backup MX hosts...);
* addresses the box's users wrote to (remembered at submission).

The client is taken as its /24 (IPv4) or /64 (IPv6): a sender farm may
retry from another address of the same network, and an IPv6 host has a
whole /64 to itself (RFC 6647 discusses both).
"""

from __future__ import annotations

import ipaddress
import logging
import sqlite3

from storage import greylist as greydb
from storage.database import Database

log = logging.getLogger(__name__)

#: A passed triplet's allowance is renewed (a write) at most this often;
#: in between, its mail is let through on a read. Busy correspondents would
#: otherwise cost one box-database commit per recipient.
RENEW_SECONDS = 3600.0


def network_of(ip: str) -> str:
    """The client's /24 or /64, as text; an unparsable address as given."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class Greylist:
    """See the module doc. ``settings`` is the ``[greylist]`` section."""

    def __init__(self, settings, box: Database):
        self.settings = settings
        self.box = box
        self.exempt = tuple(ipaddress.ip_network(n) for n in settings.exempt_networks)

    @property
    def enabled(self) -> bool:
        return bool(self.settings.enabled)

    def exempt_client(self, ip: str) -> bool:
        """Whether ``ip`` is in ``exempt_networks``."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in net for net in self.exempt)

    def applies(self, ip: str) -> bool:
        """Whether mail from client ``ip`` is greylisted at all."""
        return self.enabled and not self.exempt_client(ip)

    async def look(self, ip: str, sender: str, recipient: str) -> tuple[bool, bool]:
        """``(``:meth:`wrote_to` ``sender, the triplet passed lately)`` in one
        read of the box database: the first recipient of a message asks both."""
        s = self.settings
        network, sender, recipient = network_of(ip), sender.lower(), recipient.lower()

        def read(conn: sqlite3.Connection) -> tuple[bool, bool]:
            return (bool(sender) and greydb.is_correspondent(conn, sender),
                    greydb.passed_lately(conn, network, sender, recipient, pass_seconds=s.pass_days * 86_400,
                                         refresh_seconds=RENEW_SECONDS))

        # Two lookups by primary key: on the loop (see Database.read_quick).
        return await self.box.read_quick("greylist look", read)

    async def wait(self, ip: str, sender: str, recipient: str, passed: bool | None = None) -> float:
        """Seconds before a retry of this delivery attempt will be accepted;
        0 if it may go on now. Records the attempt (box database). The
        caller has already let trusted senders (:meth:`wrote_to`, hosted
        ones) through. ``passed``: what :meth:`look` said of the triplet
        (None: read it here)."""
        if not self.applies(ip):
            return 0.0
        s = self.settings
        network, sender, recipient = network_of(ip), sender.lower(), recipient.lower()
        if passed is None:
            passed = await self.box.read_quick("greylist passed", lambda c: greydb.passed_lately(
                c, network, sender, recipient, pass_seconds=s.pass_days * 86_400, refresh_seconds=RENEW_SECONDS))
        if passed:
            return 0.0
        verdict, seconds = await self.box.write("greylist", lambda c: greydb.check(
            c, network, sender, recipient, delay=s.delay,
            pending_seconds=s.pending_hours * 3600, pass_seconds=s.pass_days * 86_400, max_entries=s.max_entries))
        return 0.0 if verdict == greydb.PASS else max(1.0, seconds)

    async def wrote_to(self, sender: str) -> bool:
        """Whether a user of the box wrote to ``sender`` lately."""
        if not sender:
            return False
        return await self.box.read_quick("greylist correspondent",
                                         lambda c: greydb.is_correspondent(c, sender.lower()))

    async def remember(self, addresses: list[str]) -> None:
        """Note remote addresses a user wrote to: their mail is not delayed
        (nor checked against blocklists). The caller decides whether to."""
        if not addresses:
            return
        s = self.settings
        wanted = sorted({a.lower() for a in addresses})
        await self.box.write("greylist correspondents", lambda c: greydb.remember_correspondents(
            c, wanted, pass_seconds=s.pass_days * 86_400, max_entries=s.max_entries))
