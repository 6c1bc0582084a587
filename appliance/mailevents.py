"""New-mail notifications inside the daemon.

Delivery publishes ``(slug, user_id, mailbox_id)`` after its commit
returned; IMAP sessions (in IDLE, or between commands) subscribe for their
user and learn of new mail, flag changes and expunges without polling the
file. Everything runs on the event loop; callbacks must not block.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Callable

log = logging.getLogger(__name__)

Listener = Callable[[int], None]


class MailEvents:
    def __init__(self) -> None:
        self._listeners: dict[tuple[str, int], list[Listener]] = defaultdict(list)

    def subscribe(self, slug: str, user_id: int, listener: Listener) -> Callable[[], None]:
        """Call ``listener(mailbox_id)`` on changes; returns the unsubscribe function."""
        key = (slug, user_id)
        self._listeners[key].append(listener)

        def unsubscribe() -> None:
            listeners = self._listeners.get(key)
            if listeners and listener in listeners:
                listeners.remove(listener)
                if not listeners:
                    del self._listeners[key]

        return unsubscribe

    def publish(self, slug: str, user_id: int, mailbox_id: int) -> None:
        for listener in list(self._listeners.get((slug, user_id), ())):
            try:
                listener(mailbox_id)
            except Exception:  # noqa: BLE001 - one session must not break delivery
                log.exception("%s: mail event listener failed", slug)

    def subscribers(self, slug: str, user_id: int) -> int:
        return len(self._listeners.get((slug, user_id), ()))
