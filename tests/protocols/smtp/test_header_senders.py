"""Header tricks on submission (#24 item 9): an authenticated sender may
only name itself in From:, Sender:, Resent-From: and Resent-Sender:, and
the header block must read the same to every client."""

from __future__ import annotations

import uuid

import pytest

from .test_submission import submission, submissions


def send(connect, mta, head: str) -> tuple[int, bytes]:
    with connect(mta) as client:
        client.mail("alice@acme.test")
        client.rcpt("someone@remote.test")
        return client.data(f"{head}To: someone@remote.test\r\nSubject: {uuid.uuid4().hex}\r\n\r\nhi\r\n".encode())


@pytest.mark.parametrize("connect", [submission, submissions], ids=["587", "465"])
@pytest.mark.parametrize(
    "head",
    [
        "From: alice@acme.test\r\nResent-From: carol@globex.test\r\n",
        "From: alice@acme.test\r\nResent-Sender: bob@acme.test\r\n",
        "From: alice@acme.test\r\nSender: bob@acme.test\r\n",
        "From : bob@acme.test\r\n",
        "From: alice@acme.test\r\nFrom : bob@acme.test\r\n",
        "From: alice@acme.test\r\nthis line is no header field\r\nFrom: bob@acme.test\r\n",
        "X-Note: hi\r\nnot a field\r\nFrom: alice@acme.test\r\n",
        "From: alice@acme.test\r\nFrom: alice@acme.test\r\n",
    ],
    ids=[
        "resent-from-other", "resent-sender-other", "sender-other", "space-before-colon",
        "second-from-obsolete", "from-after-non-header-line", "non-header-line-first", "two-from",
    ],
)
def test_ambiguous_or_foreign_sender_headers_are_refused(mta, connect, head):
    """Each of these header blocks gets 550 5.7.1 at DATA (nothing is queued)."""
    code, text = send(connect, mta, head)
    assert (code, text[:5]) == (550, b"5.7.1"), text


@pytest.mark.parametrize(
    "head",
    [
        "From: Alice <alice@acme.test>\r\nResent-From: alice@acme.test\r\n",
        "From: alice@acme.test\r\nSender: sales@acme.test\r\n",
        "From: alice@acme.test\r\nX-Folded: one\r\n\ttwo\r\n",
    ],
    ids=["own-resent-from", "own-alias-as-sender", "folded-field"],
)
def test_own_sender_headers_are_accepted(mta, head):
    """The user's own address (or alias) in these fields, and folded fields, are accepted."""
    code, text = send(submission, mta, head)
    assert code == 250, text
