"""A message's MIME structure, parsed once before it is stored.

IMAP clients ask for ENVELOPE, BODYSTRUCTURE and single parts
(``BODY[1.2]<0.1024>``) all the time. :func:`parse` walks the raw bytes once
and records, for every part, where its header and body start and end, plus
what BODYSTRUCTURE reports about it; the result is JSON kept next to the
body, so a FETCH slices bytes instead of parsing the message again.

:func:`for_storage` is what every writer of mail calls (delivery, IMAP
APPEND, bounces) before its write transaction, in a worker thread when it
runs on the event loop: it gives :mod:`storage.mail` the
:class:`storage.mail.Parsed` it stores as given, so no message is parsed on
a business's single writer thread.

The tree is bounded (:data:`MAX_PARTS`, :data:`MAX_DEPTH`): deeper or wider
structures are reported as a single opaque part rather than refused, so a
hostile message is stored and shown, only without its innermost structure.

Node keys: ``h`` header start, ``b`` body start, ``e`` end (byte offsets in
the raw message), ``t``/``s`` type and subtype (lower case), ``p`` content
type parameters, ``id``, ``desc``, ``enc``, ``disp`` ([type, params] or
None), ``lang``, ``loc``, ``lines`` (text and message/rfc822 parts),
``parts`` (multipart children), ``msg`` (the message inside a
message/rfc822 part) with ``env`` its envelope.

:func:`envelope_wire` and :func:`bodystructure_wire` write the RFC 3501
forms; strings that are not plain printable ASCII (or hold a quote mark or
a line break) go out as literals, which carry any octets.
"""

from __future__ import annotations

import email.utils
import json
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any, Iterable

from storage import mailhistory
from storage.mail import INDEXED_HEADERS, MAX_INDEXED_HEADER, Parsed

from . import threadkeys

MAX_PARTS = 500
MAX_DEPTH = 20

_HEADER_PARSER = BytesHeaderParser(policy=compat32)


def _body_start(raw: bytes, start: int, end: int) -> int:
    """Offset just after the blank line ending the header block at ``start``."""
    if raw.startswith(b"\r\n", start):
        return start + 2
    if raw.startswith(b"\n", start):
        return start + 1
    crlf = raw.find(b"\r\n\r\n", start, end)
    lf = raw.find(b"\n\n", start, end)
    if crlf >= 0 and (lf < 0 or crlf <= lf):
        return crlf + 4
    if lf >= 0:
        return lf + 2
    return end


def _headers(raw: bytes, start: int, body: int) -> Message:
    return _HEADER_PARSER.parsebytes(raw[start:body])


def _value(headers: Message, name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        return None
    return " ".join(str(value).split("\r\n")).replace("\n", "").strip()


class _Budget:
    def __init__(self) -> None:
        self.parts = 0


def for_storage(raw: bytes) -> Parsed:
    """Everything :func:`storage.mail.store_body` keeps beside the bytes:
    the structure tree as JSON, the ENVELOPE wire form and the indexed
    header fields. CPU work proportional to the message: call it before
    the write, off the event loop for anything but tiny messages."""
    # The top header block is parsed once for the tree, the ENVELOPE, the
    # indexed fields and the thread keys (it was a third of the time).
    tree, head = _parse(raw)
    return Parsed(json.dumps(tree, separators=(",", ":")), envelope_wire(tree["env"]), _indexed(head),
                  history_addresses(tree["env"]), threadkeys.keys_of(head))


def history_addresses(env: dict[str, Any]) -> tuple[tuple[str, bool], ...]:
    """What the CRM's mail history indexes of an envelope (see
    :func:`storage.mailhistory.involved`): From, Sender and Reply-To on the
    sending side, To and Cc on the receiving one."""

    def addresses(*names: str) -> list[str]:
        return [f"{a[2]}@{a[3]}" for name in names for a in env.get(name) or () if a[2] and a[3]]

    return mailhistory.involved(addresses("from", "sender", "reply-to"), addresses("to", "cc"))


def indexed_headers(raw: bytes) -> dict[str, str | None]:
    """The values of :data:`storage.mail.INDEXED_HEADERS` (None when absent)."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw if end < 0 else raw[: end + 2]
    return _indexed(_HEADER_PARSER.parsebytes(head))


def _indexed(parsed: Message) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in INDEXED_HEADERS:
        value = parsed.get(name)
        out[name] = None if value is None else str(value)[:MAX_INDEXED_HEADER]
    return out


def parse(raw: bytes) -> dict[str, Any]:
    """The structure tree of a whole message (see module doc)."""
    return _parse(raw)[0]


def _parse(raw: bytes) -> tuple[dict[str, Any], Message]:
    """The structure tree and the parsed top header block."""
    body = _body_start(raw, 0, len(raw))
    headers = _headers(raw, 0, body)
    node = _part(raw, 0, len(raw), "text/plain", 0, _Budget(), (body, headers))
    node["env"] = envelope(headers)
    return node, headers


def _part(raw: bytes, start: int, end: int, default: str, depth: int, budget: _Budget,
          top: tuple[int, Message] | None = None) -> dict[str, Any]:
    budget.parts += 1
    body, headers = top if top is not None else (_body_start(raw, start, end), None)
    if headers is None:
        headers = _headers(raw, start, body)
    if headers.get("content-type") is None:
        ctype = default
    else:
        ctype = headers.get_content_type()
    maintype, _, subtype = ctype.partition("/")
    params = [[k.lower(), v] for k, v in (headers.get_params() or [])[1:]] if headers.get("content-type") else []
    if maintype == "text" and not any(k == "charset" for k, _ in params):
        params.insert(0, ["charset", "us-ascii"])
    node: dict[str, Any] = {"h": start, "b": body, "e": end, "t": maintype, "s": subtype, "p": params}
    for key, name in (("id", "content-id"), ("desc", "content-description"), ("loc", "content-location"), ("lang", "content-language")):
        node[key] = _value(headers, name)
    node["enc"] = (_value(headers, "content-transfer-encoding") or "7bit").lower()
    disposition = headers.get("content-disposition")
    if disposition is not None:
        dtype = str(disposition).split(";", 1)[0].strip().lower() or "attachment"
        node["disp"] = [dtype, [[k.lower(), v] for k, v in headers.get_params(header="content-disposition")[1:]]]
    else:
        node["disp"] = None
    deep_enough = depth >= MAX_DEPTH or budget.parts >= MAX_PARTS
    if maintype == "multipart" and not deep_enough:
        boundary = dict(params).get("boundary")
        children = _split(raw, body, end, boundary) if boundary else []
        sub_default = "message/rfc822" if subtype == "digest" else "text/plain"
        node["parts"] = [
            _part(raw, s, e, sub_default, depth + 1, budget)
            for s, e in children[: max(0, MAX_PARTS - budget.parts)]
        ]
        if not node["parts"]:
            # A multipart without any part is not representable in
            # BODYSTRUCTURE; show it as the opaque bytes it is.
            node["t"], node["s"] = "application", "octet-stream"
            node.pop("parts")
    elif maintype == "message" and subtype in ("rfc822", "global") and not deep_enough:
        inner = _part(raw, body, end, "text/plain", depth + 1, budget)
        inner["env"] = envelope(_headers(raw, body, inner["b"]))
        node["msg"] = inner
    if maintype == "text" or "msg" in node:
        # Lines of the body; a last line without its line break counts too.
        node["lines"] = raw.count(b"\n", body, end) + (1 if end > body and raw[end - 1] != 0x0A else 0)
    return node


def _split(raw: bytes, body: int, end: int, boundary: str) -> list[tuple[int, int]]:
    """(start, end) of each part between ``--boundary`` delimiter lines.

    The line break before a delimiter belongs to the delimiter (RFC 2046
    section 5.1.1); text before the first and after the closing one is
    preamble and epilogue.
    """
    delimiter = b"--" + boundary.encode("ascii", "replace")
    spans: list[tuple[int, int]] = []
    current: int | None = None
    pos = body
    while pos < end and len(spans) < MAX_PARTS:
        if raw.startswith(delimiter, pos):
            line_end = raw.find(b"\n", pos, end)
            line_end = end if line_end < 0 else line_end + 1
            part_end = pos
            if part_end > body and raw[part_end - 1 : part_end] == b"\n":
                part_end -= 1
                if part_end > body and raw[part_end - 1 : part_end] == b"\r":
                    part_end -= 1
            if current is not None:
                spans.append((current, max(current, part_end)))
            if raw.startswith(delimiter + b"--", pos):
                return spans
            current = line_end
            pos = line_end
            continue
        nl = raw.find(b"\n", pos, end)
        if nl < 0:
            break
        pos = nl + 1
    if current is not None and current <= end:
        spans.append((current, end))  # no closing delimiter: take the rest
    return spans


def _addresses(headers: Message, name: str) -> list[list[str | None]] | None:
    values = headers.get_all(name)
    if not values:
        return None
    out = []
    for display, addr in email.utils.getaddresses([" ".join(str(v).split()) for v in values]):
        if not addr and not display:
            continue
        local, at, host = addr.rpartition("@")
        if not at:
            local, host = addr, ""
        out.append([display or None, None, local or None, host or None])
    return out or None


def envelope(headers: Message) -> dict[str, Any]:
    """The RFC 3501 ENVELOPE fields of a header block."""
    sender = _addresses(headers, "sender")
    reply_to = _addresses(headers, "reply-to")
    from_ = _addresses(headers, "from")
    return {
        "date": _value(headers, "date"),
        "subject": _value(headers, "subject"),
        "from": from_,
        "sender": sender or from_,
        "reply-to": reply_to or from_,
        "to": _addresses(headers, "to"),
        "cc": _addresses(headers, "cc"),
        "bcc": _addresses(headers, "bcc"),
        "in-reply-to": _value(headers, "in-reply-to"),
        "message-id": _value(headers, "message-id"),
    }


def find(node: dict[str, Any], path: list[int]) -> dict[str, Any] | None:
    """The part at an IMAP part number (``[1, 2]`` for ``1.2``), or None.

    Part 1 of a non-multipart message is its body; the parts of a
    message/rfc822 part are those of the message inside it.
    """
    for number in path:
        if "msg" in node:
            node = node["msg"]
        parts = node.get("parts")
        if parts is None:
            if number != 1:
                return None
            continue  # the body of a single-part message is part 1
        if not 1 <= number <= len(parts):
            return None
        node = parts[number - 1]
    return node


# --- IMAP wire forms -------------------------------------------------------


_QUOTABLE = frozenset(range(0x20, 0x7F))


def string(value: bytes | str | None) -> bytes:
    """An IMAP ``nstring``: NIL, a quoted string or a literal."""
    if value is None:
        return b"NIL"
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogateescape")
    if len(value) < 1024 and all(c in _QUOTABLE for c in value):
        return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(value) + value


def literal(value: bytes) -> bytes:
    return b"{%d}\r\n" % len(value) + value


def plist(items: Iterable[bytes]) -> bytes:
    return b"(" + b" ".join(items) + b")"


def _address_list(addresses: list | None) -> bytes:
    if not addresses:
        return b"NIL"
    return plist(plist(string(field) for field in addr) for addr in addresses)


def envelope_wire(env: dict[str, Any]) -> bytes:
    return plist(
        [
            string(env["date"]),
            string(env["subject"]),
            _address_list(env["from"]),
            _address_list(env["sender"]),
            _address_list(env["reply-to"]),
            _address_list(env["to"]),
            _address_list(env["cc"]),
            _address_list(env["bcc"]),
            string(env["in-reply-to"]),
            string(env["message-id"]),
        ]
    )


def _params(params: list) -> bytes:
    if not params:
        return b"NIL"
    return plist(string(v) for pair in params for v in (pair[0], pair[1] if isinstance(pair[1], str) else str(pair[1])))


def bodystructure_wire(node: dict[str, Any], extended: bool = True) -> bytes:
    """BODYSTRUCTURE (``extended``) or BODY of a part tree from :mod:`appliance.mime`."""
    if "parts" in node:
        items = [b"".join(bodystructure_wire(p, extended) for p in node["parts"]), string(node["s"].upper())]
        if extended:
            items += [_params(node["p"]), _disposition(node), string(node["lang"]), string(node["loc"])]
        return plist(items)
    items = [
        string(node["t"].upper()),
        string(node["s"].upper()),
        _params(node["p"]),
        string(node["id"]),
        string(node["desc"]),
        string(node["enc"].upper()),
        b"%d" % (node["e"] - node["b"]),
    ]
    if "msg" in node:
        inner = node["msg"]
        items += [envelope_wire(inner["env"]), bodystructure_wire(inner, extended), b"%d" % node["lines"]]
    elif node["t"] == "text":
        items.append(b"%d" % node["lines"])
    if extended:
        items += [b"NIL", _disposition(node), string(node["lang"]), string(node["loc"])]
    return plist(items)


def _disposition(node: dict[str, Any]) -> bytes:
    disp = node.get("disp")
    if not disp:
        return b"NIL"
    return plist([string(disp[0].upper()), _params(disp[1])])
