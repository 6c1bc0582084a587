"""What a business's and its users' sender lists say about one sender, for
one recipient, at RCPT time on the MX (read with the recipient itself:
:meth:`appliance.delivery.Router.recipient`).

Semantics (the one place they are decided):

- The sender is the envelope's (``MAIL FROM``), as Postfix's access checks
  use it: it is known at RCPT time, so one recipient can be refused and the
  others accepted. The header ``From:`` is not checked (it arrives after
  RCPT, when refusing one recipient is no longer possible). The null sender
  (bounces) matches no entry.
- An entry is an address (matches that address, case-insensitively) or a
  domain (matches that domain and every subdomain: ``example.com`` covers
  ``a@example.com`` and ``a@mail.example.com``).
- Within one scope (the business, or one user) block wins over allow. A
  user's entries decide for that user before the business's: a user who
  allows a sender the business blocks receives it, and a user who blocks a
  sender the business allows does not.
- A recipient that reaches several users (an alias) is refused only when
  every one of them blocks the sender, and is let past greylisting and DNS
  blocklists only when every one of them allows it.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from storage import senderlists as listdb

BLOCK = "block"
ALLOW = "allow"


def keys(sender: str) -> list[str]:
    """The entries that would match ``sender``: the address, its domain and
    each parent domain of at least two labels; [] for the null sender."""
    sender = sender.strip().lower()
    local, at, domain = sender.rpartition("@")
    if not at or not local or not domain:
        return []
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    labels = domain.split(".")
    out = [f"{local}@{domain}"]
    out += [".".join(labels[i:]) for i in range(len(labels) - 1)]
    return out


def _decide(rows: Iterable[listdb.EntryRow]) -> str | None:
    lists = {r.list for r in rows}
    if BLOCK in lists:
        return BLOCK
    return ALLOW if ALLOW in lists else None


def verdict(rows: Sequence[listdb.EntryRow], user_ids: Sequence[int]) -> str | None:
    """``block``, ``allow`` or None for a recipient reaching ``user_ids``,
    given the matching entries of the business and those users (see module doc)."""
    business = _decide(r for r in rows if r.user_id is None)
    per_user = [_decide(r for r in rows if r.user_id == uid) or business for uid in user_ids]
    if per_user and all(v == BLOCK for v in per_user):
        return BLOCK
    if per_user and all(v == ALLOW for v in per_user):
        return ALLOW
    return None
