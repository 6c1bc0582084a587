"""The operator's verbs on one object, as they were before the services
(``appliance.services``) took the rules over.

:class:`Provisioning` delegates every call to those services, with the
actor ``"operator"``, and returns the plain dicts and values it always did.
It stays for the callers written against it (tests, benchmarks, scripts);
new code calls ``app.core.<service>`` directly.
"""

from __future__ import annotations

from pathlib import Path

from storage.tenants import TenantHandle

from .services import Services

#: The actor these calls write in the audit log.
ACTOR = "operator"


class Provisioning:
    def __init__(self, core: Services):
        self.core = core

    # -- lookups (see appliance.services.base.Stores) ------------------------

    def free_domain(self, slug: str) -> str:
        return self.core.stores.free_domain(slug)

    def slug_for_domain(self, domain: str) -> str:
        return self.core.stores.slug_for_domain(domain)

    def handle(self, slug: str) -> TenantHandle:
        return self.core.stores.handle(slug)

    # -- businesses ----------------------------------------------------------

    def create_tenant(self, slug: str, name: str | None = None, domain: str | None = None, plan: str | None = None) -> dict:
        return self.core.businesses.create(slug, name, domain, plan, actor=ACTOR).as_dict()

    def list_tenants(self) -> list[dict]:
        return [t.as_dict() for t in self.core.businesses.list()]

    def show_tenant(self, slug: str) -> dict:
        return self.core.businesses.show(slug).as_dict()

    def set_state(self, slug: str, state: str) -> None:
        self.core.businesses.set_state(slug, state, actor=ACTOR)

    def set_plan(self, slug: str, plan: str) -> None:
        self.core.businesses.set_plan(slug, plan, actor=ACTOR)

    def remove_tenant(self, slug: str) -> Path:
        return self.core.businesses.remove(slug, actor=ACTOR)

    def export_tenant(self, slug: str, target: str | Path) -> Path:
        return self.core.businesses.export(slug, target, actor=ACTOR)

    def import_tenant(self, source: str | Path) -> dict:
        return self.core.businesses.import_file(source, actor=ACTOR).as_dict()

    def usage(self, slug: str) -> dict:
        return self.core.businesses.usage(slug).as_dict()

    # -- domains, users, aliases ---------------------------------------------

    def add_domain(self, slug: str, domain: str) -> None:
        self.core.domains.add(slug, domain, actor=ACTOR)

    def remove_domain(self, domain: str) -> str:
        return self.core.domains.remove(domain, actor=ACTOR)

    def add_user(self, address: str, password: str | None = None, name: str | None = None) -> str | None:
        return self.core.people.add(address, password, name, actor=ACTOR)

    def set_password(self, address: str, password: str | None = None) -> str | None:
        return self.core.people.set_password(address, password, actor=ACTOR)

    def set_quota(self, address: str, megabytes: int) -> None:
        self.core.people.set_quota(address, megabytes, actor=ACTOR)

    def set_role(self, address: str, role: str) -> None:
        self.core.people.set_role(address, role, actor=ACTOR)

    def list_users(self, slug: str) -> list[dict]:
        return [p.as_dict() for p in self.core.people.list(slug)]

    def remove_user(self, address: str) -> None:
        self.core.people.remove(address, actor=ACTOR)

    def add_alias(self, address: str, targets: list[str]) -> None:
        self.core.addresses.add(address, targets, actor=ACTOR)

    def list_aliases(self, slug: str) -> list[dict]:
        return [a.as_dict() for a in self.core.addresses.list(slug)]

    def remove_alias(self, address: str, targets: list[str] | None = None) -> None:
        self.core.addresses.remove(address, targets, actor=ACTOR)
