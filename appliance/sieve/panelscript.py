"""The one Sieve script the control panel's mail-rules forms write: a
vacation reply, a forward, and "from X / subject contains Y -> folder Z"
rules, rendered from a :class:`PanelRules` and read back from the script.

The script starts with :data:`MARKER` and a comment holding the forms'
state as one line of JSON; the commands below it are rendered from that
state alone. A script is the panel's (:func:`read`) only when its text is
exactly what the state renders to, so a hand edit made over ManageSieve -
even one that keeps the marker - makes it a script the panel shows as text
and never overwrites without being asked.

Dates. Our evaluator has no ``date``/``relational`` extensions (RFC 5260,
5231), so a script cannot ask what day it is. The vacation's first and last
days live in the state; the script carries the ``vacation`` command only
while today is inside them, and :meth:`appliance.services.sieve.Scripts.
refresh_vacations` re-renders the scripts whose window opened or closed.
Both renderings (with and without the reply) count as the panel's own.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass, field, replace

#: The first line of every script the panel writes.
MARKER = "# Managed by the control panel (mail rules). Edit it there; a script changed here is shown as text."
STATE_PREFIX = "# panel-state: "
#: The name the panel stores its script under.
SCRIPT_NAME = "mail-rules"
#: How many "move to folder" rules one user may have.
MAX_RULES = 50
MAX_SUBJECT = 200
MAX_TEXT = 4000
MAX_MATCH = 200
MAX_FOLDER = 64
#: RFC 5230 section 4.1's suggested default: one reply per sender a week.
VACATION_DAYS = 7


@dataclass(frozen=True)
class Vacation:
    enabled: bool = False
    #: ISO dates (``YYYY-MM-DD``) or "" for an open end.
    start: str = ""
    until: str = ""
    subject: str = ""
    text: str = ""

    def on(self, today: datetime.date) -> bool:
        """Whether the reply is to be sent on ``today``."""
        day = today.isoformat()
        return self.enabled and (not self.start or self.start <= day) and (not self.until or day <= self.until)


@dataclass(frozen=True)
class Forward:
    #: "" when mail is not forwarded.
    to: str = ""
    keep: bool = True


@dataclass(frozen=True)
class Rule:
    """Mail whose From contains ``sender`` and whose Subject contains
    ``subject`` (either may be empty, not both) goes to ``folder``."""

    sender: str
    subject: str
    folder: str


@dataclass(frozen=True)
class PanelRules:
    vacation: Vacation = field(default_factory=Vacation)
    forward: Forward = field(default_factory=Forward)
    rules: tuple[Rule, ...] = ()

    def as_json(self) -> str:
        data = asdict(self)
        data["v"] = 1
        # ensure_ascii: the state is one line of ASCII whatever was typed.
        return json.dumps(data, ensure_ascii=True, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "PanelRules":
        """Raises ValueError (or TypeError, KeyError) on anything else than
        what :meth:`as_json` writes."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("v") != 1:
            raise ValueError("unknown panel state")
        vacation = Vacation(**data["vacation"])
        forward = Forward(**data["forward"])
        rules = tuple(Rule(**r) for r in data["rules"])
        return cls(vacation, forward, rules)

    def with_rule(self, rule: Rule) -> "PanelRules":
        return replace(self, rules=self.rules + (rule,))

    def without_rule(self, index: int) -> "PanelRules":
        return replace(self, rules=self.rules[:index] + self.rules[index + 1:])


def quote(text: str) -> str:
    """A Sieve quoted string (RFC 5228 section 2.4.2: only ``"`` and ``\\``
    are escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(state: PanelRules, today: datetime.date, *, vacation_on: bool | None = None) -> str:
    """The script for ``state`` on ``today`` (``vacation_on`` forces the
    reply in or out, for :func:`read`)."""
    if vacation_on is None:
        vacation_on = state.vacation.on(today)
    lines = [MARKER, STATE_PREFIX + state.as_json(), 'require ["fileinto", "mailbox", "copy", "vacation"];']
    if vacation_on:
        v = state.vacation
        # Replies go before anything else: a message filed or forwarded
        # below still gets its one reply (RFC 5230 section 4.7).
        # No subject given: RFC 5230 section 4.5's "Auto: <their subject>".
        subject = f" :subject {quote(v.subject)}" if v.subject else ""
        lines.append(f"vacation :days {VACATION_DAYS}{subject} {quote(v.text)};")
    if state.forward.to:
        if state.forward.keep:
            lines.append(f"redirect :copy {quote(state.forward.to)};")
        else:
            # Without a copy nothing else may keep or file it (RFC 5228 section 4.2).
            lines.append(f"redirect {quote(state.forward.to)};")
            lines.append("stop;")
    for rule in state.rules:
        tests = []
        if rule.sender:
            tests.append(f"address :contains \"from\" {quote(rule.sender)}")
        if rule.subject:
            tests.append(f"header :contains \"subject\" {quote(rule.subject)}")
        test = tests[0] if len(tests) == 1 else f"allof ({', '.join(tests)})"
        lines.append(f"if {test} {{\n    fileinto :create {quote(rule.folder)};\n    stop;\n}}")
    return "\n".join(lines) + "\n"


def read(text: str) -> PanelRules | None:
    """The state of a script the panel wrote and nobody changed since, or
    None for any other script."""
    first, _, rest = text.partition("\n")
    if first != MARKER or not rest.startswith(STATE_PREFIX):
        return None
    line = rest[len(STATE_PREFIX):].partition("\n")[0]
    today = datetime.date.today()
    try:
        state = PanelRules.from_json(line)
        for on in (True, False):
            if render(state, today, vacation_on=on) == text:
                return state
    except (ValueError, TypeError, KeyError, AttributeError):
        # A state line written by hand that is not ours.
        pass
    return None
