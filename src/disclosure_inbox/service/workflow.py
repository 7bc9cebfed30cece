"""Staff move reports through the workflow; each step starts, pauses or stops clocks."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import EscalationRow, Report
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
from disclosure_inbox.service.clocks import (
    apply,
    business_calendar,
    clock_spec,
    new_row,
    open_clock,
    to_state,
)

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
    with store.transaction() as session:
        report = Store.report_by_ref(session, ref)
        if report is None:
            raise NotFound(f"no report {ref!r}")
        current = Status(report.status)
        new_severity = severity or (Severity(report.severity) if report.severity else None)
        severity_only = status == current and severity is not None
        if not severity_only:
            check_transition(current, status, severity=new_severity, duplicate_of=duplicate_of)
        if duplicate_of is not None:
            original = Store.report_by_ref(session, duplicate_of)
            if original is None:
                raise NotFound(f"no report {duplicate_of!r} to be a duplicate of")
            if original.id == report.id:
                raise IllegalTransition("a report cannot be a duplicate of itself")
            report.duplicate_of_id = original.id
        severity_changed = severity is not None and severity != report.severity
        report.status = status
        report.severity = new_severity
        report.updated_at = now
        _clocks(session, settings, report, current, status, severity_changed, now)
        Store.audit(
            session,
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
        log.info("%s: %s -> %s (severity %s) by %s", ref, current, status, new_severity, actor)
        return Change(ref, current, status, new_severity)


def _clocks(
    session: Session,
    settings: Settings,
    report: Report,
    current: Status,
    target: Status,
    severity_changed: bool,
    now: datetime,
) -> None:
    spec, cal = clock_spec(settings), business_calendar(settings)
    if current != target and ack_clock_effect(current, target) == ClockEffect.STOP:
        ack = open_clock(session, report.id, sla.ACKNOWLEDGEMENT)
        if ack is not None:
            apply(ack, sla.stop(to_state(ack), now))

    row = open_clock(session, report.id, sla.RESOLUTION)
    severity = Severity(report.severity) if report.severity else None
    if current != target:
        effect = resolution_clock_effect(
            current,
            target,
            clock=sla.clock_phase(to_state(row) if row else None),
            pause_in_needs_info=spec.pause_in_needs_info,
        )
        if effect == ClockEffect.START and severity is not None:
            state = sla.start_resolution_clock(now, severity, spec, cal)
            if state is not None:
                session.add(new_row(report.id, state))
            return
        if row is None:
            return
        if effect == ClockEffect.PAUSE:
            apply(row, sla.pause(to_state(row), now))
        elif effect == ClockEffect.RESUME:
            apply(row, sla.resume(to_state(row), now, cal))
        elif effect == ClockEffect.STOP:
            apply(row, sla.stop(to_state(row), now))
            return
    if not severity_changed or Status(report.status) != Status.VERIFIED or severity is None:
        return
    if row is None:
        # Raised to a severity with a target while verified: the clock starts now.
        state = sla.start_resolution_clock(now, severity, spec, cal)
        if state is not None:
            session.add(new_row(report.id, state))
        return
    recomputed = sla.recompute_on_severity_change(to_state(row), severity, spec, cal)
    if recomputed is not None:
        apply(row, recomputed)
    elif session.query(EscalationRow).filter_by(clock_id=row.id).first() is None:
        session.delete(row)  # no target any more, and nothing was escalated for it
    else:
        apply(row, sla.stop(to_state(row), now))
