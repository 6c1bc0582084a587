"""A stored message as a person reads it in a browser.

:func:`view` parses the raw bytes once (Python's ``email`` package, modern
policy, so every charset the codecs know is decoded and encoded words in
headers too) and returns the headers people read, the plain text, the HTML
sanitised with nh3 (an allow-list: no script, no event handler, no
``javascript:`` URL, no form, no style sheet) and the attachments. Parts
are numbered by their position in a depth-first walk of the message, which
is the same for the same bytes: :func:`attachment` serves one by number.

A ``text/calendar`` part (an iMIP invitation, RFC 6047) is read by
:mod:`appliance.imip` into :attr:`View.invitation`, and listed with the
attachments; one that cannot be read, or is past
:data:`appliance.imip.MAX_CALENDAR_BYTES`, is only listed, with
:attr:`View.calendar_unreadable` set.

Remote images are left out until the reader allows them for the message
(:func:`sanitise`); the HTML is also shown in a sandboxed frame whose
Content-Security-Policy blocks them (:mod:`appliance.panel.mail`). Images
the message carries itself (``cid:`` references to its own parts, RFC
2392) are written into the HTML as ``data:`` URLs, so they show at once
and the frame still loads nothing.

A message attached to another (``message/rfc822``, a forward as an
attachment) is one attachment: its parts are neither the text nor the
attachments of the message that carries it. :func:`view` with ``part``
reads that attached message as a message of its own; its parts keep the
numbers they have in the whole.
"""

from __future__ import annotations

import base64
import email
import email.policy
import email.utils
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from urllib.parse import unquote

import nh3

from . import imip

#: At most this many parts are looked at, and listed as attachments.
MAX_PARTS = 200
#: Text beyond this many characters is cut (and said so).
MAX_TEXT = 500_000
#: Images a message carries for its HTML (``cid:``): the types shown
#: (no SVG: a picture that is also a document), the size of one and of all.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
MAX_INLINE_BYTES = 2 * 1024 * 1024
MAX_INLINE_TOTAL = 8 * 1024 * 1024

#: HTML attributes kept beyond nh3's defaults: layout a mail needs.
_ATTRIBUTES = {
    "*": {"align", "valign", "width", "height", "dir", "lang", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "bgcolor"},
    "th": {"colspan", "rowspan"},
    "table": {"border", "cellpadding", "cellspacing", "bgcolor"},
    "font": {"color", "face", "size"},
}
_TAGS = nh3.ALLOWED_TAGS | {"font", "center"}


@dataclass
class Attachment:
    number: int
    filename: str
    content_type: str
    size: int

    @property
    def message(self) -> bool:
        """An attached message, which the reader can open."""
        return self.content_type == "message/rfc822"


@dataclass
class View:
    subject: str
    sender: str
    to: str
    cc: str
    date: str
    message_id: str
    references: str
    reply_to: str
    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    truncated: bool = False
    #: The calendar invitation of a ``text/calendar`` part (iMIP), if any;
    #: ``calendar`` is that part's text.
    invitation: imip.Invitation | None = None
    calendar: str | None = None
    #: A calendar part that could not be read (shown as an attachment).
    calendar_unreadable: bool = False


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # noqa: BLE001 - a malformed header is shown as absent
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _content(part: EmailMessage) -> str:
    try:
        text = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("utf-8", "replace")
    return text if isinstance(text, str) else text.decode("utf-8", "replace")


def sanitise(html: str, images: bool = False, inline: Mapping[str, str] | None = None) -> str:
    """HTML with only the allow-listed tags, attributes and URL schemes.

    A ``data:`` URL is kept only as an image's source. An image's source
    stays only if it is inline (``data:``, or a ``cid:``
    found in ``inline``, Content-ID -> ``data:`` URL, which replaces it)
    or, with ``images``, on the web: a remote image left in place would
    be fetched (telling the sender the mail was read), and a relative one
    would ask the panel for a path of the sender's choosing."""
    inline = inline or {}

    def keep(tag: str, attribute: str, value: str) -> str | None:
        scheme = value.strip().lower().partition(":")[0]
        if scheme == "cid":
            if tag == "img" and attribute == "src":
                return inline.get(_content_id(value.strip()[4:]))
            return None
        if tag == "img" and attribute == "src":
            if scheme != "data" and not (images and scheme in ("http", "https")):
                return None
        elif scheme == "data":
            # A picture may be written in; a link to a document written in
            # (data:text/html) may not.
            return None
        return value

    return nh3.clean(
        html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto", "data", "cid"},
        link_rel="noopener noreferrer nofollow", set_tag_attribute_values={"a": {"target": "_blank"}},
        attribute_filter=keep,
    )


def _content_id(value: str) -> str:
    """A Content-ID as a ``cid:`` URL and the header both name it: no
    angle brackets, %-escapes undone (RFC 2392), case kept."""
    return unquote(value.strip().strip("<>"))


def _numbered(msg: EmailMessage, start: int = 0) -> Iterator[tuple[int, EmailMessage, bool]]:
    """(number, part, inside an attached message) of every part, in the
    order and with the numbers of ``msg.walk()`` (from ``start``)."""
    counter = itertools.count(start)

    def walk(part: EmailMessage, nested: bool) -> Iterator[tuple[int, EmailMessage, bool]]:
        yield next(counter), part, nested
        if part.is_multipart():
            inner = nested or part.get_content_type() == "message/rfc822"
            for sub in part.get_payload():
                yield from walk(sub, inner)

    yield from walk(msg, False)


def _attached(part: EmailMessage) -> EmailMessage | None:
    """The message inside a ``message/rfc822`` part, if it has one."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], EmailMessage):
        return payload[0]
    return None


def view(raw: bytes, images: bool = False, part: int | None = None) -> View | None:
    """See module doc; ``images``: keep remote images (:func:`sanitise`);
    ``part``: the message attached as that part (None when that part is
    not an attached message)."""
    msg, start = _parse(raw), 0
    if part is not None:
        for number, found, _ in _numbered(msg):
            if number > min(part, MAX_PARTS):
                return None
            if number == part:
                inner = _attached(found) if found.get_content_type() == "message/rfc822" else None
                if inner is None:
                    return None
                msg, start = inner, part + 1
                break
        else:
            return None
    out = View(
        subject=_header(msg, "subject"), sender=_header(msg, "from"), to=_header(msg, "to"),
        cc=_header(msg, "cc"), date=_header(msg, "date"), message_id=_header(msg, "message-id"),
        references=_header(msg, "references"), reply_to=_header(msg, "reply-to"),
    )
    inline: dict[str, str] = {}
    inline_bytes = 0
    for number, part_, nested in _numbered(msg, start):
        if number >= MAX_PARTS:
            break
        if nested:
            continue
        ctype = part_.get_content_type()
        if ctype == "message/rfc822":
            attached = _attached(part_)
            size = len(attached.as_bytes()) if attached is not None else 0
            name = part_.get_filename() or ((_header(attached, "subject") or "message") + ".eml"
                                            if attached is not None else f"part-{number}.eml")
            out.attachments.append(Attachment(number, name[:200], ctype, size))
            continue
        if part_.is_multipart():
            continue
        disposition = part_.get_content_disposition()
        if disposition != "attachment" and ctype == "text/plain" and out.text is None:
            out.text = _content(part_)
        elif disposition != "attachment" and ctype == "text/html" and out.html is None:
            out.html = _content(part_)
        elif disposition == "attachment" or part_.get_filename() or not ctype.startswith("text/") \
                or ctype == "text/calendar":
            payload = part_.get_payload(decode=True) or b""
            name = part_.get_filename() or (f"invitation-{number}.ics" if ctype == "text/calendar" else f"part-{number}")
            out.attachments.append(Attachment(number, name[:200], ctype, len(payload)))
            if ctype == "text/calendar" and out.invitation is None:
                _calendar(out, part_, payload)
            cid = part_.get("content-id")
            if cid and ctype in INLINE_TYPES and len(payload) <= MAX_INLINE_BYTES \
                    and inline_bytes + len(payload) <= MAX_INLINE_TOTAL:
                inline[_content_id(str(cid))] = f"data:{ctype};base64," + base64.b64encode(payload).decode("ascii")
                inline_bytes += len(payload)
    for name in ("text", "html"):
        value = getattr(out, name)
        if value is not None and len(value) > MAX_TEXT:
            setattr(out, name, value[:MAX_TEXT])
            out.truncated = True
    if out.html is not None:
        out.html = sanitise(out.html, images, inline)
    return out


def _calendar(out: View, part: EmailMessage, payload: bytes) -> None:
    """Read an iMIP part into ``out``, or mark it unreadable."""
    if len(payload) > imip.MAX_CALENDAR_BYTES:
        out.calendar_unreadable = True
        return
    text = _content(part)
    try:
        out.invitation = imip.read(text)
        out.calendar = text
    except imip.Malformed:
        out.calendar_unreadable = True


def attachment(raw: bytes, number: int) -> tuple[str, bytes] | None:
    """(file name, decoded bytes) of the leaf part ``number`` (an attached
    message: its bytes, as a ``.eml`` file), or None."""
    for index, part, _ in _numbered(_parse(raw)):
        if index >= MAX_PARTS:
            return None
        if index == number:
            if part.get_content_type() == "message/rfc822":
                inner = _attached(part)
                if inner is None:
                    return None
                name = part.get_filename() or (_header(inner, "subject") or "message") + ".eml"
                return name[:200], inner.as_bytes()
            if part.is_multipart():
                return None
            return (part.get_filename() or f"part-{number}")[:200], part.get_payload(decode=True) or b""
    return None


def decoded_header(value: str | None) -> str:
    """A header value copied out at delivery, encoded words decoded."""
    if not value:
        return ""
    from storage.mailsearch import decoded

    return " ".join(decoded(value).split())


def display_sender(value: str | None) -> str:
    """The name (or the address) a list shows for a From: value."""
    text = decoded_header(value)
    name, address = email.utils.parseaddr(text)
    return name or address or text
