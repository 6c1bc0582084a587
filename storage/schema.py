"""Which migration sets make up a business file, and what runs when a
business, a domain or a user is created.

Each data module (directory, mail, dns, dav, sites) owns its own
``sqlite_utils.Migrations`` set and, where it needs one, a function that fills
in defaults for a new business, domain or user. They are listed here once, in
dependency order, so opening a file and provisioning go through one place.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

from . import box, directory, mail
from . import dkim, queue
from . import dav
from . import sites
from . import sitegen
from . import dns
from . import certs
from . import sessions
from . import credentials
from . import operators
from . import apikeys
from . import sieve
from . import crm
from . import deals
from . import greylist
from . import srs
from . import senderlists
from . import mailhistory
from . import signatures
from . import picturesenders
from . import mailthreads
from . import brand
from . import usage
from . import plans
from . import mtasts
from . import freeze
from . import dnssec
from . import dmarcreports

BOX_MIGRATIONS = (box.MIGRATIONS, certs.BOX_MIGRATIONS, sessions.MIGRATIONS, operators.MIGRATIONS, greylist.MIGRATIONS,
                  apikeys.MIGRATIONS, srs.MIGRATIONS, brand.MIGRATIONS, usage.BOX_MIGRATIONS, plans.MIGRATIONS,
                  mtasts.MIGRATIONS, dnssec.BOX_MIGRATIONS)

# One entry per data module, in dependency order (directory first).
TENANT_MIGRATIONS = (
    directory.MIGRATIONS,
    mail.MIGRATIONS,
    dkim.MIGRATIONS,
    queue.MIGRATIONS,
    dav.MIGRATIONS,
    dns.MIGRATIONS,
    sites.MIGRATIONS,
    sitegen.MIGRATIONS,
    certs.MIGRATIONS,
    credentials.MIGRATIONS,
    sieve.MIGRATIONS,
    crm.MIGRATIONS,
    deals.MIGRATIONS,
    senderlists.MIGRATIONS,
    mailhistory.MIGRATIONS,
    mailthreads.MIGRATIONS,
    signatures.MIGRATIONS,
    picturesenders.MIGRATIONS,
    usage.MIGRATIONS,
    freeze.MIGRATIONS,
    dnssec.MIGRATIONS,
    dmarcreports.MIGRATIONS,
)

#: fn(conn, slug) run in the transaction that creates a business.
ON_TENANT_CREATED: tuple[Callable[[sqlite3.Connection, str], None], ...] = (
    dav.on_tenant_created,
)
#: fn(conn, domain) run in the transaction that adds a domain (free or own).
ON_DOMAIN_ADDED: tuple[Callable[[sqlite3.Connection, str], None], ...] = (
    dkim.on_domain_added,
    dnssec.on_domain_added,
)
#: fn(conn, user_id) run in the transaction that creates a user.
ON_USER_CREATED: tuple[Callable[[sqlite3.Connection, int], None], ...] = (
    mail.provision_user,
    dav.on_user_created,
)
