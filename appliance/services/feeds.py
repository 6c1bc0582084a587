"""Calendar feeds: a read-only ICS link per calendar or task list, for
clients that subscribe to a URL instead of speaking CalDAV (the new
Outlook, Google Calendar).

A feed is off until someone turns it on. Turning it on (or renewing it)
makes a random token; only its hash is stored (``storage.dav``), so the
link is in the answer to that request and nowhere else. Renewing replaces
the token (the old link answers 404 at once); turning it off clears it.

Who may: the business's shared calendars, its owners; a user's own
calendars, that user. Anything else (another user's calendar, another
business's, one that does not exist) is the same NotFound. Each change
writes the business's audit log (``feed.on``, ``feed.renew``,
``feed.off``, with the calendar's path; never the token).
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass

from storage import dav, directory, names

from ..errors import Conflict, InvalidInput, NotFound
from .base import Stores
from .devices import Devices

#: A calendar's reference in the panel: its random DAV nonce.
REF_LENGTH = 16


@dataclass(frozen=True)
class Feed:
    """One calendar or task list and its feed's state."""

    ref: str
    name: str
    kind: str  # events | tasks
    shared: bool
    on: bool
    since: float | None


@dataclass(frozen=True)
class FeedLink:
    """A feed just turned on or renewed: its absolute https URL (shown once)."""

    feed: Feed
    url: str


def _feed(row: dav.FeedRow, shared: bool) -> Feed:
    collection = row.collection
    kind = "tasks" if collection.props.get("C:supported-calendar-component-set") == "VTODO" else "events"
    name = collection.props.get("D:displayname") or collection.path.rpartition("/")[2]
    return Feed(collection.nonce, name, kind, shared, row.on, row.since)


class Feeds:
    """Calendar feeds of users, named by business and address (see module doc)."""

    def __init__(self, stores: Stores, devices: Devices):
        self.stores = stores
        self.devices = devices

    def url(self, slug: str, token: str) -> str:
        """The feed's absolute URL, on the client host name of the business's
        free domain (the box host name without ``[box] client_label``): a
        subscription keeps working when the business moves to another box."""
        return f"{self.devices.endpoints(self.stores.free_domain(slug)).dav_url}_feed/{slug}/{token}.ics"

    @staticmethod
    def _viewer(conn: sqlite3.Connection, address: str) -> bool:
        """Whether ``address`` is an owner; NotFound when not an active user."""
        user = directory.get_user(conn, address)
        if user is None or user["state"] != "active":
            raise NotFound("no such user")
        return user["role"] == "owner"

    def calendars(self, slug: str, address: str) -> list[Feed]:
        """The calendars and task lists ``address`` may publish: the shared
        ones (owners only), then their own. Changes nothing. Raises
        InvalidInput, NotFound."""
        address = names.address(address)

        def read(conn: sqlite3.Connection) -> list[Feed]:
            owner = self._viewer(conn, address)
            shared = [_feed(r, True) for r in dav.calendars(conn, slug)] if owner else []
            return shared + [_feed(r, False) for r in dav.calendars(conn, address)]

        return self.stores.handle(slug).read_sync("feeds list", read)

    def turn_on(self, slug: str, address: str, ref: str, *, actor: str) -> FeedLink:
        """Give the calendar ``ref`` a feed. Raises Conflict when it has one
        (renew it instead), NotFound when ``address`` may not publish it."""
        return self._set(slug, address, ref, "on", actor)

    def renew(self, slug: str, address: str, ref: str, *, actor: str) -> FeedLink:
        """Give the calendar ``ref`` a new feed link; the old one stops at
        once. Raises Conflict when its feed is off, NotFound as :meth:`turn_on`."""
        return self._set(slug, address, ref, "renew", actor)

    def turn_off(self, slug: str, address: str, ref: str, *, actor: str) -> None:
        """Stop the feed of ``ref`` (its link answers 404). Raises Conflict
        when it is off already, NotFound as :meth:`turn_on`."""
        self._set(slug, address, ref, "off", actor)

    def _set(self, slug: str, address: str, ref: str, action: str, actor: str) -> FeedLink | None:
        address = names.address(address)
        if len(ref) != REF_LENGTH or not all(c in "0123456789abcdef" for c in ref):
            raise InvalidInput("no such calendar")
        token = None if action == "off" else secrets.token_urlsafe(24)

        def write(conn: sqlite3.Connection) -> Feed:
            owner = self._viewer(conn, address)
            row = dav.collection_by_nonce(conn, ref)
            if row is None or row.tag != "VCALENDAR":
                raise NotFound("no such calendar")
            parent = row.path.rpartition("/")[0]
            shared = parent == slug
            if not (parent == address or (shared and owner)):
                raise NotFound("no such calendar")
            if action == "on" and row.feed_token is not None:
                raise Conflict("the feed is on already")
            if action in ("renew", "off") and row.feed_token is None:
                raise Conflict("the feed is off")
            dav.set_feed(conn, row.id, token)
            directory.audit(conn, actor, f"feed.{action}", row.path)
            (found,) = [r for r in dav.calendars(conn, parent) if r.collection.id == row.id]
            return _feed(found, shared)

        feed = self.stores.handle(slug).write_sync(f"feed {action}", write)
        return None if token is None else FeedLink(feed, self.url(slug, token))
