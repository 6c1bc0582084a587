"""Webmail: a user's folders, a folder's messages, reading, writing and
searching, over :mod:`appliance.webmail` (the same store and mail events as
IMAP) and :mod:`appliance.submission` (the same rules as SMTP submission).

A folder or message in a path that is not the signed-in user's own is the
panel's one 404. A message's HTML is never part of the page: it is served
sanitised from its own route (:func:`message_body`) into a sandboxed frame,
under a policy that allows no script and no request at all
(``default-src 'none'``), and remote images only once the reader asked
for them on that message (``?images=1``) or chose to always show them
from its sender (:mod:`appliance.webmailpictures`). Attachments are served as
downloads under a sandbox policy, never rendered (the web adapter adds
``X-Content-Type-Options: nosniff`` to every answer).
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from html import escape

from appliance import mailview, webmail, webmailcalendar, webmailconversations, webmailpictures, webmailsignatures
from appliance.delivery import SenderRefused, SendingLimit
from appliance.errors import ApplianceError, InvalidInput, LimitExceeded, NotFound
from appliance.services import contacts

from . import mailforms, mailinvites
from .core import MAX_UPLOAD_FILES, Context, Response
from .rights import UPLOADS
from .forms import FormData

log = logging.getLogger(__name__)

#: The policy of a message's HTML frame; remote images only when allowed.
BODY_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src {images}; frame-ancestors 'self';"
            " form-action 'none'; base-uri 'none'; sandbox allow-popups allow-popups-to-escape-sandbox")
#: Attachments are downloads; if one is opened in place anyway, it is inert.
PART_CSP = "default-src 'none'; sandbox"
DRAFTS, SENT = "\\Drafts", "\\Sent"


def _account(ctx: Context) -> webmail.Account:
    s = ctx.session
    return webmail.Account(ctx.app.tenants.handle(s.slug), s.slug, s.user_id, s.address, ctx.app.mail_events.publish)


def _number(ctx: Context, name: str) -> int:
    return int(ctx.params[name])


#: Longest recipient a link may put in a new message (the form checks it when sent).
MAX_PREFILLED_TO = 1000


def _query(ctx: Context, name: str) -> str:
    return (ctx.request.query.get(name) or [""])[0]


async def index(ctx: Context) -> Response:
    folders = await webmail.folders(_account(ctx))
    return ctx.redirect(f"/mail/{folders[0]['id']}")


async def folder_page(ctx: Context) -> Response:
    account = _account(ctx)
    page = _query(ctx, "page")
    search = mailforms.search(ctx._, _query_data(ctx))
    wanted = webmail.Search()
    if search.validate():
        wanted = webmail.Search(search.field.data, search.q.data or "", search.since.data, search.until.data,
                                search.state.data or "")
    number = int(page) if page.isdigit() else 1
    conversations = await webmailconversations.enabled(account)
    try:
        if conversations and not wanted:
            listing = await webmailconversations.listing(account, _number(ctx, "folder"), number)
        else:
            listing = await webmail.listing(account, _number(ctx, "folder"), number, wanted)
    except NotFound:
        return ctx.not_found()
    folders = await webmail.folders(account)
    # The search again on the pages before and after.
    query = urllib.parse.urlencode([(k, _query(ctx, k)) for k in mailforms.SEARCH_KEYS
                                    if _query(ctx, k)]) if wanted else ""
    return ctx.render("mail_folder.html", folders=folders, listing=listing, search=search, query=query,
                      notice=_notice(ctx), conversations=conversations, grouped=conversations and not wanted)


def _query_data(ctx: Context) -> FormData | None:
    """The search form's values from the query string (None when no
    search was asked, so the form shows no errors)."""
    values = {k: v for k, v in ctx.request.query.items() if k in mailforms.SEARCH_KEYS}
    return FormData(values) if any(v for vs in values.values() for v in vs) else None


def _notice(ctx: Context) -> str:
    return {
        "sent": ctx._("Your message was sent."), "saved": ctx._("Your draft was saved in Drafts."),
        "moved": ctx._("Moved."), "deleted": ctx._("Moved to Trash."), "gone": ctx._("Deleted for good."),
        "marked": ctx._("Done."), "copied": ctx._("Copied."), "emptied": ctx._("The folder was emptied."),
    }.get(_query(ctx, "done"), "")


async def act(ctx: Context) -> Response:
    """The list's actions on the selected messages (checkboxes ``m``; a
    conversation's checkbox holds its UIDs separated by commas)."""
    account = _account(ctx)
    box = _number(ctx, "folder")
    form = ctx.form_data()
    action = form.get("action")
    selected = [uid for value in form.getlist("m")[:webmail.MAX_SELECTED + 1] for uid in value.split(",")]
    try:
        if action in webmail.FLAG_ACTIONS:
            await webmail.set_flag(account, box, selected, action)
            done = "marked"
        elif action == "move":
            target = form.get("target")
            if not target.isdigit():
                raise InvalidInput("no folder")
            await webmail.move(account, box, selected, int(target), ctx.app.spam)
            done = "moved"
        elif action == "copy":
            target = form.get("target")
            if not target.isdigit():
                raise InvalidInput("no folder")
            await webmail.copy(account, box, selected, int(target))
            done = "copied"
        elif action == "delete":
            _, for_good = await webmail.delete(account, box, selected)
            done = "gone" if for_good else "deleted"
        else:
            raise InvalidInput("unknown action")
    except NotFound:
        return ctx.not_found()
    except LimitExceeded:
        return ctx.render("error.html", 400, title=ctx._("Nothing was changed"),
                          message=ctx._("Your mailbox is full; nothing was copied."))
    except InvalidInput:
        return ctx.render("error.html", 400, title=ctx._("Nothing was changed"),
                          message=ctx._("Choose one or more messages and an action."))
    return ctx.redirect(f"/mail/{box}?done={done}")


async def message_page(ctx: Context, status: int = 200, error: str = "") -> Response:
    """A message; with a calendar invitation, what the user's calendar
    holds of its event (``error``: what an answer to it ran into)."""
    account = _account(ctx)
    box, uid = _number(ctx, "folder"), _number(ctx, "message")
    try:
        asked = _query(ctx, "images") == "1"
        folder, row, shown, images, sender = await webmailpictures.view(account, box, uid, asked)
    except NotFound:
        return ctx.not_found()
    folders = await webmail.folders(account)
    trusted = bool(sender) and sender in await webmailpictures.senders(account)
    standing, others = None, []
    if shown.invitation is not None:
        standing = await webmailcalendar.standing(account, ctx.app.submission, shown.invitation)
        others = [p for p in shown.invitation.attendees if p.address.lower() != account.address.lower()]
    return ctx.render("mail_message.html", status, folders=folders, folder=folder, row=row, shown=shown,
                      images=images, uid=uid, standing=standing, others=others, error=error,
                      sender=sender, trusted=trusted, notice=_message_notice(ctx))


def _message_notice(ctx: Context) -> str:
    if _query(ctx, "done") == "pictures":
        return ctx._("Pictures from this sender will be shown at once.")
    return mailinvites.notice(ctx, _query(ctx, "done"))


async def message_body(ctx: Context) -> Response:
    """The sanitised HTML of a message, for its sandboxed frame."""
    account = _account(ctx)
    try:
        _, _, shown, allowed, _ = await webmailpictures.view(account, _number(ctx, "folder"), _number(ctx, "message"),
                                                          _query(ctx, "images") == "1")
    except NotFound:
        return ctx.not_found()
    return frame(shown, allowed)


def frame(shown: mailview.View, allowed: bool) -> Response:
    """The page of a message's sandboxed frame: its sanitised HTML under
    :data:`BODY_CSP` (remote images only when ``allowed``)."""
    images = "https: http: data:" if allowed else "data:"
    html = shown.html if shown.html is not None else ""
    head = f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{escape(shown.subject)}</title></head>"
    body = (head + "<body>" + html + "</body></html>").encode("utf-8")
    return Response(200, body, "text/html; charset=utf-8", headers=[
        ("content-security-policy", BODY_CSP.format(images=images)),
        ("x-frame-options", "SAMEORIGIN"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ])


async def part(ctx: Context) -> Response:
    """One attachment, as a download."""
    try:
        name, data = await webmail.attachment(_account(ctx), _number(ctx, "folder"), _number(ctx, "message"),
                                              _number(ctx, "part"))
    except NotFound:
        return ctx.not_found()
    quoted = urllib.parse.quote(name, safe="")
    ascii_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100] or "attachment"
    return Response(200, data, "application/octet-stream", headers=[
        ("content-disposition", f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"),
        ("content-security-policy", PART_CSP),
        ("cache-control", "no-store"),
    ])


async def _senders(ctx: Context) -> list[str]:
    submission = ctx.app.submission
    if submission is None:
        return [ctx.session.address]
    return list(await submission.senders(_account(ctx)))


async def compose_page(ctx: Context) -> Response:
    """A new message, or a reply (``mode`` reply/all) or forward
    (``mode=forward``, or ``attach`` as an attachment) of
    ``folder``/``message``."""
    account = _account(ctx)
    senders = await _senders(ctx)
    form = mailforms.compose(ctx._, senders)
    form.sender.data = ctx.session.address
    mode, box, uid = _query(ctx, "mode"), _query(ctx, "folder"), _query(ctx, "message")
    attached = ""
    if mode in ("reply", "all", "forward", "attach") and box.isdigit() and uid.isdigit():
        try:
            _, _, shown = await webmail.view(account, int(box), int(uid))
        except NotFound:
            return ctx.not_found()
        draft = webmail.answer(shown, mode, {s.lower() for s in senders}, ctx.session.address)
        for name in ("to", "cc", "subject", "body", "in_reply_to", "references"):
            getattr(form, name).data = getattr(draft, name)
        if mode == "attach":
            form.attached.data = f"{box}/{uid}"
            attached = shown.subject or ctx._("(no subject)")
        elif mode != "forward":
            form.answers.data = f"{box}/{uid}"
    elif _query(ctx, "to"):
        form.to.data = _query(ctx, "to")[:MAX_PREFILLED_TO]  # "Write an e-mail" on a contact's page
    # Without a script the default address's signature is the one written in.
    signatures = await webmailsignatures.signatures(account, senders)
    form.body.data = webmailsignatures.signed(form.body.data or "", signatures.get(form.sender.data, ""))
    return ctx.render("mail_compose.html", folders=await webmail.folders(account), form=form, error="",
                      attached=attached, signatures=json.dumps(signatures), known=await _known(ctx), **_limits(ctx))


async def compose(ctx: Context) -> Response:
    """Send the message, or save it to Drafts (the ``draft`` button)."""
    account = _account(ctx)
    senders = await _senders(ctx)
    if ctx.request.too_large:
        # Refused unread by the web server (a browser without the script
        # that checks sizes first): nothing of the form reached us, so the
        # page can only say why; the browser's Back keeps what was typed.
        form = mailforms.compose(ctx._, senders)
        form.sender.data = ctx.session.address
        megabytes = _limits(ctx)["max_megabytes"]
        return ctx.render("mail_compose.html", 413, folders=await webmail.folders(account), form=form, error="",
                          attachment_error=ctx._(
                              "These files are too large together: attach at most %(size)d MB to one message. "
                              "Nothing was sent. Go back to your message (it is still there), remove or shrink "
                              "the files and send again.", size=megabytes),
                          signatures=await _signatures(account, senders), known=await _known(ctx), **_limits(ctx))
    data = ctx.form_data()
    form = mailforms.compose(ctx._, senders, data)
    if not form.validate():
        if data.get("autosave"):
            return Response(400, b'{"draft": null}', "application/json", headers=[("cache-control", "no-store")])
        return ctx.render("mail_compose.html", 400, folders=await webmail.folders(account), form=form, error="",
                          signatures=await _signatures(account, senders), known=await _known(ctx), **_limits(ctx))
    uploads = ctx.request.files.get("attachment", [])
    draft = webmail.Draft(form.sender.data, form.to.data or "", form.cc.data or "", form.subject.data or "",
                          form.body.data or "", form.in_reply_to.data or "", form.references.data or "",
                          [(u.filename, u.content_type, u.data) for u in uploads])
    draft.formatted = bool(form.formatted.data)
    draft.bcc = form.bcc.data or ""
    if form.attached.data:
        forwarded_box, forwarded_uid = form.attached.data.split("/")
        try:
            draft.forwarded = await webmail.original(account, int(forwarded_box), int(forwarded_uid))
        except NotFound:
            return ctx.not_found()
    name = ctx.session.display_name
    error = ""
    earlier = int(form.draft_uid.data) if form.draft_uid.data else None
    try:
        if data.get("draft"):
            saved = await webmail.save_draft(account, draft, name, ctx.app.settings.box.hostname, earlier)
            if data.get("autosave"):
                # The page's script saving as the person writes: it keeps
                # the UID, to replace this draft at its next save.
                body = json.dumps({"draft": saved}).encode("utf-8")
                return Response(200, body, "application/json", headers=[("cache-control", "no-store")])
            box = await _special_id(account, DRAFTS)
            return ctx.redirect(f"/mail/{box}?done=saved")
        await webmail.send(account, ctx.app.submission, draft, name)
        if earlier is not None:
            await webmail.discard_draft(account, earlier)
        if form.answers.data:
            answered_box, answered_uid = form.answers.data.split("/")
            await webmail.mark_answered(account, int(answered_box), int(answered_uid))
        box = await _special_id(account, SENT)
        return ctx.redirect(f"/mail/{box}?done=sent")
    except SendingLimit:
        error = ctx._("You have sent as many messages as your plan allows today. Try again tomorrow.")
    except SenderRefused:
        error = ctx._("You can only send from your own addresses.")
    except NotFound:
        error = ctx._("One of the recipients does not exist here. Check the addresses.")
    except LimitExceeded:
        error = ctx._("A mailbox is full; the message was not sent.")
    except InvalidInput:
        error = ctx._("Check the recipients: enter at least one, as name@example.com, separated by commas.")
    except ApplianceError:
        log.info("%s: webmail message from %s refused", ctx.request.peer, ctx.session.address, exc_info=True)
        error = ctx._("The message could not be sent.")
    if uploads:
        error += " " + ctx._("Attach the files again.")
    return ctx.render("mail_compose.html", 400, folders=await webmail.folders(account), form=form, error=error,
                      signatures=await _signatures(account, senders), known=await _known(ctx), **_limits(ctx))


#: Addresses the message form lists for the browser to complete from
#: (it filters them as the person types, with or without a script).
MAX_LISTED = 200


async def _known(ctx: Context, query: str = "", limit: int = MAX_LISTED) -> list[tuple[str, str]]:
    """(name, e-mail) from the business's contacts and the user's own
    address books (:meth:`Contacts.addresses`)."""
    try:
        return await asyncio.to_thread(ctx.app.core.contacts.addresses, ctx.session.slug, ctx.session.address,
                                       query, limit)
    except (NotFound, InvalidInput):
        return []


async def addresses(ctx: Context) -> Response:
    """The addresses (JSON: ``[{"name", "address"}]``, at most
    :data:`contacts.MAX_SUGGESTIONS`) whose name or e-mail contains ``q``,
    for the script that completes the last address of a To, Cc or Bcc field."""
    found = await _known(ctx, _query(ctx, "q")[:contacts.MAX_QUERY], contacts.MAX_SUGGESTIONS)
    body = json.dumps([{"name": name, "address": address} for name, address in found]).encode("utf-8")
    return Response(200, body, "application/json", headers=[("cache-control", "no-store")])


async def _signatures(account: webmail.Account, senders: list[str]) -> str:
    """The signature of each sending address, as JSON for the script that
    swaps the signature when another From is chosen."""
    return json.dumps(await webmailsignatures.signatures(account, senders))


def _limits(ctx: Context) -> dict:
    """What the attachment field says of its limits (its script checks
    ``max_bytes`` before sending: the server answers a larger form 413
    before reading it), and how often the script saves the draft."""
    # Room for the form's other fields within the request's limit.
    max_bytes = UPLOADS["/mail/compose"].max_bytes - 256 * 1024
    return {"max_files": MAX_UPLOAD_FILES, "max_bytes": max_bytes,
            "max_megabytes": UPLOADS["/mail/compose"].max_bytes // (1024 * 1024),
            "autosave_seconds": ctx.app.settings.panel.draft_autosave_seconds}


async def _special_id(account: webmail.Account, special_use: str) -> int:
    for folder in await webmail.folders(account):
        if folder["special_use"] == special_use:
            return folder["id"]
    return (await webmail.folders(account))[0]["id"]
