"""Webmail's folder pages: the list of folders with a form to create one,
a folder's page (rename, subscription), the confirmations of deleting a
folder and of emptying Trash or Junk, over :mod:`appliance.webmailfolders`.

A ``{folder}`` that is not the signed-in user's own is the panel's one 404,
checked before any form is read. The name's rules are the IMAP server's;
what the service refuses is said beside the field it concerns.
"""

from __future__ import annotations

import logging

from appliance import webmailfolders
from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound
from storage import mail as maildb

from . import mailforms
from .core import Context, Response
from .mail import _account, _number, _query

log = logging.getLogger(__name__)


def _label(ctx: Context, folder: dict) -> str:
    """A folder's name as the menu shows it (the special ones translated)."""
    if folder["name"] == "INBOX":
        return ctx._("Inbox")
    special = {"\\Sent": ctx._("Sent"), "\\Drafts": ctx._("Drafts"), "\\Trash": ctx._("Trash"),
               "\\Junk": ctx._("Junk"), "\\Archive": ctx._("Archive")}
    return special.get(folder["special_use"] or "", folder["name"])


def _parents(ctx: Context, folders: list[dict], moving: dict | None = None) -> list[tuple[str, str]]:
    """Where a folder may go: any folder but ``moving`` and what is under it."""
    out = []
    for f in folders:
        if moving is not None and (f["id"] == moving["id"] or f["name"].startswith(moving["name"] + maildb.HIERARCHY)):
            continue
        out.append((str(f["id"]), _label(ctx, f)))
    return out


def _name_error(ctx: Context, error: Exception) -> str:
    if isinstance(error, Conflict):
        return ctx._("A folder with this name exists already.")
    if isinstance(error, LimitExceeded):
        return ctx._("You have %(max)d folders, as many as you may have. Delete some first.",
                     max=maildb.MAX_MAILBOXES)
    if isinstance(error, webmailfolders.Protected):
        return ctx._("This folder cannot be renamed or deleted.")
    return ctx._("Use at most %(max)d characters and %(depth)d levels separated by /, without %(chars)s or control"
                 " characters; no level may be empty, “.” or “..”.", max=maildb.MAX_NAME_LENGTH,
                 depth=maildb.MAX_DEPTH, chars=" ".join(maildb.FORBIDDEN_NAME_CHARACTERS))


def _parent(form) -> int | None:
    return int(form.parent.data) if form.parent.data else None


def _notice(ctx: Context) -> str:
    return {"created": ctx._("The folder was created."), "renamed": ctx._("The folder was renamed."),
            "deleted": ctx._("The folder was deleted."), "subscribed": ctx._("Done.")}.get(_query(ctx, "done"), "")


async def _list_page(ctx: Context, form=None, status: int = 200) -> Response:
    folders = await webmailfolders.overview(_account(ctx))
    if form is None:
        form = mailforms.folder(ctx._, _parents(ctx, folders))
    return ctx.render("mail_folders.html", status, folders=folders, form=form, notice=_notice(ctx))


async def folders_page(ctx: Context) -> Response:
    return await _list_page(ctx)


async def create(ctx: Context) -> Response:
    """Create a folder (``name``, ``parent``: a folder id or empty)."""
    account = _account(ctx)
    folders = await webmailfolders.overview(account)
    form = mailforms.folder(ctx._, _parents(ctx, folders), ctx.form_data())
    if not form.validate():
        return await _list_page(ctx, form, 400)
    try:
        await webmailfolders.create(account, _parent(form), form.name.data)
    except NotFound:
        return ctx.not_found()
    except (InvalidInput, Conflict, LimitExceeded) as error:
        form.name.errors.append(_name_error(ctx, error))
        return await _list_page(ctx, form, 400)
    return ctx.redirect("/mail/folders?done=created")


async def _folder(ctx: Context) -> tuple[dict, list[dict]] | None:
    folders = await webmailfolders.overview(_account(ctx))
    box = _number(ctx, "folder")
    found = [f for f in folders if f["id"] == box]
    return (found[0], folders) if found else None


def _rename_form(ctx: Context, folder: dict, folders: list[dict], data=None):
    form = mailforms.folder(ctx._, _parents(ctx, folders, folder), data)
    if data is None:
        parent, _, leaf = folder["name"].rpartition(maildb.HIERARCHY)
        form.name.data = leaf
        form.parent.data = next((str(f["id"]) for f in folders if parent and f["name"] == parent), "")
    return form


async def folder_page(ctx: Context, form=None, status: int = 200) -> Response:
    """A folder's page: rename it, subscribe or not, a link to delete it."""
    found = await _folder(ctx)
    if found is None:
        return ctx.not_found()
    folder, folders = found
    form = form or _rename_form(ctx, folder, folders)
    return ctx.render("mail_folder_edit.html", status, folders=folders, folder=folder, form=form,
                      label=_label(ctx, folder))


async def rename(ctx: Context) -> Response:
    found = await _folder(ctx)
    if found is None:
        return ctx.not_found()
    folder, folders = found
    form = _rename_form(ctx, folder, folders, ctx.form_data())
    if not form.validate():
        return await folder_page(ctx, form, 400)
    try:
        await webmailfolders.rename(_account(ctx), folder["id"], _parent(form), form.name.data)
    except NotFound:
        return ctx.not_found()
    except (InvalidInput, Conflict, LimitExceeded) as error:
        form.name.errors.append(_name_error(ctx, error))
        return await folder_page(ctx, form, 400)
    return ctx.redirect("/mail/folders?done=renamed")


async def subscribe(ctx: Context) -> Response:
    """``subscribed`` ``on`` or ``off``."""
    try:
        await webmailfolders.subscribe(_account(ctx), _number(ctx, "folder"), ctx.form_data().get("subscribed") == "on")
    except NotFound:
        return ctx.not_found()
    return ctx.redirect("/mail/folders?done=subscribed")


async def delete_page(ctx: Context) -> Response:
    """The confirmation: what deleting the folder removes with it."""
    try:
        what = await webmailfolders.deletion(_account(ctx), _number(ctx, "folder"))
    except NotFound:
        return ctx.not_found()
    folders = await webmailfolders.overview(_account(ctx))
    return ctx.render("mail_folder_delete.html", folders=folders, label=_label(ctx, what["folder"]), **what)


async def delete(ctx: Context) -> Response:
    try:
        await webmailfolders.delete(_account(ctx), _number(ctx, "folder"))
    except NotFound:
        return ctx.not_found()
    except webmailfolders.Protected:
        return ctx.render("error.html", 400, title=ctx._("Nothing was changed"),
                          message=ctx._("This folder cannot be renamed or deleted."))
    return ctx.redirect("/mail/folders?done=deleted")


async def empty_page(ctx: Context) -> Response:
    """The confirmation of emptying Trash or Junk."""
    found = await _folder(ctx)
    if found is None:
        return ctx.not_found()
    folder, folders = found
    return ctx.render("mail_folder_empty.html", folders=folders, folder=folder, label=_label(ctx, folder),
                      emptied=folder["special_use"] in webmailfolders.EMPTIED)


async def empty(ctx: Context) -> Response:
    box = _number(ctx, "folder")
    try:
        await webmailfolders.empty(_account(ctx), box)
    except NotFound:
        return ctx.not_found()
    except InvalidInput:
        return ctx.render("error.html", 400, title=ctx._("Nothing was changed"),
                          message=ctx._("Only Trash and Junk can be emptied."))
    return ctx.redirect(f"/mail/{box}?done=emptied")
