"""The brand: ``[brand]`` in the settings (checked when the file is read,
errors naming file, section and key), and the brand service over a real
box database, where an operator's values win over the settings and a
refused value changes nothing."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest
import requests
import urllib3
from PIL import Image

from appliance import brandrules, settings
from appliance.app import App
from appliance.errors import ConfigError, InvalidInput, LimitExceeded
from tests.conftest import wait_for

# The box's certificate is self-signed in tests.
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "brand"


def _load(tmp_path: Path, text: str) -> settings.Settings:
    path = tmp_path / "a.toml"
    path.write_text(text)
    return settings.load(path)


@pytest.mark.parametrize("text, message", [
    ('[brand]\ncolour = "#ffff00"\n', "[brand] colour: #ffff00 is unreadable with white text"),
    ('[brand]\ncolour = "#88aadd"\n', "[brand] colour: #88aadd is unreadable"),
    ('[brand]\ncolour = "green"\n', "[brand] colour: a colour is written #rrggbb"),
    ('[brand]\nsupport_email = "help"\n', "[brand] support_email: expected an e-mail address"),
    ('[brand]\nsupport_url = "javascript:alert(1)"\n', "[brand] support_url: expected a web address"),
    ('[brand]\nname = "' + "x" * 61 + '"\n', "[brand] name: a brand name has at most 60"),
    ('[brand]\nlogo = "logo.png"\n', "[brand] logo: expected an absolute path"),
    ('[brand]\nslogan = "x"\n', "[brand] slogan: unknown key"),
])
def test_bad_brand_settings_are_errors_naming_the_key(tmp_path, text, message):
    """Each bad [brand] value stops the load with the file, section and key named."""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert str(caught.value).startswith(f"{tmp_path / 'a.toml'}: {message}"), str(caught.value)


def test_an_svg_logo_or_a_missing_one_is_refused_when_the_settings_are_read(tmp_path):
    """An SVG (with a script) is not a picture the panel takes; a path that
    does not exist is said so."""
    svg = FIXTURES / "logo-with-script.svg"
    with pytest.raises(ConfigError, match=r"\[brand\] logo: .*is not a JPEG, PNG, WebP or HEIC picture"):
        _load(tmp_path, f'[brand]\nlogo = "{svg}"\n')
    with pytest.raises(ConfigError, match=r"\[brand\] logo: cannot read .*No such file"):
        _load(tmp_path, f'[brand]\nlogo = "{tmp_path / "none.png"}"\n')


@pytest.fixture
def app(tmp_path):
    conf = _load(tmp_path, f'[brand]\nname = "Nimbus Hosting"\nlogo = "{FIXTURES / "nimbus-logo.png"}"\n'
                           'support_email = "help@nimbus.example"\n')
    app = App(conf, tmp_path / "state")
    yield app
    app.close()


def test_with_nothing_set_the_brand_is_the_host_name_and_the_panels_colour(tmp_path):
    """No [brand] and no operator's change: the box's host name, the
    panel's own colour, no logo, no support contact."""
    app = App(settings.load(None), tmp_path / "state")
    try:
        brand = app.core.brand.current()
    finally:
        app.close()
    assert (brand.name, brand.colour, brand.logo, brand.support_email, brand.support_url) == (
        "box.appliance.test", brandrules.DEFAULT_COLOUR, None, "", "")


def test_an_operators_brand_wins_over_the_settings_and_outlives_a_restart(app, tmp_path):
    """The settings' brand shows until an operator stores one; the stored
    one is read back by a new App on the same state (a restart), logo
    included; removing the uploaded logo brings the settings' back."""
    service = app.core.brand
    first = service.current()
    assert first.name == "Nimbus Hosting" and first.logo is not None and first.support_email == "help@nimbus.example"
    assert not first.uploaded
    service.set(name="Cumulus IT", colour="#8b1a1a", support_email="", support_url="https://cumulus.example/help",
                actor="operator:test")
    jpeg = (FIXTURES / "cumulus-logo.jpg").read_bytes()
    changed = service.set_logo(jpeg, "cumulus-logo.jpg", actor="operator:test")
    assert changed.version != first.version
    assert Image.open(io.BytesIO(changed.logo)).format == "PNG"
    again = App(app.settings, tmp_path / "state")
    try:
        restarted = again.core.brand.current()
    finally:
        again.close()
    assert (restarted.name, restarted.colour, restarted.support_email, restarted.support_url) == (
        "Cumulus IT", "#8b1a1a", "", "https://cumulus.example/help")
    assert restarted.logo == changed.logo and restarted.uploaded
    removed = service.remove_logo(actor="operator:test")
    assert removed.logo == first.logo and not removed.uploaded


def test_refused_values_change_nothing(app, tmp_path):
    """An unreadable colour, a bad address, an SVG logo and a logo over
    1 MB are refused (the field named) and the box database keeps no brand row."""
    service = app.core.brand
    with pytest.raises(InvalidInput) as caught:
        service.set(name="Cumulus IT", colour="#ffff00", support_email="", support_url="", actor="t")
    assert caught.value.field == "colour"
    with pytest.raises(InvalidInput) as caught:
        service.set(name="Cumulus IT", colour="", support_email="nope", support_url="", actor="t")
    assert caught.value.field == "support_email"
    with pytest.raises(InvalidInput):
        service.set_logo((FIXTURES / "logo-with-script.svg").read_bytes(), "logo.svg", actor="t")
    big = io.BytesIO()
    Image.effect_noise((700, 700), 100).convert("RGB").save(big, "PNG")
    assert len(big.getvalue()) > brandrules.MAX_LOGO_BYTES
    with pytest.raises(LimitExceeded):
        service.set_logo(big.getvalue(), "big.png", actor="t")
    assert service.current().name == "Nimbus Hosting"
    conn = sqlite3.connect(tmp_path / "state" / "box.sqlite3")
    try:
        assert conn.execute("SELECT count(*) FROM brand").fetchone()[0] == 0
    finally:
        conn.close()


def test_the_cli_changes_the_brand_and_the_running_panel_shows_it(cli, daemon):
    """``appliance brand set`` refuses an unreadable colour with one line
    and changes nothing; a good change is shown by the running daemon's
    sign-in page within seconds, and ``brand show --json`` reports it."""
    base = f"https://127.0.0.1:{daemon.port('https')}/"

    def header() -> str:
        page = requests.get(base, verify=False, timeout=30).text
        return re.search(r'<span class="brand-name">([^<]*)</span>', page).group(1)

    assert header() == "box.appliance.test"
    refused = cli("brand", "set", "--name", "Cumulus IT", "--colour", "#ffff00", check=False)
    assert refused.returncode != 0 and refused.stderr.count("\n") == 1 and "unreadable" in refused.stderr
    cli("brand", "set", "--name", "Cumulus IT", "--colour", "#8b1a1a")
    wait_for(lambda: header() == "Cumulus IT", timeout=10)
    assert cli.json("brand", "show")["colour"] == "#8b1a1a"
    assert "#8b1a1a" in requests.get(base + "static/brand.css", verify=False, timeout=30).text
