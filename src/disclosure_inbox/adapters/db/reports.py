"""Reports as staff and the workflow see them, and the read side of their messages.

Rows come out as frozen values, so nothing outside ``adapters.db`` holds an ORM object or
changes a report except through the functions here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, exists, select, update
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import AttachmentRow, ClockRow, HintRow, Message, Report
from disclosure_inbox.domain.errors import NotFound


@dataclass(frozen=True, slots=True)
class StoredReport:
    id: int
    ref: str
    status: str
    severity: str | None
    reporter_address: str
    reporter_name: str
    subject: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class StoredMessage:
    message_id: str | None
    received_at: datetime
    direction: str
    outcome: str
    sender_address: str
    subject: str
    body_text: str
    author: str | None  # the staff address that wrote it; None: a reporter or the system
    attachments: tuple[StoredAttachment, ...]
    encryption: str = "none"  # none | decrypted | unreadable
    encryption_problem: str | None = None
    signature_status: str | None = None  # valid | invalid | unknown-key; None: not signed
    signature_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class RawSource:
    """Where one message's original bytes are: the blob by ``sha256``, or for an outbound
    message the outbox row (``message_pk``), which holds the bytes as built."""

    message_pk: int
    direction: str
    sha256: str | None


def stored(row: Report) -> StoredReport:
    return StoredReport(
        id=row.id,
        ref=row.ref,
        status=row.status,
        severity=row.severity,
        reporter_address=row.reporter_address,
        reporter_name=row.reporter_name,
        subject=row.subject,
        received_at=row.received_at,
    )


def by_id(tx: Session, report_id: int) -> StoredReport | None:
    row = tx.get(Report, report_id)
    return stored(row) if row is not None else None


def by_ref(tx: Session, ref: str) -> StoredReport | None:
    row = tx.scalars(select(Report).where(Report.ref == ref)).first()
    return stored(row) if row is not None else None


def existing(tx: Session, ref: str) -> StoredReport:
    """The report ``ref``; NotFound if there is none."""
    report = by_ref(tx, ref)
    if report is None:
        raise NotFound(f"no report {ref!r}")
    return report


def listing(
    tx: Session,
    *,
    status: str | None = None,
    overdue_at: datetime | None = None,
    due_before: datetime | None = None,
    hint: str | None = None,
) -> list[StoredReport]:
    """Reports in the order they arrived. ``overdue_at``: only those with a clock not stopped
    and past its deadline then (a paused one counts); ``due_before``: only those with a
    running clock due before that moment."""
    query: Select[tuple[Report]] = select(Report).order_by(Report.received_at, Report.id)
    if status:
        query = query.where(Report.status == status)
    if hint:
        query = query.where(
            exists().where(HintRow.report_id == Report.id, HintRow.category == hint)
        )
    not_stopped = (ClockRow.report_id == Report.id) & ClockRow.stopped_at.is_(None)
    if overdue_at is not None:
        query = query.where(exists().where(not_stopped, ClockRow.due_at < overdue_at))
    if due_before is not None:
        query = query.where(
            exists().where(not_stopped, ClockRow.paused_at.is_(None), ClockRow.due_at < due_before)
        )
    return [stored(row) for row in tx.scalars(query)]


def messages_of(tx: Session, report_id: int) -> list[StoredMessage]:
    """Every message of the report, inbound and outbound, in the order received, each with
    its attachments."""
    rows = tx.scalars(
        select(Message)
        .where(Message.report_id == report_id)
        .order_by(Message.received_at, Message.id)
    ).all()
    attachments: dict[int, list[StoredAttachment]] = {}
    if rows:
        for a in tx.scalars(
            select(AttachmentRow)
            .where(AttachmentRow.message_pk.in_([m.id for m in rows]))
            .order_by(AttachmentRow.id)
        ):
            attachments.setdefault(a.message_pk, []).append(
                StoredAttachment(a.filename, a.content_type, a.size, a.sha256)
            )
    return [
        StoredMessage(
            message_id=m.message_id,
            received_at=m.received_at,
            direction=m.direction,
            outcome=m.outcome,
            sender_address=m.sender_address,
            subject=m.subject,
            body_text=m.body_text,
            author=m.author,
            attachments=tuple(attachments.get(m.id, ())),
            encryption=m.encryption,
            encryption_problem=m.encryption_problem,
            signature_status=m.signature_status,
            signature_fingerprint=m.signature_fingerprint,
        )
        for m in rows
    ]


def raw_sources(tx: Session, report_id: int, message_id: str) -> list[RawSource]:
    """The messages of the report with that Message-ID (more than one only if two senders
    used it), in the order received."""
    rows = tx.execute(
        select(Message.id, Message.direction, Message.raw_sha256)
        .where(Message.report_id == report_id, Message.message_id == message_id)
        .order_by(Message.received_at, Message.id)
    )
    return [RawSource(pk, direction, sha) for pk, direction, sha in rows]


def attachments_of(tx: Session, report_id: int) -> list[StoredAttachment]:
    """Every attachment of every message of the report, in the order ``messages_of`` lists
    them."""
    rows = tx.scalars(
        select(AttachmentRow)
        .join(Message, Message.id == AttachmentRow.message_pk)
        .where(Message.report_id == report_id)
        .order_by(Message.received_at, Message.id, AttachmentRow.id)
    )
    return [StoredAttachment(a.filename, a.content_type, a.size, a.sha256) for a in rows]


def update_status(
    tx: Session,
    report_id: int,
    *,
    status: str,
    severity: str | None,
    at: datetime,
    duplicate_of_id: int | None = None,
) -> None:
    """Record a workflow step; ``duplicate_of_id`` None leaves that link as it is."""
    values: dict[str, object] = {"status": status, "severity": severity, "updated_at": at}
    if duplicate_of_id is not None:
        values["duplicate_of_id"] = duplicate_of_id
    tx.execute(update(Report).where(Report.id == report_id).values(**values))


def hints_of(tx: Session, report_ids: Sequence[int]) -> dict[int, list[str]]:
    """The hint categories of each report, highest confidence first."""
    out: dict[int, list[str]] = {}
    for i in range(0, len(report_ids), 500):
        rows = tx.execute(
            select(HintRow.report_id, HintRow.category)
            .where(HintRow.report_id.in_(report_ids[i : i + 500]))
            .order_by(HintRow.report_id, HintRow.confidence.desc(), HintRow.category)
        ).all()
        for rid, category in rows:
            out.setdefault(rid, []).append(category)
    return out
