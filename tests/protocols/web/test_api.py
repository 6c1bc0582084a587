"""The provisioning API over real HTTPS: curl and http.client against the
daemon, with keys made by ``appliance apikey add``; what it creates is
checked through the CLI and IMAP, usage after an SMTP delivery."""

from __future__ import annotations

import http.client
import imaplib
import json
import smtplib
import ssl
import subprocess
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import TEST_CONFIG, Cli, Daemon, wait_for

HOST = "box.appliance.test"
PASSWORD = "a long owner secret"
#: A low rate, so a test reaches it; every other test uses a key of its own.
API_CONFIG = TEST_CONFIG + "\n[api]\nrequests_per_second = 2\nburst = 10\nmax_body_bytes = 4096\n"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: dict | None


@dataclass
class Box:
    cli: Cli
    daemon: Daemon
    work: Path

    def key(self, name: str, scope: str = "write") -> str:
        return self.cli.json("apikey", "add", name, "--scope", scope)["token"]

    def curl(self, method: str, path: str, token: str | None = None, body: object = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Reply:
        """``curl`` to ``https://box.appliance.test:PORT/api/v1PATH``."""
        port = self.daemon.port("https")
        head, out = self.work / "headers", self.work / "body"
        out.unlink(missing_ok=True)
        cmd = ["curl", "-sk", "--max-time", "20", "--resolve", f"{HOST}:{port}:127.0.0.1", "-X", method,
               "-D", str(head), "-o", str(out)]
        if token is not None:
            cmd += ["-H", f"Authorization: Bearer {token}"]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}: {value}"]
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            cmd += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        cmd.append(f"https://{HOST}:{port}/api/v1{path}")
        subprocess.run(cmd, input=data, capture_output=True, timeout=30, check=True)
        lines = head.read_bytes().decode("latin-1").split("\r\n")
        found = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                found[name.strip().lower()] = value.strip()
        text = out.read_bytes() if out.exists() else b""
        return Reply(int(lines[0].split()[1]), found, json.loads(text) if text else None)


def https(box: Box, method: str, path: str, token: str, body: object = None) -> tuple[int, dict]:
    """The same through http.client (another HTTPS client), verifying the box's certificate."""
    ctx = ssl.create_default_context(cafile=str(box.daemon.ca_file))
    conn = http.client.HTTPSConnection("127.0.0.1", box.daemon.port("https"), context=ctx, timeout=30)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, "/api/v1" + path, body=data, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Host": HOST})
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"null")
    finally:
        conn.close()


def imap_login(box: Box, address: str, password: str) -> bool:
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    conn = imaplib.IMAP4_SSL("127.0.0.1", box.daemon.port("imaps"), ssl_context=ctx, timeout=30)
    try:
        conn.login(address, password)
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def new_business(slug: str, **extra: object) -> dict:
    return {"slug": slug, "name": f"{slug} shop", "owner": f"owner@{slug}.appliance.test",
            "password": PASSWORD, **extra}


@pytest.fixture(scope="module")
def box(tmp_path_factory) -> Box:
    work = tmp_path_factory.mktemp("api")
    state = work / "state"
    state.mkdir()
    config = work / "appliance.toml"
    config.write_text(API_CONFIG)
    daemon = Daemon(state, config, work / "daemon.log")
    daemon.start()
    try:
        yield Box(Cli(state, config), daemon, work)
    finally:
        daemon.stop()


def test_a_business_made_through_the_api_exists_for_the_cli_and_its_owner_signs_in(box: Box):
    """POST /businesses answers 201 with the business; the CLI shows it and
    its owner logs in to IMAP with the password given."""
    token = box.key("create")
    reply = box.curl("POST", "/businesses", token, new_business("bakery", plan="small"))
    assert reply.status == 201, reply.body
    assert reply.headers["location"] == "/api/v1/businesses/bakery"
    assert reply.body["business"]["slug"] == "bakery" and reply.body["business"]["plan"]["name"] == "small"
    assert reply.body["owner"] == "owner@bakery.appliance.test" and reply.body["invitation_url"] is None
    shown = box.cli.json("tenant", "show", "bakery")
    assert shown["name"] == "bakery shop" and shown["users"] == 1
    assert wait_for(lambda: imap_login(box, "owner@bakery.appliance.test", PASSWORD), timeout=10)


def test_the_same_idempotency_key_and_body_get_the_first_answer(box: Box):
    """A replay gets the first 201 again (no second business, no 409); the
    same key with another body is 422."""
    token = box.key("idem")
    body = new_business("replayed")
    first = box.curl("POST", "/businesses", token, body, {"Idempotency-Key": "order-1"})
    again = box.curl("POST", "/businesses", token, body, {"Idempotency-Key": "order-1"})
    assert first.status == again.status == 201
    assert again.body == first.body and again.headers.get("idempotent-replayed") == "true"
    other = box.curl("POST", "/businesses", token, new_business("different"), {"Idempotency-Key": "order-1"})
    assert other.status == 422 and other.body["error"]["code"] == "idempotency_mismatch"
    assert [b["slug"] for b in box.cli.json("tenant", "list")].count("different") == 0


def test_a_read_key_reads_but_gets_403_on_post(box: Box):
    """A read key lists businesses; creating one is 403 and creates nothing."""
    token = box.key("viewer", "read")
    assert box.curl("GET", "/businesses", token).status == 200
    reply = box.curl("POST", "/businesses", token, new_business("forbidden"))
    assert reply.status == 403 and reply.body["error"]["code"] == "forbidden"
    assert box.curl("GET", "/businesses/forbidden", token).status == 404


def test_no_key_or_a_revoked_one_is_401_with_www_authenticate(box: Box):
    """Without a key, with a wrong one and with a revoked one: 401 and WWW-Authenticate: Bearer."""
    token = box.key("leaving")
    assert box.curl("GET", "/plans", token).status == 200
    box.cli("apikey", "revoke", "leaving")
    for tried in (token, None, "apk_not-a-key"):
        reply = box.curl("GET", "/plans", tried)
        assert reply.status == 401 and reply.headers["www-authenticate"].startswith("Bearer")
        assert reply.body["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("change, field", [
    ({"slug": "Bad Slug!"}, "slug"),
    ({"slug": "webmail", "owner": "owner@webmail.appliance.test"}, "slug"),
    ({"plan": "platinum"}, "plan"),
    ({"owner": "someone@elsewhere.example"}, "owner"),
    ({"password": "short"}, "password"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_input_is_422_naming_the_field(box: Box, change: dict, field: str):
    """A bad slug, a reserved slug, an unknown plan, an owner elsewhere, a
    short password, an unknown field: 422 naming the field, nothing made."""
    token = box.key(f"bad-{field}-{sorted(change)[0]}-{len(str(change))}")
    reply = box.curl("POST", "/businesses", token, {**new_business("valid"), **change})
    assert reply.status == 422, reply.body
    assert reply.body["error"]["field"] == field and reply.body["error"]["message"]
    assert "valid" not in [b["slug"] for b in box.cli.json("tenant", "list")]


def test_past_the_burst_a_key_gets_429_with_retry_after(box: Box):
    """[api] burst = 10: the eleventh quick request of one key is 429 with Retry-After."""
    token = box.key("hasty")
    statuses = [box.curl("GET", "/plans", token) for _ in range(14)]
    limited = [r for r in statuses if r.status == 429]
    assert limited and statuses[0].status == 200
    assert int(limited[0].headers["retry-after"]) >= 1 and limited[0].body["error"]["code"] == "rate_limited"


def test_an_over_size_body_is_413(box: Box):
    """A body over [api] max_body_bytes (4096) is refused 413 unread."""
    token = box.key("bulky")
    reply = box.curl("POST", "/businesses", token, raw=json.dumps({"name": "x" * 5000}).encode())
    assert reply.status == 413


def test_suspend_makes_imap_login_fail_and_resume_restores_it(box: Box):
    """POST .../suspend: state suspended and the owner's IMAP login refused; .../resume lets it in again."""
    token = box.key("suspender")
    assert https(box, "POST", "/businesses", token, new_business("paused"))[0] == 201
    status, shown = https(box, "POST", "/businesses/paused/suspend", token)
    assert status == 200 and shown["state"] == "suspended"
    assert box.cli.json("tenant", "show", "paused")["state"] == "suspended"
    assert wait_for(lambda: not imap_login(box, "owner@paused.appliance.test", PASSWORD), timeout=10)
    status, shown = https(box, "POST", "/businesses/paused/resume", token)
    assert status == 200 and shown["state"] == "active"
    assert wait_for(lambda: imap_login(box, "owner@paused.appliance.test", PASSWORD), timeout=10)


def test_usage_counts_people_and_mailbox_bytes_after_an_smtp_delivery(box: Box):
    """GET /businesses/{slug} shows one person, then mailbox bytes once a message arrives over SMTP."""
    token = box.key("meter")
    assert https(box, "POST", "/businesses", token, new_business("counted"))[0] == 201
    status, before = https(box, "GET", "/businesses/counted", token)
    assert status == 200 and before["usage"]["people"] == 1 and before["usage"]["messages_sent_today"] == 0
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@sender.example", "owner@counted.appliance.test", "hi"
    message.set_content("hello " * 2000)
    with smtplib.SMTP("127.0.0.1", box.daemon.port("smtp"), timeout=30) as smtp:
        smtp.send_message(message)
    after = wait_for(lambda: (lambda s: s if s["usage"]["mailbox_bytes"] > before["usage"]["mailbox_bytes"] else None)(
        https(box, "GET", "/businesses/counted", token)[1]), timeout=10)
    assert after["usage"]["mailbox_bytes"] >= 12000


def test_plan_change_listing_and_removal(box: Box):
    """PUT .../plan moves the business; GET /businesses pages by slug; DELETE
    removes it as the CLI does (gone from the CLI's list, then 404)."""
    token = box.key("lifecycle")
    assert https(box, "POST", "/businesses", token, new_business("moving"))[0] == 201
    status, shown = https(box, "PUT", "/businesses/moving/plan", token, {"plan": "small"})
    assert status == 200 and shown["plan"]["name"] == "small"
    assert box.cli.json("tenant", "show", "moving")["plan"]["name"] == "small"
    page = box.curl("GET", "/businesses?limit=1", token).body
    assert len(page["businesses"]) == 1 and page["next"] == page["businesses"][0]["slug"]
    rest = box.curl("GET", f"/businesses?limit=100&after={page['next']}", token).body
    assert "moving" in [b["slug"] for b in rest["businesses"]] and rest["next"] is None
    plans = box.curl("GET", "/plans", token).body["plans"]
    assert {"small", "standard"} <= {p["name"] for p in plans}
    status, removed = https(box, "DELETE", "/businesses/moving", token)
    assert status == 200 and removed == {"slug": "moving", "removed": True}
    assert "moving" not in [b["slug"] for b in box.cli.json("tenant", "list")]
    assert https(box, "GET", "/businesses/moving", token)[0] == 404


def test_an_invited_owner_gets_a_link_instead_of_a_password(box: Box):
    """invite: true answers the panel's invitation link for the owner."""
    token = box.key("inviter")
    body = {"slug": "invited", "owner": "boss@invited.appliance.test", "invite": True}
    reply = box.curl("POST", "/businesses", token, body)
    assert reply.status == 201
    assert "/invitation/boss@invited.appliance.test/" in reply.body["invitation_url"]


def test_the_openapi_description_is_valid_and_lists_every_route(box: Box):
    """/api/v1/openapi.json is a valid OpenAPI 3.1 document with each route of the server's table."""
    from openapi_spec_validator import validate

    from appliance.api.routes import ROUTES

    reply = box.curl("GET", "/openapi.json")
    assert reply.status == 200
    validate(reply.body)
    assert reply.body["openapi"].startswith("3.1")
    # Titled by the box's brand (its host name here, none being set).
    assert reply.body["info"]["title"] == f"{HOST} provisioning API"
    served = {(method.upper(), path) for path, ops in reply.body["paths"].items() for method in ops}
    assert served == {(r.method, r.path) for r in ROUTES}


def test_plain_http_is_refused_not_redirected(box: Box):
    """Over plain HTTP the API answers 403 https_required: no redirect that would send the key again."""
    conn = http.client.HTTPConnection("127.0.0.1", box.daemon.port("http"), timeout=30)
    try:
        conn.request("GET", "/api/v1/plans", headers={"Host": HOST})
        answer = conn.getresponse()
        assert answer.status == 403 and json.loads(answer.read())["error"]["code"] == "https_required"
    finally:
        conn.close()


def _raw(box: Box, path: str, token: str | None) -> tuple[int, str, bytes]:
    """GET ``/api/v1PATH`` over HTTPS: status, Content-Type and the body's bytes."""
    ctx = ssl.create_default_context(cafile=str(box.daemon.ca_file))
    conn = http.client.HTTPSConnection("127.0.0.1", box.daemon.port("https"), context=ctx, timeout=30)
    try:
        headers = {"Host": HOST} | ({"Authorization": f"Bearer {token}"} if token else {})
        conn.request("GET", "/api/v1" + path, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.getheader("content-type") or "", answer.read()
    finally:
        conn.close()


def _audit(box: Box, slug: str) -> list[tuple[str, str, str]]:
    """The business's audit log (actor, action, detail), read from its file."""
    import sqlite3

    conn = sqlite3.connect(box.daemon.state / "tenants" / f"{slug}.sqlite3", timeout=10)
    try:
        return conn.execute("SELECT actor, action, detail FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()


def _seed_november(box: Box, slug: str) -> None:
    """Three days of November for ``slug``, through the usage service's own records."""
    from appliance import settings
    from appliance.app import App

    app = App(settings.load(str(box.cli.config)), box.cli.state)
    try:
        for day, people, received in (("2026-11-28", 2, 4), ("2026-11-29", 3, 5), ("2026-11-30", 1, 6)):
            app.core.usage.record(slug, day, active=True, sizes={"people": people, "mailbox_bytes": 700},
                                  events={"messages_received": received, "web_requests": 2, "web_bytes": 90})
    finally:
        app.close()


def test_a_read_key_gets_the_usage_report_in_json_and_csv(box: Box):
    """GET /usage?month=2026-11 with a read key: the month's lines in JSON and, with format=csv, the same
    as CSV, the same bytes each time; without a key 401, a bad month or format 422 naming the field."""
    assert https(box, "POST", "/businesses", box.key("seller"), new_business("billed"))[0] == 201
    _seed_november(box, "billed")
    token = box.key("accounts", "read")
    status, kind, body = _raw(box, "/usage?month=2026-11", token)
    assert (status, kind) == (200, "application/json")
    assert json.loads(body) == {"month": "2026-11", "businesses": [{
        "business": "billed", "plan": "standard", "days_active": 3, "peak_people": 3, "peak_storage_bytes": 700,
        "messages_sent": 0, "messages_received": 15, "web_requests": 6, "web_bytes": 270}]}
    status, kind, csv_body = _raw(box, "/usage?month=2026-11&format=csv", token)
    assert (status, kind) == (200, "text/csv; charset=utf-8")
    assert csv_body == (b"month,business,plan,days_active,peak_people,peak_storage_bytes,messages_sent,"
                        b"messages_received,web_requests,web_bytes\r\n2026-11,billed,standard,3,3,700,0,15,6,270\r\n")
    assert _raw(box, "/usage?month=2026-11&format=csv", token)[2] == csv_body
    assert _raw(box, "/usage?month=2026-11", token)[2] == body
    assert _raw(box, "/usage?month=2026-11", None)[0] == 401
    for query, field in (("month=2026-13", "month"), ("", "month"), ("month=2026-11&format=xml", "format")):
        status, _, answer = _raw(box, f"/usage?{query}", token)
        assert status == 422 and json.loads(answer)["error"]["field"] == field, query


def test_plans_are_added_changed_and_removed_and_a_read_key_only_reads_them(box: Box):
    """POST /plans adds one (201, the CLI lists it), PATCH changes it for
    the business on it at once, DELETE is 409 while a business is on it and
    200 after; a read key lists and shows plans but gets 403 on every
    write, which changes nothing; bad figures are 422 naming the field."""
    token, reader = box.key("planner"), box.key("plan-reader", "read")
    reply = box.curl("POST", "/plans", token, {"name": "bronze", "max_users": 2, "web_mb": 5})
    assert reply.status == 201 and reply.headers["location"] == "/api/v1/plans/bronze"
    assert reply.body["plan"] == {"name": "bronze", "max_users": 2, "mailbox_bytes": 2048 * 2**20,
                                  "web_bytes": 5 * 2**20, "messages_per_day": 500}
    assert "bronze" in [p["name"] for p in box.cli.json("plan", "list")]
    assert box.curl("POST", "/plans", token, {"name": "bronze"}).status == 409
    refused = box.curl("POST", "/plans", token, {"name": "iron", "web_mb": 0})
    assert refused.status == 422 and refused.body["error"]["field"] == "web_mb"
    assert box.curl("POST", "/plans", token, {"name": "Bad Name"}).body["error"]["field"] == "name"
    assert https(box, "POST", "/businesses", token, new_business("bronzeco", plan="bronze"))[0] == 201
    status, changed = https(box, "PATCH", "/plans/bronze", token, {"max_users": 3})
    assert status == 200 and changed["plan"]["max_users"] == 3 and changed["businesses"] == ["bronzeco"]
    assert https(box, "GET", "/businesses/bronzeco", token)[1]["plan"]["max_users"] == 3
    assert box.cli.json("tenant", "show", "bronzeco")["plan"]["max_users"] == 3
    for method, path, body in (("POST", "/plans", {"name": "sneaky"}), ("PATCH", "/plans/bronze", {"max_users": 9}),
                               ("DELETE", "/plans/bronze", None),
                               ("POST", "/businesses/bronzeco/extras", {"kind": "people", "amount": 5})):
        assert box.curl(method, path, reader, body).status == 403, (method, path)
    assert https(box, "GET", "/plans/bronze", reader)[1]["plan"]["max_users"] == 3
    assert "sneaky" not in [p["name"] for p in box.curl("GET", "/plans", reader).body["plans"]]
    assert https(box, "GET", "/businesses/bronzeco/extras", reader)[1]["extras"] == []
    in_use = box.curl("DELETE", "/plans/bronze", token)
    assert in_use.status == 409 and "bronzeco" in in_use.body["error"]["message"]
    assert https(box, "PUT", "/businesses/bronzeco/plan", token, {"plan": "standard"})[0] == 200
    assert https(box, "DELETE", "/plans/bronze", token) == (200, {"name": "bronze", "removed": True})
    assert https(box, "GET", "/plans/bronze", token)[0] == 404
    assert box.curl("DELETE", "/plans/standard", token).status == 409  # the default plan


def test_a_mailbox_full_over_smtp_takes_mail_after_a_mailbox_extra_and_another_business_is_unaffected(box: Box):
    """On a plan of 1 MiB per mailbox, a second 700 kB message is refused
    over SMTP as mailbox full; after POST .../extras (mailbox_mb 1) the
    same message is accepted at once, the extra is in the audit log, and
    the other business on that plan keeps the plan's limit; taking the
    extra back deletes nothing but refuses the next message."""
    token = box.key("extras")
    assert box.curl("POST", "/plans", token, {"name": "onemeg", "mailbox_mb": 1}).status == 201
    for slug in ("fullco", "sideco"):
        assert https(box, "POST", "/businesses", token, new_business(slug, plan="onemeg"))[0] == 201
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@sender.example", "owner@fullco.appliance.test", "big"
    message.set_content("".join(f"line {n:06d} of a long enough message body\n" for n in range(16000)))

    def send() -> int:
        try:
            with smtplib.SMTP("127.0.0.1", box.daemon.port("smtp"), timeout=30) as smtp:
                smtp.send_message(message)
            return 250
        except smtplib.SMTPRecipientsRefused as exc:
            return next(iter(exc.recipients.values()))[0]
        except smtplib.SMTPResponseException as exc:
            return exc.smtp_code

    assert send() == 250
    assert send() == 452
    status, added = https(box, "POST", "/businesses/fullco/extras", token, {"kind": "mailbox_mb", "amount": 1})
    assert status == 201 and added["limits"]["mailbox_bytes"] == 2 * 2**20
    assert added["plan"]["mailbox_bytes"] == 2**20
    assert send() == 250
    (extra,) = added["extras"]
    assert ("apikey:extras", "extra.add", f"{extra['id']} mailbox_mb 1") in _audit(box, "fullco")
    side = https(box, "GET", "/businesses/sideco/extras", token)[1]
    assert side["extras"] == [] and side["limits"]["mailbox_bytes"] == 2**20
    status, after = https(box, "DELETE", f"/businesses/fullco/extras/{extra['id']}", token)
    assert status == 200 and after["extras"] == [] and after["limits"]["mailbox_bytes"] == 2**20
    used = https(box, "GET", "/businesses/fullco", token)[1]["usage"]["mailbox_bytes"]
    assert used > 2**20  # nothing deleted
    assert send() == 452
    assert https(box, "DELETE", f"/businesses/fullco/extras/{extra['id']}", token)[0] == 404
    bad = box.curl("POST", "/businesses/fullco/extras", token, {"kind": "cpu", "amount": 1})
    assert bad.status == 422 and bad.body["error"]["field"] == "kind"
    assert box.curl("POST", "/businesses/fullco/extras", token, {"kind": "people", "amount": 0}).status == 422


def test_domains_are_added_listed_and_removed_as_the_cli_shows_them(box: Box):
    """POST .../domains gives a business its own domain (201, audited), GET
    lists what `domain list --json` lists, DELETE takes it back; a bad domain
    is 422 naming it, one another business has is 409."""
    token = box.key("domains")
    assert https(box, "POST", "/businesses", token, new_business("florist"))[0] == 201
    status, added = https(box, "POST", "/businesses/florist/domains", token, {"domain": "Florist.example"})
    assert status == 201 and added["name"] == "florist.example" and added["kind"] == "own"
    status, listed = https(box, "GET", "/businesses/florist/domains", token)
    assert status == 200 and listed["domains"] == box.cli.json("domain", "list", "florist")
    assert [d["name"] for d in listed["domains"]] == ["florist.appliance.test", "florist.example"]
    assert ("apikey:domains", "domain.add", "florist.example") in _audit(box, "florist")
    bad = box.curl("POST", "/businesses/florist/domains", token, {"domain": "not a domain"})
    assert bad.status == 422 and bad.body["error"]["field"] == "domain"
    assert box.curl("POST", "/businesses/florist/domains", token, {"domain": "florist.example"}).status == 409
    status, removed = https(box, "DELETE", "/businesses/florist/domains/florist.example", token)
    assert status == 200 and removed == {"domain": "florist.example", "removed": True}
    assert ("apikey:domains", "domain.remove", "florist.example") in _audit(box, "florist")
    assert [d["name"] for d in box.cli.json("domain", "list", "florist")] == ["florist.appliance.test"]
    assert https(box, "GET", "/businesses/nosuch/domains", token)[0] == 404


def test_users_are_added_changed_and_removed_as_the_cli_shows_them(box: Box):
    """POST .../users makes a user who signs in to IMAP (201, audited); GET
    lists what `user list --json` lists; PATCH sets quota, role and state as
    the `user` subcommands do; DELETE removes them. A bad address, password
    or quota is 422 naming the field, an address taken 409."""
    token = box.key("users")
    assert https(box, "POST", "/businesses", token, new_business("tailor"))[0] == 201
    ann = "ann@tailor.appliance.test"
    status, made = https(box, "POST", "/businesses/tailor/users", token,
                         {"address": "Ann@tailor.appliance.test", "password": "ann's long secret", "name": "Ann"})
    assert status == 201 and made["password"] is None
    assert made["user"]["address"] == ann and made["user"]["display_name"] == "Ann"
    status, listed = https(box, "GET", "/businesses/tailor/users", token)
    assert status == 200 and listed["users"] == box.cli.json("user", "list", "tailor")
    assert made["user"] in listed["users"]
    assert wait_for(lambda: imap_login(box, ann, "ann's long secret"), timeout=10)
    status, changed = https(box, "PATCH", f"/businesses/tailor/users/{ann}", token,
                            {"quota_mb": 5, "role": "owner", "state": "suspended"})
    assert status == 200, changed
    assert (changed["quota_bytes"], changed["role"], changed["state"]) == (5 * 2**20, "owner", "suspended")
    assert changed in box.cli.json("user", "list", "tailor")
    assert ("apikey:users", "user.add", ann) in _audit(box, "tailor")
    assert ("apikey:users", "user.suspend", ann) in _audit(box, "tailor")
    status, generated = https(box, "POST", "/businesses/tailor/users", token, {"address": "bob@tailor.appliance.test"})
    assert status == 201 and len(generated["password"]) >= 12
    for body, field in (({"address": "bad address"}, "address"),
                        ({"address": "cy@tailor.appliance.test", "password": "short"}, "password"),
                        ({"address": ann, "colour": "blue"}, "colour")):
        reply = box.curl("POST", "/businesses/tailor/users", token, body)
        assert reply.status == 422 and reply.body["error"]["field"] == field, reply.body
    token = box.key("users-2")
    assert box.curl("POST", "/businesses/tailor/users", token, {"address": ann}).status == 409
    for body, field in (({"quota_mb": -1}, "quota_mb"), ({"password": "short"}, "password"),
                        ({"role": "boss"}, "role")):
        reply = box.curl("PATCH", f"/businesses/tailor/users/{ann}", token, body)
        assert reply.status == 422 and reply.body["error"]["field"] == field, reply.body
    status, removed = https(box, "DELETE", f"/businesses/tailor/users/{ann}", token)
    assert status == 200 and removed == {"address": ann, "removed": True}
    assert ann not in [u["address"] for u in box.cli.json("user", "list", "tailor")]
    assert ("apikey:users-2", "user.remove", ann) in _audit(box, "tailor")


def test_aliases_are_added_and_removed_as_the_cli_shows_them(box: Box):
    """POST .../aliases makes an alias (201, audited) that GET and `alias
    list --json` show alike; DELETE removes it; a target outside the
    business is 422 naming targets, an alias at another business's domain 404."""
    token = box.key("aliases")
    for slug in ("grocer", "baker"):
        assert https(box, "POST", "/businesses", token, new_business(slug))[0] == 201
    sales, owner = "sales@grocer.appliance.test", "owner@grocer.appliance.test"
    status, made = https(box, "POST", "/businesses/grocer/aliases", token, {"alias": sales, "targets": [owner]})
    assert status == 201 and made == {"address": sales, "targets": [owner]}
    status, listed = https(box, "GET", "/businesses/grocer/aliases", token)
    assert status == 200 and listed["aliases"] == box.cli.json("alias", "list", "grocer") == [made]
    assert ("apikey:aliases", "alias.add", f"{sales} -> {owner}") in _audit(box, "grocer")
    outside = box.curl("POST", "/businesses/grocer/aliases", token,
                       {"alias": "help@grocer.appliance.test", "targets": ["owner@baker.appliance.test"]})
    assert outside.status == 422 and outside.body["error"]["field"] == "targets"
    for body, field in (({"alias": "bad alias", "targets": [owner]}, "alias"),
                        ({"alias": "x@grocer.appliance.test", "targets": owner}, "targets")):
        reply = box.curl("POST", "/businesses/grocer/aliases", token, body)
        assert reply.status == 422 and reply.body["error"]["field"] == field, reply.body
    status, removed = https(box, "DELETE", f"/businesses/grocer/aliases/{sales}", token)
    assert status == 200 and removed == {"alias": sales, "removed": True}
    assert box.cli.json("alias", "list", "grocer") == []
    assert ("apikey:aliases", "alias.remove", sales) in _audit(box, "grocer")


def test_another_business_s_domains_users_and_aliases_are_404(box: Box):
    """Through business A's path, B's domain, user and alias are not found
    (as an unknown one is), and none of them changes."""
    token = box.key("tenants")
    for slug in ("mason", "joiner"):
        assert https(box, "POST", "/businesses", token, new_business(slug))[0] == 201
    assert https(box, "POST", "/businesses/joiner/domains", token, {"domain": "joiner.example"})[0] == 201
    alias, owner = "info@joiner.appliance.test", "owner@joiner.appliance.test"
    assert https(box, "POST", "/businesses/joiner/aliases", token, {"alias": alias, "targets": [owner]})[0] == 201
    other = box.key("tenants-2")
    for method, path, body in (
            ("DELETE", "/businesses/mason/domains/joiner.example", None),
            ("DELETE", f"/businesses/mason/users/{owner}", None),
            ("PATCH", f"/businesses/mason/users/{owner}", {"state": "suspended"}),
            ("POST", "/businesses/mason/users", {"address": "new@joiner.appliance.test", "password": PASSWORD}),
            ("DELETE", f"/businesses/mason/aliases/{alias}", None),
            ("POST", "/businesses/mason/aliases", {"alias": "x@joiner.appliance.test", "targets": [owner]}),
            ("DELETE", "/businesses/mason/users/nobody@mason.appliance.test", None)):
        reply = box.curl(method, path, other, body)
        assert reply.status == 404 and reply.body["error"]["code"] == "not_found", (method, path, reply.body)
        assert "joiner" not in reply.body["error"]["message"].replace("joiner.", ""), reply.body
    # The same answer as for a domain nobody has: nothing tells it is another business's.
    other = box.key("tenants-3")
    taken = box.curl("DELETE", f"/businesses/mason/users/{owner}", other).body["error"]["message"]
    unknown = box.curl("DELETE", "/businesses/mason/users/owner@nobody.example", other).body["error"]["message"]
    assert taken.replace("joiner.appliance.test", "X") == unknown.replace("nobody.example", "X")
    taken = box.curl("DELETE", "/businesses/mason/domains/joiner.example", other).body["error"]["message"]
    unknown = box.curl("DELETE", "/businesses/mason/domains/nobody.example", other).body["error"]["message"]
    assert taken.replace("joiner.example", "X") == unknown.replace("nobody.example", "X")
    assert [d["name"] for d in box.cli.json("domain", "list", "joiner")][-1] == "joiner.example"
    assert [(u["address"], u["state"]) for u in box.cli.json("user", "list", "joiner")] == [(owner, "active")]
    assert [a["address"] for a in box.cli.json("alias", "list", "joiner")] == [alias]


def test_a_read_key_gets_403_on_each_domain_user_and_alias_write(box: Box):
    """A read key lists domains, users and aliases; each write is 403 and changes nothing."""
    writer, reader = box.key("dua-writer"), box.key("dua-reader", "read")
    assert https(box, "POST", "/businesses", writer, new_business("potter"))[0] == 201
    owner = "owner@potter.appliance.test"
    for kind in ("domains", "users", "aliases"):
        assert https(box, "GET", f"/businesses/potter/{kind}", reader)[0] == 200
    before = [box.cli.json(kind, "list", "potter") for kind in ("domain", "user", "alias")]
    for method, path, body in (
            ("POST", "/businesses/potter/domains", {"domain": "potter.example"}),
            ("DELETE", "/businesses/potter/domains/potter.appliance.test", None),
            ("POST", "/businesses/potter/users", {"address": "new@potter.appliance.test", "password": PASSWORD}),
            ("PATCH", f"/businesses/potter/users/{owner}", {"state": "suspended"}),
            ("DELETE", f"/businesses/potter/users/{owner}", None),
            ("POST", "/businesses/potter/aliases", {"alias": "x@potter.appliance.test", "targets": [owner]}),
            ("DELETE", "/businesses/potter/aliases/x@potter.appliance.test", None)):
        reply = box.curl(method, path, reader, body)
        assert reply.status == 403 and reply.body["error"]["code"] == "forbidden", (method, path)
    assert [box.cli.json(kind, "list", "potter") for kind in ("domain", "user", "alias")] == before


def test_a_replayed_user_creation_gets_the_first_answer_and_its_password(box: Box):
    """POST .../users with the same Idempotency-Key and body answers the
    first 201 again (the same generated password), not 409."""
    token = box.key("users-replay")
    assert https(box, "POST", "/businesses", token, new_business("cooper"))[0] == 201
    body = {"address": "dan@cooper.appliance.test"}
    first = box.curl("POST", "/businesses/cooper/users", token, body, {"Idempotency-Key": "user-1"})
    again = box.curl("POST", "/businesses/cooper/users", token, body, {"Idempotency-Key": "user-1"})
    assert first.status == again.status == 201 and again.body == first.body and first.body["password"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert [u["address"] for u in box.cli.json("user", "list", "cooper")].count("dan@cooper.appliance.test") == 1
