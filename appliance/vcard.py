"""A line-level reader and patcher of vCards (RFC 6350, and the 3.0 of
RFC 2426 that Outlook's CalDav Synchronizer still writes).

The panel owns a few properties of a card - ``FN``, ``N``, ``EMAIL``,
``TEL``, ``ORG``, ``TITLE``, ``CATEGORIES``, ``NOTE`` and ``KIND`` - and
nothing else. A card a client wrote may hold anything (``PHOTO``, its own
``X-`` lines, vCard 4.0 properties this code has never heard of), so a
card is never regenerated: :func:`patch` replaces, removes or adds only the
content lines of the owned properties whose value changed, and every other
line stays as it was, byte for byte (its folding and line ending
included). New cards (:func:`new_card`) are vCard 3.0, which every client
reads.

The functions work on text and know nothing of storage or HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The properties the panel reads and writes.
OWNED = frozenset({"FN", "N", "EMAIL", "TEL", "ORG", "TITLE", "CATEGORIES", "NOTE", "KIND"})
#: A folded line is at most this many octets, line break excluded
#: (RFC 6350 section 3.2).
FOLD_OCTETS = 75
LINE_BREAK = "\r\n"
_BREAK_RE = re.compile(r"(\r\n|\n)")
_NAME_RE = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)?")


class VCardError(ValueError):
    """The text is not one vCard this module can patch."""


@dataclass
class Line:
    """One content line: its physical text as found (folds and line
    breaks included) and its unfolded parts."""

    raw: str
    group: str
    name: str  # upper case
    params: str  # as written, with the leading ";" ("" when none)
    value: str  # still escaped

    @property
    def param_names(self) -> dict[str, str]:
        """Parameter names (upper case) and their values as written."""
        found = {}
        for part in _split_unquoted(self.params[1:], ";") if self.params else ():
            key, _, val = part.partition("=")
            found[key.strip().upper()] = val
        return found


@dataclass
class Fields:
    """What the panel shows and edits of a card (values unescaped)."""

    kind: str = "individual"  # or "org"
    name: str = ""  # FN
    given: str = ""
    family: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    org: str = ""  # the organisation's name: ORG's first component
    title: str = ""
    tags: list[str] = field(default_factory=list)
    note: str = ""


# -- escaping (RFC 6350 section 3.4) -------------------------------------------


def escape(text: str) -> str:
    """A TEXT value or component as a card holds it."""
    return (text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def split_value(value: str, sep: str) -> list[str]:
    """``value`` split on the separators that are not escaped (components
    of ``N`` and ``ORG`` on ``;``, list items on ``,``), still escaped."""
    parts, current, i = [], [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            current.append(value[i:i + 2])
            i += 2
            continue
        if c == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    parts.append("".join(current))
    return parts


def _split_unquoted(text: str, sep: str) -> list[str]:
    parts, current, quoted = [], [], False
    for c in text:
        if c == '"':
            quoted = not quoted
        if c == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    return parts


# -- folding (RFC 6350 section 3.2) ----------------------------------------------


def fold(line: str) -> str:
    """One content line folded at :data:`FOLD_OCTETS` octets (never inside
    a UTF-8 sequence), with its line break."""
    out, current, size = [], [], 0
    limit = FOLD_OCTETS
    for c in line:
        n = len(c.encode("utf-8"))
        if size + n > limit:
            out.append("".join(current))
            current, size, limit = [" "], 1, FOLD_OCTETS
        current.append(c)
        size += n
    out.append("".join(current))
    return LINE_BREAK.join(out) + LINE_BREAK


def lines(text: str) -> list[Line]:
    """The content lines of ``text`` (one vCard), unfolded, each with the
    physical text it came from. Raises VCardError when it is not a vCard."""
    pieces = _BREAK_RE.split(text)
    physical = [(pieces[i], pieces[i + 1] if i + 1 < len(pieces) else "") for i in range(0, len(pieces), 2)]
    grouped: list[tuple[list[str], str]] = []  # (raw parts, unfolded)
    for content, brk in physical:
        if not content and not brk:
            continue
        if content[:1] in (" ", "\t") and grouped:
            raw, unfolded = grouped[-1]
            raw.append(content + brk)
            grouped[-1] = (raw, unfolded + content[1:])
        else:
            grouped.append(([content + brk], content))
    result = []
    for raw, unfolded in grouped:
        if not unfolded.strip():
            result.append(Line("".join(raw), "", "", "", ""))
            continue
        result.append(_parse_line("".join(raw), unfolded))
    named = [ln for ln in result if ln.name]
    if not named or named[0].name != "BEGIN" or named[-1].name != "END" or named[0].value.upper() != "VCARD":
        raise VCardError("not a vCard")
    if sum(1 for ln in named if ln.name == "BEGIN") != 1:
        raise VCardError("one vCard only")
    return result


def _parse_line(raw: str, unfolded: str) -> Line:
    # The value starts at the first ":" outside a quoted parameter value.
    quoted = False
    for i, c in enumerate(unfolded):
        if c == '"':
            quoted = not quoted
        elif c == ":" and not quoted:
            head, value = unfolded[:i], unfolded[i + 1:]
            break
    else:
        raise VCardError("a content line without a value")
    name_part, sep, params = head.partition(";")
    if not _NAME_RE.fullmatch(name_part):
        raise VCardError("a content line with a bad name")
    group, _, name = name_part.rpartition(".")
    return Line(raw, group, name.upper(), sep + params, value)


def version(parsed: list[Line]) -> str:
    return next((ln.value.strip() for ln in parsed if ln.name == "VERSION"), "3.0")


def read(text: str) -> Fields:
    """The owned fields of a card. Raises VCardError."""
    return fields_of(lines(text))


def fields_of(parsed: list[Line]) -> Fields:
    f = Fields()
    for ln in parsed:
        if ln.name == "FN" and not f.name:
            f.name = unescape(ln.value).strip()
        elif ln.name == "N" and not (f.given or f.family):
            parts = split_value(ln.value, ";") + ["", ""]
            f.family, f.given = unescape(parts[0]).strip(), unescape(parts[1]).strip()
        elif ln.name == "EMAIL":
            value = unescape(ln.value).strip()
            if value:
                f.emails.append(value)
        elif ln.name == "TEL":
            value = _phone(ln.value)
            if value:
                f.phones.append(value)
        elif ln.name == "ORG" and not f.org:
            f.org = unescape(split_value(ln.value, ";")[0]).strip()
        elif ln.name == "TITLE" and not f.title:
            f.title = unescape(ln.value).strip()
        elif ln.name == "CATEGORIES":
            for item in split_value(ln.value, ","):
                tag = unescape(item).strip()
                if tag and tag not in f.tags:
                    f.tags.append(tag)
        elif ln.name == "NOTE" and not f.note:
            f.note = unescape(ln.value)
        elif ln.name == "KIND" and ln.value.strip().lower() == "org":
            f.kind = "org"
    return f


def uid_of(parsed: list[Line]) -> str:
    return next((ln.value.strip() for ln in parsed if ln.name == "UID"), "")


def _phone(value: str) -> str:
    # vCard 4.0 writes TEL as a URI (RFC 6350 section 6.4.1): tel:+1-555...
    value = unescape(value).strip()
    return value[4:] if value.lower().startswith("tel:") else value


# -- writing -----------------------------------------------------------------------


def _line(name: str, value: str, params: str = "", group: str = "") -> str:
    return fold(f"{group + '.' if group else ''}{name}{params}:{value}")


def _single(f: Fields) -> dict[str, str]:
    """The escaped value of each single-valued owned property ("" for none)."""
    return {"FN": escape(f.name), "TITLE": escape(f.title), "NOTE": escape(f.note)}


def new_card(uid: str, f: Fields) -> str:
    """A vCard 3.0 with ``uid`` and the fields ``f``."""
    out = ["BEGIN:VCARD\r\n", "VERSION:3.0\r\n", fold(f"UID:{uid}")]
    out.append(_line("FN", escape(f.name)))
    if f.kind == "org":
        out.append("KIND:org\r\n")
        out.append(_line("N", ";;;;"))
    else:
        out.append(_line("N", f"{escape(f.family)};{escape(f.given)};;;"))
    if f.org:
        out.append(_line("ORG", escape(f.org)))
    if f.title:
        out.append(_line("TITLE", escape(f.title)))
    out += [_line("EMAIL", escape(e), ";TYPE=INTERNET") for e in f.emails]
    out += [_line("TEL", escape(p)) for p in f.phones]
    if f.tags:
        out.append(_line("CATEGORIES", ",".join(escape(t) for t in f.tags)))
    if f.note:
        out.append(_line("NOTE", escape(f.note)))
    out.append("END:VCARD\r\n")
    return "".join(out)


def patch(text: str, new: Fields) -> str:
    """``text`` with the owned properties set to ``new``: a property whose
    value is unchanged keeps its lines untouched; a changed one has its
    first line's value replaced (group and parameters kept) and its other
    lines removed; a multi-valued one (EMAIL, TEL) keeps the lines of the
    values that stay and gains a line for each new value. Every line the
    panel does not own is kept byte for byte. ``KIND`` is left as it is.
    Raises VCardError."""
    parsed = lines(text)
    old = fields_of(parsed)
    four = version(parsed).startswith("4")
    out = list(parsed)

    def replace_single(name: str, value: str | None) -> None:
        """``value`` None removes every line of ``name``."""
        found = [i for i, ln in enumerate(out) if ln.name == name]
        if value is None:
            for i in reversed(found):
                del out[i]
            return
        if not found:
            _insert(out, name, [_line(name, value)])
            return
        first = out[found[0]]
        params = _drop_encoding(first.params)
        out[found[0]] = Line(_line(name, value, params, first.group), first.group, name, params, value)
        for i in reversed(found[1:]):
            del out[i]

    if new.name != old.name:
        replace_single("FN", escape(new.name) if new.name else None)
    if old.kind != "org" and (new.given, new.family) != (old.given, old.family):
        n_line = next((ln for ln in out if ln.name == "N"), None)
        rest = split_value(n_line.value, ";")[2:] if n_line else []
        rest = (rest + ["", "", ""])[:3]
        replace_single("N", ";".join([escape(new.family), escape(new.given), *rest]))
    if new.org != old.org:
        org_line = next((ln for ln in out if ln.name == "ORG"), None)
        units = split_value(org_line.value, ";")[1:] if org_line else []
        replace_single("ORG", ";".join([escape(new.org), *units]) if new.org else None)
    for name, attr in (("TITLE", "title"), ("NOTE", "note")):
        if getattr(new, attr) != getattr(old, attr):
            value = getattr(new, attr)
            replace_single(name, escape(value) if value else None)
    if new.tags != old.tags:
        replace_single("CATEGORIES", ",".join(escape(t) for t in new.tags) if new.tags else None)
    _patch_many(out, "EMAIL", old.emails, new.emails, lambda v: _line("EMAIL", escape(v), ";TYPE=INTERNET" if not four else ""),
                lambda ln: unescape(ln.value).strip())
    _patch_many(out, "TEL", old.phones, new.phones,
                lambda v: _line("TEL", escape(v), ";VALUE=TEXT" if four else ""), lambda ln: _phone(ln.value))
    return "".join(ln.raw for ln in out)


def absorb(text: str, other: str, names: tuple[str, ...] = ("ADR",)) -> str:
    """``text`` with the lines of ``other`` named in ``names`` whose value
    ``text`` lacks, added after its last line of that name (else before
    END), parameters kept and group dropped (a group names lines of its
    own card only). Every line of ``text`` stays byte for byte. For
    properties the panel does not own (an address): two cards merged.
    Raises VCardError."""
    out = lines(text)
    theirs = lines(other)
    for name in names:
        have = {ln.value.strip() for ln in out if ln.name == name}
        added = []
        for ln in theirs:
            if ln.name == name and ln.value.strip() and ln.value.strip() not in have:
                have.add(ln.value.strip())
                added.append(_line(name, ln.value, ln.params))
        if added:
            _insert(out, name, added)
    return "".join(ln.raw for ln in out)


def _patch_many(out: list[Line], name: str, old: list[str], new: list[str], make, value_of) -> None:
    if old == new:
        return
    wanted = list(dict.fromkeys(new))
    kept: set[str] = set()
    for i in reversed(range(len(out))):
        ln = out[i]
        if ln.name != name:
            continue
        value = value_of(ln)
        if value in wanted and value not in kept:
            kept.add(value)
        else:
            del out[i]
    # Lines kept in reverse: the last kept line of a value is its first in
    # the card (duplicates above it were removed), which is fine.
    added = [make(v) for v in wanted if v not in kept]
    if added:
        _insert(out, name, added)


def _insert(out: list[Line], name: str, raws: list[str]) -> None:
    """Add lines after the last line of ``name``, else before END."""
    at = max((i + 1 for i, ln in enumerate(out) if ln.name == name), default=None)
    if at is None:
        at = max(i for i, ln in enumerate(out) if ln.name == "END")
    for offset, raw in enumerate(raws):
        out.insert(at + offset, Line(raw, "", name, "", ""))


def _drop_encoding(params: str) -> str:
    # A value the panel writes is plain UTF-8 text: an old ENCODING (vCard
    # 2.1 quoted-printable, 3.0 "b") no longer describes it.
    if not params:
        return ""
    kept = [p for p in _split_unquoted(params[1:], ";") if p.partition("=")[0].strip().upper() != "ENCODING"]
    return "".join(";" + p for p in kept)
