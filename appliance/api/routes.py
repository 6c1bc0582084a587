"""The provisioning API's routes: one table (:data:`ROUTES`) that the
server dispatches on and the OpenAPI description (:mod:`.openapi`) is
written from. Each handler parses, calls one service method and renders;
the rules are the services'.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import asdict, dataclass, field
from typing import Awaitable, Callable

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
USAGE_QUERY = (
    {"name": "month", "in": "query", "required": True, "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
     "description": "the month, YYYY-MM (UTC)"},
    {"name": "format", "in": "query", "required": False, "schema": {"type": "string", "enum": ["json", "csv"]},
     "description": "json (the default) or csv (RFC 4180, a header line)"},
)
CSV_TYPE = "text/csv; charset=utf-8"

_TYPES = {"string": str, "boolean": bool, "integer": int}


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


async def openapi(call: Call) -> Answer:
    from .openapi import document

    return Answer(200, document(ROUTES, call.base, call.core.brand.current().name))


_ONE = (401, 404, 429)
_CHANGE = (401, 403, 404, 409, 422, 429)

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
    Route("GET", "/openapi.json", "openapi", "This description", openapi, DOCUMENT, public=True),
)

__all__ = ["ROUTES", "Route", "checked"]
