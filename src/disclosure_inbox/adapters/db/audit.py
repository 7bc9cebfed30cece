"""The audit trail: every decision, written in the transaction that makes it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import AuditEntry


def record(
    tx: Session,
    at: datetime,
    action: str,
    *,
    actor: str = "system",
    report_id: int | None = None,
    message_pk: int | None = None,
    **detail: Any,
) -> None:
    tx.add(
        AuditEntry(
            at=at,
            actor=actor,
            action=action,
            report_id=report_id,
            message_pk=message_pk,
            detail=detail,
        )
    )


def record_many(tx: Session, entries: Iterable[dict[str, Any]]) -> None:
    """Entries as dicts of the columns (``at``, ``action``, ``detail``, ...), in one INSERT."""
    rows = [{"actor": "system", "report_id": None, "message_pk": None, **e} for e in entries]
    if rows:
        tx.execute(insert(AuditEntry.__table__), rows)


def last(tx: Session, action: str) -> datetime | None:
    """When ``action`` was last recorded, if ever."""
    return tx.scalar(select(func.max(AuditEntry.at)).where(AuditEntry.action == action))


def since(
    tx: Session, action: str, after: datetime | None
) -> tuple[int, datetime | None, str | None]:
    """How often ``action`` was recorded after ``after`` (ever, if None), the first time, and
    the ``error`` detail of the latest."""
    where = [AuditEntry.action == action]
    if after is not None:
        where.append(AuditEntry.at > after)
    count, first = tx.execute(select(func.count(), func.min(AuditEntry.at)).where(*where)).one()
    if not count:
        return 0, None, None
    latest = tx.scalars(
        select(AuditEntry.detail).where(*where).order_by(AuditEntry.at.desc()).limit(1)
    ).first()
    return int(count), first, str((latest or {}).get("error", "unknown"))
