"""The box status service (``app.box_status``): what ``appliance check``
and the operators' page both call. A full report is kept for
``[panel] check_cache_seconds`` so reloading the page sends no new lookups;
a run asked for (the CLI, "Check again") always looks anew.

The world's DNS is :class:`tests.publicdns.PublicDns` on 127.0.0.1, which
knows no domain; the port 25 probe is off.
"""

from __future__ import annotations

import pytest

from appliance import settings
from appliance.app import App
from tests.conftest import TEST_CONFIG
from tests.publicdns import PublicDns


@pytest.fixture
def world():
    public = PublicDns()
    yield public
    public.close()


def make_app(tmp_path, public: PublicDns, cache_seconds: int) -> App:
    config = tmp_path / "appliance.toml"
    config.write_text(TEST_CONFIG + f'\n[panel]\ncheck_resolver = "127.0.0.1:{public.port}"\n'
                      f"check_cache_seconds = {cache_seconds}\n"
                      '\n[check]\nport25_probe = ""\ntimeout = 2\n')
    state = tmp_path / "state"
    state.mkdir()
    return App(settings.load(str(config)), state)


def test_a_fresh_report_is_reused_and_a_run_looks_anew(tmp_path, world):
    """recent() twice within the cache time is one run (no second lookup);
    run() asks the world again and is what recent() then returns."""
    app = make_app(tmp_path, world, 600)
    try:
        first = app.box_status.recent()
        asked = world.questions
        assert asked > 0 and first.outside is not None
        assert app.box_status.recent() is first and world.questions == asked
        again = app.box_status.run()
        assert again is not first and world.questions > asked
        assert app.box_status.recent() is again
    finally:
        app.close()


def test_a_local_run_asks_nobody_and_is_not_kept(tmp_path, world):
    """run(outside=False), as ``appliance check --local``: the box's own rows
    only, no lookup, and the kept full report stays as it was."""
    app = make_app(tmp_path, world, 600)
    try:
        kept = app.box_status.recent()
        asked = world.questions
        local = app.box_status.run(outside=False)
        assert local.outside is None and local.results == local.local
        assert {r.check for r in local.results} >= {"state", "box database", "daemon"}
        assert world.questions == asked and app.box_status.recent() is kept
    finally:
        app.close()


def test_with_no_cache_time_every_load_looks_again(tmp_path, world):
    """check_cache_seconds = 0: recent() runs the checks each time."""
    app = make_app(tmp_path, world, 0)
    try:
        first = app.box_status.recent()
        assert app.box_status.recent() is not first
    finally:
        app.close()
