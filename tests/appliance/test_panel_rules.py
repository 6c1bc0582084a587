"""The script the panel's mail-rules forms write (appliance.sieve.panelscript)
and the sieve service that keeps it: rendered from the forms' state, read
back only while nobody changed it, and its vacation reply turned on and off
by its dates, on a real business file."""

from __future__ import annotations

import datetime

import pytest

from appliance import settings
from appliance.app import App
from appliance.errors import LimitExceeded
from appliance.services.sieve import HandEdited
from appliance.sieve import compile_script, panelscript
from appliance.sieve.panelscript import Forward, PanelRules, Rule, Vacation

DAY = datetime.date(2030, 5, 10)
AWAY = Vacation(True, "2030-05-01", "2030-05-20", 'Away "this" week', "Back on\nthe 21st \\o/")


def test_the_rendered_script_compiles_and_reads_back_whatever_was_typed():
    """Quotes, backslashes and new lines in what people typed are escaped
    (RFC 5228 section 2.4.2): the script compiles and reads back as the same state."""
    state = PanelRules(AWAY, Forward("me@elsewhere.example", keep=False),
                       (Rule('a"b\\c', "", "Odd"), Rule("", "invoice", "Bills/2030")))
    text = panelscript.render(state, DAY)
    compile_script(text, 16)
    assert panelscript.read(text) == state


@pytest.mark.parametrize("day, on", [(datetime.date(2030, 4, 30), False), (datetime.date(2030, 5, 1), True),
                                     (datetime.date(2030, 5, 20), True), (datetime.date(2030, 5, 21), False)])
def test_the_vacation_reply_is_in_the_script_only_between_its_dates(day, on):
    """First and last days included; either rendering is still the panel's own."""
    text = panelscript.render(PanelRules(AWAY), day)
    assert ("vacation :days" in text) is on
    assert panelscript.read(text) == PanelRules(AWAY)


@pytest.mark.parametrize("edit", [
    lambda t: t.replace('fileinto :create "Odd";', 'fileinto :create "Odd";\n    keep;'),
    lambda t: t.replace('"folder":"Odd"', '"folder":"Even"'),
    lambda t: t.replace('"v":1', '"v":2'),
    lambda t: t.replace('"sender":"x"', '"sender":7'),
    lambda t: t.split("\n", 1)[1],
])
def test_a_script_changed_by_hand_is_not_the_panels(edit):
    """Any change to the commands, the state line or the marker makes it a script the forms do not own."""
    text = panelscript.render(PanelRules(rules=(Rule("x", "", "Odd"),)), DAY)
    assert panelscript.read(edit(text)) is None


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({}), tmp_path / "state")
    a.provisioning.create_tenant("shop", "The Shop", "shop.example")
    a.core.people.add("ann@shop.example", "a long secret", actor="test")
    yield a
    a.close()


def test_refreshing_turns_the_reply_on_and_off_by_date(app):
    """A reply saved for a later week is absent until its first day, there
    from then, and gone after its last; each change is one re-render."""
    sieve = app.core.sieve
    account = sieve.account("ann@shop.example")
    later = datetime.date.today() + datetime.timedelta(days=10)
    sieve.set_vacation(account, Vacation(True, later.isoformat(), (later + datetime.timedelta(days=2)).isoformat(),
                                         "Away", "Back soon"), actor="test")
    assert "vacation :days" not in sieve.get(account, panelscript.SCRIPT_NAME)
    assert sieve.refresh_vacations(later - datetime.timedelta(days=1)) == 0
    assert sieve.refresh_vacations(later) == 1
    assert "vacation :days" in sieve.get(account, panelscript.SCRIPT_NAME)
    assert sieve.refresh_vacations(later + datetime.timedelta(days=3)) == 1
    assert "vacation :days" not in sieve.get(account, panelscript.SCRIPT_NAME)


def test_a_hand_written_active_script_is_never_overwritten_by_the_forms(app):
    """With a script of the user's own active, every form is refused and the script stays."""
    sieve = app.core.sieve
    account = sieve.account("ann@shop.example")
    sieve.put(account, "mine", "keep;\n", actor="test", activate=True)
    with pytest.raises(HandEdited):
        sieve.add_rule(account, Rule("x", "", "X"), actor="test")
    with pytest.raises(HandEdited):
        sieve.set_forward(account, Forward(""), actor="test")
    assert sieve.get(account, "mine") == "keep;\n"
    assert [(s.name, s.active) for s in sieve.list(account)] == [("mine", True)]


def test_the_number_of_rules_is_limited(app):
    """Past MAX_RULES a new rule is refused and the script keeps what it had."""
    sieve = app.core.sieve
    account = sieve.account("ann@shop.example")
    for n in range(panelscript.MAX_RULES):
        sieve.add_rule(account, Rule(f"s{n}", "", "F"), actor="test")
    with pytest.raises(LimitExceeded):
        sieve.add_rule(account, Rule("one more", "", "F"), actor="test")
    assert len(sieve.panel_rules(account).rules.rules) == panelscript.MAX_RULES


def test_replacing_keeps_the_panels_own_rules(app):
    """Asked to replace when the panel's script is the active one already, nothing is lost."""
    sieve = app.core.sieve
    account = sieve.account("ann@shop.example")
    sieve.add_rule(account, Rule("x", "", "X"), actor="test")
    sieve.replace_with_panel_rules(account, actor="test")
    assert sieve.panel_rules(account).rules.rules == (Rule("x", "", "X"),)


def test_replacing_a_full_set_of_scripts_is_refused(app):
    """With as many scripts as allowed, none of them the panel's, replacing is refused and nothing changes."""
    sieve = app.core.sieve
    account = sieve.account("ann@shop.example")
    for n in range(app.settings.sieve.max_scripts):
        sieve.put(account, f"s{n}", "keep;\n", actor="test", activate=True)
    with pytest.raises(LimitExceeded):
        sieve.replace_with_panel_rules(account, actor="test")
    assert sieve.panel_rules(account).name == f"s{app.settings.sieve.max_scripts - 1}"
