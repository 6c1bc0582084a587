"""``appliance check`` finds what is broken; ``appliance box rebuild`` repairs the catalog."""

from __future__ import annotations

import json


def statuses(cli) -> dict[str, set[str]]:
    proc = cli("check", "--local", "--json", check=False)
    out: dict[str, set[str]] = {}
    for row in json.loads(proc.stdout):
        out.setdefault(row["check"], set()).add(row["status"])
    return out, proc.returncode


def test_healthy_box_with_running_daemon_passes(daemon, cli):
    """On a fresh box with the daemon up, nothing fails and every listener answers."""
    cli("tenant", "add", "acme")
    result, code = statuses(cli)
    assert code == 0
    assert result["catalog"] == {"ok"} and result["business files"] == {"ok"} and result["daemon"] == {"ok"}


def test_missing_file_fails_and_rebuild_repairs_the_catalog(cli, state_dir):
    """A business file deleted behind the box's back fails the check; rebuild makes catalog and files agree."""
    cli("tenant", "add", "acme")
    cli("tenant", "add", "beta", "--domain", "beta.example")
    (state_dir / "tenants" / "acme.sqlite3").unlink()
    result, code = statuses(cli)
    assert code == 1 and "fail" in result["catalog"]
    assert "1 business files" in cli("box", "rebuild").stdout
    result, code = statuses(cli)
    assert result["catalog"] == {"ok"}
    assert [t["slug"] for t in cli.json("tenant", "list")] == ["beta"]
    assert cli.json("tenant", "list")[0]["domains"] == ["beta.appliance.test", "beta.example"]


def test_corrupt_business_file_fails_the_check(cli, state_dir):
    """Garbage in a business file is reported as an integrity failure."""
    cli("tenant", "add", "acme")
    path = state_dir / "tenants" / "acme.sqlite3"
    data = bytearray(path.read_bytes())
    data[100:4000] = b"\xff" * 3900
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        (state_dir / "tenants" / f"acme.sqlite3{suffix}").unlink(missing_ok=True)
    result, code = statuses(cli)
    assert code == 1 and "fail" in result["business files"]
