"""The box's catalog zone (RFC 9432) read by a real Knot secondary.

Knot (Debian's ``knotd``) is configured with nothing but our catalog zone
(``catalog-role: interpret``) and a template for its members; it learns
every business zone from the catalog, transfers each with TSIG, and
follows a business added or removed through our NOTIFY, its own
configuration untouched."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import time

import dns.name
import pytest

from appliance.zones import member_id
from tests.conftest import TEST_CONFIG, Cli, Daemon, free_port, stop_process
from tests.knot import catalog_consumer

SECRET = base64.b64encode(b"catalog-test-secret-0123456789ab").decode()
CATALOG = "catalog.box.appliance.test"

pytestmark = pytest.mark.skipif(shutil.which("knotd") is None, reason="Knot (Debian knot) is not installed")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Our daemon with a catalog zone and Knot as its secondary, reading the catalog."""
    tmp = tmp_path_factory.mktemp("catalog")
    state = tmp / "state"
    state.mkdir()
    knot_port = free_port()
    config = tmp / "appliance.toml"
    config.write_text(
        TEST_CONFIG + f'\n[dns]\nnotify_retries = 3\ncatalog = "{CATALOG}"\n'
        + f'secondaries = [{{address = "127.0.0.1", port = {knot_port}, tsig_name = "xfr-key", tsig_secret = "{SECRET}"}}]\n'
    )
    cli = Cli(state, config)
    cli("tenant", "add", "acme", "--domain", "acme.example")
    daemon = Daemon(state, config, tmp / "daemon.log").start()
    knot_dir = tmp / "knot"
    (knot_dir / "zones").mkdir(parents=True)
    (knot_dir / "knot.conf").write_text(
        catalog_consumer(knot_dir, knot_port, SECRET, {"appliance": (daemon.port("dns"), CATALOG)}))
    knot_log = open(knot_dir / "knot.log", "wb")
    knot = subprocess.Popen(["knotd", "-c", str(knot_dir / "knot.conf")], stdout=knot_log, stderr=subprocess.STDOUT)

    def dig(port: int, *args: str) -> str:
        cmd = ["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=3", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout

    def until(predicate, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            assert knot.poll() is None, (knot_dir / "knot.log").read_text()
            assert time.monotonic() < deadline, f"{what}:\n" + (knot_dir / "knot.log").read_text()[-3000:]
            time.sleep(0.3)

    try:
        yield {"cli": cli, "dig": dig, "until": until, "ours": daemon.port("dns"), "knot": knot_port,
               "log": knot_dir / "knot.log", "conf": knot_dir / "knot.conf", "daemon": daemon}
    finally:
        stop_process(knot)
        knot_log.close()
        daemon.stop()


def _soa_serial(dig_output: str) -> int | None:
    fields = dig_output.split()
    return int(fields[2]) if len(fields) == 7 else None


def test_the_catalog_lists_every_zone_with_a_stable_id(fleet):
    """version TXT "2", and one PTR per zone we serve under <sha1 of the name>.zones."""
    dig, ours = fleet["dig"], fleet["ours"]
    assert dig(ours, "+short", f"version.{CATALOG}", "TXT").strip() == '"2"'
    for zone in ("appliance.test", "acme.example"):
        assert dig(ours, "+short", f"{member_id(zone)}.zones.{CATALOG}", "PTR").strip() == zone + "."
    # The id is the SHA-1 of the name in wire format, as dnspython writes it.
    assert member_id("acme.example") == hashlib.sha1(dns.name.from_text("acme.example").to_wire()).hexdigest()


def test_knot_serves_the_zones_it_learnt_from_the_catalog(fleet):
    """Knot, configured with the catalog alone, answers for the box zone and a business's zone as we do."""
    dig, until = fleet["dig"], fleet["until"]
    for zone in ("appliance.test", "acme.example"):
        until(lambda z=zone: "status: NOERROR" in dig(fleet["knot"], z, "SOA"), f"Knot did not serve {zone}")
        assert dig(fleet["knot"], "+short", zone, "MX") == dig(fleet["ours"], "+short", zone, "MX")


def test_a_new_business_reaches_knot_and_a_removed_one_leaves(fleet):
    """`tenant add` with a domain: the catalog's serial moves, Knot learns the new
    zone and answers for it; `tenant remove`: Knot stops serving it. Knot's
    configuration file is the same bytes before and after."""
    dig, until, cli = fleet["dig"], fleet["until"], fleet["cli"]
    conf = fleet["conf"].read_bytes()
    until(lambda: "status: NOERROR" in dig(fleet["knot"], "acme.example", "SOA"), "Knot did not start")
    before = _soa_serial(dig(fleet["ours"], "+short", CATALOG, "SOA"))
    cli("tenant", "add", "beta", "--domain", "beta.example")
    until(lambda: dig(fleet["knot"], "+short", "beta.example", "MX").strip() == "10 box.appliance.test.",
          "Knot did not learn beta.example")
    assert _soa_serial(dig(fleet["ours"], "+short", CATALOG, "SOA")) > before
    cli("tenant", "remove", "beta")
    until(lambda: "status: REFUSED" in dig(fleet["knot"], "beta.example", "SOA"), "Knot kept beta.example")
    assert "status: NOERROR" in dig(fleet["knot"], "acme.example", "SOA")
    assert fleet["conf"].read_bytes() == conf


def test_the_catalog_serial_moves_only_when_the_member_list_does(fleet):
    """A record added to a business zone changes that zone's serial, not the catalog's."""
    dig, ours = fleet["dig"], fleet["ours"]
    catalog = _soa_serial(dig(ours, "+short", CATALOG, "SOA"))
    zone = _soa_serial(dig(ours, "+short", "acme.example", "SOA"))
    fleet["cli"]("dns", "add", "acme.example", "shop", "A", "192.0.2.7")
    deadline = time.monotonic() + 10
    while _soa_serial(dig(ours, "+short", "acme.example", "SOA")) == zone:
        assert time.monotonic() < deadline, "the daemon did not reload"
        time.sleep(0.2)
    assert _soa_serial(dig(ours, "+short", CATALOG, "SOA")) == catalog
