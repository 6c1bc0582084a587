"""Self-service sign-up over real HTTPS, with the package's daemon (sign-up
on, a high limit per source) and, for what needs other settings, small
daemons of their own: sign-up off, and the default limit of 5 an hour with
invitation codes."""

from __future__ import annotations

import itertools
import re
import smtplib
import time
from email.message import EmailMessage

import pytest

from protocols.smtp.replies import SENDING_LIMIT
from tests.conftest import TEST_CONFIG, Cli, Daemon

from .conftest import PASSWORD, PanelClient, _no_verify

QUESTION_RE = re.compile(r"What is (\d+) plus (\d+)\?")
TOKEN_RE = re.compile(r'name="token" type="hidden" value="([^"]*)"')
_names = itertools.count(1)


def _question(client: PanelClient) -> tuple[str, str]:
    """The token and the right answer of the form just fetched."""
    page = client.get("/signup")
    assert page.status_code == 200, page.text[:300]
    a, b = QUESTION_RE.search(page.text).groups()
    return TOKEN_RE.search(page.text).group(1), str(int(a) + int(b))


def _fields(slug: str, **changes) -> dict:
    fields = {"name": f"Shop {slug}", "slug": slug, "local": "me", "new": PASSWORD, "confirm": PASSWORD,
              "terms_ok": "y"}
    fields.update(changes)
    return fields


def _sign_up(client: PanelClient, slug: str, **changes):
    token, answer = _question(client)
    fields = _fields(slug, token=token, answer=answer)
    fields.update(changes)
    return client.post("/signup", fields)


def _slugs(cli: Cli) -> list[str]:
    return [b["slug"] for b in cli.json("tenant", "list")]


def _error_beside(page: str, field: str) -> str:
    """The errors shown beside ``field`` (its ``<ul id="<field>-error">``)."""
    found = re.search(rf'<ul class="errors" id="{field}-error">(.*?)</ul>', page, re.S)
    assert found, f"no error beside {field}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()


def test_a_visitor_signs_up_lands_in_the_panel_and_reads_mail_over_imap(env):
    """A visitor answers the question and signs up; they land, signed in,
    on their panel's overview as the owner; IMAP accepts their address and
    password; the business is in the operator's list, held to 20 messages
    a day."""
    client = env.client()
    reply = _sign_up(client, "fresh-bakery")
    assert (reply.status_code, reply.headers.get("location")) == (303, "/home"), reply.text[:500]
    home = client.get("/home")
    assert home.status_code == 200
    assert client.get("/people").status_code == 200  # an owner's page
    assert env.imap_login("me@fresh-bakery.appliance.test", PASSWORD)
    assert "fresh-bakery" in _slugs(env.cli)
    shown = env.cli.json("tenant", "show", "fresh-bakery")
    assert shown["name"] == "Shop fresh-bakery" and shown["outbound_hold"] == 20
    assert "hold:     20 messages/day" in env.cli("tenant", "show", "fresh-bakery").stdout


def test_signed_in_the_sign_up_page_sends_you_to_your_panel(env):
    """ann, signed in, asking for /signup is sent to her overview."""
    reply = env.signed_in("ann@acme.example").get("/signup")
    assert (reply.status_code, reply.headers.get("location")) == (303, "/home")


@pytest.mark.parametrize("slug", ["postmaster", "www", "autoconfig", "mta-sts", "support"])
def test_a_reserved_short_name_is_refused_beside_the_field(env, slug):
    """A reserved slug gets a 400 with the reason beside the short name, and no business."""
    reply = _sign_up(env.client(), slug)
    assert reply.status_code == 400
    assert "kept for the box itself" in _error_beside(reply.text, "slug")
    assert slug not in _slugs(env.cli)


def test_the_cli_refuses_a_reserved_short_name_too(env):
    """``appliance tenant add admin`` fails with one clear line."""
    result = env.cli("tenant", "add", "admin", check=False)
    assert result.returncode != 0 and "reserved" in result.stderr
    assert "admin" not in _slugs(env.cli)


def test_a_taken_short_name_is_refused_and_the_business_untouched(env):
    """Signing up as acme is refused beside the short name; acme keeps its people."""
    before = env.users("acme")
    reply = _sign_up(env.client(), "acme")
    assert reply.status_code == 400
    assert "taken already" in _error_beside(reply.text, "slug")
    assert env.users("acme") == before


def test_a_wrong_answer_is_refused_and_a_new_question_asked(env):
    """A wrong answer: 400, the error beside the answer, a new token on the page, no business."""
    client = env.client()
    token, answer = _question(client)
    reply = client.post("/signup", _fields("wrong-answer", token=token, answer=str(int(answer) + 1)))
    assert reply.status_code == 400
    assert "not the answer" in _error_beside(reply.text, "answer")
    assert TOKEN_RE.search(reply.text).group(1) != token
    assert "wrong-answer" not in _slugs(env.cli)


def test_a_solved_question_makes_one_business(env):
    """The token of a question that made a business, sent again with its
    answer for another business, is refused; only the first exists."""
    client = env.client()
    token, answer = _question(client)
    assert client.post("/signup", _fields("first-one", token=token, answer=answer)).status_code == 303
    other = env.client()
    reply = other.post("/signup", _fields("second-one", token=token, answer=answer))
    assert reply.status_code == 400
    assert "answered already" in _error_beside(reply.text, "answer")
    slugs = _slugs(env.cli)
    assert "first-one" in slugs and "second-one" not in slugs


def test_a_forged_expiry_is_refused(env):
    """A token whose expiry was moved on no longer matches its answer."""
    client = env.client()
    token, answer = _question(client)
    expires, rest = token.split(".", 1)
    reply = client.post("/signup", _fields("forged", token=f"{int(expires) + 3600}.{rest}", answer=answer))
    assert reply.status_code == 400
    assert "forged" not in _slugs(env.cli)


def test_password_rules_and_terms_are_checked_beside_their_fields(env):
    """A short password, two passwords that differ, terms not accepted: each error beside its field."""
    client = env.client()
    reply = _sign_up(client, "rules", new="short", confirm="short")
    assert reply.status_code == 400 and "8 to 1024" in _error_beside(reply.text, "new")
    reply = _sign_up(client, "rules", confirm="another long secret")
    assert reply.status_code == 400 and "differ" in _error_beside(reply.text, "confirm")
    fields = _fields("rules")
    del fields["terms_ok"]
    token, answer = _question(client)
    reply = client.post("/signup", {**fields, "token": token, "answer": answer})
    assert reply.status_code == 400 and "Accept the terms" in _error_beside(reply.text, "terms_ok")
    assert "rules" not in _slugs(env.cli)


def test_the_page_is_in_french(env):
    """A French browser gets the form and its question in French."""
    page = env.client("fr").get("/signup")
    assert page.status_code == 200
    assert re.search(r"Combien font \d+ plus \d+ ?", page.text) and "Inscrivez votre entreprise" in page.text


def _submit(env, address: str, count: int, to: str = "someone@outside.example") -> list[str]:
    """Send ``count`` messages from ``address`` to ``to`` (an outside
    address) over submission; the reply to each (``250`` or the refusal)."""
    replies = []
    with smtplib.SMTP("127.0.0.1", env.daemon.port("submission"), timeout=30) as conn:
        conn.starttls(context=_no_verify())
        conn.login(address, PASSWORD)
        for n in range(count):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = address, to, f"hello {n}"
            msg.set_content("hello")
            try:
                conn.send_message(msg)
                replies.append("250")
            except smtplib.SMTPResponseException as exc:
                replies.append(f"{exc.smtp_code} {exc.smtp_error.decode()}")
                conn.rset()
    return replies


def test_a_signed_up_business_sends_20_a_day_until_an_operator_lifts_it(env):
    """Messages 1-20 to an outside address are accepted, the 21st refused
    with the daily limit's reply, while mail to a business hosted here
    still goes; after ``appliance tenant lift`` the outside one goes too."""
    client = env.client()
    assert _sign_up(client, "chatty").status_code == 303
    address = "me@chatty.appliance.test"
    replies = _submit(env, address, 21)
    assert replies[:20] == ["250"] * 20
    assert replies[20] == SENDING_LIMIT
    assert _submit(env, address, 1, to="ann@acme.example") == ["250"]
    assert env.cli("tenant", "lift", "chatty").stdout.strip() == "lifted"
    assert env.cli.json("tenant", "show", "chatty")["outbound_hold"] is None
    assert _submit(env, address, 1) == ["250"]


# -- daemons of their own ----------------------------------------------------

def _daemon(tmp_path_factory, name: str, extra: str):
    work = tmp_path_factory.mktemp(name)
    state = work / "state"
    state.mkdir()
    config = work / "appliance.toml"
    config.write_text(TEST_CONFIG + extra)
    daemon = Daemon(state, config, work / "daemon.log")
    daemon.start()
    return Cli(state, config), daemon


@pytest.fixture(scope="module")
def closed(tmp_path_factory):
    cli, daemon = _daemon(tmp_path_factory, "signup-off", "")
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    cli, daemon = _daemon(tmp_path_factory, "signup-limited",
                          '[signup]\nenabled = true\ncodes = ["open-sesame"]\nterms_url = "https://provider.example/terms"\n')
    yield cli, daemon
    daemon.stop()


def test_sign_up_off_is_the_404(closed):
    """With ``[signup]`` left off, /signup (GET and POST) is the panel's 404, and the sign-in page does not link it."""
    client = PanelClient(f"https://127.0.0.1:{closed.port('https')}")
    missing = client.get("/no/such/page")
    assert client.get("/signup").content == missing.content
    assert client.post("/signup", _fields("nope")).status_code == 404
    assert "/signup" not in client.get("/").text


def test_invitation_codes_and_the_limit_per_source(limited):
    """Codes required: none or a wrong one is refused beside the field.
    With the right code, 5 sign-ups from one address within the hour
    succeed; the 6th is a 429 page and makes no business."""
    cli, daemon = limited
    client = PanelClient(f"https://127.0.0.1:{daemon.port('https')}")
    page = client.get("/signup")
    assert 'href="https://provider.example/terms"' in page.text
    reply = _sign_up(client, "no-code")
    assert reply.status_code == 400 and "Enter your invitation code" in _error_beside(reply.text, "code")
    reply = _sign_up(client, "bad-code", code="open-barley")
    assert reply.status_code == 400 and "not valid" in _error_beside(reply.text, "code")
    for n in range(5):
        visitor = PanelClient(client.base)
        reply = _sign_up(visitor, f"limited-{n}", code="open-sesame")
        assert reply.status_code == 303, reply.text[:500]
    reply = _sign_up(PanelClient(client.base), "limited-6", code="open-sesame")
    assert reply.status_code == 429 and "Too many" in reply.text
    time.sleep(0.1)
    slugs = _slugs(cli)
    assert [f"limited-{n}" for n in range(5)] == sorted(s for s in slugs if s.startswith("limited-"))


def test_an_operator_sees_the_hold_and_lifts_it_from_the_business_page(env):
    """A signed-up business's page tells the operator of its hold; the
    button lifts it, and the page no longer offers it."""
    from .operator_client import add_operator, sign_in

    assert _sign_up(env.client(), "held-shop").status_code == 303
    operator = sign_in(env, add_operator(env, "lifter"))
    page = operator.get("/operator/businesses/held-shop")
    assert "Held to 20 messages a day" in page.text
    reply = operator.post("/operator/businesses/held-shop/lift", )
    assert (reply.status_code, reply.headers.get("location")) == (303, "/operator/businesses/held-shop")
    assert env.cli.json("tenant", "show", "held-shop")["outbound_hold"] is None
    assert "Lift the hold" not in operator.get("/operator/businesses/held-shop").text
