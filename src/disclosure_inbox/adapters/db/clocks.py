"""SLA clocks and the escalation ledger in the store.

What a workflow step does to a clock (start, stop, pause, resume, a new deadline) is decided
by ``domain.sla`` on a ``ClockState``; this module reads and writes those states. The due scan
reads only running clocks whose deadline is near, through the partial index
``ix_clocks_running_due``, so it costs what is due, not what is stored. The ledger's unique key
(clock, tier, occurrence) lets each escalation step be recorded once, whoever scans.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, delete, exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import ClockRow, EscalationRow, Report
from disclosure_inbox.adapters.db.reports import StoredReport, stored
from disclosure_inbox.domain import sla
from disclosure_inbox.domain.errors import AlreadyRecorded


@dataclass(frozen=True, slots=True)
class StoredClock:
    id: int
    report_id: int
    state: sla.ClockState


@dataclass(frozen=True, slots=True)
class LedgerStep:
    """One escalation step to record: the clock, the tier and which firing of it."""

    clock_id: int
    report_id: int
    tier: str
    occurrence: int
    fire_at: datetime
    late: bool


def clock_state(row: ClockRow) -> sla.ClockState:
    return sla.ClockState(
        name=row.name,  # type: ignore[arg-type]
        started_at=row.started_at,
        due_at=row.due_at,
        stopped_at=row.stopped_at,
        paused_at=row.paused_at,
        paused_business_days=row.paused_business_days,
    )


def _stored(row: ClockRow) -> StoredClock:
    return StoredClock(row.id, row.report_id, clock_state(row))


def _columns(state: sla.ClockState) -> dict[str, Any]:
    return {
        "started_at": state.started_at,
        "due_at": state.due_at,
        "stopped_at": state.stopped_at,
        "paused_at": state.paused_at,
        "paused_business_days": state.paused_business_days,
    }


# --- clocks -----------------------------------------------------------------------------


def start_many(tx: Session, clocks: Iterable[tuple[int, sla.ClockState]]) -> None:
    """Write each (report id, state) as a new clock, in one INSERT (an executemany, which
    SQLAlchemy sends as one multi-row statement where the driver allows)."""
    rows = [{"report_id": rid, "name": state.name, **_columns(state)} for rid, state in clocks]
    if rows:
        # The table, not the ORM entity: every row names every column, so rows with and
        # without a stop or pause are one statement, not one per combination.
        tx.execute(insert(ClockRow.__table__), rows)


def start(tx: Session, report_id: int, state: sla.ClockState) -> None:
    start_many(tx, [(report_id, state)])


def save(tx: Session, clock_id: int, state: sla.ClockState) -> None:
    """Write the clock's new state (stopped, paused, resumed, or a new deadline)."""
    tx.execute(update(ClockRow).where(ClockRow.id == clock_id).values(**_columns(state)))


def delete_clock(tx: Session, clock_id: int) -> None:
    tx.execute(delete(ClockRow).where(ClockRow.id == clock_id))


def of_report(tx: Session, report_id: int) -> list[StoredClock]:
    rows = tx.scalars(select(ClockRow).where(ClockRow.report_id == report_id).order_by(ClockRow.id))
    return [_stored(row) for row in rows]


def open_clock(tx: Session, report_id: int, name: str) -> StoredClock | None:
    """The clock of that name that has not stopped (running or paused), if any."""
    row = tx.scalars(
        select(ClockRow)
        .where(
            ClockRow.report_id == report_id, ClockRow.name == name, ClockRow.stopped_at.is_(None)
        )
        .order_by(ClockRow.id.desc())
    ).first()
    return _stored(row) if row is not None else None


def has_escalations(tx: Session, clock_id: int) -> bool:
    """Whether the ledger names this clock (then it is stopped, never deleted)."""
    return bool(tx.scalar(select(exists().where(EscalationRow.clock_id == clock_id))))


# --- the due scan -----------------------------------------------------------------------


def due_query(horizon: datetime) -> Select[tuple[ClockRow, Report]]:
    """Running clocks due by ``horizon``, with their reports (served by the partial index
    ``ix_clocks_running_due``)."""
    return (
        select(ClockRow, Report)
        .join(Report, Report.id == ClockRow.report_id)
        .where(
            ClockRow.stopped_at.is_(None),
            ClockRow.paused_at.is_(None),
            ClockRow.due_at <= horizon,
        )
    )


def running_due(tx: Session, horizon: datetime) -> list[tuple[StoredClock, StoredReport]]:
    return [(_stored(clock), stored(report)) for clock, report in tx.execute(due_query(horizon))]


# --- the escalation ledger --------------------------------------------------------------


def escalated(tx: Session, clock_ids: Iterable[int]) -> set[sla.SentKey]:
    """The steps already recorded for these clocks, as ``sla.due_escalations`` takes them
    (the clock id, as a string, in the report key's place)."""
    ids = list(clock_ids)
    if not ids:
        return set()
    rows = tx.execute(
        select(EscalationRow.clock_id, ClockRow.name, EscalationRow.tier, EscalationRow.occurrence)
        .join(ClockRow, ClockRow.id == EscalationRow.clock_id)
        .where(EscalationRow.clock_id.in_(ids))
    )
    return {(str(clock_id), name, tier, occurrence) for clock_id, name, tier, occurrence in rows}


def record_escalations(tx: Session, steps: list[LedgerStep], at: datetime) -> None:
    """Record the steps in one INSERT, before any mail is queued for them. Raises
    ``AlreadyRecorded`` when another instance recorded one of them first: the caller's
    transaction must then be rolled back, and nothing sent."""
    rows = [
        {
            "clock_id": s.clock_id,
            "report_id": s.report_id,
            "tier": s.tier,
            "occurrence": s.occurrence,
            "fire_at": s.fire_at,
            "created_at": at,
            "late": s.late,
            "outbox_id": None,
        }
        for s in steps
    ]
    if not rows:
        return
    try:
        tx.execute(insert(EscalationRow.__table__), rows)
    except IntegrityError as exc:
        raise AlreadyRecorded(f"escalation step already recorded: {exc.orig}") from exc


def link_outbox(tx: Session, outbox_ids: Mapping[tuple[int, str, int], int]) -> None:
    """Note, for each step by its key (clock id, tier, occurrence), the outbox row of the
    mail that carries it."""
    if not outbox_ids:
        return
    table = EscalationRow.__table__
    tx.execute(
        update(table)
        .where(
            table.c.clock_id == bindparam("b_clock"),
            table.c.tier == bindparam("b_tier"),
            table.c.occurrence == bindparam("b_occurrence"),
        )
        .values(outbox_id=bindparam("b_outbox")),
        [
            {"b_clock": c, "b_tier": t, "b_occurrence": o, "b_outbox": outbox_id}
            for (c, t, o), outbox_id in outbox_ids.items()
        ],
    )
