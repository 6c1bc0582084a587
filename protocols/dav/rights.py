"""Radicale's rights plugin: a user reads and writes their own home and
their business's shared area, and nothing else.

Permissions (see ``radicale.rights``): ``R`` lists a principal, ``r``/``w``
read and write a calendar or address book and its items. Principals get
``R`` only, so nobody deletes or overwrites a whole home. Anything outside
the user's business gets no permission at all, which Radicale answers the
same way whether the path exists or not.
"""

from __future__ import annotations

from typing import Any

from radicale import pathutils
from radicale.rights import BaseRights

from .backend import DavBackend


class Rights(BaseRights):
    def __init__(self, configuration: Any, backend: DavBackend):
        super().__init__(configuration)
        self.backend = backend

    def authorization(self, user: str, user_groups: set, path: str) -> str:
        if not user:
            return ""
        sane = pathutils.strip_path(path)
        if not sane:
            return "R"
        owner, _, rest = sane.partition("/")
        if owner != user and owner != self.backend.slug_of_user(user):
            return ""
        if not rest:
            return "R"
        if "/" not in rest:
            return "rw"
        # Items: Radicale checks their collection's rights.
        return ""
