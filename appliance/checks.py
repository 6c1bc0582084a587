"""``appliance check``: the box checks itself, and says what to fix.

Each check returns :class:`Result` rows whose ``status`` is the severity:
``ok``, ``warn`` (works, but look) or ``fail`` (something is broken), and
whose ``fix`` says in plain words what to do about it. The CLI prints them
and exits non-zero when any failed; the operators' "Box status" page shows
them (both through :mod:`appliance.services.boxstatus`). These read the box's own files; what
the world sees (DNS, reverse DNS, port 25) is :mod:`appliance.outsidechecks`. Checks only read; the one repair, rebuilding the catalog,
is ``app.core.businesses.rebuild_catalog`` (``appliance box rebuild``).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import sqlite3
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Iterator

from storage.errors import IntegrityFailed
from storage.tenants import check_file, file_facts

if TYPE_CHECKING:
    from .app import App

#: A certificate expiring sooner than this is a warning.
CERT_WARN_DAYS = 14
#: Less free disk than this fraction is a warning; a tenth of it, a failure.
DISK_WARN = 0.10
#: Queued messages older than this are a warning (mail is usually out in minutes).
QUEUE_WARN_SECONDS = 3600


@dataclass(frozen=True)
class Result:
    check: str
    status: str  # ok | warn | fail: the severity
    detail: str
    #: What the operator should do; "" when there is nothing to do.
    fix: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def run_all(app: App) -> list[Result]:
    results: list[Result] = []
    for check in (check_state_dir, check_box_db, check_catalog, check_tenant_files, check_certificates, check_queue,
                  check_daemon, check_backup, check_spam):
        try:
            results.extend(check(app))
        except Exception as exc:  # noqa: BLE001 - a broken check is itself a finding
            results.append(Result(check.__name__.removeprefix("check_"), "fail", f"check crashed: {exc!r}"))
    return results


def check_state_dir(app: App) -> Iterator[Result]:
    path = app.state_dir
    if not os.access(path, os.W_OK):
        yield Result("state", "fail", f"{path} is not writable by this user",
                     "run the command as the daemon's user (appliance), or fix the directory's owner")
    else:
        yield Result("state", "ok", str(path))
    usage = shutil.disk_usage(path)
    free = usage.free / usage.total
    status = "fail" if free < DISK_WARN / 10 else "warn" if free < DISK_WARN else "ok"
    yield Result("disk", status, f"{usage.free // 2**20} MiB free ({free:.0%})",
                 "" if status == "ok" else "free space on that file system or grow it: a full disk refuses mail")


def check_box_db(app: App) -> Iterator[Result]:
    ok = app.core.businesses.box_database_check()
    yield Result("box database", "ok" if ok == "ok" else "fail", ok if ok != "ok" else "quick_check ok")


def check_catalog(app: App) -> Iterator[Result]:
    """The catalog and the business files tell the same story."""
    catalog = {t.slug: t.domains for t in app.core.businesses.list()}
    files = {p.stem: p for p in app.tenants.directory.glob("*.sqlite3")}
    problems = 0
    for slug in sorted(set(catalog) - set(files)):
        problems += 1
        yield Result("catalog", "fail", f"business {slug} is in the catalog but its file is missing")
    for slug in sorted(set(files) - set(catalog)):
        problems += 1
        yield Result("catalog", "warn", f"file {files[slug].name} is not in the catalog (appliance box rebuild)")
    for slug in sorted(set(files) & set(catalog)):
        try:
            facts = file_facts(files[slug])
        except (sqlite3.Error, IntegrityFailed) as exc:
            problems += 1
            yield Result("catalog", "fail", f"{slug}: cannot read its file: {exc}")
            continue
        if facts.slug != slug or facts.domains != sorted(catalog[slug]):
            problems += 1
            yield Result("catalog", "fail", f"{slug}: catalog and file disagree on slug or domains (appliance box rebuild)")
    if not problems:
        yield Result("catalog", "ok", f"{len(catalog)} businesses, files and catalog agree")


def check_tenant_files(app: App) -> Iterator[Result]:
    bad = 0
    files = sorted(app.tenants.directory.glob("*.sqlite3"))
    for path in files:
        try:
            check_file(path)
        except IntegrityFailed as exc:
            bad += 1
            yield Result("business files", "fail", str(exc))
    if not bad:
        yield Result("business files", "ok", f"{len(files)} pass the integrity check")


def check_certificates(app: App) -> Iterator[Result]:
    now = datetime.datetime.now(datetime.timezone.utc)
    for cert in app.core.certificates.list():
        owner = f" ({cert.business})" if cert.business else ""
        if cert.not_after is None:
            if cert.last_error:
                yield Result("certificate", "fail", f"{cert.name}{owner}: not issued; last error: {cert.last_error}",
                             f"fix what the error says; the next attempt is at {cert.next_attempt}")
            else:
                yield Result("certificate", "warn", f"{cert.name}{owner}: not issued yet", "wait for the ACME client, or see `appliance cert list`")
            continue
        left = datetime.datetime.fromisoformat(cert.not_after) - now
        detail = f"{cert.name}{owner}: expires {cert.not_after} ({left.days} days)"
        if cert.last_error:
            detail += f"; last renewal error: {cert.last_error}"
        if left.total_seconds() <= 0:
            yield Result("certificate", "fail", detail, "renew it now: `appliance cert renew " + cert.name + "`")
        elif cert.status == "self-signed":
            yield Result("certificate", "warn", detail + " (self-signed)",
                         "set [acme] directory to get certificates clients trust, or [tls] cert_file and key_file")
        elif left.days < CERT_WARN_DAYS or cert.last_error:
            yield Result("certificate", "warn", detail,
                         "fix what the last error says, then `appliance cert renew " + cert.name + "`")
        else:
            yield Result("certificate", "ok", detail)


def check_queue(app: App) -> Iterator[Result]:
    messages = app.core.queue.list()
    if not messages:
        yield Result("queue", "ok", "no outgoing mail waiting")
        return
    now = datetime.datetime.now(datetime.timezone.utc)
    oldest = min(datetime.datetime.fromisoformat(m.created) for m in messages if m.created)
    age = (now - oldest).total_seconds()
    detail = f"{len(messages)} messages waiting, the oldest for {age / 3600:.1f} h"
    if age > QUEUE_WARN_SECONDS:
        yield Result("queue", "warn", detail,
                     "see `appliance queue list` for the errors; outgoing port 25 or the recipients' servers may be refusing")
    else:
        yield Result("queue", "ok", detail)


def check_daemon(app: App) -> Iterator[Result]:
    """Is the daemon running, and does every TCP listener it bound answer?"""
    run_file = app.state_dir / "run" / "listeners.json"
    if not run_file.exists():
        yield Result("daemon", "warn", "not running (no run/listeners.json)", "start it: systemctl start appliance")
        return
    data = json.loads(run_file.read_text())
    try:
        os.kill(data["pid"], 0)
    except ProcessLookupError:
        yield Result("daemon", "warn", f"not running (pid {data['pid']} is gone)", "start it: systemctl start appliance")
        return
    except PermissionError:
        pass
    for name, binds in sorted(data["listeners"].items()):
        for host, port in binds:
            if name == "dns-udp":
                continue
            try:
                with socket.create_connection((host if host not in ("0.0.0.0", "::") else "127.0.0.1", port), timeout=3):
                    pass
            except OSError as exc:
                yield Result("daemon", "fail", f"{name} {host}:{port} does not answer: {exc.strerror or exc}",
                             "see the daemon's log: journalctl -u appliance")
                continue
            yield Result("daemon", "ok", f"{name} {host}:{port} answers")


def check_backup(app: App) -> Iterator[Result]:
    """Continuous backups: is every database shipped recently enough?"""
    status = app.core.backups.status()
    if not status.enabled:
        yield Result("backup", "warn", "continuous backups are off ([backup] url is empty)",
                     "set [backup] url to an S3 bucket or a directory on another disk")
        return
    if not status.running:
        why = status.databases[0].detail if status.databases else "litestream is not running"
        yield Result("backup", "warn", f"{why} (replica {status.url})", "see the daemon's log: journalctl -u appliance")
        return
    late = status.warnings
    for replica in late:
        yield Result("backup", "warn", f"{replica.name}: {replica.detail}",
                     "check that the replica is reachable and has room; appliance backup status")
    if not late:
        yield Result("backup", "ok", f"{len(status.databases)} databases shipped to {status.url} within {status.warn_seconds} s")


def check_spam(app: App) -> Iterator[Result]:
    """Content scoring: off, or on and answering (and the controller that
    learns, when set)."""
    spam = app.spam
    if not spam.enabled:
        yield Result("spam", "ok", "content scoring is off ([rspamd] url is empty)")
        return
    for what, url in (("scanning", spam.url), ("learning", spam.controller)):
        if not url:
            continue
        try:
            answer = spam.ping(url)
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            fix = "start rspamd (systemctl start rspamd) or correct [rspamd] url" if what == "scanning" \
                else "start rspamd's controller or correct [rspamd] controller_url"
            # With on_failure = "tempfail" mail waits at the senders meanwhile.
            status = "fail" if what == "scanning" and spam.tempfail else "warn"
            yield Result("spam", status, f"content scoring is on; rspamd {what} at {url} does not answer: {exc}",
                         fix + "; mail is delivered unscanned meanwhile" if what == "scanning" else fix)
            continue
        yield Result("spam", "ok", f"content scoring is on; rspamd {what} at {url} answers {answer[:20]!r}")
