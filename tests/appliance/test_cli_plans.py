"""``appliance plan ...`` and ``appliance tenant extra ...`` as the operator
runs them: plans changed at run time reach the businesses on them, extras
raise one business's limits, and bad input is one line on stderr that
changes nothing."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_CONFIG, Cli


def refused(cli, *args, message: str) -> None:
    """The command fails with one line naming ``message``; the plans and
    acme's extras (and so its limits) stay as they were."""
    before = cli.json("plan", "list"), cli.json("tenant", "extra", "list", "acme")
    proc = cli(*args, check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert (cli.json("plan", "list"), cli.json("tenant", "extra", "list", "acme")) == before


def test_an_extra_adds_people_to_one_business_and_taking_it_back_keeps_them(cli):
    """On gold (2 people), acme's third person is refused until a 'people'
    extra, which beta (on gold too) does not get; taking the extra back
    keeps the three but refuses a fourth, until gold itself grows."""
    assert [p["name"] for p in cli.json("plan", "list")] == ["small", "standard"]
    cli("plan", "add", "gold", "--max-users", "2", "--web-mb", "100")
    cli("tenant", "add", "acme", "--plan", "gold")
    cli("tenant", "add", "beta", "--plan", "gold")
    for n in range(2):
        cli("user", "add", f"u{n}@acme.appliance.test")
    refused(cli, "user", "add", "u2@acme.appliance.test", message="the plan allows 2 users")
    added = cli.json("tenant", "extra", "add", "acme", "people", "1")
    assert (added["kind"], added["amount"]) == ("people", 1)
    cli("user", "add", "u2@acme.appliance.test")
    listed = cli.json("tenant", "extra", "list", "acme")
    assert listed["limits"]["max_users"] == 3 and listed["plan"]["max_users"] == 2
    beta = cli.json("tenant", "extra", "list", "beta")
    assert beta["extras"] == [] and beta["limits"]["max_users"] == 2
    cli("tenant", "extra", "remove", "acme", str(added["id"]))
    assert len(cli.json("user", "list", "acme")) == 3
    refused(cli, "user", "add", "u3@acme.appliance.test", message="the plan allows 2 users")
    cli("plan", "set", "gold", "--max-users", "4")
    assert cli.json("tenant", "show", "beta")["plan"]["max_users"] == 4
    cli("user", "add", "u3@acme.appliance.test")
    assert "plan:     gold (users 4" in cli("tenant", "show", "acme").stdout


def test_a_plan_in_use_or_the_default_plan_stays_and_an_unused_one_goes(cli):
    """`plan set` reaches the business on the plan (below its use: nothing
    deleted, new people refused); `plan remove` refuses
    gold while acme is on it and the default plan, and removes it once acme
    moved."""
    cli("plan", "add", "gold", "--max-users", "5")
    cli("tenant", "add", "acme", "--plan", "gold")
    cli("user", "add", "u0@acme.appliance.test")
    cli("user", "add", "u1@acme.appliance.test")
    cli("plan", "set", "gold", "--web-mb", "3", "--max-users", "1")
    assert cli.json("tenant", "show", "acme")["plan"]["web_bytes"] == 3 * 2**20
    # Below what acme has: nobody is removed, nobody more is added.
    assert len(cli.json("user", "list", "acme")) == 2
    refused(cli, "user", "add", "u2@acme.appliance.test", message="the plan allows 1 users")
    assert cli.json("plan", "show", "gold")["businesses"] == ["acme"]
    refused(cli, "plan", "remove", "gold", message="plan gold is in use by 1 business(es): acme")
    refused(cli, "plan", "remove", "standard", message="default plan")
    cli("tenant", "plan", "acme", "small")
    cli("plan", "remove", "gold")
    assert [p["name"] for p in cli.json("plan", "list")] == ["small", "standard"]


@pytest.fixture(scope="module")
def refusing(tmp_path_factory) -> Cli:
    """One state for the refusals, which change nothing (each checks so): business acme."""
    work = tmp_path_factory.mktemp("plan-refusals")
    (work / "state").mkdir()
    config = work / "appliance.toml"
    config.write_text(TEST_CONFIG)
    cli = Cli(work / "state", config)
    cli("tenant", "add", "acme")
    return cli


@pytest.mark.parametrize("args, message", [
    (("plan", "add", "Gold"), "plan names are 1-32 of a-z, 0-9, -"),
    (("plan", "add", "standard"), "plan standard already exists"),
    (("plan", "add", "zero", "--web-mb", "0"), "web_mb: expected a whole number from 1 to 1000000"),
    (("plan", "add", "words", "--max-users", "ten"), "--max-users: expected a whole number"),
    (("plan", "set", "nothing", "--web-mb", "5"), "no plan named nothing"),
    (("plan", "set", "small"), "nothing to change"),
    (("plan", "remove", "nothing"), "no plan named nothing"),
    (("tenant", "extra", "add", "acme", "cpu", "1"), "kind must be one of people, mailbox_mb, web_mb"),
    (("tenant", "extra", "add", "acme", "web_mb", "0"), "amount must be a whole number from 1 to 1000000"),
    (("tenant", "extra", "add", "acme", "web_mb", "-3"), "amount: expected a whole number"),
    (("tenant", "extra", "add", "nobody", "web_mb", "3"), "no business nobody"),
    (("tenant", "extra", "remove", "acme", "99"), "no extra 99"),
])
def test_bad_plan_and_extra_input_is_refused(refusing, args, message):
    """Malformed names and figures, unknown plans, kinds, businesses and extras: one line, nothing changed."""
    refused(refusing, *args, message=message)


def test_the_settings_seed_new_plans_but_a_plan_changed_at_run_time_keeps_its_change(tmp_path):
    """[plans.seeded] appears in the box's plans; after `plan set` the
    settings' figures no longer override it, and a plan removed from the
    settings stays on the box."""
    (tmp_path / "state").mkdir()
    config = tmp_path / "appliance.toml"
    config.write_text(TEST_CONFIG + "\n[plans.seeded]\nweb_mb = 7\n")
    cli = Cli(tmp_path / "state", config)
    assert cli.json("plan", "show", "seeded")["plan"]["web_bytes"] == 7 * 2**20
    cli("plan", "set", "seeded", "--web-mb", "9")
    assert cli.json("plan", "show", "seeded")["plan"]["web_bytes"] == 9 * 2**20
    config.write_text(TEST_CONFIG)
    assert cli.json("plan", "show", "seeded")["plan"]["web_bytes"] == 9 * 2**20
