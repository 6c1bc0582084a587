"""Bounds on the shape of a DAV request's XML body, checked before any
parser builds a tree of it.

Deep nesting makes the recursive code behind the parsers (copying,
pretty-printing) fail with a ``RecursionError``, answered 500; a PROPFIND
naming 100,000 properties makes Radicale answer each for each resource.
No client comes near these bounds: the deepest CalDAV request (a
``calendar-query`` filter on a parameter's text) nests eight elements, and
clients ask for a few dozen properties. So a body past them is a broken or
hostile client, answered ``400 Bad Request`` - not ``507``, which clients
read as "the server's storage is full, try later" (RFC 4918 section 11.5);
a request that is wrong as written must not be retried as it is.
"""

from __future__ import annotations

from xml.parsers import expat

#: Deepest element nesting accepted.
MAX_DEPTH = 32
#: Properties one request may name (children of every ``DAV:prop``).
MAX_PROPS = 1_000
#: Elements in one body (a multiget of 40,000 hrefs is still under it).
MAX_ELEMENTS = 100_000

PROP = "DAV: prop"


class _Stop(Exception):
    pass


def problem(body: bytes) -> str | None:
    """Why ``body`` is refused, or None. Malformed XML is not judged here:
    Radicale answers it ``400`` as before."""
    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[str] = []
    counts = {"elements": 0, "props": 0}

    def start(name: str, _attrs: object) -> None:
        counts["elements"] += 1
        if stack and stack[-1] == PROP:
            counts["props"] += 1
            if counts["props"] > MAX_PROPS:
                raise _Stop(f"more than {MAX_PROPS} properties requested")
        stack.append(name)
        if len(stack) > MAX_DEPTH:
            raise _Stop(f"XML nested deeper than {MAX_DEPTH} elements")
        if counts["elements"] > MAX_ELEMENTS:
            raise _Stop(f"more than {MAX_ELEMENTS} XML elements")

    def end(_name: str) -> None:
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(body, True)
    except _Stop as stop:
        return str(stop)
    except expat.ExpatError:
        return None
    return None
