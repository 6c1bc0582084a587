"""MTA-STS (RFC 8461), TLS-RPT (RFC 8460) and DMARC reports, as the world
sees them: the policy fetched with curl from ``mta-sts.<domain>`` over
HTTPS, the records asked with dig from the same daemon, and other settings
read with ``appliance dns show``."""

from __future__ import annotations

import hashlib

from tests.conftest import Cli
from tests.protocols.dns.digging import dig_runner
from tests.protocols.web.conftest import WEB_CONFIG

POLICY_URL = "/.well-known/mta-sts.txt"
#: The default policy: `testing`, our one MX host, a week.
DEFAULT_POLICY = b"version: STSv1\r\nmode: testing\r\nmx: box.appliance.test\r\nmax_age: 604800\r\n"


def _txt(dig, name: str) -> list[str]:
    return sorted(line.strip().strip('"') for line in dig("+short", name, "TXT").splitlines() if line.strip())


def test_the_policy_is_served_as_text_on_the_mta_sts_host(env):
    """https://mta-sts.acme.example/.well-known/mta-sts.txt is the policy in
    `testing` mode naming the box as the only MX, as text/plain."""
    reply = env.curl("mta-sts.acme.example", POLICY_URL)
    assert reply.status == 200 and reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.body == DEFAULT_POLICY


def test_the_dns_id_is_the_served_policy_and_the_mx_its_mx_line(env):
    """_mta-sts TXT carries the id derived from the text served, the policy's
    mx line is the domain's MX, and mta-sts.<domain> points at the box."""
    dig = dig_runner(env.daemon.port("dns"))
    body = env.curl("mta-sts.acme.example", POLICY_URL).body
    assert _txt(dig, "_mta-sts.acme.example") == [f"v=STSv1; id={hashlib.sha256(body).hexdigest()[:20]}"]
    mx = dig("+short", "acme.example", "MX").split()[1].rstrip(".")
    assert f"mx: {mx}\r\n".encode() in body
    assert dig("+short", "mta-sts.acme.example", "A").strip() == "127.0.0.1"


def test_the_mta_sts_host_serves_nothing_but_the_policy(env):
    """Its / and other paths are the neutral 404 (not the website); a POST is 405."""
    unknown = env.curl("nobody.example", "/")
    for path in ("/", "/.well-known/mta-sts.txt.bak", "/index.html"):
        reply = env.curl("mta-sts.acme.example", path)
        assert (reply.status, reply.body) == (404, unknown.body), path
    assert env.curl("mta-sts.acme.example", POLICY_URL, "-X", "POST").status == 405


def test_tls_reports_go_to_postmaster_and_dmarc_asks_for_none_by_default(env):
    """_smtp._tls names postmaster@ the domain itself; DMARC has no rua= unless asked."""
    dig = dig_runner(env.daemon.port("dns"))
    assert _txt(dig, "_smtp._tls.acme.example") == ["v=TLSRPTv1; rua=mailto:postmaster@acme.example"]
    assert _txt(dig, "_dmarc.acme.example") == ["v=DMARC1; p=quarantine; adkim=s; aspf=s"]


def test_settings_change_the_policy_id_and_the_report_addresses(env, tmp_path):
    """With `enforce`, another max_age, DMARC reports and another local part,
    `appliance dns show` gives a new id and both report addresses at the domain."""
    config = tmp_path / "enforce.toml"
    config.write_text(WEB_CONFIG + '\n[dns]\nmta_sts_mode = "enforce"\nmta_sts_max_age = 86400\n'
                      'dmarc_reports = true\nreports_local_part = "reports"\n')
    records = {(r["name"], r["type"]): r["data"] for r in Cli(env.cli.state, config).json("dns", "show", "acme.example")["records"]}
    enforced = b"version: STSv1\r\nmode: enforce\r\nmx: box.appliance.test\r\nmax_age: 86400\r\n"
    assert records[("_mta-sts.acme.example", "TXT")] == f'"v=STSv1; id={hashlib.sha256(enforced).hexdigest()[:20]}"'
    assert records[("_dmarc.acme.example", "TXT")] == '"v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:reports@acme.example"'
    assert records[("_smtp._tls.acme.example", "TXT")] == '"v=TLSRPTv1; rua=mailto:reports@acme.example"'


def test_a_business_cannot_add_records_at_the_policy_names(env):
    """mta-sts, _mta-sts and _smtp._tls are published by the box: `dns add` refuses them."""
    for name, rtype, value in (("mta-sts", "A", "192.0.2.1"), ("_mta-sts", "TXT", "v=STSv1; id=1"),
                               ("_smtp._tls", "TXT", "v=TLSRPTv1; rua=mailto:x@y.example")):
        proc = env.cli("dns", "add", "acme.example", name, rtype, value, check=False)
        assert proc.returncode != 0 and "published by the box" in proc.stderr, proc.stderr
