"""What each CLI command does, returning plain data; ``cli`` formats it and picks exit codes."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, text

from disclosure_inbox.adapters.db import engine as engine_mod
from disclosure_inbox.adapters.db.models import ClockRow, Message, OutboxRow, Report
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import sla
from disclosure_inbox.domain.errors import NotFound
from disclosure_inbox.domain.model import Severity, Status
from disclosure_inbox.logs import say
from disclosure_inbox.ports import SystemClock
from disclosure_inbox.service.app import App, CycleResult, run_cycle
from disclosure_inbox.service.clocks import clocks_of, to_state
from disclosure_inbox.service.leader import leadership_for
from disclosure_inbox.service.outbox import retry
from disclosure_inbox.service.workflow import set_status

log = logging.getLogger(__name__)


def db(settings: Settings, what: str) -> int:
    store = Store.from_url(settings.database_url)
    if what == "upgrade":
        engine_mod.upgrade(store.engine)
        say(f"database at revision {engine_mod.current_revision(store.engine)}")
    else:
        print(engine_mod.current_revision(store.engine) or "(empty)")
    return 0


def check_config(settings: Settings, *, connect: bool) -> int:
    # The templates as `run` checks them, rendered with sample data; ConfigError if broken.
    Renderer(settings.templates.dir, settings.templates.locale).check()
    say(f"configuration {settings.source} is valid")
    if not connect:
        return 0
    store = Store.from_url(settings.database_url)
    with store.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    store.check_schema()
    say(f"database {store.engine.url.render_as_string(hide_password=True)}: ok")
    app = App.build(settings)
    mailbox = app.open_mailbox()
    try:
        uidvalidity = mailbox.select(settings.imap.mailbox)
    finally:
        mailbox.close()
    say(
        f"IMAP {settings.imap.host}:{settings.imap.port} mailbox {settings.imap.mailbox}: ok "
        f"(UIDVALIDITY {uidvalidity})"
    )
    return 0


def run_once(settings: Settings) -> CycleResult | None:
    """One cycle; None when another instance is the leader."""
    app = App.build(settings)
    app.store.check_schema()  # also tells an unreachable database from a busy one
    leader = leadership_for(settings.database_url, f"{settings.imap.host}/{settings.imap.mailbox}")
    if not leader.acquire():  # SQLite raises instead: one process per database
        say("another instance is the leader and does the work; nothing done")
        return None
    app.store.fence = leader.fence
    try:
        result = run_cycle(app, progress=sys.stderr.isatty())
    finally:
        leader.release()
    say(result.summary())
    return result


def run_daemon(settings: Settings) -> int:
    from disclosure_inbox.service.daemon import run_forever

    return run_forever(settings)


def _iso(value: datetime | None, settings: Settings) -> str | None:
    return value.astimezone(settings.organization.tz).isoformat() if value else None


def reports_list(
    settings: Settings,
    *,
    status: str | None,
    overdue: bool = False,
    due_before: datetime | None = None,
) -> list[dict[str, Any]]:
    if status is not None and status not in {s.value for s in Status}:
        from disclosure_inbox.cli import UsageError

        raise UsageError(f"unknown status {status!r}; one of: {', '.join(s.value for s in Status)}")
    store = Store.from_url(settings.database_url)
    store.check_schema()
    query = select(Report).order_by(Report.received_at, Report.id)
    if status:
        query = query.where(Report.status == status)
    running = (ClockRow.report_id == Report.id) & ClockRow.stopped_at.is_(None)
    if overdue:
        now = SystemClock().now()
        query = query.where(exists().where(running, ClockRow.due_at < now))
    if due_before is not None:
        query = query.where(
            exists().where(running, ClockRow.paused_at.is_(None), ClockRow.due_at < due_before)
        )
    with store.reading() as session:
        return [
            {
                "ref": r.ref,
                "status": r.status,
                "severity": r.severity,
                "reporter": r.reporter_address,
                "received_at": _iso(r.received_at, settings),
                "subject": r.subject,
            }
            for r in session.scalars(query)
        ]


def report_show(settings: Settings, ref: str) -> dict[str, Any]:
    store = Store.from_url(settings.database_url)
    store.check_schema()
    now = SystemClock().now()
    with store.reading() as session:
        report = Store.report_by_ref(session, ref)
        if report is None:
            raise NotFound(f"no report {ref!r}")
        messages = session.scalars(
            select(Message)
            .where(Message.report_id == report.id)
            .order_by(Message.received_at, Message.id)
        ).all()
        return {
            "ref": report.ref,
            "status": report.status,
            "severity": report.severity,
            "reporter": report.reporter_address,
            "reporter_name": report.reporter_name,
            "subject": report.subject,
            "received_at": _iso(report.received_at, settings),
            "messages": [
                {
                    "message_id": m.message_id,
                    "received_at": _iso(m.received_at, settings),
                    "direction": m.direction,
                    "kind": m.outcome,
                    "sender": m.sender_address,
                    "subject": m.subject,
                }
                for m in messages
            ],
            "clocks": [
                {
                    "name": c.name,
                    "started_at": _iso(c.started_at, settings),
                    "due_at": _iso(c.due_at, settings),
                    "stopped_at": _iso(c.stopped_at, settings),
                    "state": sla.clock_state_label(to_state(c), now),
                }
                for c in clocks_of(session, report.id)
            ],
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                }
                for m in messages
                for a in m.attachments
            ],
        }


def report_set(
    settings: Settings,
    ref: str,
    status: Status,
    *,
    severity: Severity | None,
    note: str,
    actor: str,
    duplicate_of: str | None,
) -> int:
    store = Store.from_url(settings.database_url)
    store.check_schema()
    change = set_status(
        store,
        settings,
        ref,
        status,
        severity=severity,
        note=note,
        actor=actor,
        duplicate_of=duplicate_of,
        now=SystemClock().now(),
    )
    say(
        f"{change.ref}: {change.from_status} -> {change.to_status}"
        + (f" (severity {change.severity})" if change.severity else "")
    )
    return 0


def sla_due(settings: Settings, *, at: datetime | None) -> list[dict[str, Any]]:
    app = App.build(settings)
    app.store.check_schema()
    now = at or app.clock.now()
    escalator = app.escalator()
    with app.store.reading() as session:
        items = escalator.find_due(session, now)
        return [
            {**escalator.describe(item, now), "recipients": list(item.escalation.recipients)}
            for item in items
        ]


def outbox_list(settings: Settings, *, state: str | None) -> list[dict[str, Any]]:
    store = Store.from_url(settings.database_url)
    store.check_schema()
    query = select(OutboxRow).order_by(OutboxRow.id)
    if state:
        query = query.where(OutboxRow.state == state)
    with store.reading() as session:
        refs = dict(session.execute(select(Report.id, Report.ref)).all())
        return [
            {
                "id": row.id,
                "state": row.state,
                "kind": row.kind,
                "report": refs.get(row.report_id) if row.report_id else None,
                "to": row.to_address,
                "message_id": row.message_id,
                "attempts": row.attempts,
                "created_at": _iso(row.created_at, settings),
                "next_attempt_at": _iso(row.next_attempt_at, settings)
                if row.state == "pending"
                else None,
                "sent_at": _iso(row.sent_at, settings),
                "bounced_at": _iso(row.bounced_at, settings),
                "last_error": row.last_error,
            }
            for row in session.scalars(query)
        ]


def outbox_retry(settings: Settings, row_id: int) -> int:
    store = Store.from_url(settings.database_url)
    store.check_schema()
    row = retry(store, row_id, SystemClock().now(), settings)
    say(f"outbox message {row.id} ({row.message_id}) will be sent on the next cycle")
    return 0


def stats(settings: Settings) -> dict[str, Any]:
    store = Store.from_url(settings.database_url)
    store.check_schema()
    with store.reading() as session:
        return Store.counts(session)
