"""Every reply the SMTP adapter sends on its own account, and the one place
where errors of the ``ApplianceError`` family become wire replies
(DESIGN section 9). Enhanced status codes: RFC 3463.
"""

from __future__ import annotations

import errno
import sqlite3

from appliance.delivery import NotHosted, SendingLimit, SenderRefused
from appliance.errors import AuthFailed, InvalidInput, LimitExceeded, NotFound, Suspended
from appliance.mailauth import Spoofed
from appliance.sieve.actions import Rejected
from appliance.srs import SrsInvalid
from storage.errors import Frozen, StorageFull

OK_MAIL = "250 2.1.0 OK"
OK_RCPT = "250 2.1.5 OK"
OK_DATA = "250 2.0.0 OK: stored"
OK_QUEUED = "250 2.0.0 OK: accepted for delivery"

RELAY_DENIED = "550 5.7.1 Relaying denied"
UNKNOWN_USER = "550 5.1.1 No such user here"
#: A return address of forwarded mail that we did not make, or too old.
BAD_RETURN_ADDRESS = "550 5.1.1 Invalid or expired forwarding return address"
SUSPENDED = "450 4.2.1 Mailbox temporarily unavailable"
MAILBOX_FULL = "452 4.2.2 Mailbox full"
TOO_MANY_RCPTS = "452 4.5.3 Too many recipients"
BAD_ADDRESS = "553 5.1.3 Invalid address"
SENDER_NOT_OWNED = "553 5.7.1 Sender address is not one of yours"
FROM_NOT_OWNED = "550 5.7.1 From: header is not one of your addresses"
SENDING_LIMIT = "450 4.7.1 Daily sending limit reached"
NULL_SENDER = "553 5.7.1 A null sender is not allowed here"
TOO_MANY_HOPS = "554 5.4.6 Too many hops (mail loop?)"
#: A sender on the recipient's (or the business's) block list.
SENDER_BLOCKED = "550 5.7.1 The recipient does not accept mail from this sender"
DMARC_REJECT = "550 5.7.1 Rejected by the sender domain's DMARC policy"
#: Content scoring (rspamd) scored the message past [rspamd] reject_score.
SPAM_REJECT = "554 5.7.1 Message refused as spam"
#: rspamd could not answer and [rspamd] on_failure = "tempfail".
SCAN_TEMPFAIL = "451 4.7.1 Content scanning unavailable, try again later"
#: Followed by the reason a recipient's Sieve script gave (RFC 5429).
REJECTED_BY_RULES = "550 5.7.1"
SPOOFED = "550 5.7.1 Sender domain is hosted here and this client may not send for it"
#: RFC 3463: 4.3.1 "Mail system full" - the state filesystem is.
STORAGE_FULL = "452 4.3.1 Insufficient system storage, try again later"
NO_AUTH_HERE = "502 5.5.1 AUTH is not available on this port"
AUTH_TEMPFAIL = "454 4.7.0 Temporary authentication failure"
TOO_MANY_ERRORS = "421 4.7.0 Too many errors, closing connection"
TOO_MANY_COMMANDS = "421 4.7.0 Too many commands, closing connection"
SHUTTING_DOWN = "421 4.3.2 Service shutting down"
#: The business is moving to another box (RFC 3463 4.3.2 "System not
#: accepting network messages"): the sender retries, for days if need be
#: (RFC 5321 section 4.5.4.1), and finds the new box through DNS.
MOVING = "451 4.3.2 Mailbox moving to another server, try again later"
INTERNAL = "451 4.3.0 Internal error, try again later"
UTF8_REQUIRED = "553 5.6.7 Non-ASCII address requires SMTPUTF8"


def blocklisted(ip: str, zone: str) -> str:
    """RFC 3463 5.7.1 "delivery not authorized": the list is named so the
    sender's postmaster knows where to ask for removal."""
    return f"554 5.7.1 Client host [{ip}] is listed by {zone}"


def greylisted(seconds: int) -> str:
    """A temporary failure (RFC 6647); RFC 3463 4.7.1 "delivery
    not authorized" (for now). The delay is said so senders can plan the retry."""
    return f"451 4.7.1 Greylisted, please try again in {int(seconds)} seconds"


def for_error(exc: BaseException, *, stage: str) -> str:
    """The reply for an expected error at ``stage`` ("rcpt", "data", ...).

    Anything not of the family is a bug: the caller logs it and answers
    :data:`INTERNAL`.
    """
    if isinstance(exc, StorageFull):
        return STORAGE_FULL
    if isinstance(exc, Frozen):
        return MOVING
    if isinstance(exc, Rejected):
        # RFC 5429 section 2.1: the script's reason goes on the reply line.
        return f"{REJECTED_BY_RULES} {exc}"
    if isinstance(exc, NotHosted):
        return RELAY_DENIED
    if isinstance(exc, Spoofed):
        return SPOOFED
    if isinstance(exc, SrsInvalid):
        return BAD_RETURN_ADDRESS
    if isinstance(exc, NotFound):
        return UNKNOWN_USER
    if isinstance(exc, Suspended):
        return SUSPENDED
    if isinstance(exc, SendingLimit):
        return SENDING_LIMIT
    if isinstance(exc, SenderRefused):
        return FROM_NOT_OWNED if stage == "data" else SENDER_NOT_OWNED
    if isinstance(exc, LimitExceeded):
        return MAILBOX_FULL
    if isinstance(exc, InvalidInput):
        return BAD_ADDRESS
    if isinstance(exc, AuthFailed):
        return "535 5.7.8 Authentication credentials invalid"
    return INTERNAL


def storage_full(exc: BaseException) -> bool:
    """True if ``exc`` (or what caused it) says the state filesystem is
    full: SQLite's SQLITE_FULL, or ENOSPC/EDQUOT from the OS."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 10:
        if isinstance(current, StorageFull):
            return True
        if isinstance(current, sqlite3.Error) and getattr(current, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        if isinstance(current, sqlite3.Error) and "database or disk is full" in str(current):
            return True
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False
