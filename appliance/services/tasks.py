"""Task lists: the business's shared ones (``projects``, the lists an owner
adds, the CRM's follow-ups, which only the contact pages write) and each
user's own, with their tasks (VTODOs, RFC 5545 section 3.6.2).

Tasks are read from and written to the same storage the CalDAV server
uses, so clients (Thunderbird, phones) see the panel's changes at their
next sync. The panel's form owns SUMMARY, STATUS (with the
PERCENT-COMPLETE and COMPLETED lines clients expect beside it), DUE,
PRIORITY and the assignee, an ATTENDEE (RFC 5545 section 3.8.4.1:
the one person a task is for); every other line a client wrote stays.
A list the owner adds is a calendar collection holding only VTODOs
(RFC 4791 section 5.2.3), which clients discover as a task list. Any user
adds lists of their own the same way under their own principal
(``<address>/list-…``): their CalDAV clients find them beside their
default ``tasks`` list, and nobody else in the business sees them.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import sqlite3
import uuid
from dataclasses import dataclass

import icalendar

from storage import dav, directory, names

from .. import davitems
from ..errors import Conflict, InvalidInput, NotFound
from .base import Stores

#: Most tasks one list shows; the rest are counted.
MAX_TASKS = 500
MAX_TITLE = 200
MAX_LIST_NAME = 60
#: The statuses of a task (RFC 5545 section 3.8.1.11), in the form's order.
STATUSES = ("NEEDS-ACTION", "IN-PROCESS", "COMPLETED", "CANCELLED")
#: Lists an owner may not rename or delete: clients and the CRM rely on them.
FIXED = ("projects", "followups")
#: A user's own list that stays: the box gives every user one.
OWN_FIXED = ("tasks",)
FOLLOWUPS = "followups"
_COLOUR_RE = re.compile(r"#[0-9A-Fa-f]{6}")
_LINE_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
PALETTE = ("#2e7d32", "#1f6feb", "#b35900", "#8e24aa", "#c62828", "#00796b")


@dataclass(frozen=True)
class TaskList:
    """One list the viewer sees: its random reference, name, colour, whether
    it is the business's, whether the panel writes its tasks, and whether
    it stays (an owner may not rename or delete such a shared list, nor a
    user their default own one)."""

    ref: str
    name: str
    colour: str
    shared: bool
    writable: bool
    fixed: bool


@dataclass(frozen=True)
class Fields:
    """What the task form shows and sets."""

    title: str
    status: str = "NEEDS-ACTION"
    assignee: str = ""
    due: dt.date | None = None
    #: 0 (none), 1 (highest) to 9 (lowest).
    priority: int = 0


@dataclass(frozen=True)
class Task:
    list: str  # the TaskList's ref
    uid: str
    etag: str
    fields: Fields

    @property
    def open(self) -> bool:
        return self.fields.status not in ("COMPLETED", "CANCELLED")


@dataclass(frozen=True)
class Listing:
    """A list's tasks the filter keeps, open ones first then by due date."""

    list: TaskList
    tasks: list[Task]
    #: Tasks left out past :data:`MAX_TASKS`.
    left_out: int


def _is_tasks(collection: dav.CollectionRow) -> bool:
    kinds = collection.props.get("C:supported-calendar-component-set") or ""
    return "VTODO" in kinds.upper()


def _address(value: object) -> str:
    text = str(value)
    return text[7:].lower() if text.lower().startswith("mailto:") else text.lower()


def _date(value: object) -> dt.date | None:
    value = getattr(value, "dt", None)
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else None


def _due(todo: icalendar.Todo, day: dt.date) -> dt.date | dt.datetime:
    """DUE on ``day`` in the value type the task already has: RFC 5545 wants
    DUE and DTSTART of one type, and a client's timed due keeps its time.
    A timed due keeps its time of day and zone; with only a timed start, the
    end of ``day`` in the start's zone; else the date itself."""
    old = getattr(todo.get("DUE"), "dt", None)
    start = getattr(todo.get("DTSTART"), "dt", None)
    if isinstance(old, dt.datetime):
        return old.replace(year=day.year, month=day.month, day=day.day)
    if isinstance(start, dt.datetime):
        return dt.datetime.combine(day, dt.time(23, 59), tzinfo=start.tzinfo)
    return day


def _todo(calendar: icalendar.Calendar, uid: str | None = None) -> icalendar.Todo | None:
    for component in calendar.walk("VTODO"):
        if (uid is None or str(component.get("UID", "")) == uid) and "RECURRENCE-ID" not in component:
            return component
    return None


def _fields(todo: icalendar.Todo) -> Fields:
    status = str(todo.get("STATUS", "")).upper()
    if status not in STATUSES:
        status = "COMPLETED" if "COMPLETED" in todo else "NEEDS-ACTION"
    attendees = todo.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees] if attendees is not None else []
    try:
        priority = int(todo.get("PRIORITY", 0))
    except (TypeError, ValueError):
        priority = 0
    return Fields(str(todo.get("SUMMARY", "")), status, _address(attendees[0]) if attendees else "",
                  _date(todo.get("DUE")), priority if 0 <= priority <= 9 else 0)


def read(text: str) -> tuple[str, Fields] | None:
    """The UID and form fields of the first VTODO of ``text``, or None."""
    try:
        todo = _todo(icalendar.Calendar.from_ical(text))
    except (ValueError, IndexError, KeyError):
        return None
    return None if todo is None else (str(todo.get("UID", "")), _fields(todo))


def new(uid: str, fields: Fields, now: dt.datetime) -> str:
    """A VCALENDAR holding one VTODO with ``fields``."""
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//appliance//tasks//EN")
    todo = icalendar.Todo()
    todo.add("UID", uid)
    todo.add("DTSTAMP", now)
    todo.add("CREATED", now)
    calendar.add_component(todo)
    _set(todo, fields, None, now)
    return calendar.to_ical().decode()


def patch(text: str, uid: str, fields: Fields, now: dt.datetime) -> str:
    """``text`` with task ``uid``'s form properties set to ``fields``,
    every other line as it was. Raises NotFound (no such task)."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError):
        raise NotFound("a task the panel cannot read") from None
    todo = _todo(calendar, uid)
    if todo is None:
        raise NotFound("no such task")
    _set(todo, fields, _fields(todo), now)
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        todo.pop(name, None)
        todo.add(name, now)
    return calendar.to_ical().decode()


def _set(todo: icalendar.Todo, fields: Fields, before: Fields | None, now: dt.datetime) -> None:
    todo.pop("SUMMARY", None)
    todo.add("SUMMARY", fields.title)
    if before is None or before.status != fields.status:
        todo.pop("STATUS", None)
        todo.add("STATUS", fields.status)
        # What clients show beside the status (Thunderbird's "% complete").
        try:
            percent = int(todo.get("PERCENT-COMPLETE", 0) or 0)
        except (TypeError, ValueError):
            percent = 0
        todo.pop("PERCENT-COMPLETE", None)
        todo.pop("COMPLETED", None)
        if fields.status == "COMPLETED":
            todo.add("COMPLETED", now)
            todo.add("PERCENT-COMPLETE", 100)
        elif fields.status == "IN-PROCESS" and 0 < percent < 100:
            todo.add("PERCENT-COMPLETE", percent)
    if before is None or before.due != fields.due:
        due = _due(todo, fields.due) if fields.due is not None else None
        todo.pop("DUE", None)
        if due is not None:
            todo.add("DUE", due)
    if before is None or before.priority != fields.priority:
        todo.pop("PRIORITY", None)
        if fields.priority:
            todo.add("PRIORITY", fields.priority)
    if before is None or before.assignee != fields.assignee:
        todo.pop("ATTENDEE", None)
        if fields.assignee:
            todo.add("ATTENDEE", f"mailto:{fields.assignee}", parameters={"PARTSTAT": "NEEDS-ACTION"})


class Tasks:
    """The task lists users see and the tasks they write (see module doc)."""

    def __init__(self, stores: Stores):
        self.stores = stores

    @staticmethod
    def _viewer(conn: sqlite3.Connection, address: str) -> None:
        user = directory.get_user(conn, address)
        if user is None or user["state"] != "active":
            raise NotFound("no such user")

    def lists(self, slug: str, address: str) -> list[TaskList]:
        """The business's task lists, then ``address``'s own. Raises
        NotFound (not an active user)."""
        address = names.address(address)

        def read_(conn: sqlite3.Connection) -> list[TaskList]:
            self._viewer(conn, address)
            return [t for t, _ in _lists(conn, slug, address)]

        return self.stores.handle(slug).read_sync("task lists", read_)

    def view(self, slug: str, address: str, show: str = "open") -> list[Listing]:
        """Every list of :meth:`lists` with its tasks: ``show`` "mine" (those
        assigned to ``address``), "open" (neither completed nor cancelled)
        or "all"; at most :data:`MAX_TASKS` a list, open ones first, then by
        due date. Changes nothing. Raises NotFound."""
        address = names.address(address)

        def read_(conn: sqlite3.Connection) -> list[Listing]:
            self._viewer(conn, address)
            found = []
            for tasks_list, collection in _lists(conn, slug, address):
                tasks = []
                for item in dav.all_items(conn, collection.id):
                    if item.component != "VTODO":
                        continue
                    got = read(item.text)
                    if got is None:
                        continue
                    task = Task(tasks_list.ref, got[0], item.etag, got[1])
                    if show == "mine" and task.fields.assignee != address:
                        continue
                    if show == "open" and not task.open:
                        continue
                    tasks.append(task)
                tasks.sort(key=lambda t: (not t.open, t.fields.due or dt.date.max, t.fields.title.lower()))
                found.append(Listing(tasks_list, tasks[:MAX_TASKS], max(0, len(tasks) - MAX_TASKS)))
            return found

        return self.stores.handle(slug).read_sync("tasks view", read_)

    def get(self, slug: str, address: str, ref: str, uid: str) -> tuple[TaskList, Task]:
        """Task ``uid`` of list ``ref``. Raises NotFound when ``address``
        may not write that list or it has no such task."""
        address = names.address(address)

        def read_(conn: sqlite3.Connection) -> tuple[TaskList, Task]:
            tasks_list, collection = self._target(conn, slug, address, ref)
            item = dav.item_by_uid(conn, collection.id, uid)
            got = read(item.text) if item is not None and item.component == "VTODO" else None
            if got is None:
                raise NotFound("no such task")
            return tasks_list, Task(ref, uid, item.etag, got[1])

        return self.stores.handle(slug).read_sync("task", read_)

    def save(self, slug: str, address: str, ref: str, uid: str | None, fields: Fields, etag: str = "",
             *, actor: str) -> str:
        """Write a task into list ``ref`` as a DAV PUT does: a new one when
        ``uid`` is None, else task ``uid`` patched (:func:`patch`). Returns
        its UID. Checks: a title of 1 to :data:`MAX_TITLE` printable
        characters, a known status, a due date in years 1900-2999, a
        priority 0-9, an assignee who is an active user of ``slug``,
        ``etag`` (when given) still the stored one. Raises InvalidInput
        (its message names the field first), NotFound, Conflict,
        LimitExceeded."""
        address = names.address(address)
        fields = _checked(fields)
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        limits = self._limits()

        def write(conn: sqlite3.Connection) -> str:
            _, collection = self._target(conn, slug, address, ref)
            if fields.assignee:
                user = directory.get_user(conn, fields.assignee)
                if user is None or user["state"] != "active":
                    raise InvalidInput("assignee: not a colleague")
            if uid is None:
                new_uid = str(uuid.uuid4())
                href, text, action = f"{new_uid}.ics", new(new_uid, fields, now), "task.add"
            else:
                new_uid = uid
                item = dav.item_by_uid(conn, collection.id, uid)
                if item is None or item.component != "VTODO":
                    raise NotFound("no such task")
                if etag and etag != item.etag:
                    raise Conflict("the task changed meanwhile")
                href, text, action = item.href, patch(item.text, uid, fields, now), "task.edit"
            dav.put_item(conn, collection.id, self._new_item(collection.path, href, text), limits=limits)
            directory.audit(conn, actor, action, f"{collection.path} {new_uid}")
            return new_uid

        return self.stores.handle(slug).write_sync("task save", write)

    def complete(self, slug: str, address: str, ref: str, uid: str, *, actor: str) -> None:
        """Mark task ``uid`` completed (its other lines kept). Raises NotFound."""
        _, task = self.get(slug, address, ref, uid)
        if task.fields.status != "COMPLETED":
            f = task.fields
            self.save(slug, address, ref, uid, Fields(f.title, "COMPLETED", f.assignee, f.due, f.priority),
                      actor=actor)

    def delete(self, slug: str, address: str, ref: str, uid: str, *, actor: str) -> None:
        """Delete task ``uid`` from list ``ref``. Raises NotFound."""
        address = names.address(address)

        def write(conn: sqlite3.Connection) -> None:
            _, collection = self._target(conn, slug, address, ref)
            item = dav.item_by_uid(conn, collection.id, uid)
            if item is None or item.component != "VTODO":
                raise NotFound("no such task")
            dav.delete_item(conn, collection.id, item.href)
            directory.audit(conn, actor, "task.delete", f"{collection.path} {uid}")

        self.stores.handle(slug).write_sync("task delete", write)

    def add_list(self, slug: str, address: str, name: str, colour: str, *, actor: str, own: bool = False) -> str:
        """A new task list named ``name`` (1 to :data:`MAX_LIST_NAME`
        printable characters) in ``colour`` (``#rrggbb`` or empty): a
        calendar collection for VTODOs only, shared by ``slug``, or with
        ``own`` under ``address``'s principal (theirs alone). Returns its
        reference. Raises InvalidInput, NotFound, LimitExceeded (the
        ``[dav]`` collections a business or a user may have)."""
        address = names.address(address)
        name = _list_name(name)
        if colour and not _COLOUR_RE.fullmatch(colour):
            raise InvalidInput("colour: #rrggbb")
        limits = self._limits()

        def write(conn: sqlite3.Connection) -> str:
            self._viewer(conn, address)
            props = {"D:displayname": name, "C:supported-calendar-component-set": "VTODO"}
            if colour:
                props["ICAL:calendar-color"] = colour.lower()
            if own:
                dav.ensure_user_home(conn, address)
            parent = address if own else slug
            row = dav.create_collection(conn, f"{parent}/list-{secrets.token_hex(6)}", "VCALENDAR", props,
                                        limits=limits)
            directory.audit(conn, actor, "tasklist.add", row.path)
            return row.nonce

        return self.stores.handle(slug).write_sync("task list add", write)

    def own_list(self, slug: str, address: str, ref: str) -> tuple[TaskList, int]:
        """``address``'s own list ``ref`` (not their default one) and how
        many tasks it holds. Raises NotFound (not theirs, or no such list)."""
        address = names.address(address)

        def read_(conn: sqlite3.Connection) -> tuple[TaskList, int]:
            tasks_list, collection = self._list(conn, slug, address, ref, own=True)
            return tasks_list, dav.count_items(conn, collection.id)

        return self.stores.handle(slug).read_sync("task list", read_)

    def rename_list(self, slug: str, address: str, ref: str, name: str, *, actor: str, own: bool = False) -> None:
        """Rename shared list ``ref`` (not ``projects`` nor the follow-ups),
        or with ``own`` one of ``address``'s own lists (not their default
        one). Raises InvalidInput, NotFound."""
        address = names.address(address)
        name = _list_name(name)

        def write(conn: sqlite3.Connection) -> None:
            _, collection = self._list(conn, slug, address, ref, own)
            dav.set_props(conn, collection.id, {**collection.props, "D:displayname": name})
            directory.audit(conn, actor, "tasklist.rename", collection.path)

        self.stores.handle(slug).write_sync("task list rename", write)

    def delete_list(self, slug: str, address: str, ref: str, *, actor: str, own: bool = False) -> int:
        """Delete shared list ``ref`` (not ``projects`` nor the follow-ups)
        when it holds nothing; with ``own``, one of ``address``'s own lists
        (not their default one) with its tasks, each deleted as a DAV
        DELETE would. Returns how many tasks went. Raises Conflict (a
        shared list not empty), NotFound."""
        address = names.address(address)

        def write(conn: sqlite3.Connection) -> int:
            _, collection = self._list(conn, slug, address, ref, own)
            items = dav.all_items(conn, collection.id)
            if items and not own:
                raise Conflict("the list is not empty")
            for item in items:
                dav.delete_item(conn, collection.id, item.href)
            dav.delete_collection(conn, collection.path)
            directory.audit(conn, actor, "tasklist.delete", collection.path)
            return len(items)

        return self.stores.handle(slug).write_sync("task list delete", write)

    def _list(self, conn: sqlite3.Connection, slug: str, address: str, ref: str,
              own: bool) -> tuple[TaskList, dav.CollectionRow]:
        """A list one may rename or delete: a shared one, or ``address``'s own."""
        self._viewer(conn, address)
        for tasks_list, collection in _lists(conn, slug, address):
            if tasks_list.ref == ref and tasks_list.shared != own and not tasks_list.fixed:
                return tasks_list, collection
        raise NotFound("no such list")

    def _target(self, conn: sqlite3.Connection, slug: str, address: str,
                ref: str) -> tuple[TaskList, dav.CollectionRow]:
        self._viewer(conn, address)
        for tasks_list, collection in _lists(conn, slug, address):
            if tasks_list.ref == ref and tasks_list.writable:
                return tasks_list, collection
        raise NotFound("no such list")

    def _limits(self) -> dav.Limits:
        return davitems.limits(self.stores.settings.dav)

    def _new_item(self, path: str, href: str, text: str) -> dav.NewItem:
        return davitems.new_item(self.stores.settings.dav, path, href, text, "task")


def _lists(conn: sqlite3.Connection, slug: str, address: str) -> list[tuple[TaskList, dav.CollectionRow]]:
    found = []
    rows = [(r.collection, True) for r in dav.calendars(conn, slug)]
    rows += [(r.collection, False) for r in dav.calendars(conn, address)]
    for collection, shared in rows:
        if not _is_tasks(collection):
            continue
        short = collection.path.rpartition("/")[2]
        name = collection.props.get("D:displayname") or short
        colour = (collection.props.get("ICAL:calendar-color") or "")[:7]
        if not _COLOUR_RE.fullmatch(colour):
            colour = PALETTE[len(found) % len(PALETTE)]
        fixed = short in (FIXED if shared else OWN_FIXED)
        found.append((TaskList(collection.nonce, name, colour.lower(), shared,
                               not (shared and short == FOLLOWUPS), fixed), collection))
    return found


def _list_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_LIST_NAME or _LINE_CONTROL_RE.search(name):
        raise InvalidInput(f"name: write 1 to {MAX_LIST_NAME} characters")
    return name


def _checked(fields: Fields) -> Fields:
    title = " ".join(fields.title.split())
    if not title or len(title) > MAX_TITLE or _LINE_CONTROL_RE.search(title):
        raise InvalidInput(f"title: write 1 to {MAX_TITLE} characters")
    if fields.status not in STATUSES:
        raise InvalidInput("status: not a status")
    if fields.due is not None and not 1900 <= fields.due.year <= 2999:
        raise InvalidInput("due: no such date")
    if not 0 <= fields.priority <= 9:
        raise InvalidInput("priority: 0 to 9")
    return Fields(title, fields.status, (fields.assignee or "").strip().lower(), fields.due, fields.priority)
