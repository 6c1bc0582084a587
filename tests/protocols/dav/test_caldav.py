"""The caldav library against our server: discovery, CRUD, time ranges, sync."""

from __future__ import annotations

import datetime
from pathlib import Path
from urllib.parse import unquote

import caldav
import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dav"

EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20250101T000000Z
DTSTART:{start}
DTEND:{end}
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR
"""


def client(dav, account, url=None) -> caldav.DAVClient:
    return caldav.DAVClient(url=url or dav.url, username=account.address, password=account.password,
                            ssl_verify_cert=str(dav.ca_file))


def calendar_named(principal, name: str):
    for cal in principal.calendars():
        if unquote(str(cal.url)).rstrip("/").endswith(name):
            return cal
    raise AssertionError(f"no calendar {name} in {[str(c.url) for c in principal.calendars()]}")


def test_discovery_from_the_bare_root_finds_personal_and_shared_collections(dav, alice):
    """From /dav/ and an address the client finds the principal, the personal
    calendar and task list, and the business's shared calendar and projects."""
    principal = client(dav, alice).principal()
    assert unquote(str(principal.url)).endswith("/dav/alice@bakery.example/")
    urls = sorted(unquote(str(c.url)).split("/dav/", 1)[1] for c in principal.calendars())
    assert urls == [
        "alice@bakery.example/calendar/",
        "alice@bakery.example/tasks/",
        "bakery/calendar/",
        "bakery/projects/",
    ]


def test_event_create_change_delete(dav, alice):
    """An event is created (201), changed (new etag, new text) and deleted (gone)."""
    cal = calendar_named(client(dav, alice).principal(), "alice@bakery.example/calendar")
    event = cal.save_event(EVENT.format(uid="crud-1", start="20250301T100000Z", end="20250301T110000Z", summary="First"))
    fetched = cal.event_by_uid("crud-1")
    assert "First" in fetched.data
    fetched.vobject_instance.vevent.summary.value = "Second"
    fetched.save()
    assert "Second" in cal.event_by_uid("crud-1").data
    event.delete()
    with pytest.raises(caldav.lib.error.NotFoundError):
        cal.event_by_uid("crud-1")


def test_task_create_complete_delete(dav, alice):
    """A VTODO with an alarm is stored in the task list, completed, and deleted."""
    tasks = calendar_named(client(dav, alice).principal(), "alice@bakery.example/tasks")
    todo = tasks.save_todo((FIXTURES / "task_with_due_and_alarm.ics").read_text())
    assert [t.icalendar_component["uid"] for t in tasks.todos()] == ["task-oven-service@bakery.example"]
    assert "VALARM" in todo.data
    todo.complete()
    assert tasks.todos() == []
    assert len(tasks.todos(include_completed=True)) == 1
    todo.delete()
    assert tasks.todos(include_completed=True) == []


def test_time_range_search_expands_recurrences_and_exceptions(dav, bob):
    """A time-range REPORT finds a weekly event by an occurrence far from its
    first one, and the moved exception by its new date only."""
    cal = calendar_named(client(dav, bob).principal(), "bob@bakery.example/calendar")
    cal.save_event((FIXTURES / "weekly_standup_with_moved_exception.ics").read_text())
    cal.save_event(EVENT.format(uid="other", start="20250601T100000Z", end="20250601T110000Z", summary="Other"))
    utc = datetime.timezone.utc
    hits = cal.search(start=datetime.datetime(2025, 3, 3, tzinfo=utc), end=datetime.datetime(2025, 3, 4, tzinfo=utc), event=True)
    assert [h.icalendar_component["uid"] for h in hits] == ["standup-4711@bakery.example"]
    # The 20th's occurrence moved to the 21st: nothing on the 20th, a hit on the 21st.
    day = lambda d: (datetime.datetime(2025, 1, d, tzinfo=utc), datetime.datetime(2025, 1, d + 1, tzinfo=utc))
    assert cal.search(start=day(20)[0], end=day(20)[1], event=True, expand=True) == []
    moved = cal.search(start=day(21)[0], end=day(21)[1], event=True, expand=True)
    assert len(moved) == 1 and "moved" in moved[0].data
    assert cal.search(start=datetime.datetime(2026, 1, 1, tzinfo=utc), end=datetime.datetime(2026, 2, 1, tzinfo=utc), event=True) == []


def test_sync_token_returns_only_what_changed(dav, alice):
    """After a first sync, a sync with its token returns only the changed and
    the deleted item, not the unchanged ones."""
    cal = calendar_named(client(dav, alice).principal(), "bakery/calendar")
    for n in range(5):
        cal.save_event(EVENT.format(uid=f"sync-{n}", start="20250401T100000Z", end="20250401T110000Z", summary=f"S{n}"))
    first = cal.objects_by_sync_token(load_objects=False)
    assert len(list(first)) >= 5
    changed = cal.event_by_uid("sync-1")
    changed.vobject_instance.vevent.summary.value = "changed"
    changed.save()
    cal.event_by_uid("sync-2").delete()
    later = cal.objects_by_sync_token(sync_token=first.sync_token, load_objects=False)
    hrefs = sorted(str(o.url).rsplit("/", 1)[1] for o in later)
    assert hrefs == ["sync-1.ics", "sync-2.ics"]
    again = cal.objects_by_sync_token(sync_token=later.sync_token, load_objects=False)
    assert list(again) == []


def test_shared_calendar_is_shared_within_the_business(dav, alice, bob):
    """What alice writes in the shared calendar, bob reads."""
    cal = calendar_named(client(dav, alice).principal(), "bakery/calendar")
    cal.save_event(EVENT.format(uid="team-1", start="20250501T100000Z", end="20250501T110000Z", summary="Team"))
    bobs = calendar_named(client(dav, bob).principal(), "bakery/calendar")
    assert "Team" in bobs.event_by_uid("team-1").data
