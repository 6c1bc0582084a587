"""The settings schema: defaults, errors that name file/section/key, and the
README's reference kept equal to the schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import settings
from appliance.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "a.toml"
    path.write_text(text)
    return path


def test_no_file_gives_the_demo_defaults():
    """Without a config every listener is on loopback with the demo ports."""
    s = settings.load(None)
    assert s.listen.addresses == ("127.0.0.1",)
    assert (s.listen.smtp, s.listen.imaps, s.listen.dns, s.listen.https) == (2525, 2993, 5300, 8443)
    assert s.plans["standard"].web_bytes == 50 * 2**20


@pytest.mark.parametrize(
    "text, message",
    [
        ("[listen]\nsmtp = 'twenty-five'\n", "[listen] smtp: expected a whole number"),
        ("[listen]\nsmpt = 25\n", "[listen] smpt: unknown key"),
        ("[lisen]\nsmtp = 25\n", "[lisen]: unknown section"),
        ("[box]\nipv4 = ['300.1.1.1']\n", "[box] ipv4: '300.1.1.1' is not an IP address"),
        ("[box]\nhostname = 'not a host'\n", "[box] hostname: expected a fully qualified host name"),
        ("[box]\ndefault_plan = 'gold'\n", "[box] default_plan: no plan named 'gold'"),
        ("[plans.gold]\nmax_users = -1\n", "[plans.gold] max_users: expected a whole number"),
        ("[plans.gold]\ncolour = 'red'\n", "[plans.gold] colour: unknown key"),
        ("[listen\n", "not valid TOML"),
        ("[smtp]\nretry_schedule = ['5 minutes']\n", "[smtp] retry_schedule: '5 minutes' is not a duration"),
        ("[smtp]\nretry_schedule = []\n", "[smtp] retry_schedule: at least one duration is needed"),
        ("[smtp]\ntransport = ['example.com:25']\n", "[smtp] transport: 'example.com:25' is not domain=host:port"),
        ("[smtp]\ntransport = ['example.com=relay.example']\n", "[smtp] transport: 'example.com=relay.example': the route needs a port"),
        ("[smtp]\nsmarthost = 'relay.example:99999'\n", "[smtp] smarthost: 'relay.example:99999': port out of range"),
        ("[smtp]\nsmarthost = 'relay example'\n", "[smtp] smarthost: 'relay example' is not host or host:port"),
        ("[smtp]\nresolver = 'dns.example'\n", "[smtp] resolver: 'dns.example': a resolver is an IP address"),
        ("[acme]\nresolver = '[::1'\n", "[acme] resolver: '[::1' is not host or host:port"),
        ("[dns]\nmta_sts_mode = 'strict'\n", "[dns] mta_sts_mode: expected one of testing, enforce, none"),
        ("[dns]\nreports_local_part = 'post master'\n", "[dns] reports_local_part: expected a local part"),
        ("[dns]\ncatalog = 'not a zone'\n", "[dns] catalog: expected a fully qualified host name"),
        ("[dns]\ncatalog = 'appliance.test'\n", "[dns] catalog: the catalog zone needs a name of its own"),
    ],
)
def test_bad_config_names_file_section_and_key(tmp_path, text, message):
    """Each mistake is a ConfigError naming the file and where in it."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        settings.load(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_addresses_durations_and_routes_are_parsed_at_load(tmp_path):
    """Durations, host:port values, routes and resolvers come out of the
    loader already parsed, so services never parse (or fail) later."""
    s = settings.load(write(tmp_path, """
[smtp]
retry_schedule = ["30s", "5m", "2h", "1d"]
transport = ["example.com=[2001:db8::25]:2525", "Other.Example=relay.example:25"]
smarthost = "relay.example"
resolver = "[2001:db8::53]:5353"
[acme]
resolver = "192.0.2.53"
"""))
    assert s.smtp.retry_schedule == (30.0, 300.0, 7200.0, 86400.0)
    assert dict(s.smtp.transport) == {"example.com": ("2001:db8::25", 2525), "other.example": ("relay.example", 25)}
    assert s.smtp.smarthost == ("relay.example", 0)
    assert s.smtp.resolver == ("2001:db8::53", 5353)
    assert s.acme.resolver == ("192.0.2.53", 53)
    assert settings.load(None).smtp.resolver is None and settings.load(None).smtp.smarthost is None


def test_check_reports_a_bad_setting_with_file_and_key(cli, config_file):
    """`appliance check` with a bad value in the config fails in one line that
    names the file, the section and the key (exit 78, as the daemon)."""
    config_file.write_text(config_file.read_text() + "\n[smtp]\nretry_schedule = ['soon']\n")
    proc = cli("check", check=False)
    assert proc.returncode == 78
    assert proc.stderr.strip().splitlines() == [
        f"appliance: config error: {config_file}: [smtp] retry_schedule: 'soon' is not a duration like 30s, 5m, 2h, 1d"
    ]


def test_plans_can_be_changed_and_added(tmp_path):
    """A [plans.NAME] table adds a plan and inherits unspecified limits from standard."""
    s = settings.load(write(tmp_path, "[plans.gold]\nmax_users = 50\n[box]\ndefault_plan = 'gold'\n"))
    assert s.plans["gold"].max_users == 50
    assert s.plans["gold"].messages_per_day == s.plans["standard"].messages_per_day


def test_readme_configuration_reference_matches_the_schema():
    """The README's reference section is exactly what the schema renders."""
    readme = (ROOT / "README.md").read_text()
    begin, end = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
    assert begin in readme and end in readme
    section = readme.split(begin, 1)[1].split(end, 1)[0]
    assert section == settings.reference(), "run: appliance config-reference, and paste it into README.md"


def test_example_production_config_is_valid():
    """images/appliance.toml loads and uses the standard ports."""
    s = settings.load(ROOT / "images" / "appliance.toml")
    assert (s.listen.smtp, s.listen.submission, s.listen.imaps, s.listen.dns, s.listen.https) == (25, 587, 993, 53, 443)
