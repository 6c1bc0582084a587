"""The MTA-STS policy file (RFC 8461 section 3.3) on ``mta-sts.<domain>``.

Every hosted mail domain has the same policy (its MX is the box), built
once from the settings by :mod:`appliance.mailpolicy`, the value whose
``id`` the DNS zones publish. Only ``/.well-known/mta-sts.txt`` exists on
that host name; any other path is the neutral 404.
"""

from __future__ import annotations

from twisted.web import resource, server

from appliance.mailpolicy import MtaSts

from . import pages

#: RFC 8461 section 3.3: the policy is served as text/plain.
TEXT = b"text/plain; charset=utf-8"


class Policy(resource.Resource):
    """The policy text (GET/HEAD), never cached longer than an hour so a
    changed mode is seen soon (senders key on the DNS ``id`` anyway)."""

    isLeaf = True

    def __init__(self, policy: MtaSts):
        super().__init__()
        self.body = policy.text().encode("ascii")

    def render(self, request: server.Request) -> bytes:
        refused = pages.refuse_method(request)
        if refused is not None:
            return refused
        request.setHeader(b"cache-control", b"max-age=3600")
        return pages.fixed(request, 200, self.body, TEXT)
