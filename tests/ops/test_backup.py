"""Continuous backups: the daemon runs the real Litestream, which ships every
change to a real S3 API (moto's server on loopback); businesses are restored
from it as they were at a given second, beside the original or in its place,
and a restore that cannot be done fails in one line and changes nothing.

Mail arrives over SMTP (smtplib to the daemon's MX). Litestream ships every
second here (``sync_seconds = 1``), so each test takes seconds.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import re
import smtplib
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from appliance import litestream
from tests.conftest import Cli, Daemon, free_port, stop_process, wait_for
from tests.protocols.smtp.conftest import PASSWORD, StubDNS, mta_config, stored_messages

BUCKET = "backups"
#: Seconds to wait for Litestream to ship: generous, for a loaded machine.
WAIT = 60


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on 127.0.0.1 (a port the kernel picked); its endpoint.

    Its request log goes to a file: a pipe nobody reads would fill and
    stall the server."""
    moto = Path(sys.executable).parent / "moto_server"
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", "0"], stdout=log, stderr=subprocess.STDOUT)
    try:
        found = wait_for(lambda: re.search(r"Running on http://127\.0\.0\.1:(\d+)", log_path.read_text())
                         or proc.poll() is not None, timeout=30, interval=0.1)
        assert proc.poll() is None, log_path.read_text()
        yield f"http://127.0.0.1:{found.group(1)}"
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def dns():
    stub = StubDNS()
    yield stub
    stub.close()


class Box:
    """A state directory, config, CLI and daemon whose [backup] replicates
    to a bucket of its own (moto lists a bucket's every key on each listing)."""

    def __init__(self, root: Path, endpoint: str, dns: StubDNS):
        self.state = root / "state"
        self.state.mkdir()
        bucket = f"{BUCKET}-{uuid.uuid4().hex[:12]}"
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", data=b"", method="PUT"), timeout=30)
        self.url = f"s3://{bucket}/box1"
        backup = (
            f'[backup]\nurl = "{self.url}"\nendpoint = "{endpoint}"\nforce_path_style = true\n'
            'access_key_id = "test"\nsecret_access_key = "test"\nsync_seconds = 1\nwarn_seconds = 30\n'
        )
        self.config = root / "appliance.toml"
        self.config.write_text(mta_config(dns.port, {}, free_port(), backup))
        self.cli = Cli(self.state, self.config)
        self.daemon = Daemon(self.state, self.config, root / "daemon.log")

    def send(self, rcpt: str, tag: str) -> None:
        with smtplib.SMTP("127.0.0.1", self.daemon.port("smtp"), timeout=10) as client:
            client.sendmail("sender@example.org", [rcpt],
                            f"From: sender@example.org\r\nSubject: {tag}\r\n\r\nbody {tag}\r\n".encode())

    def publish(self, text: str) -> None:
        """Upload a one-page website to acme whose page says ``text``."""
        site = self.state.parent / f"site-{text}"
        site.mkdir()
        (site / "index.html").write_text(f"<!doctype html><title>{text}</title><p>{text}</p>")
        self.cli("site", "upload", "acme", str(site))

    def page(self) -> str:
        """acme's home page as the daemon serves it over HTTP."""
        conn = http.client.HTTPConnection("127.0.0.1", self.daemon.port("http"), timeout=10)
        try:
            conn.request("GET", "/", headers={"Host": "acme.appliance.test"})
            return conn.getresponse().read().decode()
        finally:
            conn.close()

    def subjects(self, slug: str, address: str) -> list[str]:
        uri = (self.state / "tenants" / f"{slug}.sqlite3").resolve().as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True)
        try:
            return [m.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode() for m in stored_messages(conn, address)]
        finally:
            conn.close()

    def status(self) -> dict:
        """``backup status --json`` (which exits 1 while any database is late)."""
        proc = self.cli("backup", "status", "--json", check=False)
        assert proc.stdout, proc.stderr
        return json.loads(proc.stdout)

    def replica(self, name: str) -> dict:
        return next(r for r in self.status()["databases"] if r["name"] == name)

    def wait_shipped(self, name: str, before: int | None) -> int:
        """Wait until Litestream has read a transaction of ``name`` newer
        than ``before`` and shipped successfully after that; its txid."""
        txid = wait_for(lambda: (r := self.replica(name))["txid"] and (before is None or r["txid"] > before) and r["txid"],
                        timeout=WAIT, interval=0.2)
        seen = datetime.datetime.now(datetime.timezone.utc)
        wait_for(lambda: (r := self.replica(name))["last_sync"]
                 and datetime.datetime.fromisoformat(r["last_sync"]) > seen, timeout=WAIT, interval=0.2)
        return txid

    def stop(self) -> None:
        if self.daemon.proc is not None and self.daemon.proc.poll() is None:
            self.daemon.stop()


@pytest.fixture
def box(tmp_path, s3, dns):
    """A running daemon with business acme (acme.test) and its user alice, replicated."""
    b = Box(tmp_path, s3, dns)
    b.cli("tenant", "add", "acme", "--domain", "acme.test")
    b.cli("user", "add", "alice@acme.test", "--password-stdin", input=PASSWORD + "\n")
    b.daemon.start()
    try:
        b.wait_shipped("acme", None)
        yield b
    finally:
        b.stop()


def between_two_mails(box: Box) -> tuple[str, str, str]:
    """Deliver a first mail and publish a website saying so, note a time
    once both are shipped, then deliver a second mail and publish again;
    returns (first tag, time between, second tag)."""
    first, second = f"first-{uuid.uuid4().hex[:8]}", f"second-{uuid.uuid4().hex[:8]}"
    before = box.replica("acme")["txid"]
    box.send("alice@acme.test", first)
    box.publish(first)
    txid = box.wait_shipped("acme", before)
    time.sleep(1.1)
    at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.2)
    box.send("alice@acme.test", second)
    box.publish(second)
    box.wait_shipped("acme", txid)
    assert box.subjects("acme", "alice@acme.test") == [first, second]
    return first, at, second


def test_restore_in_place_brings_back_the_state_between_two_mails(box):
    """Restoring acme at a second between two deliveries gives back exactly
    the first mail and the website published with it; the running daemon
    serves that website and delivers the next mail into the restored
    business; the state it replaced is kept under removed/."""
    first, at, second = between_two_mails(box)
    wait_for(lambda: second in box.page(), timeout=WAIT, interval=0.2)
    proc = box.cli("tenant", "restore", "acme", "--at", at)
    assert proc.stdout.strip() == "restored acme"
    assert box.subjects("acme", "alice@acme.test") == [first]
    wait_for(lambda: first in box.page(), timeout=WAIT, interval=0.2)
    assert second not in box.page()
    box.send("alice@acme.test", "third")
    assert box.subjects("acme", "alice@acme.test") == [first, "third"]
    kept = list((box.state / "removed").glob("acme-*-before-restore.sqlite3"))
    assert len(kept) == 1
    conn = sqlite3.connect(kept[0])
    assert [m.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode()
            for m in stored_messages(conn, "alice@acme.test")] == [first, second]
    conn.close()
    assert [t["slug"] for t in box.cli.json("tenant", "list")] == ["acme"]


def test_restore_alongside_under_a_new_slug_keeps_the_original(box):
    """``--as acme-old`` adds the earlier state as a business of its own,
    its own domain moved under its free domain, and leaves acme as it is."""
    first, at, second = between_two_mails(box)
    box.cli("tenant", "restore", "acme", "--at", at, "--as", "acme-old")
    businesses = {t["slug"]: t["domains"] for t in box.cli.json("tenant", "list")}
    assert businesses["acme"] == ["acme.appliance.test", "acme.test"]
    assert businesses["acme-old"] == ["acme-old.appliance.test", "acme-test.acme-old.appliance.test"]
    assert box.subjects("acme", "alice@acme.test") == [first, second]
    assert box.subjects("acme-old", "alice@acme-test.acme-old.appliance.test") == [first]


def test_a_business_removed_by_mistake_is_brought_back(box):
    """After ``tenant remove``, a restore of the latest state brings the
    business back with its mail, and the daemon delivers to it again."""
    first = f"kept-{uuid.uuid4().hex[:8]}"
    before = box.replica("acme")["txid"]
    box.send("alice@acme.test", first)
    box.wait_shipped("acme", before)
    box.cli("tenant", "remove", "acme")
    assert box.cli.json("tenant", "list") == []
    box.cli("tenant", "restore", "acme")
    assert box.subjects("acme", "alice@acme.test") == [first]
    again = f"again-{uuid.uuid4().hex[:8]}"
    wait_for(lambda: _delivered(box, again), timeout=10, interval=0.3)


def _delivered(box: Box, tag: str) -> bool:
    try:
        box.send("alice@acme.test", tag)
    except smtplib.SMTPRecipientsRefused:
        return False  # the daemon has not seen the catalog change yet
    return tag in box.subjects("acme", "alice@acme.test")


def _unchanged_after(box: Box, *args: str) -> str:
    """Run a restore that must fail; return its error, checking that the
    catalog and acme's mail are what they were."""
    box.send("alice@acme.test", f"mail-{uuid.uuid4().hex[:8]}")
    listing = box.cli.json("tenant", "list")
    mail = box.subjects("acme", "alice@acme.test")
    proc = box.cli("tenant", "restore", *args, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert box.cli.json("tenant", "list") == listing
    assert box.subjects("acme", "alice@acme.test") == mail
    assert not (box.state / "removed").exists()
    return proc.stderr


def test_restore_of_an_unknown_business_fails_in_one_line(box):
    """A slug the replica never held: one line, exit 1, nothing changed."""
    assert _unchanged_after(box, "nosuch") == "appliance: error: no backup of business nosuch\n"


def test_restore_to_before_the_first_backup_fails_in_one_line(box):
    """A time before the first backup: one line, exit 1, acme untouched."""
    err = _unchanged_after(box, "acme", "--at", "2001-01-01T00:00:00Z")
    assert err == "appliance: error: no backup of business acme at or before 2001-01-01T00:00:00Z\n"


def test_restore_with_a_malformed_slug_or_time_fails_in_one_line(box):
    """Bad input is refused before Litestream is asked anything."""
    assert _unchanged_after(box, "Not/A/Slug").startswith("appliance: error: invalid")
    assert _unchanged_after(box, "acme", "--at", "yesterday") == (
        "appliance: error: invalid time 'yesterday': use ISO 8601, e.g. 2026-12-07T05:56:17Z\n")


def test_status_and_check_report_each_database_and_staging_files_are_not_shipped(box):
    """``backup status`` lists the box database and every business, shipped
    seconds ago; ``check`` says so in one line; a dot-prefixed staging file
    in tenants/ is never replicated."""
    staging = box.state / "tenants" / ".import-1.sqlite3"
    conn = sqlite3.connect(staging)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    box.cli("tenant", "add", "beta")
    wait_for(lambda: [r["status"] for r in box.status()["databases"]] == ["ok"] * 3, timeout=WAIT, interval=0.3)
    status = box.cli.json("backup", "status")
    assert [r["name"] for r in status["databases"]] == ["box", "acme", "beta"]
    assert all(r["age_seconds"] < 30 and r["txid"] >= 1 for r in status["databases"])
    check = [r for r in json.loads(box.cli("check", "--local", "--json", check=False).stdout) if r["check"] == "backup"]
    assert check == [{"check": "backup", "status": "ok",
                      "detail": f"3 databases shipped to {box.url} within 30 s", "fix": ""}]
    shipped = {Path(r.path).name for r in litestream.replicated(box.state)}
    assert shipped == {"box.sqlite3", "acme.sqlite3", "beta.sqlite3"}
    # The metrics say the same: the oldest shipment is recent, none is late.
    lag = wait_for(lambda: (m := _metrics(box)).get("appliance_backup_late_databases") == 0
                   and m.get("appliance_backup_lag_seconds", float("inf")) < 30 and m, timeout=WAIT, interval=0.5)
    assert lag["appliance_backup_lag_seconds"] >= 0


def _metrics(box: Box) -> dict[str, float]:
    """The daemon's unlabelled samples, as Prometheus scrapes them."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{box.daemon.port('metrics')}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples if not s.labels}


def test_status_warns_when_litestream_is_not_running(box):
    """With the daemon (and so Litestream) stopped, status warns for each
    database and exits 1; check has one warning line."""
    box.stop()
    assert box.cli("backup", "status", check=False).returncode == 1
    status = box.status()
    assert not status["running"]
    assert {r["detail"] for r in status["databases"]} == {"litestream is not running"}
    # The daemon's listeners are down too, so check exits 1; its backup line warns.
    check = [r for r in json.loads(box.cli("check", "--local", "--json", check=False).stdout) if r["check"] == "backup"]
    assert [(r["status"], r["detail"]) for r in check] == [("warn", f"litestream is not running (replica {box.url})")]


def test_the_daemon_restarts_litestream_when_it_dies(box):
    """Litestream killed behind the daemon's back is started again, and
    changes made meanwhile are shipped."""
    pid = _litestream_pid(box)
    os.kill(pid, 9)
    wait_for(lambda: _litestream_pid(box, missing_ok=True) not in (None, pid), timeout=WAIT, interval=0.2)
    before = wait_for(lambda: box.replica("acme")["txid"], timeout=WAIT, interval=0.2)
    box.send("alice@acme.test", "after-restart")
    assert box.wait_shipped("acme", before) > before


def _litestream_pid(box: Box, missing_ok: bool = False) -> int | None:
    out = subprocess.run(["pgrep", "-P", str(box.daemon.pid), "-f", "litestream replicate"],
                         capture_output=True, text=True).stdout.split()
    if not out:
        assert missing_ok, "no litestream child"
        return None
    return int(out[0])


def test_nightly_export_all_writes_private_consistent_copies(tmp_path, cli):
    """``tenant export --all DIR`` writes every business to DIR/<slug>.sqlite3,
    mode 0600, each a sound file; without DIR it fails in one line."""
    cli("tenant", "add", "acme")
    cli("tenant", "add", "beta")
    out = tmp_path / "nightly"
    out.mkdir()
    assert cli("tenant", "export", "--all", str(out)).stdout == f"exported 2 businesses to {out}\n"
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["acme.sqlite3", "beta.sqlite3"]
    assert {f.stat().st_mode & 0o777 for f in files} == {0o600}
    for f in files:
        conn = sqlite3.connect(f)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    proc = cli("tenant", "export", "--all", str(tmp_path / "missing"), check=False)
    assert (proc.returncode, proc.stderr) == (1, f"appliance: error: directory {tmp_path / 'missing'} does not exist\n")


@pytest.mark.parametrize("line, message", [
    ('url = "ftp://example.org/x"', "[backup] url: expected s3://BUCKET/PREFIX or file:///DIR"),
    ('bucket = "backups"', "[backup] bucket: unknown key"),
    ("sync_seconds = 0", "[backup] sync_seconds: expected a whole number from 1 to 3600"),
])
def test_a_bad_backup_setting_is_one_config_error(tmp_path, line, message):
    """A malformed or unknown [backup] key stops every command with one
    line naming the file, the section and the key (exit 78)."""
    config = tmp_path / "bad.toml"
    config.write_text(f"[backup]\n{line}\n")
    state = tmp_path / "state"
    state.mkdir()
    proc = Cli(state, config)("backup", "status", check=False)
    assert (proc.returncode, proc.stderr) == (78, f"appliance: config error: {config}: {message}\n")
