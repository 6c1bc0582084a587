"""The provisioning API's OpenAPI 3.1 description, written from the route
table the server dispatches on (:data:`.routes.ROUTES`), so the two cannot
disagree."""

from __future__ import annotations

import importlib.metadata
from typing import Any, Iterable

from . import PREFIX

ERROR = {
    "type": "object",
    "properties": {"error": {
        "type": "object",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": ["string", "null"]}},
        "required": ["code", "message", "field"],
    }},
    "required": ["error"],
}

STATUS_TEXT = {
    400: "The body is not JSON", 401: "No valid API key", 403: "A read key may not change anything",
    404: "No such business", 405: "Method not allowed", 409: "Clashes with what exists",
    413: "The body is too large", 415: "The body is not application/json",
    422: "Invalid input (the field is named)", 429: "Too many requests (see Retry-After)",
}


def _version() -> str:
    try:
        return importlib.metadata.version("appliance")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def document(routes: Iterable[Any], base: str, brand: str = "") -> dict:
    """The OpenAPI 3.1 document of ``routes``, served from ``base`` (the
    box's ``https://host[:port]/``), titled after ``brand``."""
    routes = tuple(routes)
    paths: dict[str, dict] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "operationId": route.operation,
            "summary": route.summary,
            "responses": {
                str(route.status): {"description": "Success",
                                    "content": {"application/json": {"schema": route.response}}},
            },
        }
        for media, schema in route.media.items():
            operation["responses"][str(route.status)]["content"][media] = {"schema": schema}
        for status in route.errors:
            operation["responses"][str(status)] = {"$ref": f"#/components/responses/E{status}"}
        operation["security"] = [] if route.public else [{"bearer": []}]
        parameters = [{"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                      for part in route.path.split("/") if part.startswith("{")]
        if route.operation == "listBusinesses":
            parameters += [
                {"name": "limit", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "the slug after which the page starts (the previous page's next)"},
            ]
        parameters += list(route.query)
        if route.idempotent:
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "schema": {"type": "string", "maxLength": 255},
                               "description": "the same key and body get the first answer again"})
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": route.body}}}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    statuses = sorted({s for r in routes for s in r.errors})
    return {
        "openapi": "3.1.0",
        # Titled by the box's brand: the reseller's developers read it, not this project's name.
        "info": {"title": f"{brand} provisioning API".strip(), "version": _version(),
                 "description": "Create, suspend, resume, re-plan and remove businesses from a billing system,"
                                " and read the monthly usage report it bills from."},
        "servers": [{"url": base.rstrip("/") + PREFIX}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "a key made with `appliance apikey add`"}},
            "schemas": {"Error": ERROR},
            "responses": {f"E{s}": {"description": STATUS_TEXT.get(s, "Error"),
                                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                          for s in statuses},
        },
    }
