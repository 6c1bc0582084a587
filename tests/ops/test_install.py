"""images/install without touching this machine: the script parses, its
help names every option, its config step writes (under --root) a config
that loads with the box's names and is never overwritten, its dry run
changes nothing, and images/requirements.txt pins with hashes every
dependency setup.cfg pins.

The real install into a fresh Debian root is images/test-install (slow,
run by hand)."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

import pytest

from appliance import settings
from appliance.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent.parent
INSTALL = ROOT / "images" / "install"
REQUIREMENTS = ROOT / "images" / "requirements.txt"
NAMES = ["--hostname", "box.example.test", "--domain", "example.test"]


def install(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(INSTALL), *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def config_only(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return install("--config-only", "--root", str(root), *args, check=check)


@pytest.mark.parametrize("script", ["install", "test-install"])
def test_scripts_parse(script):
    """bash -n accepts images/install and images/test-install."""
    proc = subprocess.run(["bash", "-n", str(ROOT / "images" / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_help_names_every_option():
    """--help exits 0 and documents each option the installer takes."""
    out = install("--help").stdout
    for option in (
        "--hostname", "--domain", "--admin-email", "--ipv4", "--ipv6", "--acme-directory", "--resolver",
        "--answers", "--source", "--yes", "--no-start", "--no-rspamd", "--config-only", "--root", "--dry-run",
        "--upgrade", "--health-timeout", "--keep", "--prefix", "--config", "--state", "--service-cmd", "--deps-from",
    ):
        assert option in out, option


def test_unknown_option_is_refused(tmp_path):
    """An unknown option is one error line, a non-zero exit and nothing written."""
    proc = config_only(tmp_path, *NAMES, "--colour", "red", check=False)
    assert proc.returncode != 0
    assert "unknown argument --colour" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_config_step_writes_a_config_with_the_box_names(tmp_path):
    """The config written from the flags loads with appliance.settings and holds the given names and addresses."""
    config_only(
        tmp_path, *NAMES, "--admin-email", "ops@example.test", "--ipv4", "192.0.2.10,192.0.2.11",
        "--ipv6", "2001:db8::10", "--acme-directory", "https://acme.example.test/dir", "--resolver", "192.0.2.53",
    )
    path = tmp_path / "etc" / "appliance" / "appliance.toml"
    s = settings.load(path)
    assert s.box.hostname == "box.example.test"
    assert s.box.domain == "example.test"
    assert s.box.admin_email == "ops@example.test"
    assert s.box.ipv4 == ("192.0.2.10", "192.0.2.11")
    assert s.box.ipv6 == ("2001:db8::10",)
    assert s.acme.directory == "https://acme.example.test/dir"
    assert s.smtp.resolver == ("192.0.2.53", 53)
    assert (s.listen.smtp, s.listen.dns, s.listen.https) == (25, 53, 443)  # production ports, from images/appliance.toml
    assert path.stat().st_mode & 0o777 == 0o640


def test_config_step_sets_up_rspamd_on_loopback_with_a_made_password(tmp_path):
    """[rspamd] points at the local rspamd's loopback workers with the controller password the installer made
    (kept, root and the appliance group only, for rspamd's own settings); a second run keeps it."""
    config_only(tmp_path, *NAMES, "--ipv4", "192.0.2.10")
    secret = tmp_path / "etc" / "appliance" / "rspamd.password"
    password = secret.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{48}", password) and secret.stat().st_mode & 0o777 == 0o640
    s = settings.load(tmp_path / "etc" / "appliance" / "appliance.toml")
    assert (s.rspamd.url, s.rspamd.controller_url) == ("http://127.0.0.1:11333", "http://127.0.0.1:11334")
    assert s.rspamd.password == password
    (tmp_path / "etc" / "appliance" / "appliance.toml").unlink()
    config_only(tmp_path, *NAMES, "--ipv4", "192.0.2.10")
    assert secret.read_text().strip() == password
    assert settings.load(tmp_path / "etc" / "appliance" / "appliance.toml").rspamd.password == password


def test_no_rspamd_leaves_content_scoring_off(tmp_path):
    """--no-rspamd: no [rspamd] section (scoring off) and no password made."""
    config_only(tmp_path, *NAMES, "--ipv4", "192.0.2.10", "--no-rspamd")
    s = settings.load(tmp_path / "etc" / "appliance" / "appliance.toml")
    assert (s.rspamd.url, s.rspamd.controller_url) == ("", "")
    assert not (tmp_path / "etc" / "appliance" / "rspamd.password").exists()
    out = install("--dry-run", "--yes", "--root", str(tmp_path / "dry"), *NAMES, "--ipv4", "192.0.2.10", "--no-rspamd").stdout
    assert "  rspamd        (none: no content scoring)" in out and "==> no rspamd (--no-rspamd)" in out
    assert "override.d" not in out and "rspamd.service" not in out and "[rspamd]" not in out


def test_config_step_finds_what_it_can(tmp_path):
    """Given only a host name, the domain and admin address follow from it, and ACME defaults to Let's Encrypt."""
    config_only(tmp_path, "--hostname", "mail.shop.example.test", "--ipv4", "192.0.2.10")
    s = settings.load(tmp_path / "etc" / "appliance" / "appliance.toml")
    assert s.box.domain == "shop.example.test"
    assert s.box.admin_email == "hostmaster@shop.example.test"
    assert s.acme.directory == "https://acme-v02.api.letsencrypt.org/directory"


def test_empty_acme_directory_turns_acme_off(tmp_path):
    """--acme-directory "" leaves [acme] directory empty (no ACME)."""
    config_only(tmp_path, *NAMES, "--ipv4", "192.0.2.10", "--acme-directory", "", "--resolver", "")
    s = settings.load(tmp_path / "etc" / "appliance" / "appliance.toml")
    assert s.acme.directory == ""
    assert s.smtp.resolver is None


def test_existing_config_is_never_overwritten(tmp_path):
    """Running the config step again keeps the operator's file byte for byte."""
    config_only(tmp_path, *NAMES, "--ipv4", "192.0.2.10")
    path = tmp_path / "etc" / "appliance" / "appliance.toml"
    path.write_text(path.read_text() + "# edited by the operator\n")
    before = path.read_bytes()
    proc = config_only(tmp_path, "--hostname", "other.example.test", "--ipv4", "192.0.2.99")
    assert "keeping the existing" in proc.stdout
    assert path.read_bytes() == before


def test_answers_file_gives_values_and_flags_win(tmp_path):
    """KEY=VALUE lines of --answers are used; a flag given beside it wins."""
    answers = tmp_path / "answers"
    answers.write_text(
        "# the box\nhostname = box.example.test\ndomain=example.test\nadmin-email = \"ops@example.test\"\nipv4 = 192.0.2.10\n"
    )
    root = tmp_path / "root"
    config_only(root, "--answers", str(answers), "--ipv4", "192.0.2.20")
    s = settings.load(root / "etc" / "appliance" / "appliance.toml")
    assert (s.box.hostname, s.box.domain, s.box.admin_email) == ("box.example.test", "example.test", "ops@example.test")
    assert s.box.ipv4 == ("192.0.2.20",)


def test_answers_file_with_an_unknown_key_is_refused(tmp_path):
    """An answers file is data: an unknown key is refused and nothing is written."""
    answers = tmp_path / "answers"
    answers.write_text("hostname = box.example.test\nrm -rf / = now\n")
    root = tmp_path / "root"
    proc = config_only(root, "--answers", str(answers), check=False)
    assert proc.returncode != 0
    assert "answers" in proc.stderr
    assert not root.exists()


def test_a_host_name_that_is_not_full_is_refused(tmp_path):
    """A one-label host name (no domain to derive) is refused with a hint to pass --hostname."""
    proc = config_only(tmp_path, "--hostname", "localhost", "--ipv4", "192.0.2.10", check=False)
    assert proc.returncode != 0
    assert "pass --hostname" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_bad_address_gives_a_config_that_does_not_load(tmp_path):
    """A wrong address is not silently dropped: the schema names it when the config is loaded."""
    config_only(tmp_path, *NAMES, "--ipv4", "300.1.1.1")
    with pytest.raises(ConfigError, match=r"\[box\] ipv4"):
        settings.load(tmp_path / "etc" / "appliance" / "appliance.toml")


def test_dry_run_prints_the_steps_and_changes_nothing(tmp_path):
    """--dry-run shows the venv, the hash-checked pip installs, the unit, the completion and man page, and the start, and writes nothing."""
    out = install("--dry-run", "--yes", "--root", str(tmp_path), *NAMES, "--ipv4", "192.0.2.10").stdout
    release = re.search(r"^\+ /usr/bin/python3 -m venv (/opt/appliance/releases/0\.1\.0-[0-9a-f]{12})/\.venv$", out, re.M)
    assert release, out
    assert re.search(rf"pip install .*--require-hashes --no-deps --no-build-isolation -r {release[1]}/images/requirements.txt", out)
    assert re.search(rf"pip install .*--no-deps .*{release[1]}$", out, re.M)
    assert re.search(rf"^\+ ln -sfn releases/{release[1].rsplit('/', 1)[1]} /opt/appliance/current.new$", out, re.M)
    assert "systemctl enable appliance.service" in out
    assert "/etc/systemd/system/appliance.service" in out
    # The completion and the man page, made by the new release's own CLI.
    cli = r"^\+ /opt/appliance/current/\.venv/bin/appliance"
    assert re.search(rf"{cli} completion bash > /etc/bash_completion\.d/appliance$", out, re.M)
    assert re.search(rf"{cli} manpage > /usr/local/share/man/man1/appliance\.1$", out, re.M)
    assert 'hostname = "box.example.test"' in out  # the config it would write
    # rspamd: its loopback settings, the [rspamd] section, started before the box.
    assert re.search(r"^==> (writing|keeping the existing) /etc/rspamd/override.d/worker-controller.inc$", out, re.M)
    assert '  | url = "http://127.0.0.1:11333"' in out
    assert out.index("systemctl restart rspamd.service") < out.index("systemctl restart appliance.service")
    assert "ns1.example.test" in out and "https://box.example.test/" in out  # what to set at the registrar
    assert list(tmp_path.iterdir()) == []


def _pins(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?==(\S+)", line)
        if m:
            found[re.sub(r"[-_.]+", "-", m[1]).lower()] = m[3]
    return found


def test_requirements_cover_every_setup_cfg_pin_with_hashes():
    """Each install_requires pin of setup.cfg is in images/requirements.txt at the same version, and every entry there has a sha256 hash."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = [l.split("#")[0].strip() for l in cfg["options"]["install_requires"].splitlines()]
    wanted = _pins("\n".join(l for l in lines if l))
    assert len(wanted) >= 20
    text = REQUIREMENTS.read_text()
    pinned = _pins("\n".join(l for l in text.splitlines() if not l.startswith((" ", "#"))))
    for name, version in wanted.items():
        assert pinned.get(name) == version, f"{name}=={version} in setup.cfg, {pinned.get(name)} in images/requirements.txt"
    entries = re.split(r"\n(?=[A-Za-z0-9])", "\n".join(l for l in text.splitlines() if not l.startswith("#")).strip())
    assert len(entries) == len(pinned)
    for entry in entries:
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), entry.splitlines()[0]
    for tool in ("pip", "setuptools", "wheel"):  # the build runs offline of unpinned build dependencies
        assert tool in pinned, tool


def test_cloud_init_runs_the_installer_with_the_fqdn():
    """images/cloud-init.yaml is cloud-config YAML whose runcmd runs images/install --yes with the fqdn it sets."""
    yaml = pytest.importorskip("yaml")
    path = ROOT / "images" / "cloud-init.yaml"
    assert path.read_text().startswith("#cloud-config\n")
    data = yaml.safe_load(path.read_text())
    install_cmd = next(cmd for cmd in data["runcmd"] if cmd[0].endswith("images/install"))
    assert "--yes" in install_cmd
    assert install_cmd[install_cmd.index("--hostname") + 1] == data["fqdn"]
    assert "git" in data["packages"]


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--hostname", 'box.example.test"\n[x]', "is not a host name"),
        ("--domain", "exa mple.test", "is not a domain name"),
        ("--admin-email", 'ops"@example.test', "is not an address"),
        ("--acme-directory", "ftp://ca.example.test", "is not an ACME directory URL"),
        ("--ipv4", '192.0.2.1"]', "is not an IP address"),
    ],
)
def test_values_that_would_break_the_config_are_refused(tmp_path, flag, value, message):
    """A value that is not a name, address or URL is refused before anything is written."""
    args = dict(zip(NAMES[::2], NAMES[1::2]), **{"--ipv4": "192.0.2.10"})
    args[flag] = value
    proc = config_only(tmp_path, *[x for kv in args.items() for x in kv], check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []
