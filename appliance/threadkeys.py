"""What threads a message into a conversation, read from its header: the
message ids of its References (root first) and In-Reply-To and its own
Message-ID, and its subject without the prefixes mail programs add ("Re:",
"Fwd:", "AW:", "TR:", "[list]"...), as :mod:`storage.mailthreads` keeps
them (RFC 5256 section 2.1 "base subject", and its REFERENCES threading,
in the simple form mail clients use)."""

from __future__ import annotations

import json
import re
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

from storage.mailsearch import decoded
from storage.mailthreads import MAX_IDS

_PARSER = BytesHeaderParser(policy=compat32)
_ID_RE = re.compile(r"<([^<>\s]{1,250})>")
#: Reply prefixes (English, German, Nordic, Dutch, French, Italian...) and
#: forward prefixes, each optionally numbered ("Re[2]:", "Re^2:").
_REPLY = r"re|aw|sv|antw|r[ée]f|rif|vs|odp|ynt"
_FORWARD = r"fwd?|wg|tr|rv|i|enc|doorst"
_PREFIX_RE = re.compile(rf"^\s*(?:\[[^\]]{{0,60}}\]\s*)?({_REPLY}|{_FORWARD})\s*(?:\[\d+\]|\^\d+)?\s*:\s*", re.IGNORECASE)
_REPLY_RE = re.compile(rf"^(?:{_REPLY})$", re.IGNORECASE)
_LIST_RE = re.compile(r"^\s*\[[^\]]{0,60}\]\s*")


def base_subject(subject: str) -> tuple[str, bool]:
    """(the subject without prefixes, lower case and spaces collapsed;
    whether one of the prefixes was a reply's)."""
    text = " ".join(decoded(subject).split())
    reply = False
    for _ in range(10):
        match = _PREFIX_RE.match(text)
        if match is None:
            break
        reply = reply or bool(_REPLY_RE.match(match.group(1)))
        text = text[match.end():]
    text = _LIST_RE.sub("", text)
    if text.endswith("(fwd)"):
        text = text[:-5]
    return " ".join(text.split()).lower()[:200], reply


def _ids(value: str | None) -> list[str]:
    return _ID_RE.findall(value or "")


def keys(raw: bytes) -> str:
    """The thread keys of a message (JSON, see :mod:`storage.mailthreads`)."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return keys_of(_PARSER.parsebytes(raw if end < 0 else raw[: end + 2]))


def keys_of(head: Message) -> str:
    """:func:`keys` of a header block already parsed (compat32 policy)."""
    references = _ids(head.get("references"))
    if len(references) > MAX_IDS - 3:
        references = references[:1] + references[-(MAX_IDS - 4):]
    ids = references + _ids(head.get("in-reply-to"))[:1] + _ids(head.get("message-id"))[:1]
    subject, reply = base_subject(str(head.get("subject") or ""))
    # In-Reply-To or References make it a reply whatever its subject says.
    return json.dumps({"ids": list(dict.fromkeys(ids)), "subject": subject, "reply": reply or len(ids) > 1},
                      separators=(",", ":"))
