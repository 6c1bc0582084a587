"""Real clients: mbsync (isync) two-way sync, the flows Thunderbird uses
(through IMAPClient), IDLE push after an SMTP delivery, and durability of
an acknowledged APPEND across SIGKILL."""

from __future__ import annotations

import re
import shutil
import smtplib
import subprocess
import time
from pathlib import Path

import pytest
from imapclient import IMAPClient

from .conftest import PASSWORD, client_context, message, nodelay

pytestmark = pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync (Debian isync) is installed by ./bootstrap test")


def imapclient(env, address: str) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=env.daemon.port("imaps"), ssl=True, ssl_context=client_context(), timeout=30)
    nodelay(client._imap.sock)
    client.login(address, PASSWORD)
    return client


def mbsync_config(env, address: str, local: Path) -> Path:
    cert = env.daemon.state / "tls" / "box.crt"
    config = local.parent / f"{local.name}.mbsyncrc"
    config.write_text(
        f"""IMAPAccount acct
Host 127.0.0.1
Port {env.daemon.port("imaps")}
User {address}
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {cert}
SystemCertificates no

IMAPStore remote
Account acct

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
CopyArrivalDate yes
"""
    )
    return config


def run_mbsync(config: Path) -> None:
    proc = subprocess.run(["mbsync", "-c", str(config), "-a"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def maildir(local: Path, box: str = "INBOX") -> dict[str, Path]:
    """Messages of a local maildir folder keyed by their UID in the name."""
    out = {}
    for sub in ("cur", "new"):
        folder = local / box / sub
        if folder.exists():
            for f in folder.iterdir():
                m = re.search(r",U=(\d+)", f.name)
                out[m.group(1) if m else f.name] = f
    return out


def server_state(client: IMAPClient) -> dict:
    state = {}
    for _flags, _delim, name in client.list_folders():
        state[name] = client.folder_status(name, [b"MESSAGES", b"UIDNEXT", b"HIGHESTMODSEQ"])
    return state


def test_mbsync_two_way_sync_of_1000_messages(env, tmp_path):
    address = env.user()
    client = imapclient(env, address)
    started = time.monotonic()
    for n in range(1000):
        client.append("INBOX", message(f"bulk {n}", body=f"message number {n}\r\n" + "z" * (n % 7 * 300)))
    client.create_folder("Clients")
    client.append("Clients", message("client folder"))
    print(f"1000 APPENDs took {time.monotonic() - started:.1f}s")
    local = tmp_path / "mail"
    local.mkdir()
    config = mbsync_config(env, address, local)

    started = time.monotonic()
    run_mbsync(config)
    print(f"first mbsync run took {time.monotonic() - started:.1f}s")
    assert len(maildir(local)) == 1000
    assert len(maildir(local, "Clients")) == 1
    assert len(maildir(local, "Sent")) == 0 and (local / "Trash").exists()

    # Both sides change: mark 10 read and add 5 here; delete 3 and add 5 there.
    files = sorted(maildir(local).items(), key=lambda item: int(item[0]))[:10]
    flagged = {int(uid) for uid, _f in files}
    for _uid, f in files:
        base = f.name.split(":2,")[0]
        f.rename(local / "INBOX" / "cur" / (base + ":2,S"))
    for n in range(5):
        (local / "INBOX" / "new" / f"{int(time.time())}.local{n}.host").write_bytes(message(f"written offline {n}"))
    client.select_folder("INBOX")
    client.add_flags([998, 999, 1000], [b"\\Deleted"])
    client.expunge()
    for n in range(5):
        client.append("INBOX", message(f"arrived meanwhile {n}"))

    run_mbsync(config)
    client.select_folder("INBOX")
    assert client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 1007
    assert len(maildir(local)) == 1007
    seen = client.search(["SEEN"])
    assert set(seen) == flagged
    subjects = [m[b"ENVELOPE"].subject for m in client.fetch(client.search(["SUBJECT", "written offline"]), ["ENVELOPE"]).values()]
    assert sorted(subjects) == [f"written offline {n}".encode() for n in range(5)]

    # A third run finds nothing to do: no side changes at all.
    before_local = {k: v.name for k, v in maildir(local).items()}
    before_server = server_state(client)
    run_mbsync(config)
    assert {k: v.name for k, v in maildir(local).items()} == before_local
    assert server_state(client) == before_server
    client.logout()


def test_thunderbird_flows(env):
    address = env.user()
    tb = imapclient(env, address)
    other = imapclient(env, address)
    # Sending: APPEND to a Sent folder that is not there yet gets
    # TRYCREATE; the client creates it and appends again.
    from imapclient.exceptions import IMAPClientError

    with pytest.raises(IMAPClientError, match="TRYCREATE"):
        tb.append("Sent Messages", message("my reply"), flags=[b"\\Seen"])
    tb.create_folder("Sent Messages")
    assert b"APPENDUID" in tb.append("Sent Messages", message("my reply"), flags=[b"\\Seen"])
    specials = {name: flags for flags, _d, name in tb.list_folders()}
    assert b"\\Sent" in specials["Sent"] and b"\\Trash" in specials["Trash"]
    # Delete = MOVE to Trash.
    for n in range(3):
        tb.append("INBOX", message(f"inbox {n}"))
    tb.select_folder("INBOX")
    tb.move([1], "Trash")
    assert tb.folder_status("Trash", [b"MESSAGES"])[b"MESSAGES"] == 1
    # UID EXPUNGE removes only the message asked for, even though another
    # client has marked a different one \Deleted.
    other.select_folder("INBOX")
    other.add_flags([3], [b"\\Deleted"])
    tb.add_flags([2], [b"\\Deleted"])
    tb.uid_expunge([2])
    assert tb.search(["ALL"]) == [3]
    assert tb.get_flags([3])[3] == (b"\\Deleted",)
    tb.noop()
    other_view = other.noop()
    assert other_view[1] == [(1, b"EXPUNGE")]  # UID 2 was its message 1
    tb.logout()
    other.logout()


def test_idle_push_after_smtp_delivery(env):
    address = env.user()
    client = imapclient(env, address)
    client.select_folder("INBOX")
    client.idle()
    with smtplib.SMTP("127.0.0.1", env.daemon.port("smtp"), timeout=30) as smtp:
        smtp.sendmail("partner@example.org", [address], message("pushed by SMTP", to=address))
    started = time.monotonic()
    responses = client.idle_check(timeout=10)
    elapsed = time.monotonic() - started
    client.idle_done()
    assert (1, b"EXISTS") in responses, responses
    print(f"IDLE saw the SMTP delivery after {elapsed:.3f}s")
    subject = client.fetch([1], ["ENVELOPE"])[1][b"ENVELOPE"].subject
    assert subject == b"pushed by SMTP"
    client.logout()


def test_acknowledged_append_survives_sigkill(env):
    address = env.user()
    client = imapclient(env, address)
    reply = client.append("INBOX", message("must survive"))
    assert b"APPENDUID" in reply
    env.daemon.kill()
    env.daemon.start()
    client = imapclient(env, address)
    client.select_folder("INBOX")
    found = client.search(["SUBJECT", "must survive"])
    assert len(found) == 1
    client.logout()


def test_shutdown_says_bye_and_everything_is_there_after_restart(env):
    address = env.user()
    client = imapclient(env, address)
    client.create_folder("Projects/Alpha")
    client.unsubscribe_folder("Projects")
    client.append("Projects/Alpha", message("plan"), flags=[b"\\Flagged", b"$Important"])
    client.select_folder("Projects/Alpha")
    client.idle()
    env.daemon.stop()  # SIGTERM
    responses = client.idle_check(timeout=10)
    assert any(b"BYE" in r for r in responses if isinstance(r, tuple)), responses
    env.daemon.start()
    client = imapclient(env, address)
    names = {name for _f, _d, name in client.list_folders()}
    assert {"Projects", "Projects/Alpha", "INBOX", "Sent", "Trash"} <= names
    assert "Projects" not in {name for _f, _d, name in client.list_sub_folders()}
    client.select_folder("Projects/Alpha")
    assert set(client.get_flags([1])[1]) == {b"\\Flagged", b"$Important"}
    client.logout()
