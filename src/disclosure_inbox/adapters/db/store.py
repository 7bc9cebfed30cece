"""Queries and writes the service layer needs, on one SQLAlchemy engine.

Every method takes the ``Session`` it works in, so the caller decides what one transaction
holds (a message, its report, its location and its acknowledgement commit together).

Fencing: a store used by a leader on PostgreSQL carries a ``Fence``. Every write transaction
then first reads the leadership row ``FOR SHARE`` and compares its epoch with the one this
instance took. A new leader increments the epoch with an UPDATE, which waits for the old
leader's open transactions to finish; any transaction the old leader starts after that sees
the new epoch and is rolled back with ``LeadershipLost``. So two leaders' writes never
interleave, however late the old one notices that it lost its lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from disclosure_inbox.adapters.db import audit as audit_mod
from disclosure_inbox.adapters.db import engine as engine_mod
from disclosure_inbox.adapters.db.models import (
    AuditEntry,
    ClockRow,
    IntakeFailure,
    LeaderEpoch,
    MailboxState,
    Message,
    MessageLocation,
    OutboxRow,
    Report,
)
from disclosure_inbox.domain.errors import LeadershipLost, StoreUnavailable
from disclosure_inbox.domain.model import Direction, Outcome, Status
from disclosure_inbox.domain.threading import TaggedReport
from disclosure_inbox.ports import Fence

# Statuses in which a report needs nothing more from anyone.
TERMINAL = frozenset({Status.CLOSED, Status.DUPLICATE, Status.OUT_OF_SCOPE, Status.SPAM})


class SchemaOutOfDate(StoreUnavailable):
    pass


class Store:
    def __init__(self, engine: Engine, fence: Fence | None = None) -> None:
        self.engine = engine
        self.fence = fence
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(engine_mod.make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def check_schema(self) -> None:
        try:
            current = engine_mod.current_revision(self.engine)
        except OperationalError as exc:
            raise StoreUnavailable(f"database unreachable: {exc.orig}") from exc
        head = engine_mod.head_revision(self.engine)
        if current != head:
            raise SchemaOutOfDate(
                f"database schema is at {current or 'nothing'}, expected {head}: "
                "run `disclosure-inbox db upgrade`"
            )

    @contextlib.contextmanager
    def transaction(self, *, fenced: bool = True) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error. With a fence (and
        unless ``fenced`` is false), it first checks that this instance still leads."""
        session = self._sessions()
        try:
            with session.begin():
                if fenced and self.fence is not None:
                    check_epoch(session, self.fence)
                yield session
        except OperationalError as exc:
            raise StoreUnavailable(f"database error: {exc.orig}") from exc
        finally:
            session.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
        except OperationalError as exc:
            raise StoreUnavailable(f"database error: {exc.orig}") from exc
        finally:
            session.close()

    # --- intake state -------------------------------------------------------------------

    @staticmethod
    def mailbox_state(session: Session, name: str) -> MailboxState | None:
        return session.get(MailboxState, name)

    @staticmethod
    def inbound_by_sha(session: Session, sha: str) -> Message | None:
        return session.scalars(
            select(Message).where(Message.direction == Direction.INBOUND, Message.raw_sha256 == sha)
        ).first()

    @staticmethod
    def inbound_by_message_id(session: Session, message_id: str, sender: str) -> Message | None:
        return session.scalars(
            select(Message).where(
                Message.message_id == message_id,
                Message.sender_address == sender,
                Message.direction == Direction.INBOUND,
            )
        ).first()

    @staticmethod
    def reports_by_message_ids(session: Session, ids: Iterable[str], sender: str) -> dict[str, int]:
        """The report of each known Message-ID. An id that two reports share (a sender reused
        someone else's) counts only for the report whose message came from ``sender``; if
        that does not settle it, the id is ignored rather than guessed."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        rows = session.execute(
            select(Message.message_id, Message.report_id, Message.sender_address).where(
                Message.message_id.in_(ids), Message.report_id.is_not(None)
            )
        ).all()
        everyone: dict[str, set[int]] = {}
        own: dict[str, set[int]] = {}
        for mid, rid, address in rows:
            if mid is None or rid is None:
                continue
            everyone.setdefault(mid, set()).add(rid)
            if sender and address == sender:
                own.setdefault(mid, set()).add(rid)
        found: dict[str, int] = {}
        for mid, reports in everyone.items():
            choice = reports if len(reports) == 1 else own.get(mid, set())
            if len(choice) == 1:
                found[mid] = next(iter(choice))
        return found

    @staticmethod
    def reports_by_ref(session: Session, refs: Iterable[str]) -> dict[str, TaggedReport]:
        refs = list(dict.fromkeys(refs))
        if not refs:
            return {}
        rows = session.execute(
            select(Report.ref, Report.id, Report.reporter_address).where(Report.ref.in_(refs))
        )
        return {ref: TaggedReport(rid, addr) for ref, rid, addr in rows}

    @staticmethod
    def last_report_seq(session: Session, year: int) -> int:
        # One intake writer at a time (the leader on PostgreSQL; one process on SQLite); the
        # unique (year, seq) constraint is the backstop if that ever fails.
        return int(session.scalar(select(func.max(Report.seq)).where(Report.year == year)) or 0)

    @staticmethod
    def known_uids(
        session: Session, mailbox: str, uidvalidity: int, uids: list[int]
    ) -> dict[int, str]:
        """Which of ``uids`` already have a stored location, with their message's outcome."""
        if not uids:
            return {}
        rows = session.execute(
            select(MessageLocation.uid, Message.outcome)
            .join(Message, Message.id == MessageLocation.message_pk)
            .where(
                MessageLocation.mailbox == mailbox,
                MessageLocation.uidvalidity == uidvalidity,
                MessageLocation.uid.in_(uids),
            )
        )
        return {int(uid): str(outcome) for uid, outcome in rows}

    @staticmethod
    def failing(session: Session) -> set[tuple[str, int, int]]:
        rows = session.execute(
            select(IntakeFailure.mailbox, IntakeFailure.uidvalidity, IntakeFailure.uid)
        )
        return {(m, v, u) for m, v, u in rows}

    @staticmethod
    def failure(session: Session, mailbox: str, uidvalidity: int, uid: int) -> IntakeFailure | None:
        return session.get(IntakeFailure, (mailbox, uidvalidity, uid))

    # The audit trail lives in ``audit``; these names stay for the intake code.
    audit = staticmethod(audit_mod.record)
    last_audit = staticmethod(audit_mod.last)
    audits_since = staticmethod(audit_mod.since)

    # --- reading ------------------------------------------------------------------------

    @staticmethod
    def report_by_ref(session: Session, ref: str) -> Report | None:
        return session.scalars(select(Report).where(Report.ref == ref)).first()

    @staticmethod
    def counts(session: Session) -> dict[str, int]:
        def count(*where: Any) -> int:
            return int(session.scalar(select(func.count()).select_from(Message).where(*where)) or 0)

        inbound = Message.direction == Direction.INBOUND
        outbox = dict(
            session.execute(select(OutboxRow.state, func.count()).group_by(OutboxRow.state)).all()
        )
        suppressed = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "ack-suppressed")
        )
        return {
            "messages": count(inbound),
            "reports": int(session.scalar(select(func.count()).select_from(Report)) or 0),
            "followups": count(inbound, Message.outcome == Outcome.FOLLOWUP),
            "quarantined": count(inbound, Message.outcome == Outcome.QUARANTINED),
            "outbox_pending": int(outbox.get("pending", 0)),
            "outbox_sent": int(outbox.get("sent", 0)),
            "outbox_failed": int(outbox.get("failed", 0)),
            "acks_suppressed": int(suppressed or 0),
        }


def check_epoch(session: Session | Connection, fence: Fence) -> None:
    """Raise ``LeadershipLost`` unless ``fence`` still holds the stored epoch. The row lock
    (FOR SHARE) lasts to the end of the caller's transaction, so a takeover waits for it."""
    expected = fence.epoch()
    current = session.scalar(
        select(LeaderEpoch.epoch).where(LeaderEpoch.name == fence.name).with_for_update(read=True)
    )
    if expected is None or current != expected:
        raise LeadershipLost(
            f"leadership epoch {expected} is stale (the store has {current}): "
            "another instance took over",
            expected,
        )


def snapshot(session: Session, now: datetime, soon: datetime) -> dict[str, Any]:
    """Gauges for /metrics: outbox depth, open reports by status, clocks by state."""
    pending, oldest = session.execute(
        select(func.count(), func.min(OutboxRow.created_at)).where(OutboxRow.state == "pending")
    ).one()
    open_statuses = [s for s in Status if s not in TERMINAL]
    by_status = dict(
        session.execute(
            select(Report.status, func.count())
            .where(Report.status.in_(open_statuses))
            .group_by(Report.status)
        ).all()
    )
    running = (ClockRow.stopped_at.is_(None), ClockRow.paused_at.is_(None))

    def clocks(*where: Any) -> int:
        return int(
            session.scalar(select(func.count()).select_from(ClockRow).where(*running, *where)) or 0
        )

    return {
        "outbox_pending": int(pending or 0),
        "oldest_pending_age": (now - oldest).total_seconds() if oldest else None,
        "reports_open": {str(k): int(v) for k, v in by_status.items()},
        "clocks_running": clocks(),
        "clocks_due_soon": clocks(ClockRow.due_at > now, ClockRow.due_at <= soon),
        "clocks_breached": clocks(ClockRow.due_at <= now),
    }
