"""Domains: a business's own domains, beside its free one."""

from __future__ import annotations

import sqlite3

from storage import box as boxdb
from storage import directory, schema

from storage import names
from ..errors import InvalidInput, LimitExceeded, NotFound
from .base import Stores
from .businesses import DomainInfo


#: Domains one business may have, its free one included.
MAX_DOMAINS = 50


class Domains:
    def __init__(self, stores: Stores):
        self.stores = stores

    def list(self, slug: str) -> list[DomainInfo]:
        """The domains of business ``slug``, the free one first. Raises
        InvalidInput, NotFound."""
        rows = self.stores.handle(slug).read_sync("domain list", directory.list_domains)
        return [DomainInfo(r["name"], r["kind"], r["created"]) for r in rows]

    def add(self, slug: str, domain: str, *, actor: str) -> None:
        """Give business ``slug`` its own ``domain``.

        Checks: the domain is valid, not under the box domain, no business
        has it, and the business has fewer than :data:`MAX_DOMAINS`.
        Changes: the catalog claims it first (which makes it unique across
        businesses), then the business file gets it (and its DKIM key); the
        claim is released if that fails. Raises InvalidInput, NotFound,
        Conflict, LimitExceeded.
        """
        handle = self.stores.handle(slug)
        domain = names.domain(domain)
        if self.stores.under_box_domain(domain):
            raise InvalidInput(f"domain {domain} is under the box domain")
        self.stores.write_box("domain claim", lambda c: boxdb.claim_domain(c, handle.slug, domain))

        def add(conn: sqlite3.Connection) -> None:
            if len(directory.list_domains(conn)) >= MAX_DOMAINS:
                raise LimitExceeded(f"business {handle.slug} already has {MAX_DOMAINS} domains")
            directory.add_domain(conn, domain)
            directory.audit(conn, actor, "domain.add", domain)
            for hook in schema.ON_DOMAIN_ADDED:
                hook(conn, domain)

        try:
            handle.write_sync("domain add", add)
        except BaseException:
            self.stores.write_box("domain release", lambda c: boxdb.release_domain(c, domain))
            raise
        # The claim moved the generation before the file held the domain: a
        # daemon that rebuilt its zones in between must rebuild them again.
        self.stores.changed("domain add")

    def remove(self, domain: str, *, actor: str, slug: str | None = None) -> str:
        """Take ``domain`` (and its users and aliases) from its business;
        returns that business's slug.

        Checks: some business (``slug``, when given) has it, and it is not the
        free domain. Changes: the business file, then the catalog. Raises
        InvalidInput, NotFound.
        """
        domain = names.domain(domain)
        if slug is not None and self.stores.owner_of(domain) != slug:
            # One answer whether another business has it or none does.
            raise NotFound(f"business {slug} has no domain {domain}")
        slug = self.stores.slug_for_domain(domain)

        def remove(conn: sqlite3.Connection) -> None:
            directory.remove_domain(conn, domain)
            directory.audit(conn, actor, "domain.remove", domain)

        self.stores.tenants.handle(slug).write_sync("domain remove", remove)
        self.stores.write_box("domain release", lambda c: boxdb.release_domain(c, domain))
        return slug
