"""What the store holds, counted: ``stats`` prints it, the daemon turns it into metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import AuditEntry, ClockRow, Message, OutboxRow, Report
from disclosure_inbox.domain.model import Direction, Outcome, Status

# Statuses in which a report needs nothing more from anyone.
TERMINAL = frozenset({Status.CLOSED, Status.DUPLICATE, Status.OUT_OF_SCOPE, Status.SPAM})


def counts(tx: Session) -> dict[str, int]:
    def count(*where: Any) -> int:
        return int(tx.scalar(select(func.count()).select_from(Message).where(*where)) or 0)

    inbound = Message.direction == Direction.INBOUND
    outbox = dict(tx.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state)).all())
    suppressed = tx.scalar(
        select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "ack-suppressed")
    )
    return {
        "messages": count(inbound),
        "reports": int(tx.scalar(select(func.count()).select_from(Report)) or 0),
        "followups": count(inbound, Message.outcome == Outcome.FOLLOWUP),
        "quarantined": count(inbound, Message.outcome == Outcome.QUARANTINED),
        "unfiled": count(inbound, Message.outcome == Outcome.UNFILED),
        "outbox_pending": int(outbox.get("pending", 0)),
        "outbox_sent": int(outbox.get("sent", 0)),
        "outbox_failed": int(outbox.get("failed", 0)),
        "acks_suppressed": int(suppressed or 0),
    }


def snapshot(tx: Session, now: datetime, soon: datetime) -> dict[str, Any]:
    """Gauges for /metrics: outbox depth, open reports by status, clocks by state."""
    pending, oldest = tx.execute(
        select(func.count(), func.min(OutboxRow.created_at)).where(OutboxRow.state == "pending")
    ).one()
    open_statuses = [s for s in Status if s not in TERMINAL]
    by_status = dict(
        tx.execute(
            select(Report.status, func.count())
            .where(Report.status.in_(open_statuses))
            .group_by(Report.status)
        ).all()
    )
    running = (ClockRow.stopped_at.is_(None), ClockRow.paused_at.is_(None))

    def clocks(*where: Any) -> int:
        return int(
            tx.scalar(select(func.count()).select_from(ClockRow).where(*running, *where)) or 0
        )

    return {
        "outbox_pending": int(pending or 0),
        "oldest_pending_age": (now - oldest).total_seconds() if oldest else None,
        "reports_open": {str(k): int(v) for k, v in by_status.items()},
        "clocks_running": clocks(),
        "clocks_due_soon": clocks(ClockRow.due_at > now, ClockRow.due_at <= soon),
        "clocks_breached": clocks(ClockRow.due_at <= now),
    }
