"""Calendar objects and cards written by the panel's services, stored as a
DAV PUT would store them: one place for the limits and for what storage
keeps of an item (Radicale's own item code computes its uid, etag and
time range)."""

from __future__ import annotations

from typing import Any

from radicale import item as radicale_item

from storage import dav

from .errors import InvalidInput, LimitExceeded


def limits(dav_settings: Any) -> dav.Limits:
    """The ``[dav]`` limits a write is held to."""
    return dav.Limits(max_items_per_collection=dav_settings.max_items_per_collection,
                      max_collections_per_owner=dav_settings.max_collections,
                      max_bytes=dav_settings.business_mb * 1024 * 1024)


def new_item(dav_settings: Any, path: str, href: str, text: str, what: str) -> dav.NewItem:
    """What storage keeps of ``text`` in the collection ``path`` under
    ``href``. Raises LimitExceeded past ``max_item_bytes`` and InvalidInput
    when Radicale refuses it, as a PUT would be refused (``what`` names the
    object in the message: "event", "task")."""
    if len(text.encode()) > dav_settings.max_item_bytes:
        raise LimitExceeded(f"this {what} is too large")
    item = radicale_item.Item(collection_path=path, text=text)
    try:
        item.prepare()
    except Exception as e:  # noqa: BLE001 - Radicale refuses what a PUT would refuse
        raise InvalidInput(f"the {what} cannot be stored: {e}"[:200]) from None
    start, end = item.time_range
    return dav.NewItem(href, item.uid, item.name, item.component_name, item.etag, start, end, text)
