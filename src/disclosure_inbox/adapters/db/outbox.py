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

A row to be encrypted (``protect``) is sealed by the first sender that claims it, before it is
first sent (``seal``): its bytes are replaced by the sealed message in a commit that does wait
for the disk, so that a resend after any crash is the same bytes. What the command line reads
and changes (``outbox list``, ``outbox retry``) is in ``outbox_admin``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import Message, OutboxRow
from disclosure_inbox.adapters.db.rows import insert_with_ids
from disclosure_inbox.adapters.db.store import Store, check_epoch
from disclosure_inbox.domain.errors import StoreUnavailable
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
                "protect": m.out.protect,
                "sealed_at": None,
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
    protect: str | None = None  # whom it is to be encrypted for (``domain.sealing``)
    sealed: bool = False  # ``raw`` is as sealed before the first send: send it as it is


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
                    OutboxRow.protect,
                    OutboxRow.sealed_at,
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
                protect=row.protect,
                sealed=row.sealed_at is not None,
            )
            for row in rows
        ]
        return sorted(claimed, key=lambda c: c.id)

    def seal(self, row: Claimed, now: datetime, raw: bytes | None, **detail: Any) -> bool:
        """Before the first send: replace the bytes of a row this sender holds by their sealed
        form (None: they stay as built) and mark it sealed, so that every later send, after a
        crash too, sends these bytes. A commit of its own that waits for the disk, unlike the
        sent mark: sealing again would give other bytes. False if the claim has passed to
        another sender, or the row was sealed already."""
        values: dict[str, object] = {"sealed_at": now}
        if raw is not None:
            values["raw"] = raw
        with self.store.transaction(fenced=False) as session:
            done = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.id == row.id,
                    OutboxRow.claimed_by == self.holder,
                    OutboxRow.state == PENDING,
                    OutboxRow.sealed_at.is_(None),
                )
                .values(values)
            ).rowcount  # type: ignore[attr-defined]
            if done:
                Store.audit(
                    session,
                    now,
                    "outbox-sealed",
                    report_id=row.report_id,
                    message_id=row.message_id,
                    kind=row.kind,
                    **detail,
                )
        return bool(done)

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
