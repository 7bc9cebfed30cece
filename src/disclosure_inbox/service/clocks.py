"""SLA clocks in the store: conversions between rows and the pure ``sla.ClockState``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import ClockRow
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import sla
from disclosure_inbox.domain.calendar import BusinessCalendar
from disclosure_inbox.domain.model import Severity


def business_calendar(settings: Settings) -> BusinessCalendar:
    c = settings.calendar
    return BusinessCalendar.build(
        settings.organization.timezone, c.country, c.subdivision, c.workdays, c.closures
    )


def clock_spec(settings: Settings) -> sla.ClockSpec:
    s = settings.sla
    targets: dict[Severity, int | None] = {
        sev: (days or None) for sev, days in s.resolution_business_days.items()
    }
    return sla.ClockSpec(
        ack_business_days=s.acknowledgement_business_days,
        resolution_business_days=targets,
        pause_in_needs_info=s.pause_in_needs_info,
    )


def tiers(settings: Settings) -> list[sla.Tier]:
    staff = tuple(settings.organization.staff_addresses)
    return [
        sla.Tier(t.name, t.offset, t.repeat, t.recipients or staff, frozenset(t.clocks))
        for t in settings.escalation.tiers
    ]


def to_state(row: ClockRow) -> sla.ClockState:
    return sla.ClockState(
        name=row.name,  # type: ignore[arg-type]
        started_at=row.started_at,
        due_at=row.due_at,
        stopped_at=row.stopped_at,
        paused_at=row.paused_at,
        paused_business_days=row.paused_business_days,
    )


def apply(row: ClockRow, state: sla.ClockState) -> None:
    row.started_at, row.due_at = state.started_at, state.due_at
    row.stopped_at, row.paused_at = state.stopped_at, state.paused_at
    row.paused_business_days = state.paused_business_days


def new_row(report_id: int, state: sla.ClockState) -> ClockRow:
    row = ClockRow(report_id=report_id, name=state.name)
    apply(row, state)
    return row


def clocks_of(session: Session, report_id: int) -> list[ClockRow]:
    return list(
        session.scalars(
            select(ClockRow).where(ClockRow.report_id == report_id).order_by(ClockRow.id)
        )
    )


def open_clock(session: Session, report_id: int, name: str) -> ClockRow | None:
    """The clock of that name that has not stopped (running or paused), if any."""
    return session.scalars(
        select(ClockRow)
        .where(
            ClockRow.report_id == report_id, ClockRow.name == name, ClockRow.stopped_at.is_(None)
        )
        .order_by(ClockRow.id.desc())
    ).first()


def start_ack_clock(
    session: Session, report_id: int, received_at: datetime, settings: Settings
) -> ClockRow:
    state = sla.start_ack_clock(received_at, clock_spec(settings), business_calendar(settings))
    row = new_row(report_id, state)
    session.add(row)
    return row
