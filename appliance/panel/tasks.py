"""Task lists: the business's shared lists and the user's own, each with
its tasks, filtered to "mine", "open" or "all" (``app.core.tasks`` reads
and writes them); a task's form; an owner's new, renamed and deleted
shared lists, and anyone's own lists (added, renamed, and deleted with
their tasks once a page has asked). The follow-ups list is shown read-only: its tasks are written from
the contacts' pages and listed in My day."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from appliance.errors import Conflict, InvalidInput, LimitExceeded, NotFound

from . import tasks_forms as forms
from .core import Context, Response

FILTERS = ("open", "mine", "all")


def task_href(ref: str, uid: str) -> str:
    return f"/tasks/{ref}/" + quote(uid, safe="@")


def _service(ctx: Context):
    return ctx.app.core.tasks


OWN = "own"


async def page(ctx: Context, list_form=None, status: int = 200, rename: tuple[str, str] | None = None,
               own_form=None) -> Response:
    """Every list with the tasks the filter (``?show=``) keeps; ``rename``
    is a list's reference and the objection to its new name."""
    show = ctx.query_data().get("show", "open")
    if show not in FILTERS:
        show = "open"
    try:
        listings = await asyncio.to_thread(_service(ctx).view, ctx.session.slug, ctx.session.address, show)
    except NotFound:
        return ctx.not_found()
    query = ctx.query_data()
    return ctx.render("tasks.html", status, path="/tasks", listings=listings, show=show,
                      statuses=forms.status_labels(ctx._), priorities=forms.priority_labels(ctx._),
                      list_form=list_form or forms.task_list(ctx._), task_href=task_href,
                      own_form=own_form or forms.task_list(ctx._, prefix=OWN),
                      done=query.get("done", ""), rename=rename)


async def _choices(ctx: Context):
    lists = await asyncio.to_thread(_service(ctx).lists, ctx.session.slug, ctx.session.address)
    people = await asyncio.to_thread(ctx.app.core.people.list, ctx.session.slug)
    return lists, sorted(p.address for p in people)


async def _current(ctx: Context):
    try:
        return await asyncio.to_thread(_service(ctx).get, ctx.session.slug, ctx.session.address,
                                       ctx.params["list"], ctx.params["task"])
    except NotFound:
        return None


def _render_form(ctx: Context, form, current, status: int = 200) -> Response:
    return ctx.render("task.html", status, path="/tasks", form=form, current=current,
                      href=task_href(current.list, current.uid) if current else "/tasks/new")


async def new_page(ctx: Context) -> Response:
    lists, people = await _choices(ctx)
    form = forms.task(ctx._, lists, people)
    asked = ctx.query_data().get("list", "")
    if any(t.ref == asked and t.writable for t in lists):
        form.list.data = asked
    return _render_form(ctx, form, None)


async def new(ctx: Context) -> Response:
    lists, people = await _choices(ctx)
    form = forms.task(ctx._, lists, people, ctx.form_data())
    return await _save(ctx, form, None) or _render_form(ctx, form, None, 400)


async def edit_page(ctx: Context) -> Response:
    found = await _current(ctx)
    if found is None:
        return ctx.not_found()
    lists, people = await _choices(ctx)
    return _render_form(ctx, forms.task(ctx._, lists, people, current=found[1]), found[1])


async def edit(ctx: Context) -> Response:
    found = await _current(ctx)
    if found is None:
        return ctx.not_found()
    lists, people = await _choices(ctx)
    form = forms.task(ctx._, lists, people, ctx.form_data(), current=found[1])
    return await _save(ctx, form, found[1]) or _render_form(ctx, form, found[1], 400)


async def _save(ctx: Context, form, current) -> Response | None:
    """The redirect to the lists once saved, the 404 when the list or
    task is gone, or None (the form again, the objection beside its field)."""
    if not form.validate():
        return None
    if current is not None and form.list.data != current.list:
        form.list.errors.append(ctx._("A task stays in its list: add it again in the other one."))
        return None
    try:
        await asyncio.to_thread(
            _service(ctx).save, ctx.session.slug, ctx.session.address, form.list.data,
            current.uid if current else None, forms.fields_of(form), form.etag.data if current else "",
            actor=ctx.actor)
    except NotFound:
        return ctx.not_found()
    except Conflict:
        form.title.errors.append(ctx._("Someone changed this task meanwhile. Open it again."))
        return None
    except LimitExceeded:
        form.title.errors.append(ctx._("Your business's storage is full: delete old tasks first."))
        return None
    except InvalidInput as exc:
        name = str(exc).split(":", 1)[0]
        target = {"title": form.title, "status": form.status, "due": form.due, "priority": form.priority,
                  "assignee": form.assignee}.get(name, form.title)
        target.errors.append(ctx._("Check this field."))
        return None
    return ctx.redirect("/tasks?done=saved")


async def complete(ctx: Context) -> Response:
    try:
        await asyncio.to_thread(_service(ctx).complete, ctx.session.slug, ctx.session.address,
                                ctx.params["list"], ctx.params["task"], actor=ctx.actor)
    except NotFound:
        return ctx.not_found()
    return ctx.redirect("/tasks?done=completed")


async def delete_page(ctx: Context) -> Response:
    found = await _current(ctx)
    if found is None:
        return ctx.not_found()
    return ctx.render("task_delete.html", path="/tasks", current=found[1],
                      href=task_href(found[1].list, found[1].uid))


async def delete(ctx: Context) -> Response:
    found = await _current(ctx)
    if found is None:
        return ctx.not_found()
    try:
        await asyncio.to_thread(_service(ctx).delete, ctx.session.slug, ctx.session.address,
                                found[1].list, found[1].uid, actor=ctx.actor)
    except NotFound:
        return ctx.not_found()
    return ctx.redirect("/tasks?done=deleted")


async def add_list(ctx: Context) -> Response:
    form = forms.task_list(ctx._, ctx.form_data())
    if form.validate():
        try:
            await asyncio.to_thread(_service(ctx).add_list, ctx.session.slug, ctx.session.address,
                                    form.name.data, form.colour.data or "", actor=ctx.actor)
            return ctx.redirect("/tasks?done=list-added")
        except LimitExceeded:
            form.name.errors.append(ctx._("Your business has as many lists as it may."))
        except InvalidInput:
            form.name.errors.append(ctx._("Check this field."))
    return await page(ctx, form, 400)


async def rename_list(ctx: Context) -> Response:
    return await _rename(ctx, own=False)


async def _rename(ctx: Context, own: bool) -> Response:
    """Rename a list of the business's (an owner's) or, with ``own``, of the user's."""
    form = forms.task_list(ctx._, ctx.form_data())
    ref = ctx.params["list"]
    if not form.validate():
        return await page(ctx, None, 400, (ref, form.name.errors[0]))
    try:
        await asyncio.to_thread(_service(ctx).rename_list, ctx.session.slug, ctx.session.address,
                                ref, form.name.data, actor=ctx.actor, own=own)
    except NotFound:
        return ctx.not_found()
    except InvalidInput:
        return await page(ctx, None, 400, (ref, ctx._("Check this field.")))
    return ctx.redirect("/tasks?done=list-renamed")


async def delete_list(ctx: Context) -> Response:
    try:
        await asyncio.to_thread(_service(ctx).delete_list, ctx.session.slug, ctx.session.address,
                                ctx.params["list"], actor=ctx.actor)
    except NotFound:
        return ctx.not_found()
    except Conflict:
        return ctx.redirect("/tasks?done=list-not-empty")
    return ctx.redirect("/tasks?done=list-deleted")


async def add_own_list(ctx: Context) -> Response:
    """A new list of the user's own."""
    form = forms.task_list(ctx._, ctx.form_data(), prefix=OWN)
    if form.validate():
        try:
            await asyncio.to_thread(_service(ctx).add_list, ctx.session.slug, ctx.session.address,
                                    form.name.data, form.colour.data or "", actor=ctx.actor, own=True)
            return ctx.redirect("/tasks?done=list-added")
        except LimitExceeded:
            form.name.errors.append(ctx._("You have as many lists and calendars as you may."))
        except InvalidInput:
            form.name.errors.append(ctx._("Check this field."))
    return await page(ctx, None, 400, own_form=form)


async def rename_own_list(ctx: Context) -> Response:
    return await _rename(ctx, own=True)


async def delete_own_list_page(ctx: Context) -> Response:
    """The page that asks before one's own list goes with its tasks."""
    try:
        found, count = await asyncio.to_thread(_service(ctx).own_list, ctx.session.slug, ctx.session.address,
                                               ctx.params["list"])
    except NotFound:
        return ctx.not_found()
    return ctx.render("task_list_delete.html", path="/tasks", current=found, count=count)


async def delete_own_list(ctx: Context) -> Response:
    try:
        await asyncio.to_thread(_service(ctx).delete_list, ctx.session.slug, ctx.session.address,
                                ctx.params["list"], actor=ctx.actor, own=True)
    except NotFound:
        return ctx.not_found()
    return ctx.redirect("/tasks?done=list-deleted")
