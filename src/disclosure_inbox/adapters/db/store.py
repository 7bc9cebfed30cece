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
from collections.abc import Iterator

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from disclosure_inbox.adapters.db import audit as audit_mod
from disclosure_inbox.adapters.db import engine as engine_mod
from disclosure_inbox.adapters.db import stats as stats_mod
from disclosure_inbox.adapters.db.models import (
    LeaderEpoch,
)
from disclosure_inbox.domain.errors import LeadershipLost, StoreUnavailable
from disclosure_inbox.ports import Fence


class SchemaOutOfDate(StoreUnavailable):
    pass


class Store:
    def __init__(self, engine: Engine, fence: Fence | None = None) -> None:
        self.engine = engine
        self.fence = fence
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # Write transactions take SQLite's write lock up front (see engine._sqlite_begin).
        self._writes = sessionmaker(
            engine.execution_options(sqlite_begin="IMMEDIATE"), expire_on_commit=False
        )

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
        session = self._writes()
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

    # The audit trail lives in ``audit``; these names stay for the intake code.
    audit = staticmethod(audit_mod.record)
    last_audit = staticmethod(audit_mod.last)
    audits_since = staticmethod(audit_mod.since)

    # The counts live in ``stats``; this name stays for the tests' deployments.
    counts = staticmethod(stats_mod.counts)


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
