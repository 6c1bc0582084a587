"""Contacts in files: many vCards in one text, and the CSV that Outlook
and Google Contacts export, read into cards; the address book written
back as CSV.

Reading never raises on a bad row: each card or row that cannot be read
becomes a :class:`Skip` with the line number it starts on, so a person
can fix it in the file. The functions work on text and know nothing of
storage.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Iterable

from . import vcard

#: Reasons a card or row is skipped.
MALFORMED, NO_NAME, DUPLICATE, INVALID, TOO_MANY = "malformed", "no-name", "duplicate", "invalid", "too-many"
#: Outlook separates categories with ";", Google labels with " ::: ".
_GOOGLE_SEP = " ::: "
_BEGIN_RE = re.compile(r"^BEGIN:VCARD\s*$", re.IGNORECASE)
_END_RE = re.compile(r"^END:VCARD\s*$", re.IGNORECASE)

#: CSV column names (case-insensitive) of Outlook's and Google's exports.
COLUMNS = {
    "given": ("first name", "given name"),
    "family": ("last name", "family name"),
    "name": ("name", "full name", "display name"),
    "org": ("company", "organization 1 - name", "organization name"),
    "title": ("job title", "organization 1 - title", "organization title"),
    "emails": ("e-mail address", "e-mail 2 address", "e-mail 3 address", "e-mail 1 - value", "e-mail 2 - value",
               "e-mail 3 - value", "email", "email address"),
    "phones": ("business phone", "mobile phone", "home phone", "primary phone", "company main phone",
               "phone 1 - value", "phone 2 - value", "phone 3 - value", "phone"),
    "note": ("notes", "note"),
    "tags": ("categories", "labels", "group membership"),
}
#: What the CSV export writes, in this order.
EXPORT_COLUMNS = ("First Name", "Last Name", "Name", "Company", "Job Title", "E-mail Address", "E-mail 2 Address",
                  "Business Phone", "Mobile Phone", "Categories", "Notes", "Kind", "Stage")


@dataclass
class Incoming:
    """One card read from a file: where it starts, its fields, and for a
    vCard its text as written."""

    line: int
    fields: vcard.Fields
    text: str | None = None
    uid: str = ""


@dataclass(frozen=True)
class Skip:
    line: int
    reason: str


@dataclass
class Read:
    cards: list[Incoming] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)


def is_vcard(text: str) -> bool:
    return text.lstrip("\ufeff \t\r\n")[:11].upper() == "BEGIN:VCARD"


def read(text: str, max_cards: int) -> Read:
    """The cards of ``text`` (vCards or CSV, told apart by the first line);
    at most ``max_cards`` are read, the rest is skipped as one entry."""
    text = text.lstrip("\ufeff")
    return read_vcards(text, max_cards) if is_vcard(text) else read_csv(text, max_cards)


def read_vcards(text: str, max_cards: int) -> Read:
    out = Read()
    current: list[str] | None = None
    start = 0
    stray = False  # a run of lines outside any card is reported once
    for number, line in enumerate(text.splitlines(), 1):
        if current is None:
            if _BEGIN_RE.match(line):
                current, start, stray = [line], number, False
            elif line.strip() and not stray:
                out.skipped.append(Skip(number, MALFORMED))
                stray = True
            continue
        current.append(line)
        if _END_RE.match(line):
            card = "\r\n".join(current) + "\r\n"
            current = None
            if len(out.cards) >= max_cards:
                out.skipped.append(Skip(start, TOO_MANY))
                break
            try:
                parsed = vcard.lines(card)
            except vcard.VCardError:
                out.skipped.append(Skip(start, MALFORMED))
                continue
            out.cards.append(Incoming(start, vcard.fields_of(parsed), card, vcard.uid_of(parsed)))
    if current is not None:
        out.skipped.append(Skip(start, MALFORMED))
    return out


def read_csv(text: str, max_cards: int) -> Read:
    out = Read()
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        out.skipped.append(Skip(1, MALFORMED))
        return out
    names = [h.strip().casefold() for h in header]
    where = {key: [names.index(n) for n in wanted if n in names] for key, wanted in COLUMNS.items()}
    if not any(where[k] for k in ("given", "family", "name", "emails")):
        out.skipped.append(Skip(1, MALFORMED))
        return out
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error:
            out.skipped.append(Skip(line, MALFORMED))
            break
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(names):
            out.skipped.append(Skip(start, MALFORMED))
            continue
        if len(out.cards) >= max_cards:
            out.skipped.append(Skip(start, TOO_MANY))
            break
        out.cards.append(Incoming(start, _row_fields(row, where)))
    return out


def _cells(row: list[str], indexes: Iterable[int]) -> list[str]:
    found = []
    for i in indexes:
        if i < len(row):
            for part in row[i].split(_GOOGLE_SEP):
                if part.strip():
                    found.append(part.strip())
    return found


def _row_fields(row: list[str], where: dict[str, list[int]]) -> vcard.Fields:
    def one(key: str) -> str:
        cells = _cells(row, where[key])
        return cells[0] if cells else ""

    f = vcard.Fields(given=one("given"), family=one("family"), org=one("org"), title=one("title"),
                     note=next((row[i] for i in where["note"] if i < len(row) and row[i].strip()), ""),
                     emails=_cells(row, where["emails"]), phones=_cells(row, where["phones"]))
    name = one("name")
    if not (f.given or f.family) and name:
        f.given, _, f.family = name.rpartition(" ")
        if not f.given:
            f.given, f.family = f.family, ""
    tags = []
    for cell in _cells(row, where["tags"]):
        for tag in cell.split(";"):
            tag = tag.strip().lstrip("*").strip()
            # Google's own system groups are not the business's tags.
            if tag and tag.casefold() not in ("mycontacts", "starred"):
                tags.append(tag)
    f.tags = tags
    return f


def _cell(value: str) -> str:
    # A cell a spreadsheet would run as a formula is written as text.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_csv(rows: Iterable[tuple[vcard.Fields, str]]) -> str:
    """``rows`` (fields, stage) as CSV with :data:`EXPORT_COLUMNS`, which
    Outlook and Google both import."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for f, stage in rows:
        emails = f.emails + ["", ""]
        phones = f.phones + ["", ""]
        writer.writerow([_cell(v) for v in (
            f.given, f.family, f.name, f.org, f.title, emails[0], emails[1], phones[0], phones[1],
            ";".join(f.tags), f.note, "company" if f.kind == "org" else "person", stage)])
    return buf.getvalue()
