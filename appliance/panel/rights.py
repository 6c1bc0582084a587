"""The rights matrix: every panel route and method, and who may use it.

Who is one of :data:`SIGNED_OUT`, :data:`STAFF` (any user of a business)
and :data:`OWNER` (a user with the owner role; an owner is staff too).
What each may do is this table and nothing else; :mod:`.core` looks every
request up here before any handler runs:

* signed out, on a route that needs a user: ``303`` to the sign-in page;
* staff on an owner's route: ``403``;
* a route's ``{address}`` that is not a user of the viewer's own business
  (another business's, or nobody's): the panel's ``404``, the same bytes as
  a path that does not exist, so nobody learns who is hosted here;
* a method a route does not have: ``405`` with ``Allow``.

Every state-changing method (POST) also needs the session's CSRF token and
a same-origin ``Origin`` header (:mod:`.core`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SIGNED_OUT = "signed-out"
STAFF = "staff"
OWNER = "owner"
EVERYONE = frozenset({SIGNED_OUT, STAFF, OWNER})
SIGNED_IN = frozenset({STAFF, OWNER})
OWNERS = frozenset({OWNER})

#: What a path parameter may be (anything else is the 404).
PARAMS = {"address": r"[^/@\s]{1,64}@[a-z0-9.-]{1,253}", "app": r"[0-9a-f]{16}"}
#: A domain of the viewer's business (at least two labels, so never "add").
PARAMS["domain"] = r"(?:[a-z0-9-]{1,63}\.){1,126}[a-z0-9-]{1,63}"


@dataclass(frozen=True)
class Route:
    """``pattern`` (``{name}`` for a parameter), one method, the handler
    (``module.function`` under :mod:`appliance.panel`), who may."""

    pattern: str
    method: str
    handler: str
    who: frozenset
    regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        source = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>{PARAMS[m.group(1)]})", self.pattern)
        object.__setattr__(self, "regex", re.compile(source + r"\Z"))


ROUTES: tuple[Route, ...] = (
    # Signed out it is the sign-in page; signed in it sends you home.
    Route("/", "GET", "account.signin_page", EVERYONE),
    Route("/", "POST", "account.signin", EVERYONE),
    Route("/static/panel.css", "GET", "account.static_file", EVERYONE),
    Route("/static/favicon.svg", "GET", "account.static_file", EVERYONE),
    Route("/language", "POST", "account.language", EVERYONE),
    Route("/home", "GET", "account.home", SIGNED_IN),
    Route("/password", "GET", "account.password_page", SIGNED_IN),
    Route("/password", "POST", "account.password", SIGNED_IN),
    Route("/sessions", "GET", "account.sessions_page", SIGNED_IN),
    Route("/sessions/end", "POST", "account.end_session", SIGNED_IN),
    Route("/signout", "POST", "account.signout", SIGNED_IN),
    Route("/signout/everywhere", "POST", "account.signout_everywhere", SIGNED_IN),
    Route("/people", "GET", "people.list_page", OWNERS),
    Route("/people/add", "GET", "people.add_page", OWNERS),
    Route("/people/add", "POST", "people.add", OWNERS),
    Route("/people/{address}", "GET", "people.person_page", OWNERS),
    Route("/people/{address}/password", "POST", "people.reset_password", OWNERS),
    Route("/people/{address}/remove", "POST", "people.remove", OWNERS),
    # Your devices: how to set up mail, calendars and contacts on each client.
    Route("/devices", "GET", "devices.index", SIGNED_IN),
    Route("/devices/thunderbird", "GET", "devices.thunderbird", SIGNED_IN),
    Route("/devices/outlook", "GET", "devices.outlook", SIGNED_IN),
    Route("/devices/new-outlook", "GET", "devices.new_outlook", SIGNED_IN),
    Route("/devices/iphone", "GET", "devices.iphone", SIGNED_IN),
    Route("/devices/android", "GET", "devices.android", SIGNED_IN),
    # Security: the second step of signing in, two-step sign-in, app
    # passwords. An ``{app}`` that is not the user's own is the 404.
    Route("/signin/code", "GET", "security.code_page", EVERYONE),
    Route("/signin/code", "POST", "security.code", EVERYONE),
    Route("/security", "GET", "security.two_step_page", SIGNED_IN),
    Route("/security/setup", "POST", "security.setup", SIGNED_IN),
    Route("/security/on", "POST", "security.turn_on", SIGNED_IN),
    Route("/security/off", "POST", "security.turn_off", SIGNED_IN),
    Route("/security/recovery", "POST", "security.recovery_codes", SIGNED_IN),
    Route("/security/apps", "GET", "security.apps_page", SIGNED_IN),
    Route("/security/apps", "POST", "security.add_app", SIGNED_IN),
    Route("/security/apps/{app}/revoke", "POST", "security.revoke_app", SIGNED_IN),
    # Domains: attaching one, its live check, its DNS records.
    Route("/domains", "GET", "domains.list_page", OWNERS),
    Route("/domains/add", "GET", "domains.add_page", OWNERS),
    Route("/domains/add", "POST", "domains.add", OWNERS),
    Route("/domains/{domain}", "GET", "domains.domain_page", OWNERS),
    Route("/domains/{domain}/check", "POST", "domains.check", OWNERS),
    Route("/domains/{domain}/remove", "POST", "domains.remove", OWNERS),
    Route("/domains/{domain}/dns", "GET", "domains.records_page", OWNERS),
    Route("/domains/{domain}/dns/add", "POST", "domains.add_record", OWNERS),
    Route("/domains/{domain}/dns/remove", "POST", "domains.remove_record", OWNERS),
)


def match(path: str) -> list[tuple[Route, dict[str, str]]]:
    """Every route whose pattern matches ``path`` (one per method), with its parameters."""
    found = []
    for route in ROUTES:
        m = route.regex.match(path)
        if m:
            found.append((route, m.groupdict()))
    return found
