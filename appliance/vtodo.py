"""Follow-up tasks as iCalendar VTODOs (RFC 5545): a new one, what the
panel reads of one, and marking one done by patching only its status
lines.

A client may rebuild a task it edits (Outlook's CalDav Synchronizer keeps
only the UID), so nothing here relies on lines the panel wrote earlier;
the link to the contact lives in the CRM tables. Every line the panel
does not change stays byte for byte.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .vcard import escape, fold, unescape

_BREAK_RE = re.compile(r"(?<=\n)")
#: The lines "mark as done" replaces inside the VTODO.
_STATUS_NAMES = ("STATUS", "COMPLETED", "PERCENT-COMPLETE")


@dataclass(frozen=True)
class Todo:
    summary: str
    due: str  # YYYY-MM-DD or ""
    done: bool


def _stamp(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def new_todo(uid: str, summary: str, due: dt.date | None, description: str, now: dt.datetime) -> str:
    """A VCALENDAR holding one VTODO that needs action."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//appliance//contacts//EN", "BEGIN:VTODO",
             f"UID:{uid}", f"DTSTAMP:{_stamp(now)}", f"CREATED:{_stamp(now)}", f"SUMMARY:{escape(summary)}"]
    if due is not None:
        lines.append(f"DUE;VALUE=DATE:{due.strftime('%Y%m%d')}")
    if description:
        lines.append(f"DESCRIPTION:{escape(description)}")
    lines += ["STATUS:NEEDS-ACTION", "END:VTODO", "END:VCALENDAR"]
    return "".join(fold(line) for line in lines)


def _logical(text: str) -> list[tuple[str, str]]:
    """(unfolded line, physical text) of each content line."""
    out: list[tuple[str, str]] = []
    for physical in _BREAK_RE.split(text):
        if not physical:
            continue
        if physical[:1] in (" ", "\t") and out:
            unfolded, raw = out[-1]
            out[-1] = (unfolded + physical.rstrip("\r\n")[1:], raw + physical)
        else:
            out.append((physical.rstrip("\r\n"), physical))
    return out


def _name(unfolded: str) -> str:
    return re.split(r"[;:]", unfolded, maxsplit=1)[0].upper()


def read(text: str) -> Todo:
    """What the panel shows of the first VTODO of ``text``."""
    summary, due, status, completed, inside = "", "", "", False, False
    for unfolded, _ in _logical(text):
        name = _name(unfolded)
        value = unfolded.partition(":")[2]
        if unfolded.upper() == "BEGIN:VTODO":
            inside = True
        elif unfolded.upper() == "END:VTODO":
            break
        elif not inside:
            continue
        elif name == "SUMMARY":
            summary = unescape(value)
        elif name == "DUE" and len(value) >= 8 and value[:8].isdigit():
            due = f"{value[:4]}-{value[4:6]}-{value[6:8]}"
        elif name == "STATUS":
            status = value.strip().upper()
        elif name == "COMPLETED":
            completed = True
    return Todo(summary, due, status == "COMPLETED" or (completed and status != "NEEDS-ACTION"))


def complete(text: str, now: dt.datetime) -> str:
    """``text`` with its first VTODO marked done: its STATUS, COMPLETED and
    PERCENT-COMPLETE lines replaced; every other line kept as it was."""
    out, inside, done = [], False, False
    for unfolded, raw in _logical(text):
        upper = unfolded.upper()
        if upper == "BEGIN:VTODO" and not done:
            inside = True
        elif inside and upper == "END:VTODO":
            out += ["STATUS:COMPLETED\r\n", f"COMPLETED:{_stamp(now)}\r\n", "PERCENT-COMPLETE:100\r\n"]
            inside, done = False, True
        elif inside and _name(unfolded) in _STATUS_NAMES:
            continue
        out.append(raw if raw.endswith("\n") else raw + "\r\n")
    return "".join(out)
