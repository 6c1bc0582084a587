"""How our SMTP server sits on aiosmtpd (#14 item 7).

``protocols.smtp.server.Server`` sets aiosmtpd's engine up through the
documented constructor, except on the pinned release, where a faster copy
of that constructor runs (see the module doc of ``protocols.smtp.server``).
These tests keep that copy honest.
"""

from __future__ import annotations

import asyncio
import ssl

import aiosmtpd
import pytest

from protocols.smtp import server as smtpserver
from protocols.smtp.server import Limits, Server

LIMITS = Limits(1 << 20, 5, 1000, 8192, 100, 10, 30.0)


class Hooks:
    """The hook names and signatures of protocols.smtp.handler.Handler."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return "250 OK"

    async def handle_exception(self, error):
        return "451 error"


def test_aiosmtpd_is_the_pinned_release():
    """aiosmtpd is 1.4.6, the release Server._fast_engine copies the
    constructor of. Another release would silently run the slower
    documented constructor (a fifth of the loop's time in one-message
    sessions): re-measure, check the copy against the new SMTP.__init__,
    then move PINNED_AIOSMTPD and setup.cfg together."""
    assert aiosmtpd.__version__ == smtpserver.PINNED_AIOSMTPD == "1.4.6", (
        f"aiosmtpd {aiosmtpd.__version__} is not the pinned {smtpserver.PINNED_AIOSMTPD}: "
        "protocols/smtp/server.py's _fast_engine copies 1.4.6's SMTP.__init__ (private _AuthMechAttr)"
    )
    assert smtpserver.FAST_ENGINE


def _state(server: Server) -> dict:
    skip = {"_stream_reader", "_stream_reader_wr", "_stream_writer", "_source_traceback", "_loop",
            "_closed", "_task", "_strong_reader", "_reject_connection", "_over_ssl",
            "_paused", "_drain_waiters", "_connection_lost", "_client_connected_cb"}
    out = {}
    for key, value in vars(server).items():
        if key in skip:
            continue
        if key == "_auth_methods":
            value = sorted((name, m.method.__func__.__name__, m.is_builtin) for name, m in value.items())
        elif key in ("_handle_hooks", "_smtp_methods"):
            value = sorted(value)
        elif key == "command_size_limits":
            value = (type(value).__name__, value.default_factory())
        elif callable(value) or isinstance(value, (asyncio.AbstractEventLoop, set, ssl.SSLContext)):
            value = type(value).__name__
        out[key] = value
    return out


@pytest.mark.parametrize("kind", ["smtp", "submission", "submissions"])
def test_fast_engine_sets_what_the_documented_constructor_sets(kind):
    """For every listener kind the fast set-up leaves exactly the attributes,
    auth mechanisms, hooks and commands that aiosmtpd's own constructor does."""

    async def build() -> tuple[dict, dict]:
        loop = asyncio.get_running_loop()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        args = dict(kind=kind, limits=LIMITS, hostname="box.test", tls_context=tls, connections=set(), loop=loop)
        hooks = Hooks()
        return _state(Server(hooks, fast=True, **args)), _state(Server(hooks, fast=False, **args))

    fast, documented = asyncio.run(build())
    assert sorted(fast) == sorted(documented)
    assert fast == documented
