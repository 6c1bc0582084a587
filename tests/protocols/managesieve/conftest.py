"""A daemon for the ManageSieve tests: the SMTP tests' businesses (acme with
alice and bob, globex with carol) and their stub DNS and outside receiver,
so a script stored over ManageSieve can be seen at work on mail."""

from __future__ import annotations

import pytest

from tests.protocols.smtp.conftest import Mta, StubDNS, provision

#: [managesieve] login_timeout of the test daemon (the smallest allowed).
LOGIN_TIMEOUT = 5


@pytest.fixture(scope="module")
def mta(tmp_path_factory):
    dns = StubDNS()
    m = Mta(tmp_path_factory.mktemp("managesieve"), dns, extra=f"[managesieve]\nlogin_timeout = {LOGIN_TIMEOUT}\n")
    provision(m)
    m.remote.start()
    m.daemon.start()
    yield m
    if m.daemon.proc is not None and m.daemon.proc.poll() is None:
        m.daemon.stop()
    m.remote.stop()
    dns.close()
