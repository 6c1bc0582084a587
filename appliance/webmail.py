"""Webmail's service: a user's own mail, through the same store and mail
events as IMAP.

Every function takes the business's handle, the slug and the signed-in
user's id, and a mailbox id that must be one of that user's mailboxes
(:class:`NotFound` otherwise, the same as one that does not exist). Every
change goes through :mod:`storage.mail` (flags with a new MODSEQ, moves
with COPYUID-style new UIDs and expunge records) and, after its commit,
through :meth:`appliance.mailevents.MailEvents.publish`, so IMAP sessions
in IDLE see it at once. Sending is :mod:`appliance.submission`'s.
"""

from __future__ import annotations

import asyncio
import datetime
import email.policy
import email.utils
import json
import logging
from email.message import EmailMessage
from dataclasses import dataclass, field
from typing import Any, Callable

from sitegen import markup
from storage import mail as maildb
from storage import maillist, mailsearch

from . import mailview, mime
from . import spam as spamfilter
from .submission import Envelope
from .errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

#: Messages on one page of a mailbox.
PAGE_SIZE = 50
#: At most this many messages in one action (a page of conversations of
#: ten messages each).
MAX_SELECTED = 500
#: The most pages a listing goes to (50,000 messages deep).
MAX_PAGE = 1000
#: Body search looks at this many newest matches at most.
MAX_BODY_MATCHES = 500
SEARCH_FIELDS = ("from", "to", "subject", "body")
FLAG_ACTIONS = {"read": ("+", "\\Seen"), "unread": ("-", "\\Seen"), "flag": ("+", "\\Flagged"),
                "unflag": ("-", "\\Flagged"), "answered": ("+", "\\Answered")}


@dataclass
class Account:
    """Whose mail: the business's handle, its slug, the user, and where to
    tell IMAP sessions of a change."""

    handle: Any
    slug: str
    user_id: int
    address: str
    publish: Callable[[str, int, int], None]

    @property
    def tenant(self) -> Any:
        """The handle, by the name the submission rules use for it."""
        return self.handle

    async def read(self, desc: str, fn: Callable[[Any], Any]) -> Any:
        return await self.handle.read("webmail " + desc, fn)

    async def write(self, desc: str, fn: Callable[[Any], Any]) -> Any:
        return await self.handle.write("webmail " + desc, fn)

    def changed(self, box: int) -> None:
        self.publish(self.slug, self.user_id, box)


async def folders(account: Account) -> list[dict]:
    """The user's mailboxes with counts (see :func:`storage.maillist.folders`)."""
    return await account.read("folders", lambda c: maillist.folders(c, account.user_id))


def _search_clause(field: str, needle: str) -> mailsearch.Clause | None:
    return mailsearch.header_contains({"from": "from", "to": "to", "subject": "subject"}[field], needle.lower())


@dataclass(frozen=True)
class Search:
    """What a listing is narrowed to: ``query`` in ``field`` (one of
    :data:`SEARCH_FIELDS`), received on ``since`` or later and on
    ``until`` or earlier (calendar days of the internal date, as IMAP's
    SINCE and BEFORE read them), in ``state`` (one of :data:`SEARCH_STATES`,
    "" for any). Empty, it narrows nothing."""

    field: str = ""
    query: str = ""
    since: datetime.date | None = None
    until: datetime.date | None = None
    state: str = ""

    def __bool__(self) -> bool:
        return bool(self.query.strip() or self.since or self.until or self.state)


#: The states a search may ask for, as clauses on the message's flags.
SEARCH_STATES = {
    "unread": lambda: mailsearch.negate(mailsearch.has_flag("\\Seen")),
    "flagged": lambda: mailsearch.has_flag("\\Flagged"),
    "answered": lambda: mailsearch.has_flag("\\Answered"),
}


def _clauses(conn: Any, box: int, search: Search) -> mailsearch.Clause | None:
    query = search.query.strip()[:200]
    clauses = []
    if query and search.field == "body":
        uids = maillist.body_matches(conn, box, query.encode("utf-8"), MAX_BODY_MATCHES)
        clauses.append(mailsearch.Clause("(m.uid IN (SELECT value FROM json_each(?)))", (json.dumps(uids),)))
    elif query and search.field in SEARCH_FIELDS:
        clauses.append(_search_clause(search.field, query))
    if search.since is not None:
        clauses.append(mailsearch.internal_date(">=", search.since))
    if search.until is not None:
        clauses.append(mailsearch.internal_date("<", search.until + datetime.timedelta(days=1)))
    if search.state in SEARCH_STATES:
        clauses.append(SEARCH_STATES[search.state]())
    return mailsearch.both(clauses) if clauses else None


async def listing(account: Account, box: int, page: int = 1, search: Search = Search()) -> dict:
    """One page (1-based) of a mailbox, newest first, optionally only the
    messages ``search`` finds: ``{"folder", "total", "rows", "page", "pages"}``."""
    page = max(1, min(page, MAX_PAGE))

    def read(conn: Any) -> dict:
        folder = maillist.folder(conn, account.user_id, box)
        where = _clauses(conn, box, search)
        total, rows = maillist.page(conn, box, (page - 1) * PAGE_SIZE, PAGE_SIZE, where)
        return {"folder": folder, "total": total, "rows": rows}

    out = await account.read("list", read)
    for row in out["rows"]:
        flags = set(row["flags"].split()) if row["flags"] else set()
        row["seen"] = "\\Seen" in flags
        row["flagged"] = "\\Flagged" in flags
        row["answered"] = "\\Answered" in flags
        row["attachment"] = row["type"] == "multipart" and row["subtype"] in ("mixed", "related", "signed")
        row["subject"] = mailview.decoded_header(row["subject"])
        row["sender"] = mailview.display_sender(row["from_"])
        row["recipient"] = mailview.display_sender(row["to_"])
    out["page"] = page
    out["pages"] = max(1, -(-out["total"] // PAGE_SIZE))
    return out


def _uids(values: list[str]) -> list[int]:
    uids = sorted({int(v) for v in values if v.isdigit() and len(v) <= 12})
    if not uids:
        raise InvalidInput("no message selected")
    if len(uids) > MAX_SELECTED:
        raise InvalidInput("too many messages selected")
    return uids


async def set_flag(account: Account, box: int, selected: list[str], action: str) -> int:
    """Mark the selected messages (``read``, ``unread``, ``flag``,
    ``unflag``); returns how many were addressed."""
    mode, flag = FLAG_ACTIONS[action]
    uids = _uids(selected)

    def write(conn: Any) -> int:
        maillist.folder(conn, account.user_id, box)
        changed, _ = maildb.store_flags(conn, box, uids, mode, [flag])
        return len(changed)

    count = await account.write("flags", write)
    account.changed(box)
    return count


async def mark_answered(account: Account, box: int, uid: int) -> None:
    """Flag a message the user replied to ``\\Answered``; a message that is
    gone (or not theirs) is left alone, the reply being sent already."""
    try:
        await set_flag(account, box, [str(uid)], "answered")
    except NotFound:
        log.info("%s: user %d: answered message %d/%d is gone", account.slug, account.user_id, box, uid)


async def move(account: Account, box: int, selected: list[str], target: int, spam: Any = None) -> int:
    """Move the selected messages to another mailbox of the user's; with
    ``spam`` (an :class:`appliance.spam.SpamFilter`), a move into Junk or
    out of it teaches it, as over IMAP."""
    uids = _uids(selected)
    learning = spam is not None and spam.learning

    def write(conn: Any) -> tuple[int, Any]:
        maillist.folder(conn, account.user_id, box)
        maillist.folder(conn, account.user_id, target)
        if target == box:
            return 0, None
        pairs = maildb.copy_messages(conn, account.user_id, box, uids, target, move=True)
        lesson = spamfilter.to_learn(conn, box, target, [p[1] for p in pairs], spam.max_bytes) \
            if learning and pairs else None
        return len(pairs), lesson

    count, lesson = await account.write("move", write)
    if lesson is not None:
        spam.learn_later(account.address, *lesson)
    if count:
        account.changed(target)
        account.changed(box)
    return count


async def copy(account: Account, box: int, selected: list[str], target: int) -> int:
    """Copy the selected messages to another mailbox of the user's (as IMAP
    COPY: new UIDs there, the same bodies); LimitExceeded over quota."""
    uids = _uids(selected)

    def write(conn: Any) -> int:
        maillist.folder(conn, account.user_id, box)
        maillist.folder(conn, account.user_id, target)
        return len(maildb.copy_messages(conn, account.user_id, box, uids, target))

    count = await account.write("copy", write)
    if count:
        account.changed(target)
    return count


async def delete(account: Account, box: int, selected: list[str]) -> tuple[int, bool]:
    """Move the selected messages to Trash; in Trash (or with no Trash),
    remove them for good. Returns (how many, whether for good)."""
    uids = _uids(selected)

    def write(conn: Any) -> tuple[int, bool, int | None]:
        folder = maillist.folder(conn, account.user_id, box)
        trash = maillist.special(conn, account.user_id, "\\Trash")
        if trash is None or folder["special_use"] == "\\Trash":
            return len(maildb.expunge(conn, box, maillist.existing(conn, box, uids))), True, None
        moved = maildb.copy_messages(conn, account.user_id, box, uids, trash["id"], move=True)
        return len(moved), False, trash["id"]

    count, for_good, trash = await account.write("delete", write)
    if count:
        account.changed(box)
        if trash is not None:
            account.changed(trash)
    return count, for_good


async def message(account: Account, box: int, uid: int, *, mark_seen: bool = True) -> tuple[dict, dict]:
    """(the folder, the stored message with its bytes); marks it ``\\Seen``
    (a new MODSEQ and a mail event) when it was not."""

    def read(conn: Any) -> tuple[dict, dict]:
        return maillist.folder(conn, account.user_id, box), maillist.message(conn, box, uid)

    folder, row = await account.read("message", read)
    if mark_seen and "\\Seen" not in (row["flags"] or "").split():
        await account.write("seen", lambda c: maildb.store_flags(c, box, [uid], "+", ["\\Seen"]))
        account.changed(box)
    return folder, row


async def view(account: Account, box: int, uid: int, images: bool = False) -> tuple[dict, dict, mailview.View]:
    """The folder, the message row and what the reader shows of it
    (parsed in a worker thread; remote images only with ``images``);
    marks it read."""
    folder, row = await message(account, box, uid)
    shown = await asyncio.to_thread(mailview.view, row["raw"], images)
    return folder, row, shown


async def attached(account: Account, box: int, uid: int, number: int) -> tuple[dict, dict, mailview.View]:
    """The folder, the message row and what the reader shows of the
    message attached to it as part ``number`` (remote images left out);
    NotFound when that part is not an attached message."""
    folder, row = await message(account, box, uid, mark_seen=False)
    shown = await asyncio.to_thread(mailview.view, row["raw"], False, number)
    if shown is None:
        raise NotFound("no such attached message")
    return folder, row, shown


async def attachment(account: Account, box: int, uid: int, number: int) -> tuple[str, bytes]:
    """(file name, bytes) of one part; NotFound when there is no such part."""
    _, row = await message(account, box, uid, mark_seen=False)
    found = await asyncio.to_thread(mailview.attachment, row["raw"], number)
    if found is None:
        raise NotFound("no such part")
    return found


async def original(account: Account, box: int, uid: int) -> bytes:
    """The bytes of a message as stored, to forward as an attachment
    (:attr:`Draft.forwarded`) or show as its source; NotFound when it is
    not the user's."""
    _, row = await message(account, box, uid, mark_seen=False)
    return bytes(row["raw"])


async def store(account: Account, special_use: str, raw: bytes, flags: list[str], replaces: int | None = None) -> int:
    """File ``raw`` in the user's mailbox with ``special_use`` (Drafts,
    Sent); returns its UID once committed. ``replaces``: the UID of an
    earlier draft there that goes in the same transaction (see
    :func:`_drop_draft`)."""
    parsed = await asyncio.to_thread(mime.for_storage, raw)

    def write(conn: Any) -> tuple[int, int]:
        folder = maillist.special(conn, account.user_id, special_use)
        if folder is None:
            raise NotFound(f"no {special_use} mailbox")
        box, _validity, uid = maildb.append(conn, account.user_id, folder["name"], raw, parsed, flags, None)
        if replaces is not None:
            _drop_draft(conn, box, replaces)
        return box, uid

    box, uid = await account.write("store", write)
    account.changed(box)
    return uid


# -- writing -------------------------------------------------------------------

#: At most this many recipients in one message written here.
MAX_RECIPIENTS = 50
MAX_SUBJECT = 500


@dataclass
class Draft:
    """A message as the form holds it."""

    sender: str
    to: str = ""
    cc: str = ""
    subject: str = ""
    body: str = ""
    in_reply_to: str = ""
    references: str = ""
    #: (file name, content type, bytes) of each attached file.
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    #: A message forwarded as an attachment (its bytes, as stored).
    forwarded: bytes | None = None
    #: Send the text's Markdown as HTML too (multipart/alternative).
    formatted: bool = False
    #: Blind copies: recipients no header names (kept in a draft's Bcc:).
    bcc: str = ""


def addresses(text: str) -> list[str]:
    """The addresses of a To:/Cc: field as typed (commas or semicolons);
    InvalidInput for one that is not an address or for too many."""
    found = []
    for name, address in email.utils.getaddresses([text.replace(";", ",")]):
        if not address:
            continue
        if "@" not in address or any(c in address for c in " \r\n<>\"") or len(address) > 254:
            raise InvalidInput(f"{address} is not an e-mail address")
        found.append(address)
    if len(found) > MAX_RECIPIENTS:
        raise InvalidInput("too many recipients")
    return found


def build(draft: Draft, display_name: str | None, hostname: str, *, with_bcc: bool = False) -> bytes:
    """The message of ``draft`` as bytes with CRLF line ends: plain text in
    UTF-8, quoted-printable (with ``formatted``, and its HTML as the
    other alternative), with Date and Message-ID."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = email.utils.formataddr((display_name or "", draft.sender)) if display_name else draft.sender
    to, cc = addresses(draft.to), addresses(draft.cc)
    if to:
        msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    bcc = addresses(draft.bcc)
    if with_bcc and bcc:
        # RFC 5322 3.6.3: only the sender's own copy (a draft) may name them.
        msg["Bcc"] = ", ".join(bcc)
    msg["Subject"] = " ".join(draft.subject.split())[:MAX_SUBJECT]
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=hostname)
    if draft.in_reply_to:
        msg["In-Reply-To"] = " ".join(draft.in_reply_to.split())[:998]
    if draft.references:
        msg["References"] = " ".join(draft.references.split())[:998]
    text = draft.body.replace("\r\n", "\n")
    msg.set_content(text, cte="quoted-printable")
    if draft.formatted:
        # RFC 2046 5.1.4: the plainest alternative first, the text as written.
        msg.add_alternative(formatted_html(text), subtype="html", cte="quoted-printable")
    for filename, content_type, data in draft.attachments:
        maintype, _, subtype = content_type.partition("/")
        if not (maintype.isascii() and subtype.isascii() and maintype and subtype) or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    if draft.forwarded is not None:
        # RFC 2046 5.2.1: message/rfc822 is never base64 or quoted-printable;
        # the original goes as it was (8bit when it has 8-bit bytes).
        original = email.message_from_bytes(draft.forwarded, policy=email.policy.SMTP)
        msg.add_attachment(original, filename="forwarded-message.eml")
    return msg.as_bytes()


def formatted_html(text: str) -> str:
    """The HTML part of a formatted message: its Markdown rendered by the
    website's renderer (:func:`sitegen.markup.render`, line ends kept)
    and reduced to what webmail shows of any message
    (:func:`mailview.sanitise`), so nothing is sent that would not be shown."""
    body = mailview.sanitise(str(markup.render(text, line_breaks=True)))
    return f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n{body}\n</body></html>\n"


def answer(shown: mailview.View, mode: str, own: set[str], default_sender: str) -> Draft:
    """The draft that replies to (``reply``, ``all``) or forwards
    (``forward``; ``attach`` forwards it as an attachment, see
    :func:`original`) the message ``shown``: subject prefixed, the text
    quoted, threading headers set; reply all leaves out the user's own
    addresses."""
    subject = shown.subject
    text = shown.text if shown.text is not None else ""
    if mode == "attach":
        prefix = "Fwd: " if not subject.lower().startswith("fwd:") else ""
        return Draft(default_sender, subject=prefix + subject)
    if mode == "forward":
        prefix = "Fwd: " if not subject.lower().startswith("fwd:") else ""
        intro = "\n\n---------- Forwarded message ----------\n"
        intro += f"From: {shown.sender}\nDate: {shown.date}\nSubject: {shown.subject}\nTo: {shown.to}\n\n"
        return Draft(default_sender, subject=prefix + subject, body=intro + text)
    prefix = "Re: " if not subject.lower().startswith("re:") else ""
    to = shown.reply_to or shown.sender
    cc = ""
    if mode == "all":
        others = [a for _, a in email.utils.getaddresses([shown.to, shown.cc])
                  if a and a.lower() not in own and a.lower() not in to.lower()]
        cc = ", ".join(others)
    quoted = "\n".join("> " + line for line in text.splitlines())
    body = f"\n\n{shown.date}, {shown.sender}:\n{quoted}\n"
    references = " ".join(x for x in (shown.references, shown.message_id) if x)
    return Draft(default_sender, to=to, cc=cc, subject=prefix + subject, body=body,
                 in_reply_to=shown.message_id, references=references)


async def send(account: Account, submission: Any, draft: Draft, display_name: str | None) -> None:
    """Send ``draft`` through the submission rules (sender check, daily
    limits, DKIM, the outbound queue, local delivery) and file a copy in
    Sent; returns after both commits. Raises InvalidInput (no recipient,
    a bad address), SenderRefused, SendingLimit, NotFound (no such local
    user), LimitExceeded (a full mailbox)."""
    if submission is None:
        raise InvalidInput("sending is not available")
    recipients = addresses(draft.to) + addresses(draft.cc) + addresses(draft.bcc)
    if len(recipients) > MAX_RECIPIENTS:
        raise InvalidInput("too many recipients")
    raw = build(draft, display_name, submission.hostname)
    await submit(account, submission, draft.sender, recipients, raw)


async def submit(account: Account, submission: Any, sender: str, recipients: list[str], raw: bytes) -> None:
    """Send the message ``raw`` from ``sender`` to ``recipients`` as
    :func:`send` does (the same checks, the same errors) and file a copy
    in Sent."""
    if submission is None:
        raise InvalidInput("sending is not available")
    senders = await submission.senders(account)
    mail_from = await submission.check_envelope(account, senders, sender)
    if not recipients:
        raise InvalidInput("no recipient")
    local, remote = [], []
    for address in dict.fromkeys(recipients):
        found = await submission.recipient(address)
        (remote if isinstance(found, str) else local).append(found)
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    sent = await submission.submit(account, senders, Envelope(mail_from, local, remote, False), raw)
    await store(account, "\\Sent", sent, ["\\Seen"])


async def save_draft(account: Account, draft: Draft, display_name: str | None, hostname: str,
                     replaces: int | None = None) -> int:
    """File ``draft`` in Drafts (flagged ``\\Draft``); returns its UID.
    ``replaces``: the UID of the draft saved before it from the same form
    (saved again as the person writes), removed in the same transaction."""
    raw = build(draft, display_name, hostname, with_bcc=True).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return await store(account, "\\Drafts", raw, ["\\Draft", "\\Seen"], replaces)


async def discard_draft(account: Account, uid: int) -> None:
    """Remove the draft ``uid`` from Drafts (the message it held was sent)."""

    def write(conn: Any) -> int | None:
        folder = maillist.special(conn, account.user_id, "\\Drafts")
        if folder is None or not _drop_draft(conn, folder["id"], uid):
            return None
        return folder["id"]

    box = await account.write("discard draft", write)
    if box is not None:
        account.changed(box)


def _drop_draft(conn: Any, box: int, uid: int) -> bool:
    """Expunge message ``uid`` of ``box`` if it is there and flagged
    ``\\Draft`` (a form names only its own drafts, but a forged UID must
    not remove anything else); whether it was."""
    try:
        row = maillist.message(conn, box, uid)
    except NotFound:
        return False
    if "\\Draft" not in (row["flags"] or "").split():
        return False
    maildb.expunge(conn, box, [uid])
    return True
