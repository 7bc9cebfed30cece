"""What each CLI command does, returning plain data; ``cli`` formats it and picks exit codes.

Every command gets its parts from ``App``, the composition root it shares with the daemon.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from disclosure_inbox.adapters.db import clocks, reports
from disclosure_inbox.adapters.db import engine as engine_mod
from disclosure_inbox.adapters.db import outbox_admin as outbox_rows
from disclosure_inbox.adapters.db import stats as store_stats
from disclosure_inbox.adapters.db import triage as triage_rows
from disclosure_inbox.adapters.files import NewFiles
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import filenames, sla
from disclosure_inbox.domain.errors import DamagedStore, NotFound, UsageError
from disclosure_inbox.domain.mail_ids import as_message_id
from disclosure_inbox.domain.model import Direction, Severity, Status
from disclosure_inbox.logs import say
from disclosure_inbox.service.app import App, CycleResult, run_cycle
from disclosure_inbox.service.filing import file_message, list_unfiled
from disclosure_inbox.service.outbox import retry
from disclosure_inbox.service.triage_view import present
from disclosure_inbox.service.workflow import set_status

log = logging.getLogger(__name__)


def _store_app(settings: Settings) -> App:
    """The parts for a command that reads or changes the store, once its schema is current."""
    app = App.without_template_check(settings)
    app.store.check_schema()
    return app


def db(settings: Settings, what: str) -> int:
    engine = App.without_template_check(settings).store.engine
    if what == "upgrade":
        engine_mod.upgrade(engine)
        say(f"database at revision {engine_mod.current_revision(engine)}")
    else:
        print(engine_mod.current_revision(engine) or "(empty)")
    return 0


def check_config(settings: Settings, *, connect: bool) -> int:
    # The templates as `run` checks them, rendered with sample data; ConfigError if broken.
    # Nothing else is built without --connect: a configuration can be checked anywhere.
    App.check_templates(settings)
    say(f"configuration {settings.source} is valid")
    if settings.security_txt is not None:
        from disclosure_inbox.commands_securitytxt import config_warnings

        for line in config_warnings(settings, now=App.command_clock().now()):
            say(f"warning: {line}", level=logging.WARNING)
    if settings.openpgp is not None:
        from disclosure_inbox.service.keyring import open_keyring

        keyring = open_keyring(settings)
        assert keyring is not None
        keyring.check()  # ConfigError when the passphrase does not unlock the key
        say(f"OpenPGP key {keyring.own} in {keyring.home}: ok ({len(keyring.staff)} staff keys)")
    if not connect:
        return 0
    app = App.without_template_check(settings)
    app.store.check_schema()  # connects: an unreachable database is an error here
    say(f"database {app.store.engine.url.render_as_string(hide_password=True)}: ok")
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
    leader = app.leadership()
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
    hint: str | None = None,
) -> list[dict[str, Any]]:
    if status is not None and status not in {s.value for s in Status}:
        raise UsageError(f"unknown status {status!r}; one of: {', '.join(s.value for s in Status)}")
    app = _store_app(settings)
    with app.store.reading() as tx:
        found = reports.listing(
            tx,
            status=status,
            overdue_at=app.clock.now() if overdue else None,
            due_before=due_before,
            hint=hint,
        )
        hints = reports.hints_of(tx, [r.id for r in found])
    return [
        {
            "ref": r.ref,
            "status": r.status,
            "severity": r.severity,
            "reporter": r.reporter_address,
            "received_at": _iso(r.received_at, settings),
            "subject": r.subject,
            "hints": ",".join(hints.get(r.id, [])),
        }
        for r in found
    ]


def report_show(settings: Settings, ref: str) -> dict[str, Any]:
    app = _store_app(settings)
    now = app.clock.now()
    with app.store.reading() as tx:
        report = reports.existing(tx, ref)
        messages = reports.messages_of(tx, report.id)
        report_clocks = clocks.of_report(tx, report.id)
        triaged = triage_rows.of_report(tx, report.id)
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
                "author": m.author,
                "subject": m.subject,
                "body_text": m.body_text,
                "encryption": m.encryption,
                "encryption_problem": m.encryption_problem,
                "signature": (
                    {"fingerprint": m.signature_fingerprint, "status": m.signature_status}
                    if m.signature_status
                    else None
                ),
            }
            for m in messages
        ],
        "clocks": [
            {
                "name": c.state.name,
                "started_at": _iso(c.state.started_at, settings),
                "due_at": _iso(c.state.due_at, settings),
                "stopped_at": _iso(c.state.stopped_at, settings),
                "state": sla.clock_state_label(c.state, now),
            }
            for c in report_clocks
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
        # None: stored before triage existed, and not assessed since (``triage run``).
        "triage": present(triaged, settings) if triaged is not None else None,
    }


def report_raw(settings: Settings, ref: str, message_id: str) -> bytes:
    """The original bytes of one message of the report, as received or as built to send (as
    sealed, when it was encrypted before its first send)."""
    wanted = as_message_id(message_id)
    app = _store_app(settings)
    with app.store.reading() as tx:
        report = reports.existing(tx, ref)
        sources = reports.raw_sources(tx, report.id, wanted)
        if not sources:
            raise NotFound(f"no message {wanted!r} in {report.ref}")
        if len(sources) > 1:
            raise UsageError(f"{wanted} names {len(sources)} messages of {report.ref}")
        [source] = sources
        # Outbound mail is not in the blob store: the outbox row holds it as built (or sealed).
        queued = (
            outbox_rows.queued_raw(tx, source.message_pk)
            if source.direction == Direction.OUTBOUND
            else None
        )
    held, sealed = queued or (None, False)
    if source.sha256 is not None:
        data = app.blobs.checked(source.sha256)
        if data is not None:
            return data
        # The sha256 is of the message as written; sealed bytes (encrypted before the first
        # send) are what was sent.
        if held is not None and not sealed and hashlib.sha256(held).hexdigest() != source.sha256:
            raise DamagedStore(f"the outbox copy of {wanted} no longer matches its sha256")
    if held is not None:
        return held
    raise DamagedStore(
        f"the original bytes of {wanted} in {report.ref} are not stored"
        + (f" (no blob {source.sha256})" if source.sha256 else "")
    )


def attachments_save(settings: Settings, ref: str, directory: Path) -> Iterator[dict[str, Any]]:
    """Write the report's attachments into ``directory`` under safe names, never replacing a
    file; what each file became, as it is written. Every blob is looked for first, so a
    missing one stops the command before anything is written."""
    app = _store_app(settings)
    with app.store.reading() as tx:
        report = reports.existing(tx, ref)
        found = reports.attachments_of(tx, report.id)
    missing = [a for a in found if not app.blobs.path(a.sha256).is_file()]
    if missing:
        names = ", ".join(f"{a.filename!r} (blob {a.sha256})" for a in missing)
        raise DamagedStore(
            f"{report.ref}: the bytes of {len(missing)} attachment(s) are missing: {names}"
        )
    if not found:
        say(f"{report.ref} has no attachments")
    return _save(app, found, directory) if found else iter(())


def _save(
    app: App, found: list[reports.StoredAttachment], directory: Path
) -> Iterator[dict[str, Any]]:
    with NewFiles(directory) as files:
        for index, a in enumerate(found, start=1):
            data = app.blobs.checked(a.sha256)
            if data is None:  # removed since the look above
                raise DamagedStore(f"the bytes of attachment {a.filename!r} are missing")
            name = filenames.safe_name(a.filename, index)
            path = files.write(filenames.candidates(name), data)
            yield {
                "filename": a.filename,
                "path": str(path),
                "size": len(data),
                "sha256": a.sha256,
                "content_type": a.content_type,
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
    app = _store_app(settings)
    change = set_status(
        app.store,
        settings,
        ref,
        status,
        severity=severity,
        note=note,
        actor=actor,
        duplicate_of=duplicate_of,
        now=app.clock.now(),
    )
    say(
        f"{change.ref}: {change.from_status} -> {change.to_status}"
        + (f" (severity {change.severity})" if change.severity else "")
    )
    return 0


def report_file(settings: Settings, message_id: str, *, actor: str) -> int:
    app = _store_app(settings)
    filed = file_message(app.store, settings, message_id, actor=actor, now=app.clock.now())
    say(
        f"{filed.ref}: filed from {filed.message_id}; acknowledgement due "
        f"{_iso(filed.due_at, settings)} (no acknowledgement is sent)"
    )
    return 0


def messages_unfiled(settings: Settings) -> list[dict[str, Any]]:
    app = _store_app(settings)
    return [
        {
            "id": m.id,
            "message_id": m.message_id,
            "received_at": _iso(m.received_at, settings),
            "sender": m.sender_address,
            "rule": m.rule,
            "subject": m.subject,
        }
        for m in list_unfiled(app.store)
    ]


def sla_due(settings: Settings, *, at: datetime | None) -> list[dict[str, Any]]:
    app = App.build(settings)
    app.store.check_schema()
    now = at or app.clock.now()
    escalator = app.escalator()
    with app.store.reading() as tx:
        items = escalator.find_due(tx, now)
    return [
        {**escalator.describe(item, now), "recipients": list(item.escalation.recipients)}
        for item in items
    ]


def outbox_list(settings: Settings, *, state: str | None) -> list[dict[str, Any]]:
    app = _store_app(settings)
    with app.store.reading() as tx:
        rows = outbox_rows.listing(tx, state)
    return [
        {
            "id": row.id,
            "state": row.state,
            "kind": row.kind,
            "report": row.report_ref,
            "to": row.to_address,
            "message_id": row.message_id,
            "attempts": row.attempts,
            "created_at": _iso(row.created_at, settings),
            "next_attempt_at": _iso(row.next_attempt_at, settings)
            if row.state == outbox_rows.PENDING
            else None,
            "sent_at": _iso(row.sent_at, settings),
            "bounced_at": _iso(row.bounced_at, settings),
            "last_error": row.last_error,
        }
        for row in rows
    ]


def outbox_retry(settings: Settings, row_id: int) -> int:
    app = _store_app(settings)
    row = retry(app.store, row_id, app.clock.now(), settings)
    say(f"outbox message {row.id} ({row.message_id}) will be sent on the next cycle")
    return 0


def stats(settings: Settings) -> dict[str, Any]:
    app = _store_app(settings)
    with app.store.reading() as tx:
        return store_stats.counts(tx)
