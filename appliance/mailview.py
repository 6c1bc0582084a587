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
Content-Security-Policy blocks them (:mod:`appliance.panel.mail`).
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from dataclasses import dataclass, field
from email.message import EmailMessage

import nh3

from . import imip

#: At most this many parts are looked at, and listed as attachments.
MAX_PARTS = 200
#: Text beyond this many characters is cut (and said so).
MAX_TEXT = 500_000

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


def sanitise(html: str, images: bool = False) -> str:
    """HTML with only the allow-listed tags, attributes and URL schemes.

    An image's source stays only if it is inline (``data:``) or, with
    ``images``, on the web: a remote image left in place would be fetched
    (telling the sender the mail was read), and a relative one would ask
    the panel for a path of the sender's choosing."""

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            scheme = value.strip().lower().partition(":")[0]
            if scheme != "data" and not (images and scheme in ("http", "https")):
                return None
        return value

    return nh3.clean(
        html, tags=_TAGS, attributes=_ATTRIBUTES, url_schemes={"http", "https", "mailto", "data"},
        link_rel="noopener noreferrer nofollow", set_tag_attribute_values={"a": {"target": "_blank"}},
        attribute_filter=keep,
    )


def view(raw: bytes, images: bool = False) -> View:
    """See module doc; ``images``: keep remote images (:func:`sanitise`)."""
    msg = _parse(raw)
    out = View(
        subject=_header(msg, "subject"), sender=_header(msg, "from"), to=_header(msg, "to"),
        cc=_header(msg, "cc"), date=_header(msg, "date"), message_id=_header(msg, "message-id"),
        references=_header(msg, "references"), reply_to=_header(msg, "reply-to"),
    )
    for number, part in enumerate(msg.walk()):
        if number >= MAX_PARTS:
            break
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        if disposition != "attachment" and ctype == "text/plain" and out.text is None:
            out.text = _content(part)
        elif disposition != "attachment" and ctype == "text/html" and out.html is None:
            out.html = _content(part)
        elif disposition == "attachment" or part.get_filename() or not ctype.startswith("text/") \
                or ctype == "text/calendar":
            payload = part.get_payload(decode=True) or b""
            name = part.get_filename() or (f"invitation-{number}.ics" if ctype == "text/calendar" else f"part-{number}")
            out.attachments.append(Attachment(number, name[:200], ctype, len(payload)))
            if ctype == "text/calendar" and out.invitation is None:
                _calendar(out, part, payload)
    for name in ("text", "html"):
        value = getattr(out, name)
        if value is not None and len(value) > MAX_TEXT:
            setattr(out, name, value[:MAX_TEXT])
            out.truncated = True
    if out.html is not None:
        out.html = sanitise(out.html, images)
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
    """(file name, decoded bytes) of the leaf part ``number``, or None."""
    msg = _parse(raw)
    for index, part in enumerate(msg.walk()):
        if index >= MAX_PARTS:
            return None
        if index == number:
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
