"""Imports point down only (DESIGN.md section 9).

From the bottom up: ``storage`` (SQLite files, the error family, the name
rules), ``sitegen`` (the website builder), ``appliance`` (the services),
then the adapters and front ends: ``protocols/*`` and ``appliance.cli``.
A module may import its own layer and the layers below it, with these
rules besides: the services never import a protocol or the CLI; a protocol
never imports the CLI or another protocol; benchmarks never import the
tests. The composition root (``appliance.app``, ``appliance.startup``,
``appliance.daemon``) builds everything and starts the protocols; only the
front ends and benchmarks use it, and everything else may name the App in
type annotations only (under ``if TYPE_CHECKING:``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("storage", "sitegen", "appliance", "protocols", "bench")
RANK = {"storage": 0, "sitegen": 1, "appliance": 2, "protocols": 3, "cli": 3, "bench": 4}
COMPOSITION_ROOT = ("appliance.app", "appliance.startup", "appliance.daemon")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(module, only for typing) for every module ``path`` imports, absolute,
    including imports inside functions; ``from pkg import name`` yields
    ``pkg`` and ``pkg.name`` (which may be a module)."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text(), str(path))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            typing_only.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    for node in ast.walk(tree):
        guarded = id(node) in typing_only
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, guarded
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, guarded
            for alias in node.names:
                yield f"{target}.{alias.name}", guarded


def layer(module: str) -> str | None:
    top = module.split(".")[0]
    if top not in PACKAGES and top != "tests":
        return None
    if module in ("appliance.cli", "appliance.__main__") or module.startswith("appliance.cli."):
        return "cli"
    if module in COMPOSITION_ROOT:
        return "root"
    return top


def protocol(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "protocols" and len(parts) > 1 else None


def exists(module: str) -> bool:
    path = ROOT.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def violation(source: str, target: str, typing_only: bool) -> str | None:
    """Why ``source`` may not import ``target``, or None when it may."""
    src, dst = layer(source), layer(target)
    if dst is None or src is None:
        return None
    if dst == "tests":
        return "nothing outside tests/ imports the tests"
    if src == "root" or src == dst == "root":
        return None
    if dst == "root":
        if src in ("cli", "bench") or typing_only:
            return None
        return "only the front ends use the composition root (annotations aside)"
    if RANK[dst] > RANK[src]:
        return f"{src} may not import {dst}"
    if src == "protocols" and dst == "cli":
        return "a protocol may not import the CLI"
    if src == dst == "protocols" and protocol(source) != protocol(target):
        return "one protocol may not import another"
    return None


def violations() -> list[str]:
    found = []
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            source = module_name(path)
            for target, typing_only in imports(path):
                if not exists(target):
                    continue
                why = violation(source, target, typing_only)
                if why:
                    found.append(f"{source} -> {target}: {why}")
    return sorted(set(found))


def test_imports_point_down():
    """No module imports a layer above its own (the list names each offender)."""
    assert violations() == []


def test_the_rules_refuse_what_they_should():
    """Each rule bites: storage importing a service, a service importing a
    protocol, a protocol importing the CLI or another protocol, the root
    reached at run time, and anything importing the tests."""
    assert violation("storage.mail", "appliance.mime", False)
    assert violation("appliance.outbound", "protocols.smtp.client", False)
    assert violation("protocols.dav.backend", "appliance.cli.common", False)
    assert violation("protocols.web.clients", "protocols.dav.app", False)
    assert violation("protocols.smtp.handler", "appliance.app", False)
    assert violation("bench.smtp.run", "tests.conftest", False)
    assert violation("protocols.smtp.handler", "appliance.app", True) is None
    assert violation("appliance.startup", "protocols.web", False) is None
    assert violation("appliance.cli.tenant", "appliance.app", False) is None


def test_the_checker_resolves_relative_and_typing_imports():
    """``from .errors import X`` in storage/mail.py is seen as storage.errors,
    ``from . import x`` in a package's ``__init__`` as a module of it, and an
    import under ``if TYPE_CHECKING:`` is marked as such."""
    assert ("storage.errors", False) in set(imports(ROOT / "storage" / "mail.py"))
    assert ("protocols.imap.server", False) in set(imports(ROOT / "protocols" / "imap" / "__init__.py"))
    assert ("appliance.app", True) in set(imports(ROOT / "protocols" / "smtp" / "handler.py"))
