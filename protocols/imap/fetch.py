"""FETCH: which data items a client asked for, and writing them.

:func:`parse_items` reads the attribute list once per command and says
what the storage query must return (the bytes, only the header block, or
neither); :func:`render` writes one message's ``FETCH (...)`` contents from
a row of :func:`storage.mail.fetch_rows`. Sections are cut out of the raw
message with the offsets recorded at delivery (:mod:`appliance.mime`).
A message list (only :data:`LISTING_ITEMS`, such as ``FETCH 1:* (FLAGS
ENVELOPE)``, the bulk of what clients fetch) is written by
:func:`render_listing` from plain tuples instead, with the ENVELOPE stored
at delivery copied as it is: the same bytes for less work per message.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field
from typing import Any

from appliance import mime

from .syntax import Bad, Token, atom

_MACROS = {
    "ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
    "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
    "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
}
_SIMPLE = {"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODYSTRUCTURE", "BODY", "MODSEQ",
           "RFC822", "RFC822.HEADER", "RFC822.TEXT"}
#: Items answered from a message's row alone, without its structure or bytes.
LISTING_ITEMS = frozenset({"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "MODSEQ"})
_SECTION = re.compile(r"^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK)\[([^\]]*)\](?:<(\d{1,10})(?:\.(\d{1,10}))?>)?$", re.I)
_PART = re.compile(r"^(\d{1,4}(?:\.\d{1,4}){0,19})(?:\.(HEADER|HEADER\.FIELDS|HEADER\.FIELDS\.NOT|TEXT|MIME))?$", re.I)
_TEXTUAL = re.compile(r"^(HEADER|HEADER\.FIELDS|HEADER\.FIELDS\.NOT|TEXT)$", re.I)
#: Header field names in one HEADER.FIELDS list. Clients ask for a few
#: dozen; 5,000 names over every message held the loop for seconds (#24).
MAX_HEADER_FIELDS = 200
#: Longest header field name asked for (RFC 5322 lines are 998 octets).
MAX_FIELD_NAME = 100
#: Data items in one FETCH command (each section is cut from every message).
MAX_FETCH_ITEMS = 100
_FIELD_NAME = re.compile(rb"^[!-9;-~]{1,%d}$" % MAX_FIELD_NAME)
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


@dataclass
class Section:
    label: bytes  # how the reply names it: BODY[1.2]<0>
    path: list[int]
    what: str  # "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: list[bytes] = field(default_factory=list)
    start: int | None = None
    length: int | None = None
    peek: bool = False


@dataclass
class Request:
    simple: list[str]
    sections: list[Section]
    needs_raw: bool = False
    needs_header: bool = False
    sets_seen: bool = False
    #: The MIME structure is read (BODYSTRUCTURE, parts, header and text
    #: boundaries); the whole message (``BODY[]``, ``RFC822``) needs none.
    needs_structure: bool = False

    @property
    def wants_modseq(self) -> bool:
        return "MODSEQ" in self.simple

    @property
    def listing(self) -> bool:
        """Only items a message list shows (:data:`LISTING_ITEMS`): rendered
        by :func:`render_listing` from :func:`storage.mail.listing_rows`."""
        return not self.sections and LISTING_ITEMS.issuperset(self.simple)


def parse_items(args: list[Token]) -> Request:
    """The FETCH attributes (``args`` is everything after the sequence set,
    possibly with a CHANGEDSINCE modifier list, handled by the caller)."""
    if not args:
        raise Bad("FETCH needs data items")
    if len(args) == 1 and isinstance(args[0], list):
        items = args[0]
    elif len(args) == 1:
        items = [args[0]]
    else:
        raise Bad("FETCH data items must be one item or a list")
    if len(items) > MAX_FETCH_ITEMS:
        raise Bad(f"too many fetch items (at most {MAX_FETCH_ITEMS})")
    simple: list[str] = []
    sections: list[Section] = []
    for item in items:
        name = atom(item, "fetch item").upper()
        if name in _MACROS and len(items) == 1:
            simple.extend(_MACROS[name])
            continue
        if name in _SIMPLE:
            if name not in simple:
                simple.append(name)
            continue
        m = _SECTION.match(atom(item))
        if not m:
            raise Bad(f"unknown fetch item {name[:40]}")
        sections.append(_section(m))
    request = Request(simple, sections)
    for s in sections:
        if s.what in ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "MIME") and not s.path:
            request.needs_header = True
        else:
            request.needs_raw = True
        if not s.peek:
            request.sets_seen = True
    if "RFC822" in simple or "RFC822.TEXT" in simple:
        request.needs_raw = True
        request.sets_seen = True
    if "RFC822.HEADER" in simple:
        request.needs_header = True
    request.needs_structure = bool(
        {"BODYSTRUCTURE", "BODY", "RFC822.HEADER", "RFC822.TEXT"} & set(simple)
        or any(s.path or s.what for s in sections)
    )
    return request


def _section(m: re.Match) -> Section:
    kind, spec, start, length = m.group(1).upper(), m.group(2), m.group(3), m.group(4)
    path: list[int] = []
    fields: list[bytes] = []
    head, _, rest = spec.partition(" ")
    if rest:
        if not (rest.startswith("(") and rest.endswith(")")):
            raise Bad("invalid header field list")
        names = rest[1:-1].split()
        if len(names) > MAX_HEADER_FIELDS:
            raise Bad(f"too many header fields (at most {MAX_HEADER_FIELDS})")
        fields = [f.strip('"').encode("ascii", "replace") for f in names]
        if not fields:
            raise Bad("empty header field list")
        if not all(_FIELD_NAME.match(f) for f in fields):
            raise Bad("invalid header field name")
    upper = head.upper()
    if not upper or _TEXTUAL.match(upper):
        what = upper
    else:
        pm = _PART.match(upper)
        if not pm:
            raise Bad(f"invalid section {spec[:40]}")
        path = [int(n) for n in pm.group(1).split(".")]
        if any(n == 0 for n in path):
            raise Bad("part numbers start at 1")
        what = (pm.group(2) or "").upper()
    if what.startswith("HEADER.FIELDS") != bool(fields):
        raise Bad("HEADER.FIELDS needs a field list")
    label_spec = head.upper() + (" (" + " ".join(f.decode().upper() for f in fields) + ")" if fields else "")
    peek = kind.endswith(".PEEK")
    label = f"BODY[{label_spec}]" + (f"<{start}>" if start is not None else "")
    if length is not None and int(length) == 0:
        length = "0"
    return Section(
        label.encode("ascii"), path, what, fields,
        None if start is None else int(start), None if length is None else int(length), peek,
    )


def internal_date(value: str) -> bytes:
    d = datetime.datetime.fromisoformat(value)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    offset = int(d.utcoffset().total_seconds() // 60)
    sign = "+" if offset >= 0 else "-"
    offset = abs(offset)
    return (
        f'"{d.day:02d}-{_MONTHS[d.month - 1]}-{d.year:04d} {d.hour:02d}:{d.minute:02d}:{d.second:02d} '
        f'{sign}{offset // 60:02d}{offset % 60:02d}"'
    ).encode("ascii")


def flags_list(flags: str) -> bytes:
    return b"(" + flags.encode("utf-8", "replace") + b")"


def _filter_headers(block: bytes, fields: list[bytes], keep: bool) -> bytes:
    wanted = {f.lower() for f in fields}
    out: list[bytes] = []
    current = False
    for line in block.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t"):
            if current:
                out.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        current = (name in wanted) == keep
        if current:
            out.append(line)
    return b"".join(out) + b"\r\n"


def _content(section: Section, raw: bytes, tree: dict[str, Any]) -> bytes:
    node = tree if not section.path else mime.find(tree, section.path)
    if node is None:
        return b""
    what = section.what
    if section.path:
        if what == "":
            return raw[node["b"] : node["e"]]
        if what == "MIME":
            return raw[node["h"] : node["b"]]
        node = node.get("msg")  # HEADER and TEXT of a part: of the message inside
        if node is None:
            return b""
    if what == "":
        return raw[node["h"] : node["e"]]
    if what == "TEXT":
        return raw[node["b"] : node["e"]]
    header = raw[node["h"] : node["b"]]
    if what == "HEADER":
        return header
    return _filter_headers(header, section.fields, keep=what == "HEADER.FIELDS")


def render(seq: int, row: dict[str, Any], request: Request, *, uid: bool, modseq: bool) -> bytes:
    """One ``* n FETCH (...)`` line (with literals), CRLF included."""
    items: list[bytes] = []
    if uid or "UID" in request.simple:
        items.append(b"UID %d" % row["uid"])
    tree: dict[str, Any] | None = None
    raw: bytes = row.get("raw") or row.get("head") or b""
    if raw is not None and not isinstance(raw, bytes):
        raw = bytes(raw)

    def structure() -> dict[str, Any]:
        nonlocal tree
        if tree is None:
            tree = json.loads(row["structure"])
        return tree

    for name in request.simple:
        if name in LISTING_ITEMS:
            item = _listing_item(name, row["flags"], row["internal_date"], row["size"], row["envelope"])
            if item is not None:
                items.append(item)
        elif name == "BODYSTRUCTURE":
            items.append(b"BODYSTRUCTURE " + mime.bodystructure_wire(structure(), True))
        elif name == "BODY":
            items.append(b"BODY " + mime.bodystructure_wire(structure(), False))
        elif name == "RFC822":
            items.append(b"RFC822 " + mime.literal(raw))
        elif name == "RFC822.HEADER":
            items.append(b"RFC822.HEADER " + mime.literal(raw[: structure()["b"]]))
        elif name == "RFC822.TEXT":
            t = structure()
            items.append(b"RFC822.TEXT " + mime.literal(raw[t["b"] : t["e"]]))
    for section in request.sections:
        data = raw if not (section.path or section.what) else _content(section, raw, structure())
        if section.start is not None:
            data = data[section.start :]
            if section.length is not None:
                data = data[: section.length]
        items.append(section.label + b" " + mime.literal(data))
    if modseq or request.wants_modseq:
        items.append(b"MODSEQ (%d)" % row["modseq"])
    return b"* %d FETCH (" % seq + b" ".join(items) + b")\r\n"


def _listing_item(name: str, flags: str, date: str, size: int, envelope: bytes | None) -> bytes | None:
    """One of :data:`LISTING_ITEMS` as it goes on the wire; None for UID and
    MODSEQ, which both renderers place themselves (first and last)."""
    if name == "FLAGS":
        return b"FLAGS " + flags_list(flags)
    if name == "ENVELOPE":
        return b"ENVELOPE " + bytes(envelope)
    if name == "INTERNALDATE":
        return b"INTERNALDATE " + internal_date(date)
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % size
    return None


def render_listing(seq: int, row: tuple, request: Request, *, uid: bool, modseq: bool) -> bytes:
    """:func:`render` for a :attr:`Request.listing` request, from a tuple of
    :data:`storage.mail.LISTING_COLUMNS` (whose envelope is stored): the
    same bytes, without a mapping per message."""
    row_uid, flags, date, size, row_modseq, envelope = row
    items: list[bytes] = []
    if uid or "UID" in request.simple:
        items.append(b"UID %d" % row_uid)
    for name in request.simple:
        item = _listing_item(name, flags, date, size, envelope)
        if item is not None:
            items.append(item)
    if modseq or request.wants_modseq:
        items.append(b"MODSEQ (%d)" % row_modseq)
    return b"* %d FETCH (" % seq + b" ".join(items) + b")\r\n"
