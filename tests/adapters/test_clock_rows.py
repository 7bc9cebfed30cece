"""SLA clocks and the escalation ledger in the store, on SQLite and PostgreSQL: many clocks
start in one INSERT, and a ledger step recorded twice is refused with a domain error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event

from disclosure_inbox.adapters.db import clocks
from disclosure_inbox.adapters.db.clocks import LedgerStep
from disclosure_inbox.adapters.db.engine import make_engine, upgrade
from disclosure_inbox.adapters.db.models import Report
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.domain import sla
from disclosure_inbox.domain.errors import AlreadyRecorded

T0 = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)


@pytest.fixture
def store(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield Store(engine)
    engine.dispose()


def _reports(store: Store, count: int) -> list[int]:
    with store.transaction() as tx:
        rows = [
            Report(
                ref=f"MIO-2026-{seq:04d}",
                year=2026,
                seq=seq,
                status="new",
                severity=None,
                reporter_address=f"r{seq}@example.org",
                reporter_name="",
                subject=f"report {seq}",
                received_at=T0,
                created_at=T0,
                updated_at=T0,
            )
            for seq in range(1, count + 1)
        ]
        tx.add_all(rows)
        tx.flush()
        return [r.id for r in rows]


def _ack(days: int) -> sla.ClockState:
    return sla.ClockState(sla.ACKNOWLEDGEMENT, started_at=T0, due_at=T0 + timedelta(days=days))


def test_start_many_writes_every_clock_in_one_insert(store):
    report_ids = _reports(store, 3)
    inserts: list[str] = []

    def seen(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO CLOCKS"):
            inserts.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.transaction() as tx:
            clocks.start_many(tx, [(rid, _ack(i + 1)) for i, rid in enumerate(report_ids)])
            clocks.start_many(tx, [])  # nothing to write: no statement
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
    assert len(inserts) == 1

    with store.reading() as tx:
        for i, rid in enumerate(report_ids):
            [clock] = clocks.of_report(tx, rid)
            assert clock.state == _ack(i + 1)
            assert clocks.open_clock(tx, rid, sla.ACKNOWLEDGEMENT) == clock


def test_a_ledger_step_recorded_twice_is_refused(store):
    [rid] = _reports(store, 1)
    with store.transaction() as tx:
        clocks.start(tx, rid, _ack(1))
        [clock] = clocks.of_report(tx, rid)
    clock_id = clock.id
    step = LedgerStep(clock_id, rid, "breach", 0, fire_at=T0 + timedelta(days=1), late=False)
    with store.transaction() as tx:
        clocks.record_escalations(tx, [step], T0)
        assert clocks.escalated(tx, [clock_id]) == {
            (str(clock_id), sla.ACKNOWLEDGEMENT, "breach", 0)
        }
        assert clocks.has_escalations(tx, clock_id)
    with pytest.raises(AlreadyRecorded), store.transaction() as tx:
        clocks.record_escalations(tx, [step], T0)
    with store.reading() as tx:
        assert clocks.escalated(tx, [clock_id]) == {
            (str(clock_id), sla.ACKNOWLEDGEMENT, "breach", 0)
        }
