"""The rights matrix: every panel route and method, and who may use it.

Who is one of :data:`SIGNED_OUT`, :data:`STAFF` (any user of a business)
and :data:`OWNER` (a user with the owner role; an owner is staff too),
:data:`SUPPORT` (an operator acting in a business's panel with an owner's
rights on the owner's pages, but not on a user's own pages), and on the
operators' pages (under :data:`OPERATOR_AREA`) the operator's own session:
:data:`OPERATOR`, or one still owing its second factor
(:data:`OPERATOR_CODE`, :data:`OPERATOR_SETUP`).
What each may do is this table and nothing else; :mod:`.core` looks every
request up here before any handler runs:

* signed out, on a route that needs a user: ``303`` to the sign-in page;
* staff on an owner's route: ``403``;
* a route's ``{address}`` that is not a user of the viewer's own business
  (another business's, or nobody's), or a ``{page}`` (``{block}``,
  ``{file}``) its own site does not have: the panel's ``404``, the same bytes as
  a path that does not exist, so nobody learns who is hosted here;
* a method a route does not have: ``405`` with ``Allow``;
* an operators' page: signed out (or owing the second factor), ``303`` to
  the operators' sign-in page; a business's user (or support session)
  without an operator's session, the panel's ``404``.
  (another business's, or nobody's), or ``{uid}`` that is not a contact of
  it, or ``{deal}`` that is not one of its deals, or ``{calendar}`` and
  ``{event}`` not an event of a calendar the viewer may write (the
  business's shared ones, their own), or ``{list}`` and ``{task}`` not a
  task of a list the viewer may write: the panel's ``404``,
  the same bytes as a path that does not exist, so nobody learns who is
  hosted here;
* a method a route does not have: ``405`` with ``Allow``.

Every state-changing method (POST) also needs the session's CSRF token and
a same-origin ``Origin`` header (:mod:`.core`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SIGNED_OUT = "signed-out"
STAFF = "staff"
OWNER = "owner"
SUPPORT = "support"
OPERATOR, OPERATOR_CODE, OPERATOR_SETUP = "operator", "operator-code", "operator-setup"
EVERYONE = frozenset({SIGNED_OUT, STAFF, OWNER, SUPPORT})
SIGNED_IN = frozenset({STAFF, OWNER})
OWNERS = frozenset({OWNER, SUPPORT})
OPERATORS = frozenset({OPERATOR})
#: Routes under this path are the operators' (their own session decides).
OPERATOR_AREA = "/operator"

#: What a path parameter may be (anything else is the 404).
PARAMS = {"address": r"[^/@\s]{1,64}@[a-z0-9.-]{1,253}", "app": r"[0-9a-f]{16}"}
#: A domain of the viewer's business (at least two labels, so never "add").
PARAMS["domain"] = r"(?:[a-z0-9-]{1,63}\.){1,126}[a-z0-9-]{1,63}"
# The owner's pages: an invited person's address, their link's token, a page of the audit log.
PARAMS.update(invitee=PARAMS["address"], token=r"[A-Za-z0-9_-]{43}", number=r"[1-9][0-9]{0,3}")
# An operator's view of one business.
PARAMS["slug"] = r"[a-z0-9-]{1,63}"
# A contact's vCard UID; a deal's id (random, so never one of another business's).
PARAMS["uid"] = r"[^/\s]{1,255}"
# The other card of a merge (merged into {uid}).
PARAMS["other"] = PARAMS["uid"]
PARAMS["deal"] = r"[0-9a-f]{16}"
# A calendar or task list whose feed one may publish (its random reference).
PARAMS["calendar"] = r"[0-9a-f]{16}"
# The website editor: a page's name, a file of the preview, a block's kind and number.
PARAMS.update(page=r"[a-z0-9-]{1,40}", file=r"[a-z0-9][a-z0-9_./-]{0,200}", kind=r"[a-z][a-z-]{0,19}", block=r"[1-9][0-9]{0,2}")
# The theme picker's frames: a theme's name (``sitegen.render``'s folders).
PARAMS["theme"] = r"[a-z][a-z0-9-]{0,30}"
# The website's image library: a picture's name (``sitegen.images.NAME_RE``).
PARAMS["image"] = r"[a-z0-9][a-z0-9_.-]{0,79}"
# Webmail: one of the user's folders, a message's UID in it, a part of it.
PARAMS.update(folder=r"[1-9][0-9]{0,11}", message=r"[1-9][0-9]{0,11}", part=r"[0-9]{1,3}")
# The agenda: an ISO week, a month.
PARAMS.update(week=r"[0-9]{4}-W[0-9]{2}", month=r"[0-9]{4}-[0-9]{2}")
# An event: its calendar's random reference and its iCalendar UID.
PARAMS["event"] = r"[^/\s]{1,255}"
# A DMARC report kept in the business's file (its row id).
PARAMS["report"] = r"[1-9][0-9]{0,11}"
# A task list (its random reference) and a task's iCalendar UID.
PARAMS.update(list=r"[0-9a-f]{16}", task=r"[^/\s]{1,255}")
# A conversation: the row id of its first message (storage.mailthreads).
PARAMS["thread"] = r"[1-9][0-9]{0,17}"
# The operators' plans: a plan's name; a business's extra, by its number.
PARAMS.update(plan=r"[a-z0-9-]{1,32}", extra=r"[1-9][0-9]{0,11}")


@dataclass(frozen=True)
class Route:
    """``pattern`` (``{name}`` for a parameter), one method, the handler
    (``module.function`` under :mod:`appliance.panel`), who may."""

    pattern: str
    method: str
    handler: str
    who: frozenset
    regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        source = re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>{PARAMS[m.group(1)]})", self.pattern)
        object.__setattr__(self, "regex", re.compile(source + r"\Z"))


ROUTES: tuple[Route, ...] = (
    # Signed out it is the sign-in page; signed in it sends you home.
    Route("/", "GET", "account.signin_page", EVERYONE),
    Route("/", "POST", "account.signin", EVERYONE),
    Route("/static/panel.css", "GET", "account.static_file", EVERYONE),
    Route("/static/favicon.svg", "GET", "account.static_file", EVERYONE),
    Route("/static/panel.js", "GET", "account.static_file", EVERYONE),
    Route("/language", "POST", "account.language", EVERYONE),
    Route("/home", "GET", "account.home", SIGNED_IN),
    Route("/password", "GET", "account.password_page", SIGNED_IN),
    Route("/password", "POST", "account.password", SIGNED_IN),
    Route("/sessions", "GET", "account.sessions_page", SIGNED_IN),
    Route("/sessions/end", "POST", "account.end_session", SIGNED_IN),
    Route("/signout", "POST", "account.signout", SIGNED_IN),
    Route("/signout/everywhere", "POST", "account.signout_everywhere", SIGNED_IN),
    Route("/people", "GET", "people.list_page", OWNERS),
    Route("/people/add", "GET", "people.add_page", OWNERS),
    Route("/people/add", "POST", "people.add", OWNERS),
    Route("/people/{address}", "GET", "people.person_page", OWNERS),
    Route("/people/{address}/password", "POST", "people.reset_password", OWNERS),
    Route("/people/{address}/remove", "POST", "people.remove", OWNERS),
    # Your devices: how to set up mail, calendars and contacts on each client.
    Route("/devices", "GET", "devices.index", SIGNED_IN),
    Route("/devices/thunderbird", "GET", "devices.thunderbird", SIGNED_IN),
    Route("/devices/outlook", "GET", "devices.outlook", SIGNED_IN),
    Route("/devices/new-outlook", "GET", "devices.new_outlook", SIGNED_IN),
    Route("/devices/iphone", "GET", "devices.iphone", SIGNED_IN),
    Route("/devices/android", "GET", "devices.android", SIGNED_IN),
    # Calendar feeds (ICS links): the business's calendars for owners, one's
    # own for everyone. A {calendar} one may not publish is the 404.
    Route("/calendars", "GET", "feeds.page", SIGNED_IN),
    Route("/calendars/{calendar}/on", "POST", "feeds.turn_on", SIGNED_IN),
    Route("/calendars/{calendar}/renew", "POST", "feeds.renew", SIGNED_IN),
    Route("/calendars/{calendar}/off", "POST", "feeds.turn_off", SIGNED_IN),
    # Security: the second step of signing in, two-step sign-in, app
    # passwords. An ``{app}`` that is not the user's own is the 404.
    Route("/signin/code", "GET", "security.code_page", EVERYONE),
    Route("/signin/code", "POST", "security.code", EVERYONE),
    Route("/security", "GET", "security.two_step_page", SIGNED_IN),
    Route("/security/setup", "POST", "security.setup", SIGNED_IN),
    Route("/security/on", "POST", "security.turn_on", SIGNED_IN),
    Route("/security/off", "POST", "security.turn_off", SIGNED_IN),
    Route("/security/recovery", "POST", "security.recovery_codes", SIGNED_IN),
    Route("/security/mail-history", "POST", "security.share_mail_history", SIGNED_IN),
    Route("/security/apps", "GET", "security.apps_page", SIGNED_IN),
    Route("/security/apps", "POST", "security.add_app", SIGNED_IN),
    Route("/security/apps/{app}/revoke", "POST", "security.revoke_app", SIGNED_IN),
    # Domains: attaching one, its live check, its DNS records.
    Route("/domains", "GET", "domains.list_page", OWNERS),
    Route("/domains/add", "GET", "domains.add_page", OWNERS),
    Route("/domains/add", "POST", "domains.add", OWNERS),
    Route("/domains/{domain}", "GET", "domains.domain_page", OWNERS),
    Route("/domains/{domain}/check", "POST", "domains.check", OWNERS),
    Route("/domains/{domain}/remove", "POST", "domains.remove", OWNERS),
    Route("/domains/{domain}/dns", "GET", "domains.records_page", OWNERS),
    Route("/domains/{domain}/dns/add", "POST", "domains.add_record", OWNERS),
    Route("/domains/{domain}/dns/remove", "POST", "domains.remove_record", OWNERS),
    # The owner's pages: roles, quotas, suspension and invitations of people;
    # addresses; the plan; the audit log. An invitation link is for whoever holds it.
    Route("/people/{address}/role", "POST", "people.set_role", OWNERS),
    Route("/people/{address}/quota", "POST", "people.set_quota", OWNERS),
    Route("/people/{address}/suspend", "POST", "people.suspend", OWNERS),
    Route("/people/{address}/resume", "POST", "people.resume", OWNERS),
    Route("/people/{address}/invitation", "POST", "people.reinvite", OWNERS),
    Route("/invitation/{invitee}/{token}", "GET", "invitation.page", EVERYONE),
    Route("/invitation/{invitee}/{token}", "POST", "invitation.accept", EVERYONE),
    # Self-service sign-up ([signup]): for signed-out visitors; signed in it
    # sends you to your panel; off, it is the 404.
    Route("/signup", "GET", "signup.page", EVERYONE),
    Route("/signup", "POST", "signup.submit", EVERYONE),
    Route("/addresses", "GET", "addresses.list_page", OWNERS),
    Route("/addresses/add", "GET", "addresses.add_page", OWNERS),
    Route("/addresses/add", "POST", "addresses.add", OWNERS),
    Route("/addresses/remove", "POST", "addresses.remove", OWNERS),
    Route("/plan", "GET", "plan.page", OWNERS),
    Route("/audit", "GET", "audit.page", OWNERS),
    Route("/audit/page/{number}", "GET", "audit.page", OWNERS),
    # Operators: their sign-in with a second factor, the businesses, and
    # support sessions in a business's panel.
    Route("/operator", "GET", "operators.signin_page", frozenset({SIGNED_OUT, OPERATOR_CODE, OPERATOR_SETUP, OPERATOR})),
    Route("/operator", "POST", "operators.signin", frozenset({SIGNED_OUT, OPERATOR_CODE, OPERATOR_SETUP, OPERATOR})),
    Route("/operator/code", "GET", "operators.code_page", frozenset({OPERATOR_CODE})),
    Route("/operator/code", "POST", "operators.code", frozenset({OPERATOR_CODE})),
    Route("/operator/setup", "GET", "operators.setup_page", frozenset({OPERATOR_SETUP})),
    Route("/operator/setup", "POST", "operators.setup", frozenset({OPERATOR_SETUP})),
    Route("/operator/signout", "POST", "operators.signout", frozenset({OPERATOR_CODE, OPERATOR_SETUP, OPERATOR})),
    Route("/operator/businesses", "GET", "operator_pages.list_page", OPERATORS),
    Route("/operator/businesses/new", "GET", "operator_pages.new_page", OPERATORS),
    Route("/operator/businesses/new", "POST", "operator_pages.create", OPERATORS),
    Route("/operator/businesses/{slug}", "GET", "operator_pages.business_page", OPERATORS),
    Route("/operator/businesses/{slug}/suspend", "POST", "operator_pages.suspend", OPERATORS),
    Route("/operator/businesses/{slug}/resume", "POST", "operator_pages.resume", OPERATORS),
    Route("/operator/businesses/{slug}/plan", "POST", "operator_pages.change_plan", OPERATORS),
    Route("/operator/businesses/{slug}/lift", "POST", "operator_pages.lift_hold", OPERATORS),
    Route("/operator/businesses/{slug}/support", "POST", "operator_pages.open_support", OPERATORS),
    Route("/operator/usage", "GET", "operator_usage.page", OPERATORS),
    Route("/operator/usage.csv", "GET", "operator_usage.download", OPERATORS),
    Route("/operator/status", "GET", "operator_status.page", OPERATORS),
    Route("/operator/status", "POST", "operator_status.check_again", OPERATORS),
    Route("/support/leave", "POST", "operator_pages.leave_support", frozenset({SUPPORT})),
    # The reseller's brand: every page loads its stylesheet and logo; the
    # operators change it.
    Route("/static/brand.css", "GET", "brand.stylesheet", EVERYONE),
    Route("/static/brand-logo.png", "GET", "brand.logo", EVERYONE),
    Route("/operator/brand", "GET", "brand.page", OPERATORS),
    Route("/operator/brand", "POST", "brand.save", OPERATORS),
    Route("/operator/brand/logo", "POST", "brand.upload_logo", OPERATORS),
    Route("/operator/brand/logo/remove", "POST", "brand.remove_logo", OPERATORS),
    Route("/operator/plans", "GET", "operator_plans.list_page", OPERATORS),
    Route("/operator/plans", "POST", "operator_plans.add", OPERATORS),
    Route("/operator/plans/{plan}", "GET", "operator_plans.plan_page", OPERATORS),
    Route("/operator/plans/{plan}", "POST", "operator_plans.change", OPERATORS),
    Route("/operator/plans/{plan}/remove", "POST", "operator_plans.remove", OPERATORS),
    Route("/operator/businesses/{slug}/extras", "POST", "operator_plans.add_extra", OPERATORS),
    Route("/operator/businesses/{slug}/extras/{extra}/remove", "POST", "operator_plans.remove_extra", OPERATORS),
    # Contacts and the mini-CRM: the shared address book, which every user
    # of the business edits; only owners delete. The fixed paths come
    # before "/contacts/{uid}", which also matches them.
    Route("/contacts", "GET", "contacts.list_page", SIGNED_IN),
    Route("/contacts/add", "GET", "contacts.add_page", SIGNED_IN),
    Route("/contacts/add", "POST", "contacts.add", SIGNED_IN),
    Route("/contacts/import", "GET", "contacts.import_page", SIGNED_IN),
    Route("/contacts/import", "POST", "contacts.import_contacts", SIGNED_IN),
    Route("/contacts/export.vcf", "GET", "contacts.export_vcf", SIGNED_IN),
    Route("/contacts/export.csv", "GET", "contacts.export_csv", SIGNED_IN),
    Route("/contacts/duplicates", "GET", "contactmerge.duplicates_page", OWNERS),
    Route("/contacts/{uid}", "GET", "contacts.contact_page", SIGNED_IN),
    Route("/contacts/{uid}/edit", "GET", "contacts.edit_page", SIGNED_IN),
    Route("/contacts/{uid}/edit", "POST", "contacts.edit", SIGNED_IN),
    Route("/contacts/{uid}/stage", "POST", "contacts.set_stage", SIGNED_IN),
    Route("/contacts/{uid}/activity", "POST", "contacts.add_activity", SIGNED_IN),
    Route("/contacts/{uid}/do-not-contact", "POST", "contacts.do_not_contact", SIGNED_IN),
    Route("/contacts/{uid}/followups", "POST", "contacts.add_followup", SIGNED_IN),
    Route("/contacts/{uid}/followups/done", "POST", "contacts.complete_followup", SIGNED_IN),
    Route("/contacts/{uid}/delete", "POST", "contacts.delete", OWNERS),
    # Merging two cards (one is deleted): owners, after a confirmation page.
    Route("/contacts/{uid}/merge/{other}", "GET", "contactmerge.merge_page", OWNERS),
    Route("/contacts/{uid}/merge/{other}", "POST", "contactmerge.merge", OWNERS),
    # Deals and the pipeline, which every user of the business edits as
    # they do the contacts; the owner shapes the pipeline's stages.
    Route("/contacts/{uid}/deals/add", "GET", "deals.add_page", SIGNED_IN),
    Route("/contacts/{uid}/deals/add", "POST", "deals.add", SIGNED_IN),
    Route("/deals/{deal}", "GET", "deals.edit_page", SIGNED_IN),
    Route("/deals/{deal}", "POST", "deals.edit", SIGNED_IN),
    Route("/deals/{deal}/stage", "POST", "deals.move", SIGNED_IN),
    Route("/deals/{deal}/delete", "GET", "deals.delete_page", SIGNED_IN),
    Route("/deals/{deal}/delete", "POST", "deals.delete", SIGNED_IN),
    Route("/pipeline", "GET", "deals.pipeline_page", SIGNED_IN),
    Route("/pipeline/stages", "GET", "deals.stages_page", frozenset({OWNER})),
    Route("/pipeline/stages", "POST", "deals.set_stages", frozenset({OWNER})),
    Route("/my-day", "GET", "deals.my_day", SIGNED_IN),
    # The agenda: the shared calendar and one's own, a week or a month.
    Route("/agenda", "GET", "agenda.page", SIGNED_IN),
    Route("/agenda/week/{week}", "GET", "agenda.week_page", SIGNED_IN),
    Route("/agenda/month/{month}", "GET", "agenda.month_page", SIGNED_IN),
    # Its events, in the calendars one may write (the shared ones, one's own).
    Route("/agenda/new", "GET", "agenda.new_page", SIGNED_IN),
    Route("/agenda/new", "POST", "agenda.new", SIGNED_IN),
    Route("/agenda/events/{calendar}/{event}", "GET", "agenda.edit_page", SIGNED_IN),
    Route("/agenda/events/{calendar}/{event}", "POST", "agenda.edit", SIGNED_IN),
    Route("/agenda/events/{calendar}/{event}/delete", "GET", "agenda.delete_page", SIGNED_IN),
    Route("/agenda/events/{calendar}/{event}/delete", "POST", "agenda.delete", SIGNED_IN),
    # Task lists: the business's and one's own; an owner adds, renames and
    # deletes (when empty) the business's lists.
    Route("/tasks", "GET", "tasks.page", SIGNED_IN),
    Route("/tasks/new", "GET", "tasks.new_page", SIGNED_IN),
    Route("/tasks/new", "POST", "tasks.new", SIGNED_IN),
    Route("/tasks/{list}/{task}", "GET", "tasks.edit_page", SIGNED_IN),
    Route("/tasks/{list}/{task}", "POST", "tasks.edit", SIGNED_IN),
    Route("/tasks/{list}/{task}/complete", "POST", "tasks.complete", SIGNED_IN),
    Route("/tasks/{list}/{task}/delete", "GET", "tasks.delete_page", SIGNED_IN),
    Route("/tasks/{list}/{task}/delete", "POST", "tasks.delete", SIGNED_IN),
    Route("/tasks/lists", "POST", "tasks.add_list", frozenset({OWNER})),
    Route("/tasks/lists/{list}/rename", "POST", "tasks.rename_list", frozenset({OWNER})),
    Route("/tasks/lists/{list}/delete", "POST", "tasks.delete_list", frozenset({OWNER})),
    # Anyone's own lists: added, renamed, deleted with their tasks once asked.
    Route("/tasks/own", "POST", "tasks.add_own_list", SIGNED_IN),
    Route("/tasks/own/{list}/rename", "POST", "tasks.rename_own_list", SIGNED_IN),
    Route("/tasks/own/{list}/delete", "GET", "tasks.delete_own_list_page", SIGNED_IN),
    Route("/tasks/own/{list}/delete", "POST", "tasks.delete_own_list", SIGNED_IN),
    # The website editor: theme, profile, pages and their blocks, preview, publishing, versions.
    Route("/website", "GET", "website.overview", OWNERS),
    Route("/website/start", "POST", "website.start", OWNERS),
    Route("/website/theme", "POST", "website.theme", OWNERS),
    Route("/website/publish", "POST", "website.publish", OWNERS),
    Route("/website/profile", "GET", "website.profile_page", OWNERS),
    Route("/website/profile", "POST", "website.profile", OWNERS),
    Route("/website/new-page", "GET", "website.new_page_form", OWNERS),
    Route("/website/new-page", "POST", "website.new_page", OWNERS),
    Route("/website/pages/{page}", "GET", "website.page_form", OWNERS),
    Route("/website/pages/{page}", "POST", "website.edit_page", OWNERS),
    Route("/website/pages/{page}/move", "POST", "website.move_page", OWNERS),
    Route("/website/pages/{page}/menu", "POST", "website.page_menu", OWNERS),
    Route("/website/pages/{page}/remove", "GET", "website.remove_page_form", OWNERS),
    Route("/website/pages/{page}/remove", "POST", "website.remove_page", OWNERS),
    Route("/website/pages/{page}/restore", "POST", "website.restore_page", OWNERS),
    Route("/website/preview/", "GET", "website.preview", OWNERS),
    Route("/website/preview/{file}", "GET", "website.preview", OWNERS),
    Route("/website/themes/{theme}/", "GET", "website.theme_preview", OWNERS),
    Route("/website/themes/{theme}/{file}", "GET", "website.theme_preview", OWNERS),
    Route("/website/roll-back", "POST", "website.roll_back", OWNERS),
    Route("/website/upload", "GET", "website_upload.form", OWNERS),
    Route("/website/upload", "POST", "website_upload.upload", OWNERS),
    Route("/website/pages/{page}/add/{kind}", "GET", "website.new_block_form", OWNERS),
    Route("/website/pages/{page}/add/{kind}", "POST", "website.new_block", OWNERS),
    Route("/website/pages/{page}/blocks/{block}", "GET", "website.block_form", OWNERS),
    Route("/website/pages/{page}/blocks/{block}", "POST", "website.edit_block", OWNERS),
    Route("/website/pages/{page}/blocks/{block}/change", "POST", "website.change_block", OWNERS),
    # The website's image library.
    Route("/website/images", "GET", "website_images.library", OWNERS),
    Route("/website/images", "POST", "website_images.upload", OWNERS),
    Route("/website/images/{image}", "GET", "website_images.file", OWNERS),
    Route("/website/images/{image}/phone", "GET", "website_images.phone_file", OWNERS),
    Route("/website/images/{image}/alt", "POST", "website_images.set_alt", OWNERS),
    Route("/website/images/{image}/remove", "POST", "website_images.remove", OWNERS),
    Route("/website/profile/logo", "POST", "website_images.logo", OWNERS),
    # Mail rules: each user's own vacation reply, forwarding and folder rules.
    Route("/rules", "GET", "mailrules.page", SIGNED_IN),
    Route("/rules/vacation", "POST", "mailrules.vacation", SIGNED_IN),
    Route("/rules/forward", "POST", "mailrules.forward", SIGNED_IN),
    Route("/rules/add", "POST", "mailrules.add_rule", SIGNED_IN),
    Route("/rules/delete", "POST", "mailrules.delete_rule", SIGNED_IN),
    Route("/rules/replace", "POST", "mailrules.replace", SIGNED_IN),
    # Each user's own allow and block lists of senders, on the same page;
    # the business's on the owners' page.
    Route("/rules/senders/add", "POST", "mailrules.add_sender", SIGNED_IN),
    Route("/rules/senders/remove", "POST", "mailrules.remove_sender", SIGNED_IN),
    Route("/senders", "GET", "senders.business_page", OWNERS),
    Route("/senders/add", "POST", "senders.business_add", OWNERS),
    Route("/senders/remove", "POST", "senders.business_remove", OWNERS),
    # What receivers' DMARC aggregate reports say about the business's
    # domains; one report ({report}: its id in the business's own file).
    Route("/mail/dmarc", "GET", "dmarc.page", OWNERS),
    Route("/mail/dmarc/{report}", "GET", "dmarc.report_page", OWNERS),
    # Webmail: the user's own mail. A {folder} or {message} that is not the
    # user's own is the 404.
    Route("/mail", "GET", "mail.index", SIGNED_IN),
    Route("/mail/compose", "GET", "mail.compose_page", SIGNED_IN),
    Route("/mail/compose", "POST", "mail.compose", SIGNED_IN),
    Route("/mail/addresses", "GET", "mail.addresses", SIGNED_IN),
    Route("/mail/folders", "GET", "mailfolders.folders_page", SIGNED_IN),
    Route("/mail/folders", "POST", "mailfolders.create", SIGNED_IN),
    Route("/mail/signatures", "GET", "mailsignatures.page", SIGNED_IN),
    Route("/mail/signatures", "POST", "mailsignatures.save", SIGNED_IN),
    Route("/mail/pictures/remove", "POST", "mailpictures.remove", SIGNED_IN),
    Route("/mail/{folder}", "GET", "mail.folder_page", SIGNED_IN),
    Route("/mail/{folder}/folder", "GET", "mailfolders.folder_page", SIGNED_IN),
    Route("/mail/{folder}/rename", "POST", "mailfolders.rename", SIGNED_IN),
    Route("/mail/{folder}/subscribe", "POST", "mailfolders.subscribe", SIGNED_IN),
    Route("/mail/{folder}/delete", "GET", "mailfolders.delete_page", SIGNED_IN),
    Route("/mail/{folder}/delete", "POST", "mailfolders.delete", SIGNED_IN),
    Route("/mail/{folder}/empty", "GET", "mailfolders.empty_page", SIGNED_IN),
    Route("/mail/{folder}/empty", "POST", "mailfolders.empty", SIGNED_IN),
    Route("/mail/{folder}/act", "POST", "mail.act", SIGNED_IN),
    Route("/mail/{folder}/{message}", "GET", "mail.message_page", SIGNED_IN),
    Route("/mail/{folder}/{message}/body", "GET", "mail.message_body", SIGNED_IN),
    Route("/mail/{folder}/{message}/part/{part}", "GET", "mail.part", SIGNED_IN),
    # A message attached to this one, opened; its HTML for its frame.
    Route("/mail/{folder}/{message}/part/{part}/open", "GET", "mailattached.attached_page", SIGNED_IN),
    Route("/mail/{folder}/{message}/part/{part}/body", "GET", "mailattached.attached_body", SIGNED_IN),
    Route("/mail/{folder}/{message}/source", "GET", "mailattached.source", SIGNED_IN),
    # Always show the pictures of this message's sender.
    Route("/mail/{folder}/{message}/pictures", "POST", "mailpictures.always", SIGNED_IN),
    # A calendar invitation in a message: answer it; remove a cancelled event;
    # record an attendee's answer.
    Route("/mail/{folder}/{message}/invitation", "POST", "mailinvites.answer", SIGNED_IN),
    Route("/mail/{folder}/{message}/invitation/remove", "POST", "mailinvites.remove", SIGNED_IN),
    Route("/mail/{folder}/{message}/invitation/record", "POST", "mailinvites.record", SIGNED_IN),
    # Conversations: list by thread or not (the user's choice); one thread read whole.
    Route("/mail/{folder}/conversations", "POST", "mailconversations.toggle", SIGNED_IN),
    Route("/mail/{folder}/conversation/{thread}", "GET", "mailconversations.conversation_page", SIGNED_IN),
)


def viewer(session) -> str:
    """Who a business's panel session (or None) is in this table."""
    if session is None:
        return SIGNED_OUT
    if session.operator:
        return SUPPORT
    return OWNER if session.is_owner else STAFF


def operator_viewer(operator, business_viewer: str) -> str:
    """Who is asking for an operators' page: the operator's own session
    decides; without one, whoever the business's session is."""
    if operator is None:
        return business_viewer
    return {"full": OPERATOR, "code": OPERATOR_CODE, "setup": OPERATOR_SETUP}[operator.stage]


def is_operator_route(route: Route) -> bool:
    return route.pattern == OPERATOR_AREA or route.pattern.startswith(OPERATOR_AREA + "/")


@dataclass(frozen=True)
class UploadRoute:
    """A route whose POST may send files (``multipart/form-data``):
    ``max_bytes`` for the whole body; with ``as_text`` each file reaches
    the handler as a text field of the form (UTF-8, else Windows-1252,
    which Outlook writes its CSV exports in), else in ``Request.files``.
    With ``explained``, a POST whose declared body is over ``max_bytes``
    still reaches the handler, unread (``Request.too_large``), to answer
    with its page and why; else the web server answers a bare 413."""

    max_bytes: int
    as_text: bool = False
    explained: bool = False


#: The routes that take files, and how (see :func:`.core.max_body`).
UPLOADS: dict[str, UploadRoute] = {
    # A file of up to 4 MiB (services.contacts.MAX_IMPORT_BYTES: 10,000
    # contacts as Outlook exports them), and the form around it.
    "/contacts/import": UploadRoute(5 * 1024 * 1024, as_text=True),
    # Explained: without a script (which checks the size before sending)
    # the page says why beside the file field, not a bare 413.
    "/mail/compose": UploadRoute(10 * 1024 * 1024, explained=True),
    # Pictures as phones take them: up to 10 (core.MAX_UPLOAD_FILES) of a
    # few MB each, 40 MiB together; each is checked again on its own
    # (sitegen.photos.MAX_UPLOAD_BYTES).
    "/website/images": UploadRoute(40 * 1024 * 1024),
    # One logo, as large as one photo may be (sitegen.photos.MAX_UPLOAD_BYTES).
    "/website/profile/logo": UploadRoute(16 * 1024 * 1024),
    # A ready-made site as one zip archive; what it holds is checked
    # against the plan's web space by the sites service.
    "/website/upload": UploadRoute(100 * 1024 * 1024, explained=True),
    # The brand's logo (brandrules.MAX_LOGO_BYTES), with room for the form
    # around it; a larger one is answered beside the field.
    "/operator/brand/logo": UploadRoute(1024 * 1024 + 64 * 1024, explained=True),
}


def match(path: str) -> list[tuple[Route, dict[str, str]]]:
    """Every route whose pattern matches ``path`` (one per method), with its parameters."""
    found = []
    for route in ROUTES:
        m = route.regex.match(path)
        if m:
            found.append((route, m.groupdict()))
    return found
