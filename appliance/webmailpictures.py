"""Webmail's senders whose remote pictures are shown at once: a list per
user, kept in their business's file (:mod:`storage.picturesenders`). A
message whose From is on the reader's list opens as if they had asked to
show its pictures; anyone else's still waits for the question."""

from __future__ import annotations

import asyncio
import email.parser
import email.utils
from typing import Any

from storage import picturesenders as picturedb

from . import mailview, webmail
from .errors import InvalidInput, LimitExceeded
from .webmail import Account

#: Most senders one user may keep.
MAX_SENDERS = 500
#: How much of a message is read for its From (a header block past it is
#: not mail anyone sends; RFC 5322 2.1.1 limits a line to 998 characters).
MAX_HEADER = 256 * 1024


def from_address(value: str | None) -> str:
    """The one address of a From: value, lower-case; empty when it names
    none or several (RFC 5322 3.6.2 allows a list; none of them is then
    "the" sender)."""
    found = [a for _, a in email.utils.getaddresses([mailview.decoded_header(value)]) if a]
    if len(found) != 1 or "@" not in found[0] or any(c.isspace() for c in found[0]):
        return ""
    return found[0].lower()


def _from_of(raw: bytes) -> str:
    """The From address of the stored message ``raw`` (its header only)."""
    end = min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0), default=len(raw))
    headers = email.parser.BytesHeaderParser().parsebytes(raw[:min(end, MAX_HEADER)] + b"\r\n\r\n")
    return from_address(headers.get("from"))


async def senders(account: Account) -> list[str]:
    """The user's addresses, in order."""
    return await account.read("picture senders", lambda c: picturedb.senders(c, account.user_id))


async def view(account: Account, box: int, uid: int,
               asked: bool) -> tuple[dict, dict, mailview.View, bool, str]:
    """:func:`appliance.webmail.view` with its pictures when ``asked`` or
    when the message's From is on the user's list; the last two items say
    whether they are shown and that From address ("" when none)."""
    folder, row = await webmail.message(account, box, uid)
    address = _from_of(row["raw"])
    allowed = asked or (bool(address) and await account.read(
        "picture sender", lambda c: picturedb.allowed(c, account.user_id, address)))
    shown = await asyncio.to_thread(mailview.view, row["raw"], allowed)
    return folder, row, shown, allowed, address


async def always(account: Account, box: int, uid: int, address: str) -> None:
    """Put ``address``, the From address of the user's message ``uid`` in
    ``box``, on their list. Raises NotFound for no such message,
    InvalidInput when its From names no single address or another one (a
    page older than the message's headers), LimitExceeded when the list
    holds :data:`MAX_SENDERS`; nothing changes then."""
    _, row = await webmail.message(account, box, uid, mark_seen=False)
    address = address.lower()
    if not address or _from_of(row["raw"]) != address:
        raise InvalidInput("not the message's sender")

    def write(conn: Any) -> bool:
        return picturedb.add(conn, account.user_id, address, MAX_SENDERS)

    if not await account.write("picture sender", write):
        raise LimitExceeded("too many picture senders")


async def forget(account: Account, address: str) -> None:
    """Take ``address`` off the user's list (nothing when it is not on it)."""
    await account.write("picture sender", lambda c: picturedb.remove(c, account.user_id, address))
