"""``images/install --upgrade`` for real, against a prefix, config and
state of the test's own: releases are built from copies of this tree (with a
migration added, or a daemon that cannot start), the daemon runs from
``<prefix>/current`` on ephemeral ports, started and stopped by
``tests/ops/direct-service`` where a box has systemd.

Each test starts from an install made the way the installer made them
before releases existed (the code and its venv right under the prefix),
so the first upgrade also moves the box to the releases layout.

To keep each test within a minute, a release's venv takes the
dependencies from this interpreter's site-packages (``--deps-from``)
instead of installing images/requirements.txt from PyPI; every other step
is the production one. The whole thing on a real Debian root, with systemd
units and PyPI, is images/test-install (slow, by hand).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_CONFIG, wait_for

ROOT = Path(__file__).resolve().parent.parent.parent
INSTALL = "images/install"
DIRECT_SERVICE = Path(__file__).resolve().parent / "direct-service"
SITE_PACKAGES = sysconfig.get_paths()["purelib"]
#: What a release leaves out (images/install's SKIP).
SKIP = (".git", ".venv", "__pycache__", "*.egg-info", "build", ".pytest_cache", "node_modules")
#: Seconds a new release gets to answer /healthz here.
HEALTH_TIMEOUT = 30

BOX_MIGRATION = '''

@MIGRATIONS(name="9000_{name}")
def _m9000_{name}(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE {name} (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
'''
UNHEALTHY = '''

async def run(app: App) -> Health:
    return Health((Check("upgrade", False, "this release never answers ok"),))
'''
BROKEN_SERVE = '''
def _serve(ctx) -> int:
    raise SystemExit("this release cannot start")


def _serve_as_it_was(ctx) -> int:'''


def tree(dest: Path, *, migration: str | None = None, broken: bool = False, unhealthy: bool = False) -> Path:
    """A copy of this tree as a release would take it; with ``migration``,
    one more migration in the box and in business files (a table of that
    name); with ``broken``, a daemon that exits at once; with ``unhealthy``,
    one that runs but whose /healthz never answers ok."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*SKIP), symlinks=True)
    if migration:
        for module in ("box", "picturesenders"):
            path = dest / "storage" / f"{module}.py"
            path.write_text(path.read_text() + BOX_MIGRATION.format(name=migration))
    if broken:
        path = dest / "appliance" / "cli" / "serve.py"
        path.write_text(path.read_text().replace("\ndef _serve(ctx) -> int:", BROKEN_SERVE, 1))
    if unhealthy:
        path = dest / "appliance" / "health.py"
        path.write_text(path.read_text() + UNHEALTHY)
    return dest


class Box:
    """An installed box under ``root``: prefix, config, state, and the
    daemon run by direct-service."""

    def __init__(self, root: Path, extra_config: str = ""):
        self.root = root
        self.prefix = root / "opt"
        self.state = root / "state"
        self.config = root / "appliance.toml"
        self.service_dir = root / "service"
        for d in (self.prefix, self.state, self.service_dir):
            d.mkdir(parents=True)
        self.config.write_text(TEST_CONFIG + extra_config)
        self.env = {**os.environ, "PREFIX": str(self.prefix), "CONFIG": str(self.config), "STATE": str(self.state),
                    "SERVICE_DIR": str(self.service_dir)}

    def install_old_layout(self, source: Path) -> None:
        """What images/install did before releases: the tree and its venv
        right under the prefix."""
        shutil.copytree(source, self.prefix, dirs_exist_ok=True, symlinks=True)
        venv = self.prefix / ".venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        purelib = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        Path(purelib, "appliance-deps.pth").write_text(SITE_PACKAGES + "\n")
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--no-deps", "--no-build-isolation", "--no-index", str(self.prefix)],
                       check=True, capture_output=True, timeout=180)

    def service(self, action: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(DIRECT_SERVICE), action], env=self.env, capture_output=True, text=True, timeout=90)
        if check:
            assert proc.returncode == 0, f"{action}: {proc.stderr}\n{self.log()}"
        return proc

    def upgrade_argv(self, source: Path) -> list[str]:
        return [str(source / INSTALL), "--upgrade", "--yes", "--source", str(source), "--prefix", str(self.prefix),
                "--config", str(self.config), "--state", str(self.state), "--service-cmd", str(DIRECT_SERVICE),
                "--deps-from", SITE_PACKAGES, "--python", sys.executable, "--health-timeout", str(HEALTH_TIMEOUT)]

    def upgrade(self, source: Path, *options: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.upgrade_argv(source), *options],
            env=self.env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
        )

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        """The installed version's CLI (``<prefix>/current``, or the old layout's)."""
        exe = self.prefix / "current" / ".venv" / "bin" / "appliance"
        if not exe.exists():
            exe = self.prefix / ".venv" / "bin" / "appliance"
        proc = subprocess.run([str(exe), "--config", str(self.config), "--state", str(self.state), *args],
                              input=input, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr}"
        return proc

    def daemon_command(self) -> str:
        """The running daemon's command line (which release it runs)."""
        pid = (self.service_dir / "daemon.pid").read_text().strip()
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()

    def tables(self, rel: str) -> set[str]:
        conn = sqlite3.connect(f"{(self.state / rel).as_uri()}?mode=ro", uri=True)
        try:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()

    def add_user(self, local: str) -> None:
        self.cli("user", "add", f"{local}@acme.appliance.test", "--password-stdin", input="a long enough password 1\n")

    def replica(self, name: str) -> dict:
        """``name``'s row of ``backup status --json`` (which exits 1 while one is late)."""
        exe = self.prefix / "current" / ".venv" / "bin" / "appliance"
        proc = subprocess.run([str(exe), "--config", str(self.config), "--state", str(self.state), "backup", "status",
                               "--json"], capture_output=True, text=True, timeout=60)
        return next(r for r in json.loads(proc.stdout)["databases"] if r["name"] == name)

    def users(self) -> list[str]:
        return sorted(u["address"] for u in json.loads(self.cli("user", "list", "acme", "--json").stdout))

    def log(self) -> str:
        path = self.service_dir / "daemon.log"
        return path.read_text()[-3000:] if path.exists() else ""


def old_box(root: Path, extra_config: str = "") -> Box:
    """A box on the old layout, running, with business acme and one user."""
    b = Box(root / "box", extra_config)
    b.install_old_layout(tree(root / "v1"))
    b.service("start")
    b.cli("tenant", "add", "acme", "--name", "Acme")
    b.add_user("ann")
    return b


@pytest.fixture
def box(tmp_path):
    b = old_box(tmp_path)
    yield b
    b.service("stop", check=False)


def test_an_upgrade_moves_to_releases_migrates_keeps_the_data_and_is_done_once(box, tmp_path):
    """The first upgrade keeps the old install as release "legacy", runs the
    new release's migrations on the box and every business, starts the new
    daemon from <prefix>/current and keeps the data; run again, it does nothing."""
    new = tree(tmp_path / "v2", migration="upgrade_v2")

    proc = box.upgrade(new)
    assert proc.returncode == 0, proc.stdout + proc.stderr + box.log()
    release = os.readlink(box.prefix / "current")
    assert release.startswith("releases/0.1.0-"), release
    assert f"upgraded from release legacy to {release.removeprefix('releases/')}" in proc.stdout
    assert os.readlink(box.prefix / "releases" / "legacy") == ".."
    assert f"/{release}/.venv/bin/" in box.daemon_command()
    box.cli("health")
    assert "upgrade_v2" in box.tables("box.sqlite3")
    assert "upgrade_v2" in box.tables("tenants/acme.sqlite3")
    assert box.users() == ["ann@acme.appliance.test"]
    snapshots = list((box.state / "upgrades").iterdir())
    assert len(snapshots) == 1
    assert "upgrade_v2" not in sqlite3.connect(snapshots[0] / "box.sqlite3").execute(
        "SELECT group_concat(name) FROM sqlite_master").fetchone()[0]  # taken before the migration

    before = box.daemon_command(), (box.service_dir / "daemon.pid").read_text()
    again = box.upgrade(new)
    assert again.returncode == 0, again.stderr
    assert "is installed and answers: nothing to do" in again.stdout
    assert (box.daemon_command(), (box.service_dir / "daemon.pid").read_text()) == before
    assert len(list((box.state / "upgrades").iterdir())) == 1


def test_a_release_that_cannot_start_is_rolled_back_with_the_data(box, tmp_path):
    """A release whose daemon exits at once, after its migrations ran: the
    upgrade exits 1 saying so, `current` points at the old release again,
    the databases are as before (no trace of the new migration, every row
    kept), the old daemon answers /healthz, and what the new version wrote
    is kept aside."""
    broken = tree(tmp_path / "v3", migration="upgrade_v3", broken=True)

    proc = box.upgrade(broken)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "migrating the databases" in proc.stdout  # the migrations did run before the start failed
    assert "the service did not start: rolling back to release legacy" in proc.stderr
    assert "release legacy runs again with the state from before" in proc.stderr
    assert os.readlink(box.prefix / "current") == "releases/legacy"
    assert f"{box.prefix}/.venv/bin/" in box.daemon_command()
    box.cli("health")
    assert "upgrade_v3" not in box.tables("box.sqlite3")
    assert "upgrade_v3" not in box.tables("tenants/acme.sqlite3")
    assert box.users() == ["ann@acme.appliance.test"]
    aside = next(p for p in (box.state / "upgrades").iterdir() if p.name.endswith("-after-failed-upgrade"))
    for rel in ("box.sqlite3", "tenants/acme.sqlite3"):  # `appliance migrate` ran on each before the start failed
        assert "upgrade_v3" in sqlite3.connect(aside / rel).execute(
            "SELECT group_concat(name) FROM sqlite_master").fetchone()[0], rel

    box.add_user("bob")  # the old version writes as before
    assert box.users() == ["ann@acme.appliance.test", "bob@acme.appliance.test"]


def test_a_release_that_never_answers_ok_is_rolled_back_after_the_timeout(box, tmp_path):
    """A release whose daemon runs but whose /healthz answers 503: after
    --health-timeout seconds the upgrade rolls back, and the old daemon is
    the one running, with the data from before."""
    unhealthy = tree(tmp_path / "v4", migration="upgrade_v4", unhealthy=True)

    proc = box.upgrade(unhealthy, "--health-timeout", "5")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "/healthz did not answer ok within 5s: rolling back to release legacy" in proc.stderr
    assert "release legacy runs again with the state from before" in proc.stderr
    assert os.readlink(box.prefix / "current") == "releases/legacy"
    assert f"{box.prefix}/.venv/bin/" in box.daemon_command()
    box.cli("health")
    assert "upgrade_v4" not in box.tables("box.sqlite3")
    assert box.users() == ["ann@acme.appliance.test"]


def test_an_interrupted_upgrade_rolls_back(box, tmp_path):
    """SIGTERM to the installer (its process group, as a closed SSH session
    or Ctrl-C sends) while it waits for the new release: it rolls back,
    and the old release runs with the data from before."""
    unhealthy = tree(tmp_path / "v5", migration="upgrade_v5", unhealthy=True)
    out = tmp_path / "upgrade.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen(
            [*box.upgrade_argv(unhealthy), "--health-timeout", "120"], env=box.env, stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while b"starting release" not in out.read_bytes():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=120) == 1, out.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = out.read_text()
    assert "interrupted: rolling back to release legacy" in text
    assert "release legacy runs again with the state from before" in text
    assert os.readlink(box.prefix / "current") == "releases/legacy"
    box.cli("health")
    assert "upgrade_v5" not in box.tables("box.sqlite3")
    assert box.users() == ["ann@acme.appliance.test"]


def test_after_a_rollback_the_continuous_backup_ships_the_restored_state(tmp_path):
    """With [backup] on (a file replica), the files put back by a rollback
    are what Litestream ships from then on: the latest state restored from
    the replica is the one from before the upgrade plus what came after it,
    not what the failed release wrote."""
    replica = tmp_path / "replica"
    litestream = Path(sys.executable).parent / "litestream"
    b = old_box(tmp_path, f'\n[backup]\nurl = "{replica.as_uri()}"\nlitestream = "{litestream}"\n'
                          'sync_seconds = 1\nwarn_seconds = 30\n')
    try:
        proc = b.upgrade(tree(tmp_path / "v3", migration="upgrade_v3", broken=True))
        assert proc.returncode == 1, proc.stdout + proc.stderr
        before = wait_for(lambda: (r := b.replica("acme"))["status"] == "ok" and r["txid"], timeout=60, interval=0.5)
        b.add_user("bob")
        # Shipped: Litestream took a newer transaction, then synced after that.
        wait_for(lambda: b.replica("acme")["txid"] > before, timeout=60, interval=0.5)
        seen = datetime.datetime.now(datetime.timezone.utc)
        wait_for(lambda: (r := b.replica("acme"))["last_sync"]
                 and datetime.datetime.fromisoformat(r["last_sync"]) > seen, timeout=60, interval=0.5)
        b.cli("tenant", "restore", "acme", "--as", "acme-copy")
        copied = json.loads(b.cli("user", "list", "acme-copy", "--json").stdout)
        assert sorted(u["address"].split("@")[0] for u in copied) == ["ann", "bob"]
        assert "upgrade_v3" not in b.tables("tenants/acme-copy.sqlite3")
    finally:
        b.service("stop", check=False)


def test_old_releases_are_pruned(box, tmp_path):
    """With --keep 1 the release before is removed once the new one answers:
    here the install from before releases, whose files sat under the prefix."""
    proc = box.upgrade(tree(tmp_path / "v2"), "--keep", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr + box.log()
    assert "removing the old release legacy" in proc.stdout
    release = os.readlink(box.prefix / "current")
    assert sorted(p.name for p in box.prefix.iterdir()) == ["current", "releases"]
    assert [p.name for p in (box.prefix / "releases").iterdir()] == [release.removeprefix("releases/")]
    box.cli("health")
    assert box.users() == ["ann@acme.appliance.test"]


def test_an_upgrade_where_nothing_is_installed_is_refused(tmp_path):
    """--upgrade against a prefix with no release is one error line, exit 1, and writes nothing."""
    config = tmp_path / "appliance.toml"
    config.write_text(TEST_CONFIG)
    (tmp_path / "state").mkdir()
    (tmp_path / "opt").mkdir()
    proc = subprocess.run(
        [str(ROOT / INSTALL), "--upgrade", "--yes", "--prefix", str(tmp_path / "opt"), "--config", str(config),
         "--state", str(tmp_path / "state"), "--service-cmd", "/bin/false"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"images/install: error: nothing is installed in {tmp_path / 'opt'}: install the box first (without --upgrade)"]
    assert list((tmp_path / "opt").iterdir()) == [] and list((tmp_path / "state").iterdir()) == []


def test_appliance_upgrade_needs_a_tree_of_the_appliance(cli, tmp_path):
    """`appliance upgrade DIR` where DIR has no images/install is one error line and exit 1."""
    proc = cli("upgrade", str(tmp_path), check=False)
    assert proc.returncode == 1
    assert proc.stderr == f"appliance: error: {tmp_path} is not a tree of the appliance (no images/install)\n"


def test_a_snapshot_is_never_overwritten(cli, state_dir, tmp_path):
    """`backup snapshot DIR` copies the box and every business; onto an existing DIR it refuses and changes nothing."""
    cli("tenant", "add", "acme")
    target = tmp_path / "snap"
    cli("backup", "snapshot", str(target))
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*.sqlite3")) == ["box.sqlite3", "tenants/acme.sqlite3"]
    before = (target / "box.sqlite3").read_bytes()
    proc = cli("backup", "snapshot", str(target), check=False)
    assert proc.returncode == 1
    assert proc.stderr == f"appliance: error: {target} exists: a snapshot is never overwritten\n"
    assert (target / "box.sqlite3").read_bytes() == before
