"""Attacks on the DAV service of ``appliance serve``, over its HTTP port:
recurrence bombs, time ranges far away, hostile XML and a full disk are
answered at once with a precise refusal, cost the daemon no memory, do not
slow the other protocols, and never keep it from stopping (#24)."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import TEST_CONFIG, Cli, Daemon
from tests.protocols import liveness

PASSWORD = "a long secret"
USER = "ann@acme.example"
HOST = {"Host": "box.appliance.test"}
ICS = {**HOST, "Content-Type": "text/calendar; charset=utf-8"}
XML = {**HOST, "Content-Type": "application/xml; charset=utf-8", "Depth": "1"}
CALDAV_ERRORS = ("max-instances", "min-date-time", "max-date-time")

SECONDLY = "FREQ=SECONDLY"
EVERY_SECOND_DAILY = "FREQ=DAILY;BYHOUR={};BYMINUTE={};BYSECOND={}".format(
    ",".join(map(str, range(24))), ",".join(map(str, range(60))), ",".join(map(str, range(60)))
)
#: A bomb answers within this many seconds: [dav] report_seconds (5) and
#: a margin for a loaded machine.
ANSWERED_WITHIN = 8
#: Within the limits (81,000 instances before 2100, of 100,000), for ever,
#: so the stored time range cannot rule it out: heavy to walk.
HEAVY = "FREQ=HOURLY;INTERVAL=8"


def event(uid: str, rrule: str, start: str = "20260101T000000Z") -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//attack//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nRRULE:{rrule}\r\nSUMMARY:{uid}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def calendar_query(inner: str, prop: str = "<D:getetag/>") -> str:
    return (
        '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:prop>{prop}</D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"><C:comp-filter name=\"VEVENT\">"
        f"{inner}</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


EXPAND_1970_2100 = calendar_query(
    '<C:time-range start="19700101T000000Z" end="21000101T000000Z"/>',
    '<C:calendar-data><C:expand start="19700101T000000Z" end="21000101T000000Z"/></C:calendar-data>',
)
YEAR_9000 = calendar_query('<C:time-range start="90000101T000000Z" end="90000102T000000Z"/>')
YEAR_2099 = calendar_query('<C:time-range start="20990101T000000Z" end="20990102T000000Z"/>')
FREE_BUSY_1000_YEARS = (
    '<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
    '<C:time-range start="20260101T000000Z" end="30260101T000000Z"/></C:free-busy-query>'
)
FREE_BUSY_2026_2099 = FREE_BUSY_1000_YEARS.replace("30260101", "20990101")


class Box:
    """One daemon with one business (acme.example) and its user ann."""

    def __init__(self, work: Path, extra: str = "", state: Path | None = None):
        self.work = work
        state = state or work / "state"
        state.mkdir(exist_ok=True)
        config = work / "appliance.toml"
        config.write_text(TEST_CONFIG + extra)
        self.cli = Cli(state, config)
        self.cli("tenant", "add", "acme", "--domain", "acme.example")
        self.cli("user", "add", USER, "--password-stdin", input=PASSWORD + "\n")
        self.daemon = Daemon(state, config, work / "daemon.log")

    def start(self) -> "Box":
        self.daemon.start()
        return self

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.daemon.port('http')}/dav/{USER}/calendar/{path}"

    def put(self, name: str, body: bytes) -> requests.Response:
        return requests.put(self.url(name), data=body, headers=ICS, auth=(USER, PASSWORD), timeout=30)

    def report(self, body: str, timeout: float = 30) -> requests.Response:
        return requests.request("REPORT", self.url(), data=body, headers=XML, auth=(USER, PASSWORD), timeout=timeout)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.daemon.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    box = Box(tmp_path_factory.mktemp("attacks")).start()
    # Warm up (first login, first REPORT) so RSS is measured from a serving daemon.
    assert box.put("warm.ics", event("warm", "FREQ=WEEKLY;COUNT=10")).status_code == 201
    assert box.report(YEAR_2099).status_code == 207
    box.rss_start = box.rss_mb()
    yield box
    box.daemon.stop()


@pytest.fixture(scope="module")
def heavy(box):
    """Three events with 81,000 instances each before 2100: allowed, and heavy to walk."""
    for n in range(3):
        reply = box.put(f"heavy-{n}.ics", event(f"heavy-{n}", HEAVY))
        assert reply.status_code == 201, reply.text
    return box


def assert_refused(reply: requests.Response, status: int, element: str) -> None:
    assert reply.status_code == status, (reply.status_code, reply.text[:300])
    assert reply.headers["content-type"].startswith("application/xml")
    prefix = "C" if element in CALDAV_ERRORS else "D"
    assert "<D:error " in reply.text and f"<{prefix}:{element}/>" in reply.text, reply.text


def timed(fn, *args):
    started = time.monotonic()
    result = fn(*args)
    return result, time.monotonic() - started


#: Matches no day at all: dateutil searches to the year 9999 (seconds of
#: CPU that nothing can interrupt) at every walk.
NEVER = "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=30"


@pytest.mark.parametrize(
    "rule", [SECONDLY, EVERY_SECOND_DAILY, "FREQ=SECONDLY;COUNT=1000000000", NEVER],
    ids=["secondly", "86400-a-day", "count-1e9", "never"],
)
def test_recurrence_bomb_is_refused_at_put(box, rule):
    """An event recurring every second for ever, 86,400 times a day, a
    billion times, or on no day at all is refused 403 CALDAV:max-instances
    within two seconds, and nothing is stored."""
    reply, took = timed(box.put, "bomb.ics", event("bomb", rule))
    assert_refused(reply, 403, "max-instances")
    assert took < 2
    assert requests.get(box.url("bomb.ics"), headers=HOST, auth=(USER, PASSWORD), timeout=10).status_code == 404


def test_time_range_in_year_9000_is_refused(heavy):
    """A calendar-query time-range past the advertised max-date-time is 403
    CALDAV:max-date-time at once, instead of walking every instance until then."""
    reply, took = timed(heavy.report, YEAR_9000)
    assert_refused(reply, 403, "max-date-time")
    assert took < 2


def test_free_busy_over_1000_years_is_refused(heavy):
    """A free-busy query over 1,000 years is 403 CALDAV:max-date-time at once."""
    reply, took = timed(heavy.report, FREE_BUSY_1000_YEARS)
    assert_refused(reply, 403, "max-date-time")
    assert took < 2


def test_expanding_too_many_instances_is_507(heavy):
    """<C:expand> 1970-2100 over events with 81,000 instances answers 507
    DAV:number-of-matches-within-limits within seconds."""
    reply, took = timed(heavy.report, EXPAND_1970_2100)
    assert_refused(reply, 507, "number-of-matches-within-limits")
    assert took < ANSWERED_WITHIN


def test_walking_too_many_instances_is_507(heavy):
    """A time-range that makes the server walk 240,000 instances (more than
    [dav] report_instances) answers 507 within seconds."""
    reply, took = timed(heavy.report, YEAR_2099)
    assert_refused(reply, 507, "number-of-matches-within-limits")
    assert took < ANSWERED_WITHIN


def test_free_busy_walking_too_many_instances_is_507(heavy):
    """A free-busy query that walks more instances than the budget answers 507."""
    reply, took = timed(heavy.report, FREE_BUSY_2026_2099)
    assert_refused(reply, 507, "number-of-matches-within-limits")
    assert took < ANSWERED_WITHIN


def test_calendar_advertises_its_bounds(box):
    """PROPFIND on a calendar shows CALDAV:max-instances, min-date-time and max-date-time."""
    reply = requests.request(
        "PROPFIND", box.url(), headers={**XML, "Depth": "0"}, auth=(USER, PASSWORD), timeout=10,
        data='<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
             "<C:max-instances/><C:min-date-time/><C:max-date-time/></D:prop></D:propfind>",
    )
    assert reply.status_code == 207
    assert "max-instances>100000<" in reply.text
    assert "min-date-time>16010101T000000Z<" in reply.text
    assert "max-date-time>21000101T000000Z<" in reply.text


def test_rss_stays_within_50_mb_after_the_bombs(heavy):
    """After every bomb, three times over, the daemon's RSS is within 50 MB of its start."""
    for _ in range(3):
        heavy.put("bomb.ics", event("bomb", SECONDLY))
        heavy.put("bomb.ics", event("bomb", EVERY_SECOND_DAILY))
        for body in (EXPAND_1970_2100, YEAR_9000, YEAR_2099, FREE_BUSY_1000_YEARS, FREE_BUSY_2026_2099):
            assert heavy.report(body).status_code in (403, 507)
    grown = heavy.rss_mb() - heavy.rss_start
    assert grown < 50, f"RSS grew {grown:.0f} MB"


def test_dns_and_smtp_answer_while_bombs_run(heavy):
    """While four clients send bombs back to back, a DNS query and an SMTP
    banner from other connections each answer within 100 ms (median of probes)."""
    answers: list[int] = []
    seconds = liveness.probes_during(
        lambda: answers.append(heavy.report(YEAR_2099).status_code),
        heavy.daemon.port("dns"), heavy.daemon.port("smtp"), probes=9,
    )
    dns, smtp = ([t * 1000 for t in times] for times in seconds)
    assert answers and set(answers) == {507}
    assert statistics.median(dns) < 100, dns
    assert statistics.median(smtp) < 100, smtp


LONG_BUDGET = "\n[dav]\nreport_instances = 100000000\nreport_seconds = 600\nmax_instances = 2000000\n"


@pytest.fixture
def patient(tmp_path):
    """A daemon whose budget lets a bomb run for minutes: what stops it
    must be the client leaving or SIGTERM."""
    box = Box(tmp_path, LONG_BUDGET).start()
    # Every hour for ever: 650,000 instances to walk to 2099.
    assert box.put("slow.ics", event("slow", "FREQ=HOURLY")).status_code == 201
    yield box
    if box.daemon.proc.poll() is None:
        box.daemon.stop()


def _start_bomb(box: Box) -> socket.socket:
    """Send the year-2099 query by hand and leave the answer unread."""
    body = YEAR_2099.encode()
    sock = socket.create_connection(("127.0.0.1", box.daemon.port("http")), timeout=10)
    auth = __import__("base64").b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    sock.sendall(
        f"REPORT /dav/{USER}/calendar/ HTTP/1.1\r\nHost: box.appliance.test\r\nDepth: 1\r\n"
        f"Authorization: Basic {auth}\r\nContent-Type: application/xml\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_work_stops_when_the_client_goes(patient):
    """A client that sends a bomb and disconnects: the daemon abandons the
    work (logged) and stops spending CPU on it."""
    sock = _start_bomb(patient)
    time.sleep(1.5)
    sock.close()
    deadline = time.monotonic() + 10
    while "abandoned: client disconnected" not in patient.daemon.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "abandoned: client disconnected" in patient.daemon.log()
    before = _cpu_seconds(patient.daemon.proc.pid)
    time.sleep(1)
    assert _cpu_seconds(patient.daemon.proc.pid) - before < 0.5


def test_sigterm_during_a_bomb_stops_the_daemon(patient):
    """SIGTERM while a bomb runs stops the daemon with status 0 well within
    systemd's stop timeout (60 s)."""
    sock = _start_bomb(patient)
    try:
        time.sleep(1.5)
        started = time.monotonic()
        patient.daemon.proc.send_signal(signal.SIGTERM)
        code = patient.daemon.proc.wait(20)
        took = time.monotonic() - started
    finally:
        sock.close()
    assert code == 0
    assert took < 15


# -- hostile XML -------------------------------------------------------------


def _propfind(box: Box, body: str, path: str = "") -> tuple[requests.Response, float]:
    started = time.monotonic()
    reply = requests.request(
        "PROPFIND", box.url(path), data=body, headers={**XML, "Depth": "0"}, auth=(USER, PASSWORD), timeout=30
    )
    return reply, time.monotonic() - started


@pytest.mark.parametrize("method", ["PROPFIND", "REPORT", "PROPPATCH"])
def test_deeply_nested_xml_is_400(box, method):
    """XML nested 10,000 deep is answered 400 with a body saying why (was 500), logged at INFO."""
    body = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:">' + "<D:x>" * 10_000 + "</D:x>" * 10_000 + "</D:propfind>"
    reply = requests.request(method, box.url(), data=body, headers=XML, auth=(USER, PASSWORD), timeout=30)
    assert reply.status_code == 400
    assert "nested deeper than" in reply.text
    assert f"{method} '/{USER}/calendar/' refused 400: XML nested deeper" in box.daemon.log()
    assert " INFO protocols.dav.wsgi" in box.daemon.log()


def test_propfind_of_100000_properties_is_400_at_once(box):
    """A PROPFIND naming 100,000 properties is 400 within a second (was 10 s)."""
    props = "".join(f"<X:p{n}/>" for n in range(100_000))
    reply, took = _propfind(box, f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:X="urn:x"><D:prop>{props}</D:prop></D:propfind>')
    assert reply.status_code == 400 and "properties requested" in reply.text
    assert took < 1.5


def test_propfind_of_a_few_hundred_properties_still_works(box):
    """A PROPFIND with 300 properties (far more than clients ask) is served."""
    props = "".join(f"<X:p{n}/>" for n in range(300))
    reply, _ = _propfind(box, f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:X="urn:x"><D:prop><D:getetag/>{props}</D:prop></D:propfind>')
    assert reply.status_code == 207


# -- disk full ---------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs for the state directory, unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the full-disk test: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(path: Path) -> None:
    """Write zeros into ``path`` until the file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:
                pass
    finally:
        os.close(fd)


def test_put_on_a_full_disk_is_507_and_the_daemon_serves_on(tmp_path, small_disk):
    """With the state file system full, a PUT answers 507 Insufficient
    Storage (was 500), one clear line is logged, nothing is stored, and once
    space is freed the daemon stores again."""
    box = Box(tmp_path, state=small_disk / "state").start()
    try:
        assert box.put("before.ics", event("before", "FREQ=WEEKLY;COUNT=3")).status_code == 201
        _fill(small_disk / "filler")
        big = event("big", "FREQ=WEEKLY;COUNT=3").replace(b"SUMMARY:big", b"DESCRIPTION:" + b"x" * 200_000)
        reply = box.put("big.ics", big)
        assert reply.status_code == 507, (reply.status_code, reply.text)
        log = box.daemon.log()
        assert log.count("disk full, transaction of") == 1
        assert "Traceback" not in log and "Insufficient Storage" not in log and "disk holding" not in log
        assert requests.get(box.url("before.ics"), headers=HOST, auth=(USER, PASSWORD), timeout=10).status_code == 200
        assert requests.get(box.url("big.ics"), headers=HOST, auth=(USER, PASSWORD), timeout=10).status_code == 404
        (small_disk / "filler").unlink()
        assert box.put("big.ics", big).status_code == 201
    finally:
        if box.daemon.proc.poll() is None:
            assert box.daemon.stop() == 0
