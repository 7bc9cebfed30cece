"""Unfiled messages: machine mail that threads into no report, and filing one as a report.

Intake stores such a message with the outcome ``unfiled`` and no report, and writes an audit
entry ``unfiled`` that names the loop rule that called it machine mail; ``listing`` shows
them with that rule. When a person decides that one is a report after all, ``file`` makes it
one in the caller's write transaction.

Reference numbers come as intake's do: the highest number of the year (``last_seqs``) plus
one, under the unique (year, seq) constraint. On SQLite the write transaction holds the write
lock from its start, so nothing comes between the look-up and the INSERT. On PostgreSQL an
intake that commits the same number first makes the INSERT fail; ``file`` then raises
``AlreadyRecorded`` and the transaction is rolled back, for the caller to try again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db import audit, clocks
from disclosure_inbox.adapters.db.messages import last_seqs, report_row
from disclosure_inbox.adapters.db.models import AuditEntry, Message, Report
from disclosure_inbox.adapters.db.rows import insert_with_ids
from disclosure_inbox.domain import sla
from disclosure_inbox.domain.errors import AlreadyRecorded, NotFound
from disclosure_inbox.domain.intake import NewReport
from disclosure_inbox.domain.model import Direction, Outcome

UNFILED = "unfiled"  # the audit action intake records, with the rule in its detail
FILED = "filed"


@dataclass(frozen=True, slots=True)
class UnfiledMessage:
    id: int
    message_id: str | None
    received_at: datetime
    sender_address: str
    sender_name: str
    subject: str
    rule: str | None  # the loop rule that called it machine mail, from its audit entry


def _query() -> Select[Any]:
    decided = (AuditEntry.message_pk == Message.id) & (AuditEntry.action == UNFILED)
    return (
        select(
            Message.id,
            Message.message_id,
            Message.received_at,
            Message.sender_address,
            Message.sender_name,
            Message.subject,
            AuditEntry.detail,
        )
        .outerjoin(AuditEntry, decided)
        .where(Message.direction == Direction.INBOUND, Message.outcome == Outcome.UNFILED)
    )


def _unfiled(row: Any) -> UnfiledMessage:
    pk, message_id, received_at, sender_address, sender_name, subject, detail = row
    rule = (detail or {}).get("rule")
    return UnfiledMessage(
        pk,
        message_id,
        received_at,
        sender_address,
        sender_name,
        subject,
        rule=str(rule) if rule is not None else None,
    )


def listing(tx: Session) -> list[UnfiledMessage]:
    """Every unfiled message, the newest first."""
    query = _query().order_by(Message.received_at.desc(), Message.id.desc())
    return [_unfiled(row) for row in tx.execute(query)]


def first_with(tx: Session, message_id: str) -> UnfiledMessage | None:
    """The unfiled message with this Message-ID that arrived first, if any."""
    query = (
        _query()
        .where(Message.message_id == message_id)
        .order_by(Message.received_at, Message.id)
        .limit(1)
    )
    row = tx.execute(query).first()
    return _unfiled(row) if row is not None else None


def outcomes_of(tx: Session, message_id: str) -> list[str]:
    """What intake made of the inbound messages with this Message-ID, to say why none of them
    can be filed."""
    return sorted(
        set(
            tx.scalars(
                select(Message.outcome).where(
                    Message.direction == Direction.INBOUND, Message.message_id == message_id
                )
            )
        )
    )


def last_seq(tx: Session, year: int) -> int:
    return last_seqs(tx, [year]).get(year, 0)


def file(
    tx: Session,
    message: UnfiledMessage,
    report: NewReport,
    clock: sla.ClockState,
    *,
    actor: str,
    now: datetime,
) -> int:
    """Make ``message`` the first message of a new report ``report``, with ``clock`` as its
    acknowledgement clock, and audit it; the new report's id.

    The message is claimed first: of two filings at once, the second finds it filed
    (``NotFound``). A reference number taken meanwhile raises ``AlreadyRecorded``.
    """
    claimed = tx.execute(
        update(Message)
        .where(Message.id == message.id, Message.outcome == Outcome.UNFILED)
        .values(outcome=Outcome.REPORT)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"message {message.message_id} is no longer unfiled: filed meanwhile")
    row = report_row(
        report,
        message.sender_address,
        message.sender_name,
        message.subject,
        message.received_at,
        now,
    )
    try:
        [report_id] = insert_with_ids(tx, Report, [row])
    except IntegrityError as exc:
        raise AlreadyRecorded(f"reference {report.ref} was taken meanwhile") from exc
    tx.execute(update(Message).where(Message.id == message.id).values(report_id=report_id))
    clocks.start(tx, report_id, clock)
    audit.record(
        tx,
        now,
        FILED,
        actor=actor,
        report_id=report_id,
        message_pk=message.id,
        ref=report.ref,
        message_id=message.message_id,
        rule=message.rule,
    )
    return report_id
