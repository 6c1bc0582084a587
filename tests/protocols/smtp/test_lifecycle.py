"""Start and stop: the three listeners are recorded, and SIGTERM answers
idle sessions 421 and exits cleanly."""

from __future__ import annotations

import smtplib

from .conftest import Mta, provision


def test_sigterm_says_421_to_open_sessions_and_exits_0(tmp_path, stub_dns):
    """An idle session gets 421 4.3.2 on SIGTERM; the daemon exits 0 without a traceback."""
    mta = Mta(tmp_path, stub_dns)
    provision(mta)
    mta.daemon.start()
    assert set(mta.daemon.listeners) >= {"smtp", "submission", "submissions"}
    client = smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10)
    client.ehlo("idle.test")
    client.mail("a@example.org")
    assert mta.daemon.stop() == 0
    code, text = client.getreply()
    assert (code, text[:5]) == (421, b"4.3.2")
    client.close()
    assert "Traceback" not in mta.daemon.log()
