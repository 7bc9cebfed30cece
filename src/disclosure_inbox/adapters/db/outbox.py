"""The outbox rows' claims, sends and retries: the SQL behind the sender.

A row is claimed right before it is sent, in a short transaction of its own: ``claimed_by``
names the sender and ``lease_until`` says until when no other sender may take it. Only the
holder of the claim marks the row sent, failed or deferred. So two senders (two instances, or
an old leader that has not noticed it was deposed) never send one row within a lease; a row
whose holder died is claimable again when its lease runs out. On SQLite only one process may
use the database (see ``service.leader``), so a claim by any other process is stale at once.

A drain holds one connection for its claims and sent marks (``holding``): no pool checkout or
liveness ping stands between the server's 250 and the mark. The sent mark is committed
without waiting for the disk (``synchronous_commit = off`` on
PostgreSQL, ``synchronous = NORMAL`` on SQLite): it survives the death of this process, which
is what the at-least-once window is about; only a crash of the database server or machine can
lose it, and then the message is sent again, as after any crash.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import Message, OutboxRow, Report
from disclosure_inbox.adapters.db.rows import insert_with_ids
from disclosure_inbox.adapters.db.store import Store, check_epoch
from disclosure_inbox.domain.errors import NotFound, StoreUnavailable
from disclosure_inbox.domain.model import Direction
from disclosure_inbox.domain.outgoing import Built

PENDING, SENT, FAILED = "pending", "sent", "failed"
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)


def insert_built(tx: Session, mails: list[Built]) -> list[int]:
    """Write each message and its outbox row in the caller's transaction (two INSERTs for
    the lot); the outbox row ids, in order."""
    if not mails:
        return []
    message_pks = insert_with_ids(
        tx,
        Message,
        [
            {
                "report_id": m.out.report_id,
                "direction": Direction.OUTBOUND,
                "outcome": m.out.kind,
                "message_id": m.message_id,
                "sender_address": m.sender_address,
                "sender_name": m.sender_name,
                "subject": m.out.subject,
                "in_reply_to": m.out.in_reply_to or "",
                "references": " ".join(m.out.references),
                "received_at": m.created_at,
                "raw_sha256": m.sha256,
                "raw_size": len(m.raw),
                "parse_outcome": "built",
                "quarantine_reason": None,
                "thread_rule": None,
                "body_text": m.out.text,
                "headers": {},
                "created_at": m.created_at,
                "author": m.out.author,
            }
            for m in mails
        ],
    )
    return insert_with_ids(
        tx,
        OutboxRow,
        [
            {
                "kind": m.out.kind,
                "report_id": m.out.report_id,
                "message_pk": pk,
                "message_id": m.message_id,
                "envelope_from": m.envelope_from,
                "recipients": list(m.out.recipients),
                "to_address": m.out.recipients[0].lower(),
                "subject": m.out.subject,
                "raw": m.raw,
                "state": m.state,
                "attempts": 0,
                "next_attempt_at": m.created_at,
                "deadline_at": m.deadline_at,
                "last_error": m.last_error,
                "created_at": m.created_at,
                "sent_at": None,
                "bounced_at": None,
                "claimed_by": None,
                "lease_until": None,
            }
            for m, pk in zip(mails, message_pks, strict=True)
        ],
    )


@dataclass(frozen=True)
class Claimed:
    """One row this sender holds, with what sending it needs."""

    id: int
    kind: str
    report_id: int | None
    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    to_address: str
    raw: bytes
    attempts: int
    deadline_at: datetime
    lease_until: datetime


class OutboxRows:
    def __init__(self, store: Store, holder: str) -> None:
        self.store = store
        self.holder = holder
        # One process per SQLite database: any claim not ours is a dead process's.
        self._exclusive = store.dialect == "sqlite"
        self._held: Connection | None = None

    def hold(self) -> None:
        """Claim and mark on one connection until ``release`` (a drain); call both from the
        thread that claims and marks. It commits without waiting for the disk (see above),
        and on SQLite runs each statement as its own transaction: a claim is one UPDATE
        ... RETURNING, a sent mark one UPDATE."""
        if self._held is not None:
            return
        try:
            if self._exclusive:
                conn = self.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
            else:
                conn = self.store.engine.connect()
                conn.exec_driver_sql("SET synchronous_commit TO off")
                conn.commit()
        except OperationalError as exc:
            raise StoreUnavailable(f"database error: {exc.orig}") from exc
        self._held = conn

    def release(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:  # back to the engine's defaults before the connection goes back to the pool
            if self._exclusive:
                held.exec_driver_sql("PRAGMA synchronous=FULL")
            else:
                held.rollback()
                held.exec_driver_sql("RESET synchronous_commit")
                held.commit()
        except OperationalError:
            held.invalidate()  # broken anyway: not back into the pool
        finally:
            held.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """The held connection (holding it for this one call if need be), in a transaction
        on PostgreSQL and in autocommit on SQLite."""
        borrowed = self._held is None
        if borrowed:
            self.hold()
        conn = self._held
        assert conn is not None
        try:
            if self._exclusive:
                yield conn
            else:
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise StoreUnavailable(f"database error: {exc.orig}") from exc
        finally:
            if borrowed:
                self.release()

    def claim_next(self, now: datetime, lease: timedelta, limit: int = 1) -> list[Claimed]:
        """Claim the next due rows, at most ``limit``, oldest first (fenced: a deposed leader
        claims nothing)."""
        stale_before = _NEVER if self._exclusive else now
        candidate = (
            select(OutboxRow.id)
            .where(
                OutboxRow.state == PENDING,
                OutboxRow.next_attempt_at <= now,
                or_(
                    OutboxRow.claimed_by.is_(None),
                    OutboxRow.claimed_by == self.holder,
                    OutboxRow.lease_until < stale_before,
                ),
            )
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        until = now + lease
        with self._transaction() as conn:
            if self.store.fence is not None:
                check_epoch(conn, self.store.fence)
            rows = conn.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(candidate))
                .values(claimed_by=self.holder, lease_until=until)
                .returning(
                    OutboxRow.id,
                    OutboxRow.kind,
                    OutboxRow.report_id,
                    OutboxRow.message_id,
                    OutboxRow.envelope_from,
                    OutboxRow.recipients,
                    OutboxRow.to_address,
                    OutboxRow.raw,
                    OutboxRow.attempts,
                    OutboxRow.deadline_at,
                )
            ).all()
        claimed = [
            Claimed(
                id=row.id,
                kind=row.kind,
                report_id=row.report_id,
                message_id=row.message_id,
                envelope_from=row.envelope_from,
                recipients=tuple(row.recipients),
                to_address=row.to_address,
                raw=row.raw,
                attempts=row.attempts,
                deadline_at=row.deadline_at,
                lease_until=until,
            )
            for row in rows
        ]
        return sorted(claimed, key=lambda c: c.id)

    def mark_sent(self, row_id: int, at: datetime) -> bool:
        """Record the server's acceptance; False if the claim had passed to another sender."""
        with self._transaction() as conn:
            result = conn.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == row_id,
                    OutboxRow.claimed_by == self.holder,
                    OutboxRow.state == PENDING,
                )
                .values(
                    state=SENT,
                    attempts=OutboxRow.attempts + 1,
                    sent_at=at,
                    lease_until=None,
                    last_error=None,
                )
            )
        return bool(result.rowcount)

    def finish(self, row: Claimed, now: datetime, state: str, error: str) -> None:
        """Park a row this sender holds (rejected, unsendable, or out of retries)."""
        with self.store.transaction(fenced=False) as session:
            done = session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id, OutboxRow.claimed_by == self.holder)
                .values(
                    state=state,
                    attempts=OutboxRow.attempts + 1,
                    last_error=error,
                    lease_until=None,
                )
            ).rowcount  # type: ignore[attr-defined]
            if done:
                Store.audit(
                    session,
                    now,
                    f"outbox-{state}",
                    report_id=row.report_id,
                    message_id=row.message_id,
                    kind=row.kind,
                    reply=error,
                )

    def defer(self, row: Claimed, now: datetime, retry_at: datetime, error: str) -> None:
        """Give the row back, to be tried again at ``retry_at``."""
        with self.store.transaction(fenced=False) as session:
            session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id, OutboxRow.claimed_by == self.holder)
                .values(
                    attempts=OutboxRow.attempts + 1,
                    last_error=error,
                    next_attempt_at=retry_at,
                    claimed_by=None,
                    lease_until=None,
                )
            )

    def retrying(self) -> tuple[int, str | None]:
        """How many pending rows have failed before, and the latest error among them."""
        with self.store.reading() as session:
            count, error = session.execute(
                select(func.count(), func.max(OutboxRow.last_error)).where(
                    OutboxRow.state == PENDING, OutboxRow.attempts > 0
                )
            ).one()
        return int(count or 0), error


# --- for the command line ---


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


def queued_raw(tx: Session, message_pk: int) -> bytes | None:
    """The bytes of an outbound message as built for sending; None if no row holds them."""
    return tx.scalars(
        select(OutboxRow.raw).where(OutboxRow.message_pk == message_pk).order_by(OutboxRow.id)
    ).first()
