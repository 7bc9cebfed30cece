"""SLA clocks as the settings define them: the business calendar, the targets, the tiers."""

from __future__ import annotations

from datetime import datetime

from disclosure_inbox.adapters.db import clocks
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import sla
from disclosure_inbox.domain.calendar import BusinessCalendar
from disclosure_inbox.domain.model import Severity
from disclosure_inbox.ports import Transaction


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


def start_ack_clock(
    tx: Transaction, report_id: int, received_at: datetime, settings: Settings
) -> sla.ClockState:
    """Start a new report's acknowledgement clock in the caller's transaction; its state (the
    deadline is ``due_at``). A batch of reports goes to ``clocks.start_many`` in one INSERT."""
    state = sla.start_ack_clock(received_at, clock_spec(settings), business_calendar(settings))
    clocks.start(tx, report_id, state)
    return state
