"""Every CLI command, with good and bad input, as the operator runs it.

Bad input prints one line on stderr, exits non-zero and changes nothing.
"""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import TEST_CONFIG, Cli


def business(cli, slug="acme", domain="acme.example"):
    cli("tenant", "add", slug, "--name", "Acme Ltd", "--domain", domain)


@pytest.fixture(scope="module")
def refusing(tmp_path_factory):
    """One state for the refusal tests, which change nothing (each checks
    so): businesses acme and beta, users ann@acme.example and
    someone@beta.example."""
    work = tmp_path_factory.mktemp("refusals")
    (work / "state").mkdir()
    config = work / "appliance.toml"
    config.write_text(TEST_CONFIG)
    cli = Cli(work / "state", config)
    business(cli)
    business(cli, "beta", "beta.example")
    cli("user", "add", "ann@acme.example")
    cli("user", "add", "someone@beta.example")
    return cli


def snapshot(cli):
    """Everything the CLI can list, to prove a refused command changed nothing."""
    tenants = cli.json("tenant", "list")
    out = {"tenants": tenants}
    for t in tenants:
        out[t["slug"]] = (cli.json("user", "list", t["slug"]), cli.json("alias", "list", t["slug"]))
    return out


def assert_refused(cli, *args, message, input=None):
    before = snapshot(cli)
    proc = cli(*args, input=input, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert message in lines[0]
    assert snapshot(cli) == before


def test_tenant_add_list_show(cli):
    """A new business has its free domain and its own; list and show agree, as text and JSON."""
    business(cli)
    [t] = cli.json("tenant", "list")
    assert t["slug"] == "acme" and t["domains"] == ["acme.appliance.test", "acme.example"]
    shown = cli.json("tenant", "show", "acme")
    assert shown["name"] == "Acme Ltd" and shown["plan"]["name"] == "standard"
    assert "acme.example (own)" in cli("tenant", "show", "acme").stdout
    assert "acme" in cli("tenant", "list").stdout


@pytest.mark.parametrize("args, message", [
    (("tenant", "add", "Bad_Slug"), "invalid business slug"),
    (("tenant", "add", "x" * 64), "invalid business slug"),
    (("tenant", "add", "acme"), "business acme already exists"),
    (("tenant", "add", "other", "--domain", "acme.example"), "already belongs to another business"),
    (("tenant", "add", "other", "--domain", "not_a_domain"), "invalid domain"),
    (("tenant", "add", "other", "--plan", "platinum"), "no plan named 'platinum'"),
    (("tenant", "add", "other", "--domain", "x.appliance.test"), "under the box domain"),
    (("tenant", "show", "missing"), "no business missing"),
    (("tenant", "suspend", "../acme"), "invalid business slug"),
])
def test_tenant_bad_input_is_refused(cli, args, message):
    """Invalid slugs, taken names and domains, unknown plans: one line, nothing changed."""
    business(cli)
    assert_refused(cli, *args, message=message)


def test_suspend_resume_and_plan(cli):
    """suspend/resume flip the state; plan moves the business to another plan."""
    business(cli)
    cli("tenant", "suspend", "acme")
    assert cli.json("tenant", "show", "acme")["state"] == "suspended"
    assert cli.json("tenant", "list")[0]["state"] == "suspended"
    cli("tenant", "resume", "acme")
    assert cli.json("tenant", "show", "acme")["state"] == "active"
    cli("tenant", "plan", "acme", "small")
    assert cli.json("tenant", "show", "acme")["plan"]["max_users"] == 3


def test_domain_add_remove(cli):
    """A second own domain can be added and removed; the free domain cannot be removed."""
    business(cli)
    cli("domain", "add", "acme", "Acme-Shop.EXAMPLE.")
    names = [d["name"] for d in cli.json("domain", "list", "acme")]
    assert "acme-shop.example" in names
    cli("user", "add", "sales@acme-shop.example")
    cli("domain", "remove", "acme-shop.example")
    assert "acme-shop.example" not in [d["name"] for d in cli.json("domain", "list", "acme")]
    assert cli.json("user", "list", "acme") == []
    assert_refused(cli, "domain", "remove", "acme.appliance.test", message="free domain")


def test_domain_of_another_business_is_refused(cli):
    """A domain owned by one business cannot be added to another."""
    business(cli)
    business(cli, "beta", "beta.example")
    assert_refused(cli, "domain", "add", "beta", "acme.example", message="already belongs to another business")


def test_user_add_generates_a_password_once(cli):
    """Without --password-stdin a strong password is generated and printed once."""
    business(cli)
    out = cli("user", "add", "Ann@acme.example", "--name", "Ann").stdout
    assert out.startswith("password for ann@acme.example: ")
    assert len(out.split(": ")[1].strip()) >= 16
    [u] = cli.json("user", "list", "acme")
    assert u["address"] == "ann@acme.example" and u["display_name"] == "Ann"
    assert "password" not in str(cli.json("user", "list", "acme"))


def test_user_password_stdin_and_passwd(cli, state_dir):
    """--password-stdin sets the given password; passwd replaces the hash."""
    business(cli)
    assert cli("user", "add", "bob@acme.example", "--password-stdin", input="first secret\n").stdout == ""

    def stored():
        conn = sqlite3.connect(state_dir / "tenants" / "acme.sqlite3")
        value = conn.execute("SELECT password_hash FROM users").fetchone()[0]
        conn.close()
        return value

    first = stored()
    assert first.startswith("$argon2id$")
    cli("user", "passwd", "bob@acme.example", "--password-stdin", input="second secret\n")
    assert stored() != first


@pytest.mark.parametrize("args, stdin, message", [
    (("user", "add", "not-an-address"), None, "invalid address"),
    (("user", "add", '"quoted"@acme.example'), None, "invalid address"),
    (("user", "add", "x@unhosted.example"), None, "no business has domain unhosted.example"),
    (("user", "add", "ann@acme.example"), None, "user ann@acme.example already exists"),
    (("user", "add", "new@acme.example", "--password-stdin"), "x" * 2000 + "\n", "password longer than"),
    (("user", "add", "new@acme.example", "--password-stdin"), "short\n", "password shorter than"),
    (("user", "add", "new@acme.example", "--password-stdin"), "", "no password on standard input"),
    (("user", "passwd", "ghost@acme.example"), None, "no user ghost@acme.example"),
    (("user", "remove", "ghost@acme.example"), None, "no user ghost@acme.example"),
    (("user", "list", "missing"), None, "no business missing"),
])
def test_user_bad_input_is_refused(refusing, args, stdin, message):
    """Bad addresses, duplicates, oversized passwords: one line, nothing changed."""
    assert_refused(refusing, *args, message=message, input=stdin)


def test_plan_user_limit_is_enforced(cli):
    """The small plan allows 3 users; the fourth is refused."""
    cli("tenant", "add", "tiny", "--plan", "small")
    for i in range(3):
        cli("user", "add", f"u{i}@tiny.appliance.test")
    assert_refused(cli, "user", "add", "u3@tiny.appliance.test", message="the plan allows 3 users")


def test_user_remove(cli):
    """A removed user is gone from the listing and from aliases that named it."""
    business(cli)
    cli("user", "add", "ann@acme.example")
    cli("user", "add", "bob@acme.example")
    cli("alias", "add", "team@acme.example", "ann@acme.example", "bob@acme.example")
    cli("user", "remove", "ann@acme.example")
    assert [u["address"] for u in cli.json("user", "list", "acme")] == ["bob@acme.example"]
    assert cli.json("alias", "list", "acme") == [{"address": "team@acme.example", "targets": ["bob@acme.example"]}]


def test_alias_add_list_remove(cli):
    """Aliases with several targets and a catch-all; removing one target or the whole alias."""
    business(cli)
    cli("user", "add", "ann@acme.example")
    cli("user", "add", "bob@acme.example")
    cli("alias", "add", "info@acme.example", "ann@acme.example", "bob@acme.example")
    cli("alias", "add", "@acme.example", "ann@acme.example")
    assert cli.json("alias", "list", "acme") == [
        {"address": "@acme.example", "targets": ["ann@acme.example"]},
        {"address": "info@acme.example", "targets": ["ann@acme.example", "bob@acme.example"]},
    ]
    cli("alias", "remove", "info@acme.example", "bob@acme.example")
    cli("alias", "remove", "@acme.example")
    assert cli.json("alias", "list", "acme") == [{"address": "info@acme.example", "targets": ["ann@acme.example"]}]


@pytest.mark.parametrize("args, message", [
    (("alias", "add", "x@acme.example", "someone@beta.example"), "outside this business"),
    (("alias", "add", "x@acme.example", "nobody@acme.example"), "not a user or alias of this business"),
    (("alias", "add", "ann@acme.example", "ann@acme.example"), "already a user"),
    (("alias", "add", "x@acme.example", "bad address"), "invalid address"),
    (("alias", "add", "x@acme.example", "x@acme.example"), "cannot point at itself"),
    (("alias", "remove", "none@acme.example"), "no alias none@acme.example"),
])
def test_alias_bad_input_is_refused(refusing, args, message):
    """Aliases never point outside the business or at nothing."""
    assert_refused(refusing, *args, message=message)


def test_export_remove_import_round_trip(cli, tmp_path):
    """A business exported, removed and imported again has the same content."""
    business(cli)
    cli("user", "add", "ann@acme.example", "--name", "Ann")
    cli("alias", "add", "info@acme.example", "ann@acme.example")
    before = (cli.json("tenant", "show", "acme"), cli.json("user", "list", "acme"), cli.json("alias", "list", "acme"))
    export = tmp_path / "acme.export"
    cli("tenant", "export", "acme", str(export))
    removed = cli("tenant", "remove", "acme").stdout
    assert "removed" in removed and cli.json("tenant", "list") == []
    cli("tenant", "import", str(export))
    after = (cli.json("tenant", "show", "acme"), cli.json("user", "list", "acme"), cli.json("alias", "list", "acme"))
    assert after == before


def test_import_refuses_bad_files_and_taken_domains(cli, tmp_path):
    """A corrupt file, a non-business file and a business whose domain is taken are refused."""
    business(cli)
    export = tmp_path / "acme.export"
    cli("tenant", "export", "acme", str(export))
    assert_refused(cli, "tenant", "import", str(export), message="business acme already exists")
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"\x00garbage" * 512)
    assert_refused(cli, "tenant", "import", str(junk), message="not an SQLite database")
    assert_refused(cli, "tenant", "import", str(tmp_path / "missing"), message="no file")
    assert_refused(cli, "tenant", "export", "acme", str(export), message="already exists")


def test_usage_reports_counts(cli):
    """usage gives user, alias and domain counts and the file size."""
    business(cli)
    cli("user", "add", "ann@acme.example")
    u = cli.json("tenant", "usage", "acme")
    assert u["counts"] == {"users": 1, "aliases": 0, "domains": 2}
    assert u["file_bytes"] > 0


def test_unknown_command_and_missing_arguments_exit_2(cli):
    """argparse errors exit 2 with usage on stderr."""
    assert cli("tenant", "frobnicate", check=False).returncode == 2
    assert cli("user", "add", check=False).returncode == 2


def test_cli_run_as_root_acts_as_the_state_directory_owner(cli, state_dir):
    """Started by root on a state dir owned by another user, new files belong to that user."""
    import os
    import pytest as _pytest

    if os.geteuid() != 0:
        _pytest.skip("needs root to switch users")
    nobody_uid, nobody_gid = 65534, 65534
    os.chown(state_dir, nobody_uid, nobody_gid)
    os.chmod(state_dir.parent, 0o755)
    for parent in state_dir.parents:
        if str(parent) == "/":
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o005)
    cli("tenant", "add", "owned")
    made = state_dir / "tenants" / "owned.sqlite3"
    assert made.stat().st_uid == nobody_uid
    assert (state_dir / "box.sqlite3").stat().st_uid == nobody_uid


def test_concurrent_creation_of_one_slug_leaves_one_whole_business(cli):
    """Four operators creating the same business at once: one wins, the others get one error line, the file is intact."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    cmd = [sys.executable, "-m", "appliance", "--state", str(cli.state), "--config", str(cli.config), "tenant", "add", "race"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [(p.wait(60), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 1, 1, 1]
    assert all("already exists" in err for code, err in results if code)
    assert cli.json("tenant", "show", "race")["slug"] == "race"
    assert "ok" in cli("check", "--local").stdout


def _run_binary(cli, *args, umask=None):
    """The CLI as a subprocess with binary standard output (and a umask)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    cmd = [sys.executable, "-m", "appliance", "--state", str(cli.state), "--config", str(cli.config), *args]
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, timeout=120,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )


def test_export_to_dash_writes_the_business_to_standard_output(cli, tmp_path):
    """``tenant export SLUG -`` writes the whole business file to standard
    output (nothing else on it, no file named '-', no temporary file left),
    and that stream imports on another box."""
    from tests.conftest import ROOT
    from storage.tenants import check_file

    business(cli)
    cli("user", "add", "ann@acme.example", "--name", "Ann")
    before = (cli.json("tenant", "show", "acme"), cli.json("user", "list", "acme"))
    proc = _run_binary(cli, "tenant", "export", "acme", "-")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    assert proc.stdout.startswith(b"SQLite format 3\x00") and len(proc.stdout) > 4096
    assert not (ROOT / "-").exists()
    assert list((cli.state / "run").glob(".export-*")) == []
    export = tmp_path / "streamed.sqlite3"
    export.write_bytes(proc.stdout)
    check_file(export)
    (tmp_path / "other").mkdir()
    other = Cli(tmp_path / "other", cli.config)
    other("tenant", "import", str(export))
    assert (other.json("tenant", "show", "acme"), other.json("user", "list", "acme")) == before


def test_exported_and_imported_business_files_are_0640_or_stricter(cli, tmp_path):
    """Even with a umask of 000, an export and the file an import puts in
    place (and its WAL and shared-memory files) are at most rw-r----- : a
    business file holds password hashes and mail."""
    import os
    import stat

    business(cli)
    cli("user", "add", "ann@acme.example")
    export = tmp_path / "acme.export"
    proc = _run_binary(cli, "tenant", "export", "acme", str(export), umask=0)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(export.stat().st_mode) & ~0o640 == 0, oct(export.stat().st_mode)
    cli("tenant", "remove", "acme")
    os.chmod(export, 0o644)  # as a copy from elsewhere may arrive
    proc = _run_binary(cli, "tenant", "import", str(export), umask=0)
    assert proc.returncode == 0, proc.stderr
    assert cli.json("user", "list", "acme")[0]["address"] == "ann@acme.example"
    placed = sorted((cli.state / "tenants").glob("acme.sqlite3*"))
    assert placed
    for path in placed:
        assert stat.S_IMODE(path.stat().st_mode) & ~0o640 == 0, (path.name, oct(path.stat().st_mode))


def test_user_suspend_and_resume(cli):
    """A suspended user is listed so and resumed to active; the business's
    only owner cannot be suspended, and a quota beyond the plan's mailbox
    size is refused (the control panel's rules, from the same service)."""
    business(cli)
    cli("user", "add", "ann@acme.example")
    cli("user", "add", "bob@acme.example")
    cli("user", "suspend", "bob@acme.example")
    states = {u["address"]: u["state"] for u in cli.json("user", "list", "acme")}
    assert states == {"ann@acme.example": "active", "bob@acme.example": "suspended"}
    assert_refused(cli, "user", "suspend", "ann@acme.example", message="only active owner")
    assert_refused(cli, "user", "quota", "bob@acme.example", "2049", message="the plan allows mailboxes of at most 2048 MiB")
    cli("user", "resume", "bob@acme.example")
    assert {u["state"] for u in cli.json("user", "list", "acme")} == {"active"}
