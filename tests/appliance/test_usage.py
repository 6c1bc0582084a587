"""Usage records and the monthly usage report: a scripted month recorded
through the service (with explicit past dates) gives the expected report
byte for byte in JSON and CSV, run after run; the daemon counts real SMTP
messages and HTTP requests per business and writes them in batches (and
when it stops); bad input changes nothing."""

from __future__ import annotations

import http.client
import json
import smtplib
import ssl
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest

from appliance import settings
from appliance.app import App
from appliance.errors import InvalidInput
from appliance.testing import command
from tests.conftest import TEST_CONFIG, ROOT, Cli, Daemon, wait_for

MONTH = "2026-11"
PASSWORD = "a long usage secret"

EXPECTED_JSON = """{
  "month": "2026-11",
  "businesses": [
    {
      "business": "bakery",
      "plan": "standard",
      "days_active": 25,
      "peak_people": 4,
      "peak_storage_bytes": 50600,
      "messages_sent": 60,
      "messages_received": 90,
      "web_requests": 300,
      "web_bytes": 30000
    },
    {
      "business": "florist",
      "plan": "small",
      "days_active": 11,
      "peak_people": 1,
      "peak_storage_bytes": 10,
      "messages_sent": 0,
      "messages_received": 11,
      "web_requests": 0,
      "web_bytes": 0
    }
  ]
}
""".encode()

EXPECTED_CSV = (
    "month,business,plan,days_active,peak_people,peak_storage_bytes,messages_sent,messages_received,web_requests,"
    "web_bytes\r\n"
    "2026-11,bakery,standard,25,4,50600,60,90,300,30000\r\n"
    "2026-11,florist,small,11,1,10,0,11,0,0\r\n"
).encode()


def report(state: Path, config: Path, *args: str) -> bytes:
    """``appliance usage report ARGS``'s standard output, as bytes."""
    proc = subprocess.run(command(state, config, "usage", "report", *args), capture_output=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def script_month(state: Path, config: Path) -> None:
    """November for three businesses, through the service's own records:
    bakery all month (suspended the 10th to the 14th, on plan small until
    the 19th), florist from the 20th, idle with nothing in November."""
    app = App(settings.load(str(config)), state)
    try:
        records = app.core.usage
        for day in range(1, 31):
            date = f"{MONTH}-{day:02d}"
            people = 2 if day == 1 else 4 if day == 15 else 3
            mailbox = 50000 if day == 15 else 1000 * day
            records.record("bakery", date, plan="small" if day < 20 else "standard", active=not 10 <= day <= 14,
                           sizes={"people": people, "mailbox_bytes": mailbox, "web_space_bytes": 500,
                                  "dav_bytes": 100},
                           events={"messages_received": 3, "messages_sent": 2, "web_requests": 10,
                                   "web_bytes": 1000})
            if day >= 20:
                records.record("florist", date, plan="small", active=True, sizes={"people": 1, "mailbox_bytes": 10},
                               events={"messages_received": 1})
    finally:
        app.close()


@pytest.fixture
def scripted(cli: Cli, state_dir: Path, config_file: Path) -> tuple[Path, Path]:
    for slug in ("bakery", "florist", "idle"):
        cli("tenant", "add", slug)
    script_month(state_dir, config_file)
    return state_dir, config_file


def test_a_scripted_month_gives_the_expected_report_in_json_and_csv(scripted):
    """The report of the scripted month is these exact bytes, in JSON and in CSV."""
    assert report(*scripted, "--month", MONTH, "--json") == EXPECTED_JSON
    assert report(*scripted, "--month", MONTH, "--csv") == EXPECTED_CSV


def test_two_runs_give_identical_bytes(scripted):
    """Running the report again (and after a resampling of today) changes none of its bytes."""
    first = report(*scripted, "--month", MONTH, "--csv"), report(*scripted, "--month", MONTH, "--json")
    report(*scripted, "--json")  # this month: samples every business
    assert (report(*scripted, "--month", MONTH, "--csv"), report(*scripted, "--month", MONTH, "--json")) == first


def test_a_business_line_holds_only_its_own_figures(scripted):
    """florist's line is its own records only, bakery's its own; idle, with nothing in November, has no line."""
    lines = {b["business"]: b for b in json.loads(report(*scripted, "--month", MONTH, "--json"))["businesses"]}
    assert set(lines) == {"bakery", "florist"}
    assert (lines["florist"]["messages_received"], lines["florist"]["web_requests"]) == (11, 0)
    assert (lines["bakery"]["messages_received"], lines["bakery"]["peak_people"]) == (90, 4)


def test_bad_input_is_one_line_and_changes_nothing(scripted):
    """A malformed month is one error line and exit 1; a future day, a negative or unknown figure are refused
    by the service and the report stays as it was."""
    state, config = scripted
    for month in ("2026-13", "26-11", "2026-1", "November"):
        proc = subprocess.run(command(state, config, "usage", "report", "--month", month), capture_output=True,
                              text=True, cwd=ROOT, timeout=60)
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("appliance: error: invalid month")
    app = App(settings.load(str(config)), state)
    try:
        for day, events in (("2999-01-01", {"web_requests": 1}), ("2026-11-31", {"web_requests": 1}),
                            (f"{MONTH}-05", {"web_requests": -1}), (f"{MONTH}-05", {"web_hits": 1}),
                            (f"{MONTH}-05", {"web_bytes": 10**16})):
            with pytest.raises(InvalidInput):
                app.core.usage.record("bakery", day, events=events)
    finally:
        app.close()
    assert report(state, config, "--month", MONTH, "--json") == EXPECTED_JSON


def test_a_day_the_business_was_active_in_counts_even_if_suspended_later(cli: Cli, state_dir: Path,
                                                                         config_file: Path):
    """Made today and suspended at once: this month shows one day active and its plan; resumed, still one."""
    cli("tenant", "add", "shortlived", "--plan", "small")
    cli("tenant", "suspend", "shortlived")
    month = json.loads(report(state_dir, config_file, "--json"))
    line = next(b for b in month["businesses"] if b["business"] == "shortlived")
    assert (line["days_active"], line["plan"]) == (1, "small")
    cli("tenant", "resume", "shortlived")
    month = json.loads(report(state_dir, config_file, "--json"))
    assert next(b for b in month["businesses"] if b["business"] == "shortlived")["days_active"] == 1


# -- events counted by the daemon ------------------------------------------------

SITE = b"<!DOCTYPE html><title>Bakery</title><h1>Bread</h1>" + b"<p>Rye and spelt.</p>" * 30


def _mail(to: str, sender: str = "someone@outside.example") -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, "counted"
    message.set_content("hello\n")
    return message


def _get(daemon: Daemon, host: str, path: str = "/") -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port("http"), timeout=20)
    try:
        conn.request("GET", path, headers={"Host": host})
        reply = conn.getresponse()
        body = reply.read()
        assert reply.status == 200, (reply.status, body[:200])
        return body
    finally:
        conn.close()


def _this_month(state: Path, config: Path) -> dict[str, dict]:
    return {b["business"]: b for b in json.loads(report(state, config, "--json"))["businesses"]}


def test_the_daemon_counts_mail_and_web_requests_per_business(tmp_path: Path):
    """Two messages to bakery over SMTP, one submitted by bakery's owner to florist, five page views of
    bakery's site: bakery received 2, sent 1, 5 requests of the page's bytes; florist received 1 and nothing
    else - written within the flush interval, while the daemon runs."""
    state, config = tmp_path / "state", tmp_path / "appliance.toml"
    state.mkdir()
    config.write_text(TEST_CONFIG + "\n[usage]\nflush_seconds = 1\n")
    cli = Cli(state, config)
    for slug in ("bakery", "florist"):
        cli("tenant", "add", slug)
        cli("user", "add", f"owner@{slug}.appliance.test", "--password-stdin", input=PASSWORD + "\n")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_bytes(SITE)
    cli("site", "upload", "bakery", str(site))
    with Daemon(state, config, tmp_path / "daemon.log") as daemon:
        with smtplib.SMTP("127.0.0.1", daemon.port("smtp"), timeout=30) as smtp:
            for _ in range(2):
                smtp.send_message(_mail("owner@bakery.appliance.test"))
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with smtplib.SMTP_SSL("127.0.0.1", daemon.port("submissions"), context=context, timeout=30) as smtp:
            smtp.login("owner@bakery.appliance.test", PASSWORD)
            smtp.send_message(_mail("owner@florist.appliance.test", "owner@bakery.appliance.test"))
        for _ in range(5):
            assert _get(daemon, "bakery.appliance.test") == SITE
        lines = wait_for(lambda: (lambda got: got if got.get("bakery", {}).get("web_requests") == 5 else None)(
            _this_month(state, config)), timeout=20, interval=0.5)
    bakery, florist = lines["bakery"], lines["florist"]
    assert (bakery["messages_received"], bakery["messages_sent"]) == (2, 1)
    assert (bakery["web_requests"], bakery["web_bytes"]) == (5, 5 * len(SITE))
    assert (bakery["peak_people"], bakery["days_active"]) == (1, 1)
    assert bakery["peak_storage_bytes"] >= len(SITE) + 2 * len("hello\n")
    assert (florist["messages_received"], florist["messages_sent"], florist["web_requests"]) == (1, 0, 0)


def test_a_clean_stop_writes_what_was_counted(tmp_path: Path):
    """With an hour between writes, requests counted just before SIGTERM are in the report after the stop."""
    state, config = tmp_path / "state", tmp_path / "appliance.toml"
    state.mkdir()
    config.write_text(TEST_CONFIG + "\n[usage]\nflush_seconds = 3600\n")
    cli = Cli(state, config)
    cli("tenant", "add", "bakery")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_bytes(SITE)
    cli("site", "upload", "bakery", str(site))
    daemon = Daemon(state, config, tmp_path / "daemon.log").start()
    try:
        for _ in range(3):
            _get(daemon, "bakery.appliance.test")
    finally:
        assert daemon.stop() == 0
    line = _this_month(state, config)["bakery"]
    assert (line["web_requests"], line["web_bytes"]) == (3, 3 * len(SITE))


def test_the_records_move_with_the_business(scripted, tmp_path: Path):
    """bakery exported and imported on another box: that box's report of the month has bakery's same line."""
    state, config = scripted
    Cli(state, config)("tenant", "export", "bakery", str(tmp_path / "bakery.sqlite3"))
    other = tmp_path / "other-box"
    other.mkdir()
    Cli(other, config)("tenant", "import", str(tmp_path / "bakery.sqlite3"))
    moved = json.loads(report(other, config, "--month", MONTH, "--json"))
    assert moved == {"month": MONTH, "businesses": [json.loads(EXPECTED_JSON)["businesses"][0]]}


def test_days_the_box_did_not_sample_count_when_active_before_and_after(cli: Cli, state_dir: Path,
                                                                        config_file: Path):
    """Recorded active ten days ago, then nothing until today's sample (the daemon was stopped): the days
    between count as active, in whichever months they fall; eleven days in all."""
    import datetime

    cli("tenant", "add", "gap")
    today = datetime.datetime.now(datetime.timezone.utc).date()
    last = today - datetime.timedelta(days=10)
    app = App(settings.load(str(config_file)), state_dir)
    try:
        app.core.usage.record("gap", last.isoformat(), active=True, sizes={"people": 1})
    finally:
        app.close()
    report(state_dir, config_file, "--json")  # this month: samples every business
    months = sorted({last.strftime("%Y-%m"), today.strftime("%Y-%m")})
    active = 0
    for month in months:
        lines = json.loads(report(state_dir, config_file, "--month", month, "--json"))["businesses"]
        active += next(b["days_active"] for b in lines if b["business"] == "gap")
    assert active == 11
