"""Staff move reports through the workflow; each step starts, pauses or stops clocks."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from disclosure_inbox.adapters.db import audit, clocks, reports
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import sla
from disclosure_inbox.domain.errors import IllegalTransition, NotFound
from disclosure_inbox.domain.model import Severity, Status
from disclosure_inbox.domain.workflow import (
    ClockEffect,
    ack_clock_effect,
    check_transition,
    resolution_clock_effect,
)
from disclosure_inbox.ports import Transaction
from disclosure_inbox.service.clocks import business_calendar, clock_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    ref: str
    from_status: str
    to_status: str
    severity: str | None


def set_status(
    store: Store,
    settings: Settings,
    ref: str,
    status: Status,
    *,
    severity: Severity | None = None,
    note: str = "",
    actor: str = "cli",
    duplicate_of: str | None = None,
    now: datetime,
) -> Change:
    """Apply one workflow step. Setting the current status again with a new ``severity`` only
    changes the severity (and so recomputes a running resolution deadline)."""
    with store.transaction() as tx:
        report = reports.by_ref(tx, ref)
        if report is None:
            raise NotFound(f"no report {ref!r}")
        return step(
            tx,
            settings,
            report,
            status,
            severity=severity,
            note=note,
            actor=actor,
            duplicate_of=duplicate_of,
            now=now,
        )


def step(
    tx: Transaction,
    settings: Settings,
    report: reports.StoredReport,
    status: Status,
    *,
    severity: Severity | None = None,
    note: str = "",
    actor: str,
    duplicate_of: str | None = None,
    now: datetime,
) -> Change:
    """``set_status`` in the caller's transaction, for a report it has looked up (a staff
    member's command is applied in the transaction that stores their message)."""
    current = Status(report.status)
    new_severity = severity or (Severity(report.severity) if report.severity else None)
    severity_only = status == current and severity is not None
    if not severity_only:
        check_transition(current, status, severity=new_severity, duplicate_of=duplicate_of)
    original_id = None
    if duplicate_of is not None:
        original = reports.by_ref(tx, duplicate_of)
        if original is None:
            raise NotFound(f"no report {duplicate_of!r} to be a duplicate of")
        if original.id == report.id:
            raise IllegalTransition("a report cannot be a duplicate of itself")
        original_id = original.id
    severity_changed = severity is not None and severity != report.severity
    reports.update_status(
        tx,
        report.id,
        status=status,
        severity=new_severity,
        at=now,
        duplicate_of_id=original_id,
    )
    _clocks(tx, settings, report.id, current, status, new_severity, severity_changed, now)
    audit.record(
        tx,
        now,
        "severity-changed" if severity_only else "status-changed",
        actor=actor,
        report_id=report.id,
        from_status=current,
        to_status=status,
        severity=new_severity,
        note=note,
        duplicate_of=duplicate_of,
    )
    log.info("%s: %s -> %s (severity %s) by %s", report.ref, current, status, new_severity, actor)
    return Change(report.ref, current, status, new_severity)


def _clocks(
    tx: Transaction,
    settings: Settings,
    report_id: int,
    current: Status,
    target: Status,
    severity: Severity | None,
    severity_changed: bool,
    now: datetime,
) -> None:
    """What the step does to the report's clocks; ``severity`` is the one it has after it."""
    spec, cal = clock_spec(settings), business_calendar(settings)
    if current != target and ack_clock_effect(current, target) == ClockEffect.STOP:
        ack = clocks.open_clock(tx, report_id, sla.ACKNOWLEDGEMENT)
        if ack is not None:
            clocks.save(tx, ack.id, sla.stop(ack.state, now))

    row = clocks.open_clock(tx, report_id, sla.RESOLUTION)
    if current != target:
        effect = resolution_clock_effect(
            current,
            target,
            clock=sla.clock_phase(row.state if row else None),
            pause_in_needs_info=spec.pause_in_needs_info,
        )
        if effect == ClockEffect.START and severity is not None:
            state = sla.start_resolution_clock(now, severity, spec, cal)
            if state is not None:
                clocks.start(tx, report_id, state)
            return
        if row is None:
            return
        if effect == ClockEffect.PAUSE:
            row = replace(row, state=sla.pause(row.state, now))
            clocks.save(tx, row.id, row.state)
        elif effect == ClockEffect.RESUME:
            # Resumed first: a new severity below recomputes the resumed deadline.
            row = replace(row, state=sla.resume(row.state, now, cal))
            clocks.save(tx, row.id, row.state)
        elif effect == ClockEffect.STOP:
            clocks.save(tx, row.id, sla.stop(row.state, now))
            return
    if not severity_changed or target != Status.VERIFIED or severity is None:
        return
    if row is None:
        # Raised to a severity with a target while verified: the clock starts now.
        state = sla.start_resolution_clock(now, severity, spec, cal)
        if state is not None:
            clocks.start(tx, report_id, state)
        return
    recomputed = sla.recompute_on_severity_change(row.state, severity, spec, cal)
    if recomputed is not None:
        clocks.save(tx, row.id, recomputed)
    elif not clocks.has_escalations(tx, row.id):
        clocks.delete_clock(tx, row.id)  # no target any more, and nothing was escalated for it
    else:
        clocks.save(tx, row.id, sla.stop(row.state, now))
