"""The rights matrix: every panel route and method, and who may use it.

Who is one of :data:`SIGNED_OUT`, :data:`STAFF` (any user of a business)
and :data:`OWNER` (a user with the owner role; an owner is staff too).
What each may do is this table and nothing else; :mod:`.core` looks every
request up here before any handler runs:

* signed out, on a route that needs a user: ``303`` to the sign-in page;
* staff on an owner's route: ``403``;
* a route's ``{address}`` that is not a user of the viewer's own business
  (another business's, or nobody's), or a ``{page}`` (``{block}``,
  ``{file}``) its own site does not have: the panel's ``404``, the same bytes as
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
PARAMS = {"address": r"[^/@\s]{1,64}@[a-z0-9.-]{1,253}", "page": r"[a-z0-9-]{1,40}",
          "file": r"[a-z0-9][a-z0-9_./-]{0,200}", "kind": r"[a-z]{1,20}", "block": r"[1-9][0-9]{0,2}"}


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
    # The website editor: theme, profile, pages and their blocks, preview, publishing, versions.
    Route("/website", "GET", "website.overview", OWNERS),
    Route("/website/start", "POST", "website.start", OWNERS),
    Route("/website/theme", "POST", "website.theme", OWNERS),
    Route("/website/publish", "POST", "website.publish", OWNERS),
    Route("/website/profile", "GET", "website.profile_page", OWNERS),
    Route("/website/profile", "POST", "website.profile", OWNERS),
    Route("/website/new-page", "GET", "website.new_page_form", OWNERS),
    Route("/website/new-page", "POST", "website.new_page", OWNERS),
    Route("/website/pages/{page}", "GET", "website.page_form", OWNERS),
    Route("/website/pages/{page}", "POST", "website.edit_page", OWNERS),
    Route("/website/pages/{page}/move", "POST", "website.move_page", OWNERS),
    Route("/website/pages/{page}/menu", "POST", "website.page_menu", OWNERS),
    Route("/website/pages/{page}/remove", "GET", "website.remove_page_form", OWNERS),
    Route("/website/pages/{page}/remove", "POST", "website.remove_page", OWNERS),
    Route("/website/preview/", "GET", "website.preview", OWNERS),
    Route("/website/preview/{file}", "GET", "website.preview", OWNERS),
    Route("/website/roll-back", "POST", "website.roll_back", OWNERS),
    Route("/website/pages/{page}/add/{kind}", "GET", "website.new_block_form", OWNERS),
    Route("/website/pages/{page}/add/{kind}", "POST", "website.new_block", OWNERS),
    Route("/website/pages/{page}/blocks/{block}", "GET", "website.block_form", OWNERS),
    Route("/website/pages/{page}/blocks/{block}", "POST", "website.edit_block", OWNERS),
    Route("/website/pages/{page}/blocks/{block}/change", "POST", "website.change_block", OWNERS),
)


def match(path: str) -> list[tuple[Route, dict[str, str]]]:
    """Every route whose pattern matches ``path`` (one per method), with its parameters."""
    found = []
    for route in ROUTES:
        m = route.regex.match(path)
        if m:
            found.append((route, m.groupdict()))
    return found
