"""The outbound mail queue of every business.

Queue ids are ``<slug>:<number>`` because each business keeps its own queue
in its own file. Retrying and deleting change the file and bump the catalog
generation, so a running daemon looks at the queue again within a second.
"""

from __future__ import annotations

import datetime
import sqlite3
from dataclasses import asdict, dataclass

from storage import box as boxdb
from storage import directory
from storage import queue as queuedb

from storage import names
from ..errors import InvalidInput
from .base import Stores


@dataclass(frozen=True)
class Recipient:
    address: str
    state: str  # queued | delivered | failed
    code: int | None
    reply: str | None


@dataclass(frozen=True)
class QueuedMessage:
    id: str  # slug:number
    business: str
    mail_from: str
    size: int
    attempts: int
    created: str | None
    next_attempt: str | None
    expires: str | None
    last_error: str | None
    recipients: list[Recipient]

    def as_dict(self) -> dict:
        """The form scripts see (``from``, not ``mail_from``)."""
        data = asdict(self)
        data["from"] = data.pop("mail_from")
        return data


def _when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(microsecond=0).isoformat()


def parse_id(value: str) -> tuple[str, int]:
    """``slug:number`` -> (slug, number); InvalidInput otherwise."""
    slug, _, number = value.partition(":")
    if not number.isdigit():
        raise InvalidInput(f"invalid queue id {value!r}: expected SLUG:NUMBER")
    return names.slug(slug), int(number)


class Queue:
    def __init__(self, stores: Stores):
        self.stores = stores

    def _slugs(self, only: str | None) -> list[str]:
        if only:
            return [names.slug(only)]
        return self.stores.box.read_sync("queue tenants", lambda c: [t["slug"] for t in boxdb.list_tenants(c)])

    def list(self, slug: str | None = None) -> list[QueuedMessage]:
        """Queued messages of business ``slug``, or of every business (no
        bodies). Raises InvalidInput, NotFound."""
        out = []
        for name in self._slugs(slug):
            for item in self.stores.handle(name).read_sync("queue list", queuedb.listing):
                out.append(
                    QueuedMessage(
                        id=f"{name}:{item['id']}",
                        business=name,
                        mail_from=item["mail_from"],
                        size=item["size"],
                        attempts=item["attempts"],
                        created=_when(item["created"]),
                        next_attempt=_when(item["next_attempt"]),
                        expires=_when(item["expires"]),
                        last_error=item["last_error"],
                        recipients=[Recipient(**r) for r in item["recipients"]],
                    )
                )
        return out

    def retry(self, queue_id: str, *, actor: str) -> None:
        """Make the message ``slug:number`` due now. Raises InvalidInput,
        NotFound."""
        slug, number = parse_id(queue_id)

        def retry(conn: sqlite3.Connection) -> None:
            queuedb.retry_now(conn, number)
            directory.audit(conn, actor, "queue.retry", str(number))

        self.stores.handle(slug).write_sync("queue retry", retry)
        self.stores.changed("queue changed")

    def retry_all(self, *, actor: str) -> int:
        """Make every queued message of every business due now; returns how many."""
        count = 0
        for slug in self._slugs(None):

            def retry(conn: sqlite3.Connection) -> int:
                n = queuedb.retry_now(conn)
                if n:
                    directory.audit(conn, actor, "queue.retry", "all")
                return n

            count += self.stores.handle(slug).write_sync("queue retry", retry)
        self.stores.changed("queue changed")
        return count

    def delete(self, queue_id: str, *, actor: str) -> None:
        """Drop the message ``slug:number`` without a bounce. Raises
        InvalidInput, NotFound."""
        slug, number = parse_id(queue_id)

        def delete(conn: sqlite3.Connection) -> None:
            queuedb.remove(conn, number)
            directory.audit(conn, actor, "queue.delete", str(number))

        self.stores.handle(slug).write_sync("queue delete", delete)
        self.stores.changed("queue changed")
