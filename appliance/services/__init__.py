"""The services every front end calls: the CLI today, the control panel,
the provisioning API and webmail next.

Each service is an object with typed methods that validate their input,
change storage and write the business's audit log (``actor``: who asked,
e.g. ``"cli"`` or a user's address). Plain values go in, small dataclasses
come out (``as_dict()`` gives what ``--json`` prints). Expected failures are
:class:`appliance.errors.ApplianceError` subclasses with one line fit for
the user, and change nothing. Each method's docstring says what it checks,
what it changes and what it raises.

The methods block (SQLite, password hashing): a front end on the event loop
runs them in a thread.

=================  ===========================================================
``businesses``     provisioning: create, show, suspend/resume, plan, remove,
                   export, import, usage, rebuild the catalog
``people``         users: add, password, quota, list, remove
``addresses``      aliases and catch-alls: add, list, remove
``domains``        a business's own domains: add, list, remove
``dns``            zones as served, and the records a business adds
``domain_checks``  a domain's set-up at the registrar, and its live check
``sites``          the published website: upload, download, what is live
``site_builder``   the builder's sources: theme, profile, pages, pictures,
                   menu, build
``image_library``  the site's pictures: upload (resized, metadata removed),
                   alt text, remove
``contact_forms``  messages visitors send with a site's contact form, into
                   the business's mailbox (async: the web listener awaits it)
``certificates``   listing, and asking the daemon to renew
``queue``          outbound mail: list, retry, delete
``devices``        what mail, calendar and contacts clients are told: host,
                   ports, addresses, the signed Apple profile
``feeds``          calendar feeds (ICS links): list, turn on, renew, off
``security``       a user's two-step sign-in and app passwords
``audit``          a business's audit log, a page at a time
``plan_usage``     a business's use against each limit of its plan
``usage``          usage records by day (sizes sampled, events counted) and
                   the monthly usage report resellers bill from
``operators``      the box's operators: accounts, second factor, what they
                   see of every business
``alerts``         what an operator should look at in each business: a
                   limit near, suspended, a domain's problems, a missing
                   certificate, mail stuck in the queue
``sieve``          each user's mail rules (Sieve scripts): list, show,
                   check, put, activate, rename, delete
``contacts``       the shared address book as people and companies, with
                   the mini-CRM: stages, timeline, "do not contact"
``contact_merge``  duplicate contacts (a shared e-mail address) and merging two
``mail_history``   a contact's messages as one user may see them (their
                   own, a sharing colleague's, only date/sender/subject
                   of others'); each user's sharing setting
``deals``          the CRM's deals and the business's pipeline of stages;
                   "my day" (follow-ups due, recent activity)
``agenda``         a week or a month of a user's calendars and the
                   business's shared ones, recurrences expanded
``tasks``          the business's task lists and each user's own, their
                   tasks (status, assignee, due date, priority)
``backups``        what the replica holds, restore, the nightly export
``moves``          a business to another box: freeze, copy, send, and the
                   other side: check, receive; the grace period after
``signup``         self-service sign-up: the question, the limits, a
                   business and its owner made together
                   check, put, activate, rename, delete; the panel's
                   vacation, forwarding and folder-rule forms
``sender_lists``   allow and block lists of senders, the business's and
                   each user's: list, add, remove
``api_keys``       the provisioning API's keys: add (token shown once),
                   list, revoke, and checking a token
``brand``          the reseller's brand (name, logo, colour, support
                   contact): settings, with operators' changes over them
=================  ===========================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from storage.database import Database
from storage.tenants import TenantPool

from ..catalog import Catalog
from ..settings import Settings
from .addresses import Addresses
from .agenda import Agenda
from .apikeys import ApiKeys
from .audit import AuditLog
from .backups import Backups
from .moves import Moves
from .base import Stores
from .businesses import Businesses
from .certificates import Certificates
from .contactform import ContactForms
from .contactmerge import ContactMerge
from .contacts import Contacts
from .deals import Deals
from .mailhistory import MailHistory
from .devices import Devices, Listeners
from .dns import DnsRecords
from .domaincheck import DomainChecks
from .domains import Domains
from .feeds import Feeds
from .alerts import Alerts
from .operators import Operators
from .people import People
from .planuse import PlanUsage
from .usage import UsageRecords
from .queue import Queue
from .security import Security
from .senderlists import SenderLists
from .sieve import Scripts
from .tasks import Tasks
from .signup import Signup
from .sitebuilder import SiteBuilder
from .imagelibrary import ImageLibrary
from .sites import Sites
from .brand import Brands
from .plans import Plans
from .extras import Extras


class Services:
    """Every service, built on one set of stores (see module doc)."""

    def __init__(self, settings: Settings, box: Database, tenants: TenantPool, state_dir: Path,
                 catalog: Catalog, box_certificate: Callable[[], tuple[Path, Path]],
                 listeners: Listeners | None = None):
        """``listeners``: the daemon's record of the ports it bound (none
        for the CLI, which then tells the configured ones)."""
        self.stores = Stores(settings, box, tenants, Path(state_dir), catalog)
        self.businesses = Businesses(self.stores)
        self.people = People(self.stores)
        self.addresses = Addresses(self.stores)
        self.domains = Domains(self.stores)
        self.dns = DnsRecords(self.stores, box_certificate)
        self.sites = Sites(self.stores)
        self.site_builder = SiteBuilder(self.stores)
        self.image_library = ImageLibrary(self.stores)
        self.contact_forms = ContactForms(self.stores)
        self.certificates = Certificates(self.stores, box_certificate)
        self.queue = Queue(self.stores)
        self.devices = Devices(self.stores, {} if listeners is None else listeners, box_certificate,
                               brand=lambda: self.brand.current().name)
        self.security = Security(self.stores)
        self.feeds = Feeds(self.stores, self.devices)
        self.domain_checks = DomainChecks(self.stores, self.dns, self.certificates)
        self.audit = AuditLog(self.stores)
        self.plan_usage = PlanUsage(self.stores)
        self.usage = UsageRecords(self.stores)
        self.operators = Operators(self.stores, self.businesses, self.people)
        self.alerts = Alerts(self.stores, self.plan_usage, self.domain_checks, self.certificates, self.queue)
        self.sieve = Scripts(self.stores)
        self.contacts = Contacts(self.stores)
        self.contact_merge = ContactMerge(self.stores, self.contacts)
        self.deals = Deals(self.stores, self.contacts)
        self.agenda = Agenda(self.stores)
        self.tasks = Tasks(self.stores)
        self.mail_history = MailHistory(self.stores)
        self.backups = Backups(self.stores, self.businesses)
        self.moves = Moves(self.stores, self.businesses)
        self.sender_lists = SenderLists(self.stores)
        self.signup = Signup(self.stores, self.businesses, self.people, brand=lambda: self.brand.current())
        self.api_keys = ApiKeys(self.stores)
        self.brand = Brands(self.stores)
        self.plans = Plans(self.stores)
        self.extras = Extras(self.stores)


__all__ = ["Services", "Stores"]
