"""Webmail's signatures: one per address a user may send as, kept in
their business's file (:mod:`storage.signatures`), put under the text
of a new message, a reply or a forward after the ``-- `` line of
RFC 3676 section 4.3 when that address is chosen as From."""

from __future__ import annotations

from typing import Any, Iterable

from storage import signatures as signaturedb

from .errors import InvalidInput, LimitExceeded
from .webmail import Account

#: Longest signature, in characters, and most lines (RFC 3676 4.3 asks
#: for a few lines; a business card's worth is allowed).
MAX_SIGNATURE = 800
MAX_LINES = 10
#: The signature separator line (RFC 3676 4.3): dash, dash, space.
SEPARATOR = "-- "


def clean(text: str) -> str:
    """``text`` as a signature is stored: line ends as ``\\n``, no trailing
    spaces or blank lines, no separator line of its own (it is added)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    if lines and lines[0] in ("--", SEPARATOR):
        lines = lines[1:]
    return "\n".join(lines).strip("\n")


async def signatures(account: Account, senders: Iterable[str]) -> dict[str, str]:
    """The user's signature for each of ``senders`` (the addresses they
    may send as now; ones they lost are left out), empty when none."""
    stored = await account.read("signatures", lambda c: signaturedb.signatures(c, account.user_id))
    return {s: stored.get(s.lower(), "") for s in senders}


async def set_signature(account: Account, senders: Iterable[str], address: str, text: str) -> None:
    """Keep ``text`` (see :func:`clean`; empty removes it) as the user's
    signature for ``address``. Raises InvalidInput when ``address`` is
    not one of ``senders``, LimitExceeded past :data:`MAX_SIGNATURE`
    characters or :data:`MAX_LINES` lines; nothing changes then."""
    if address.lower() not in {s.lower() for s in senders}:
        raise InvalidInput("not one of your addresses")
    text = clean(text)
    if len(text) > MAX_SIGNATURE or text.count("\n") >= MAX_LINES:
        raise LimitExceeded("signature too long")

    def write(conn: Any) -> None:
        signaturedb.set_signature(conn, account.user_id, address, text)

    await account.write("signature", write)


def signed(body: str, signature: str) -> str:
    """``body`` with ``signature`` under it after the separator line, last
    of all (RFC 3676 4.3: what follows the separator is the signature,
    so it goes below any quoted text too); ``body`` unchanged without one."""
    if not signature:
        return body
    return body.rstrip("\n") + "\n\n" + SEPARATOR + "\n" + signature + "\n"
