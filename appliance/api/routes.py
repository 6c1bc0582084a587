"""The provisioning API's routes: one table (:data:`ROUTES`) that the
server dispatches on and the OpenAPI description (:mod:`.openapi`) is
written from. Each handler parses, calls one service method and renders;
the rules are the services'.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Awaitable, Callable

from ..services.moves import parse_repr_digest
from . import Answer, ApiError, Call

#: Businesses one page lists at most, and by default.
MAX_PAGE = 100
DEFAULT_PAGE = 50


@dataclass(frozen=True)
class Route:
    """One operation: ``path`` is below ``/api/v1`` with ``{name}``
    parameters; ``body`` the JSON schema of the request body (None: no
    body); ``response`` the schema of a success; ``write``: a read key may
    not call it; ``public``: no key needed; ``idempotent``: takes an
    ``Idempotency-Key``; ``fields`` renames the services' field names to
    this route's."""

    method: str
    path: str
    operation: str
    summary: str
    handler: Callable[[Call], Awaitable[Answer]]
    response: dict
    status: int = 200
    write: bool = False
    public: bool = False
    body: dict | None = None
    idempotent: bool = False
    fields: dict[str, str] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    #: Query parameters (OpenAPI parameter objects, ``"in": "query"``).
    query: tuple[dict, ...] = ()
    #: Other media types a success may come in: type -> schema.
    media: dict[str, dict] = field(default_factory=dict)


# -- schemas ---------------------------------------------------------------------

def _obj(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


STR = {"type": "string"}
INT = {"type": "integer"}
SLUG = {"type": "string", "pattern": "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"}
PLAN = _obj({"name": STR, "max_users": INT, "mailbox_bytes": INT, "web_bytes": INT, "messages_per_day": INT},
            ("name", "max_users", "mailbox_bytes", "web_bytes", "messages_per_day"))
ENTRY = _obj({"slug": SLUG, "name": STR, "state": {"type": "string", "enum": ["active", "suspended"]},
              "created": STR, "domains": {"type": "array", "items": STR}},
             ("slug", "name", "state", "created", "domains"))
USAGE = _obj({"people": INT, "mailbox_bytes": INT, "web_bytes": INT, "messages_sent_today": INT},
             ("people", "mailbox_bytes", "web_bytes", "messages_sent_today"))
BUSINESS = _obj({**ENTRY["properties"], "plan": PLAN, "usage": USAGE}, (*ENTRY["required"], "plan", "usage"))
CREATE = _obj({
    "slug": SLUG,
    "name": {"type": "string", "description": "display name (default: the slug)"},
    "domain": {"type": "string", "description": "its own domain, besides the free <slug>.<box domain>"},
    "plan": {"type": "string", "description": "plan name (default: the box's default plan)"},
    "owner": {"type": "string", "description": "the owner's address, at the free domain or the own domain"},
    "password": {"type": "string", "description": "the owner's password (or set invite)"},
    "invite": {"type": "boolean", "description": "send no password: answer a link where the owner chooses theirs"},
}, ("slug", "owner"))
CREATED = _obj({"business": BUSINESS, "owner": STR, "invitation_url": {"type": ["string", "null"]}},
               ("business", "owner", "invitation_url"))
PAGE = _obj({"businesses": {"type": "array", "items": ENTRY}, "next": {"type": ["string", "null"]}},
            ("businesses", "next"))
PLANS = _obj({"plans": {"type": "array", "items": PLAN}}, ("plans",))
SET_PLAN = _obj({"plan": STR}, ("plan",))
PLAN_NAME = {"type": "string", "pattern": "^[a-z0-9-]{1,32}$"}
_FIGURES = {
    "max_users": {"type": "integer", "description": "people (mailboxes) a business may have"},
    "mailbox_mb": {"type": "integer", "description": "storage per mailbox, MiB"},
    "web_mb": {"type": "integer", "description": "website space, MiB"},
    "messages_per_day": {"type": "integer", "description": "messages a business may send a day"},
}
NEW_PLAN = _obj({"name": PLAN_NAME, **_FIGURES}, ("name",))
CHANGE_PLAN = _obj(dict(_FIGURES))
PLAN_DETAIL = _obj({"plan": PLAN, "businesses": {"type": "array", "items": SLUG}}, ("plan", "businesses"))
PLAN_REMOVED = _obj({"name": PLAN_NAME, "removed": {"type": "boolean"}}, ("name", "removed"))
EXTRA_KIND = {"type": "string", "enum": ["people", "mailbox_mb", "web_mb"]}
EXTRA = _obj({"id": INT, "kind": EXTRA_KIND, "amount": INT, "created": STR}, ("id", "kind", "amount", "created"))
EXTRAS = _obj({"slug": SLUG, "plan": PLAN, "extras": {"type": "array", "items": EXTRA}, "limits": PLAN},
              ("slug", "plan", "extras", "limits"))
NEW_EXTRA = _obj({"kind": EXTRA_KIND, "amount": {"type": "integer", "description": "people, or MiB"}},
                 ("kind", "amount"))
REMOVED = _obj({"slug": SLUG, "removed": {"type": "boolean"}}, ("slug", "removed"))
DOCUMENT = {"type": "object", "description": "an OpenAPI 3.1 document"}
USAGE_LINE = _obj({"business": SLUG, "plan": STR, "days_active": INT, "peak_people": INT, "peak_storage_bytes": INT,
                   "messages_sent": INT, "messages_received": INT, "web_requests": INT, "web_bytes": INT},
                  ("business", "plan", "days_active", "peak_people", "peak_storage_bytes", "messages_sent",
                   "messages_received", "web_requests", "web_bytes"))
USAGE_REPORT = _obj({"month": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                     "businesses": {"type": "array", "items": USAGE_LINE}}, ("month", "businesses"))
DOMAIN = _obj({"name": STR, "kind": {"type": "string", "enum": ["free", "own"]}, "created": STR},
              ("name", "kind", "created"))
DOMAINS = _obj({"domains": {"type": "array", "items": DOMAIN}}, ("domains",))
NEW_DOMAIN = _obj({"domain": STR}, ("domain",))
DOMAIN_REMOVED = _obj({"domain": STR, "removed": {"type": "boolean"}}, ("domain", "removed"))
ROLE = {"type": "string", "enum": ["owner", "member"]}
USER = _obj({"address": STR, "display_name": {"type": ["string", "null"]},
             "quota_bytes": {"type": ["integer", "null"], "description": "null: the plan's mailbox size"},
             "state": STR, "created": STR, "role": ROLE},
            ("address", "display_name", "quota_bytes", "state", "created", "role"))
USERS = _obj({"users": {"type": "array", "items": USER}}, ("users",))
NEW_USER = _obj({
    "address": {"type": "string", "description": "at one of the business's domains"},
    "password": {"type": "string", "description": "default: one is generated and answered once"},
    "name": {"type": "string", "description": "display name"},
}, ("address",))
USER_CREATED = _obj({"user": USER, "password": {"type": ["string", "null"], "description": "the generated one"}},
                    ("user", "password"))
CHANGE_USER = _obj({
    "password": STR,
    "quota_mb": {"type": "integer", "description": "mailbox quota, MiB (0: the plan's)"},
    "role": ROLE,
    "state": {"type": "string", "enum": ["active", "suspended"],
              "description": "suspended: no login anywhere, mail to them still accepted"},
})
USER_REMOVED = _obj({"address": STR, "removed": {"type": "boolean"}}, ("address", "removed"))
ALIAS = _obj({"address": {"type": "string", "description": "local@domain, or @domain for a catch-all"},
              "targets": {"type": "array", "items": STR}}, ("address", "targets"))
ALIASES = _obj({"aliases": {"type": "array", "items": ALIAS}}, ("aliases",))
NEW_ALIAS = _obj({"alias": {"type": "string", "description": "local@domain, or @domain for a catch-all"},
                  "targets": {"type": "array", "items": STR,
                              "description": "users or aliases of the same business; added to those it has"}},
                 ("alias", "targets"))
ALIAS_REMOVED = _obj({"alias": STR, "removed": {"type": "boolean"}}, ("alias", "removed"))
USAGE_QUERY = (
    {"name": "month", "in": "query", "required": True, "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
     "description": "the month, YYYY-MM (UTC)"},
    {"name": "format", "in": "query", "required": False, "schema": {"type": "string", "enum": ["json", "csv"]},
     "description": "json (the default) or csv (RFC 4180, a header line)"},
)
CSV_TYPE = "text/csv; charset=utf-8"
MOVE_CHECK = _obj({"bytes": {"type": "integer", "description": "the size of the business file to come"}}, ("bytes",))
MOVE_OK = _obj({"slug": SLUG, "bytes": INT}, ("slug", "bytes"))
MOVE_ANNOUNCED = _obj({"slug": SLUG, "announced": INT}, ("slug", "announced"))

_TYPES = {"string": str, "boolean": bool, "integer": int, "array": list}


def checked(body: dict | None, schema: dict) -> dict:
    """``body`` against ``schema`` (one of the flat objects above): no
    unknown field, every required one, each of its type. Raises ApiError
    422 naming the field. The services check the values."""
    body = body or {}
    for name in body:
        if name not in schema["properties"]:
            raise ApiError(422, "invalid_input", f"unknown field {name!r}", name)
    for name in schema["required"]:
        if name not in body:
            raise ApiError(422, "invalid_input", f"{name} is required", name)
    for name, value in body.items():
        kind = schema["properties"][name].get("type")
        if isinstance(kind, str) and kind in _TYPES and (
                not isinstance(value, _TYPES[kind]) or (kind == "integer" and isinstance(value, bool))):
            raise ApiError(422, "invalid_input", f"{name} must be a {kind}", name)
        item = schema["properties"][name].get("items", {}).get("type")
        if kind == "array" and item in _TYPES and not all(isinstance(v, _TYPES[item]) for v in value):
            raise ApiError(422, "invalid_input", f"{name} must be a list of {item}s", name)
    return body


# -- handlers ----------------------------------------------------------------------

async def _business(call: Call, slug: str) -> dict:
    """One business with its plan and usage, as :data:`BUSINESS`."""
    business = await call.run(call.core.businesses.show, slug)
    use = {m.name: m.used for m in (await call.run(call.core.plan_usage.show, business.slug)).meters}
    return {
        "slug": business.slug, "name": business.name, "state": business.state, "created": business.created,
        "domains": [d.name for d in business.domains], "plan": asdict(business.plan),
        "usage": {"people": use["people"], "mailbox_bytes": use["mailbox"], "web_bytes": use["web"],
                  "messages_sent_today": use["messages"]},
    }


async def list_businesses(call: Call) -> Answer:
    limit_arg = call.arg("limit") or str(DEFAULT_PAGE)
    if not limit_arg.isdigit() or not 1 <= int(limit_arg) <= MAX_PAGE:
        raise ApiError(422, "invalid_input", f"limit is 1 to {MAX_PAGE}", "limit")
    after = call.arg("after") or ""
    entries = [e for e in await call.run(call.core.businesses.list) if e.slug > after]
    page = entries[:int(limit_arg)]
    more = len(entries) > len(page)
    return Answer(200, {"businesses": [e.as_dict() for e in page], "next": page[-1].slug if more else None})


async def create_business(call: Call) -> Answer:
    body = checked(call.body, CREATE)
    if not body.get("invite") and "password" not in body:
        raise ApiError(422, "invalid_input", "give the owner a password, or set invite", "password")
    created = await call.run(
        call.core.operators.create_business, body["slug"], body.get("name"), body.get("domain"), body.get("plan"),
        body["owner"], actor=call.caller.actor, password=body.get("password"), invite=bool(body.get("invite")))
    url = None
    if created.invitation is not None:
        url = f"{call.base}invitation/{urllib.parse.quote(created.owner, safe='@')}/{created.invitation}"
    slug = created.business.slug
    return Answer(201, {"business": await _business(call, slug), "owner": created.owner, "invitation_url": url},
                  [("location", f"/api/v1/businesses/{slug}")])


async def show_business(call: Call) -> Answer:
    return Answer(200, await _business(call, call.params["slug"]))


async def suspend_business(call: Call) -> Answer:
    await call.run(call.core.businesses.suspend, call.params["slug"], actor=call.caller.actor)
    return Answer(200, await _business(call, call.params["slug"]))


async def resume_business(call: Call) -> Answer:
    await call.run(call.core.businesses.resume, call.params["slug"], actor=call.caller.actor)
    return Answer(200, await _business(call, call.params["slug"]))


async def set_plan(call: Call) -> Answer:
    body = checked(call.body, SET_PLAN)
    await call.run(call.core.businesses.set_plan, call.params["slug"], body["plan"], actor=call.caller.actor)
    return Answer(200, await _business(call, call.params["slug"]))


async def remove_business(call: Call) -> Answer:
    # As `appliance tenant remove`: unregistered at once, the file kept
    # aside on the box for the operator (where is not the API's to say).
    await call.run(call.core.businesses.remove, call.params["slug"], actor=call.caller.actor)
    return Answer(200, {"slug": call.params["slug"], "removed": True})


async def list_plans(call: Call) -> Answer:
    return Answer(200, {"plans": [asdict(p) for p in await call.run(call.core.businesses.plans)]})


async def usage_report(call: Call) -> Answer:
    month = call.arg("month")
    if not month:
        raise ApiError(422, "invalid_input", "month is required (YYYY-MM)", "month")
    kind = call.arg("format") or "json"
    if kind not in ("json", "csv"):
        raise ApiError(422, "invalid_input", "format is json or csv", "format")
    report = await call.run(call.core.usage.report, month)
    if kind == "csv":
        return Answer(200, raw=report.csv_bytes(), content_type=CSV_TYPE,
                      headers=[("content-disposition", f'attachment; filename="usage-{report.month}.csv"')])
    return Answer(200, report.as_dict())


async def show_plan(call: Call) -> Answer:
    return Answer(200, (await call.run(call.core.plans.show, call.params["name"])).as_dict())


async def add_plan(call: Call) -> Answer:
    body = checked(call.body, NEW_PLAN)
    figures = {k: v for k, v in body.items() if k != "name"}
    plan = await call.run(call.core.plans.add, body["name"], figures, actor=call.caller.actor)
    return Answer(201, (await call.run(call.core.plans.show, plan.name)).as_dict(),
                  [("location", f"/api/v1/plans/{plan.name}")])


async def change_plan(call: Call) -> Answer:
    body = checked(call.body, CHANGE_PLAN)
    plan = await call.run(call.core.plans.change, call.params["name"], body, actor=call.caller.actor)
    return Answer(200, (await call.run(call.core.plans.show, plan.name)).as_dict())


async def remove_plan(call: Call) -> Answer:
    await call.run(call.core.plans.remove, call.params["name"], actor=call.caller.actor)
    return Answer(200, {"name": call.params["name"], "removed": True})


async def list_extras(call: Call) -> Answer:
    return Answer(200, (await call.run(call.core.extras.list, call.params["slug"])).as_dict())


async def add_extra(call: Call) -> Answer:
    body = checked(call.body, NEW_EXTRA)
    await call.run(call.core.extras.add, call.params["slug"], body["kind"], body["amount"], actor=call.caller.actor)
    return Answer(201, (await call.run(call.core.extras.list, call.params["slug"])).as_dict())


async def remove_extra(call: Call) -> Answer:
    number = call.params["id"]
    if not number.isdigit() or len(number) > 12:
        raise ApiError(404, "not_found", f"no extra {number}")
    await call.run(call.core.extras.remove, call.params["slug"], int(number), actor=call.caller.actor)
    return Answer(200, (await call.run(call.core.extras.list, call.params["slug"])).as_dict())


async def list_domains(call: Call) -> Answer:
    domains = await call.run(call.core.domains.list, call.params["slug"])
    return Answer(200, {"domains": [asdict(d) for d in domains]})


async def add_domain(call: Call) -> Answer:
    body = checked(call.body, NEW_DOMAIN)
    slug = call.params["slug"]
    before = {d.name for d in await call.run(call.core.domains.list, slug)}
    await call.run(call.core.domains.add, slug, body["domain"], actor=call.caller.actor)
    added = next(d for d in await call.run(call.core.domains.list, slug) if d.name not in before)
    return Answer(201, asdict(added), [("location", f"/api/v1/businesses/{slug}/domains/{added.name}")])


async def remove_domain(call: Call) -> Answer:
    await call.run(call.core.domains.remove, call.params["domain"], actor=call.caller.actor,
                   slug=call.params["slug"])
    return Answer(200, {"domain": call.params["domain"], "removed": True})


async def _user(call: Call, address: str) -> dict:
    """The user ``address`` of the route's business, as `user list` shows it."""
    wanted = address.strip().lower()
    for person in await call.run(call.core.people.list, call.params["slug"]):
        if person.address == wanted:
            return person.as_dict()
    raise ApiError(404, "not_found", f"no user {wanted}")


async def list_users(call: Call) -> Answer:
    people = await call.run(call.core.people.list, call.params["slug"])
    return Answer(200, {"users": [p.as_dict() for p in people]})


async def add_user(call: Call) -> Answer:
    body = checked(call.body, NEW_USER)
    slug = call.params["slug"]
    before = {p.address for p in await call.run(call.core.people.list, slug)}
    generated = await call.run(call.core.people.add, body["address"], body.get("password"), body.get("name"),
                               actor=call.caller.actor, slug=slug)
    user = next(p.as_dict() for p in await call.run(call.core.people.list, slug) if p.address not in before)
    return Answer(201, {"user": user, "password": generated},
                  [("location", f"/api/v1/businesses/{slug}/users/{user['address']}")])


async def change_user(call: Call) -> Answer:
    # One `appliance user` subcommand per field given, in this order; a
    # refused one stops there and those before it stay, as with the CLI.
    body = checked(call.body, CHANGE_USER)
    slug, address, actor = call.params["slug"], call.params["address"], call.caller.actor
    people = call.core.people
    if "password" in body:
        await call.run(people.set_password, address, body["password"], actor=actor, slug=slug)
    if "quota_mb" in body:
        await call.run(people.set_quota, address, body["quota_mb"], actor=actor, slug=slug)
    if "role" in body:
        await call.run(people.set_role, address, body["role"], actor=actor, slug=slug)
    if "state" in body:
        await call.run(people.set_state, address, body["state"], actor=actor, slug=slug)
    return Answer(200, await _user(call, address))


async def remove_user(call: Call) -> Answer:
    await call.run(call.core.people.remove, call.params["address"], actor=call.caller.actor,
                   slug=call.params["slug"])
    return Answer(200, {"address": call.params["address"], "removed": True})


async def list_aliases(call: Call) -> Answer:
    aliases = await call.run(call.core.addresses.list, call.params["slug"])
    return Answer(200, {"aliases": [a.as_dict() for a in aliases]})


async def add_alias(call: Call) -> Answer:
    body = checked(call.body, NEW_ALIAS)
    slug = call.params["slug"]
    await call.run(call.core.addresses.add, body["alias"], body["targets"], actor=call.caller.actor, slug=slug)
    wanted = body["alias"].strip().lower()
    alias = next(a for a in await call.run(call.core.addresses.list, slug) if a.address == wanted)
    return Answer(201, alias.as_dict(), [("location", f"/api/v1/businesses/{slug}/aliases/{alias.address}")])


async def remove_alias(call: Call) -> Answer:
    await call.run(call.core.addresses.remove, call.params["alias"], actor=call.caller.actor,
                   slug=call.params["slug"])
    return Answer(200, {"alias": call.params["alias"], "removed": True})


async def openapi(call: Call) -> Answer:
    from .openapi import document

    return Answer(200, document(ROUTES, call.base, call.core.brand.current().name))


_ONE = (401, 404, 429)
_CHANGE = (401, 403, 404, 409, 422, 429)

async def check_move(call: Call) -> Answer:
    body = checked(call.body, MOVE_CHECK)
    await call.run(call.core.moves.check_incoming, call.params["slug"], body["bytes"])
    return Answer(200, {"slug": call.params["slug"], "bytes": body["bytes"]})


async def receive_move(call: Call) -> Answer:
    if call.upload is None:
        raise ApiError(400, "bad_request", "send the business file as the body of a PUT with Authorization")
    digest = parse_repr_digest(call.headers.get("repr-digest", ""))
    size = call.upload.stat().st_size
    await call.run(call.core.moves.check_incoming, call.params["slug"], size)
    business = await call.run(call.core.moves.receive, call.params["slug"], call.upload, digest,
                              actor=call.caller.actor)
    return Answer(201, await _business(call, business.slug))


async def announce_move(call: Call) -> Answer:
    count = await call.run(call.core.moves.announce, call.params["slug"], actor=call.caller.actor)
    return Answer(200, {"slug": call.params["slug"], "announced": count})


ROUTES: tuple[Route, ...] = (
    Route("GET", "/businesses", "listBusinesses", "The businesses, by slug, a page at a time",
          list_businesses, PAGE, errors=(401, 422, 429)),
    Route("POST", "/businesses", "createBusiness", "Create a business and its owner",
          create_business, CREATED, status=201, write=True, body=CREATE, idempotent=True,
          fields={"address": "owner"}, errors=(401, 403, 409, 413, 415, 422, 429)),
    Route("GET", "/businesses/{slug}", "showBusiness", "One business: state, plan and usage",
          show_business, BUSINESS, errors=_ONE),
    Route("POST", "/businesses/{slug}/suspend", "suspendBusiness", "Suspend a business: nobody signs in, mail waits",
          suspend_business, BUSINESS, write=True, errors=_CHANGE),
    Route("POST", "/businesses/{slug}/resume", "resumeBusiness", "Resume a suspended business",
          resume_business, BUSINESS, write=True, errors=_CHANGE),
    Route("PUT", "/businesses/{slug}/plan", "setPlan", "Move a business to another plan",
          set_plan, BUSINESS, write=True, body=SET_PLAN, errors=_CHANGE),
    Route("DELETE", "/businesses/{slug}", "removeBusiness",
          "Remove a business: unregistered at once, its file kept aside on the box",
          remove_business, REMOVED, write=True, errors=_CHANGE),
    Route("GET", "/plans", "listPlans", "The box's plans and their limits", list_plans, PLANS, errors=(401, 429)),
    Route("GET", "/usage", "usageReport",
          "The usage report of a month: one line per business with what it is billed on",
          usage_report, USAGE_REPORT, errors=(401, 422, 429), query=USAGE_QUERY,
          media={CSV_TYPE: {"type": "string", "description": "the same lines as CSV"}}),
    Route("POST", "/plans", "addPlan", "Add a plan (figures not given: the defaults of [plans.NAME])",
          add_plan, PLAN_DETAIL, status=201, write=True, body=NEW_PLAN,
          errors=(401, 403, 409, 413, 415, 422, 429)),
    Route("GET", "/plans/{name}", "showPlan", "One plan and the businesses on it", show_plan, PLAN_DETAIL,
          errors=(401, 404, 422, 429)),
    Route("PATCH", "/plans/{name}", "changePlan",
          "Change a plan's figures; every business on it has the new limits at once",
          change_plan, PLAN_DETAIL, write=True, body=CHANGE_PLAN, errors=_CHANGE),
    Route("DELETE", "/plans/{name}", "removePlan", "Remove a plan no business is on (409 while one is)",
          remove_plan, PLAN_REMOVED, write=True, errors=_CHANGE),
    Route("GET", "/businesses/{slug}/extras", "listExtras",
          "A business's extras and the limits they make with its plan", list_extras, EXTRAS, errors=_ONE),
    Route("POST", "/businesses/{slug}/extras", "addExtra", "Add people, mailbox MiB or web MiB on top of the plan",
          add_extra, EXTRAS, status=201, write=True, body=NEW_EXTRA, errors=_CHANGE),
    Route("DELETE", "/businesses/{slug}/extras/{id}", "removeExtra",
          "Take back one extra; nothing the business stored is deleted",
          remove_extra, EXTRAS, write=True, errors=_CHANGE),
    Route("GET", "/businesses/{slug}/domains", "listDomains", "A business's domains, the free one first",
          list_domains, DOMAINS, errors=_ONE),
    Route("POST", "/businesses/{slug}/domains", "addDomain", "Give a business one of its own domains",
          add_domain, DOMAIN, status=201, write=True, idempotent=True, body=NEW_DOMAIN, errors=_CHANGE),
    Route("DELETE", "/businesses/{slug}/domains/{domain}", "removeDomain",
          "Take a domain away from a business, with its users and aliases",
          remove_domain, DOMAIN_REMOVED, write=True, errors=_CHANGE),
    Route("GET", "/businesses/{slug}/users", "listUsers", "A business's users (mailboxes and logins)",
          list_users, USERS, errors=_ONE),
    Route("POST", "/businesses/{slug}/users", "addUser",
          "Create a user; without a password one is generated and answered once",
          add_user, USER_CREATED, status=201, write=True, idempotent=True, body=NEW_USER, errors=_CHANGE),
    Route("PATCH", "/businesses/{slug}/users/{address}", "changeUser",
          "Change a user's password, quota, role or state (suspended or active)",
          change_user, USER, write=True, body=CHANGE_USER, fields={"megabytes": "quota_mb"}, errors=_CHANGE),
    Route("DELETE", "/businesses/{slug}/users/{address}", "removeUser", "Remove a user and their mail",
          remove_user, USER_REMOVED, write=True, errors=_CHANGE),
    Route("GET", "/businesses/{slug}/aliases", "listAliases", "A business's aliases and catch-alls",
          list_aliases, ALIASES, errors=_ONE),
    Route("POST", "/businesses/{slug}/aliases", "addAlias",
          "Make an address (or @domain) deliver to users or aliases of the same business",
          add_alias, ALIAS, status=201, write=True, idempotent=True, body=NEW_ALIAS, fields={"address": "alias"},
          errors=_CHANGE),
    Route("DELETE", "/businesses/{slug}/aliases/{alias}", "removeAlias", "Remove an alias",
          remove_alias, ALIAS_REMOVED, write=True, errors=_CHANGE),
    Route("POST", "/moves/{slug}/check", "checkMove",
          "Whether this box would take a business file of so many bytes from another box (a move)",
          check_move, MOVE_OK, write=True, body=MOVE_CHECK, errors=(401, 403, 409, 413, 415, 422, 429, 507)),
    Route("PUT", "/moves/{slug}", "receiveMove",
          "Take a business from another box: the body is its file (application/vnd.sqlite3), Repr-Digest its"
          " sha-256 (RFC 9530); answered once this box serves the business",
          receive_move, BUSINESS, status=201, write=True, errors=(400, 401, 403, 409, 413, 422, 429, 507)),
    Route("POST", "/moves/{slug}/announce", "announceMove",
          "Announce this box's catalog zone again, once the box a business moved from has dropped its zones"
          " (so the fleet's secondaries take them from here)",
          announce_move, MOVE_ANNOUNCED, write=True, errors=(401, 403, 404, 429)),
    Route("GET", "/openapi.json", "openapi", "This description", openapi, DOCUMENT, public=True),
)

__all__ = ["ROUTES", "Route", "checked"]
