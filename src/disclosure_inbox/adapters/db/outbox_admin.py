"""The outbox rows as staff see and handle them: ``outbox list``, ``outbox retry``, and the
bytes of a message as built to send (``reports raw``). ``adapters.db.outbox`` writes, claims
and marks them; the two modules are one adapter, the outbox's, split where its users are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import OutboxRow, Report
from disclosure_inbox.adapters.db.outbox import FAILED, PENDING, SENT
from disclosure_inbox.domain.errors import NotFound


@dataclass(frozen=True, slots=True)
class Listed:
    """One row as ``outbox list`` shows it (without the message's bytes)."""

    id: int
    state: str
    kind: str
    report_ref: str | None
    to_address: str
    message_id: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    bounced_at: datetime | None
    last_error: str | None


def listing(tx: Session, state: str | None = None) -> list[Listed]:
    """Every row in the order written, or those in ``state``, with their report's ref."""
    query = (
        select(
            OutboxRow.id,
            OutboxRow.state,
            OutboxRow.kind,
            Report.ref,
            OutboxRow.to_address,
            OutboxRow.message_id,
            OutboxRow.attempts,
            OutboxRow.created_at,
            OutboxRow.next_attempt_at,
            OutboxRow.sent_at,
            OutboxRow.bounced_at,
            OutboxRow.last_error,
        )
        .outerjoin(Report, Report.id == OutboxRow.report_id)
        .order_by(OutboxRow.id)
    )
    if state:
        query = query.where(OutboxRow.state == state)
    return [Listed(*row) for row in tx.execute(query)]


@dataclass(frozen=True, slots=True)
class Requeued:
    id: int
    message_id: str
    report_id: int | None


def requeue(tx: Session, row_id: int, now: datetime, deadline_at: datetime) -> Requeued:
    """Put a failed (or pending) row back in line, due ``now``, with a new deadline."""
    row = tx.get(OutboxRow, row_id)
    if row is None:
        raise NotFound(f"no outbox message {row_id}")
    if row.state == SENT:
        raise NotFound(f"outbox message {row_id} was already sent at {row.sent_at}")
    if row.state == FAILED:  # a pending row's claim stays: its sender may be sending it
        row.claimed_by, row.lease_until = None, None
    row.state, row.next_attempt_at = PENDING, now
    row.deadline_at = deadline_at
    return Requeued(row.id, row.message_id, row.report_id)


def queued_raw(tx: Session, message_pk: int) -> tuple[bytes, bool] | None:
    """The bytes of an outbound message as the outbox holds them, and whether they are sealed
    (then, if they were encrypted, they no longer match the message's sha256: the message
    record keeps the text as written); None if no row holds them."""
    row = tx.execute(
        select(OutboxRow.raw, OutboxRow.sealed_at)
        .where(OutboxRow.message_pk == message_pk)
        .order_by(OutboxRow.id)
    ).first()
    return (row.raw, row.sealed_at is not None) if row is not None else None
