"""Outbox claims on SQLite and PostgreSQL: a row is sent by the holder of its lease only, a lease
that runs out frees the row, the sent mark records when the server accepted the message, and a
deposed leader's writes are refused (the store's fence)."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from disclosure_inbox.adapters.db.engine import make_engine, upgrade
from disclosure_inbox.adapters.db.models import AuditEntry, OutboxRow
from disclosure_inbox.adapters.db.outbox import OutboxRows
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.config import parse_settings
from disclosure_inbox.domain.errors import LeadershipLost
from disclosure_inbox.service.leader import PostgresLeader
from disclosure_inbox.service.outbox import Outbox, Outgoing, enqueue
from disclosure_inbox.testing.config import local_deployment

T0 = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


class _Account:  # the IMAP side is not used here; the settings only need its fields
    host, port, user, password = "127.0.0.1", 1, "nobody", "unused"


class SteppingClock:
    """Each reading is one second later than the one before."""

    def __init__(self, start: datetime) -> None:
        self.readings: list[datetime] = []
        self._next = start

    def now(self) -> datetime:
        self.readings.append(self._next)
        self._next += timedelta(seconds=1)
        return self.readings[-1]


@pytest.fixture
def store(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield Store(engine)
    engine.dispose()


def _settings(smtp_sink, database_url, tmp_path):
    return parse_settings(local_deployment(_Account(), smtp_sink, database_url, tmp_path))


def _enqueue(store: Store, settings, count: int) -> list[int]:
    ids = []
    with store.transaction() as session:
        for i in range(count):
            out = Outgoing(
                kind="ack",
                report_id=None,
                report_ref=None,
                recipients=[f"r{i}@example.org"],
                subject=f"ack {i}",
                text="Thank you.",
            )
            ids.append(enqueue(session, settings, out, T0).id)
    return ids


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_senders_never_claim_the_same_row(store, smtp_sink, database_url, tmp_path):
    # Only PostgreSQL has several senders; on SQLite one process holds the database.
    settings = _settings(smtp_sink, database_url, tmp_path)
    ids = _enqueue(store, settings, 30)
    claims: dict[str, list[int]] = {"a": [], "b": []}

    def sender(name: str) -> None:
        rows = OutboxRows(store, name)
        while claimed := rows.claim_next(T0, LEASE, limit=3):
            for row in claimed:
                claims[name].append(row.id)
                assert rows.mark_sent(row.id, T0)

    threads = [threading.Thread(target=sender, args=(n,)) for n in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    taken = claims["a"] + claims["b"]
    assert sorted(taken) == sorted(ids)  # every row once, none twice
    with store.reading() as session:
        states = session.scalars(select(OutboxRow.state)).all()
    assert set(states) == {"sent"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_lease_that_runs_out_frees_the_row_on_postgresql(
    store, smtp_sink, database_url, tmp_path
):
    settings = _settings(smtp_sink, database_url, tmp_path)
    [row_id] = _enqueue(store, settings, 1)
    a, b = OutboxRows(store, "a"), OutboxRows(store, "b")
    assert [r.id for r in a.claim_next(T0, LEASE)] == [row_id]
    assert b.claim_next(T0 + LEASE / 2, LEASE) == []  # a holds it
    assert [r.id for r in b.claim_next(T0 + LEASE + timedelta(seconds=1), LEASE)] == [row_id]
    # a wakes up after its lease: its sent mark is refused, b's counts.
    assert a.mark_sent(row_id, T0) is False
    assert b.mark_sent(row_id, T0 + LEASE) is True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_a_dead_process_claim_is_free_at_once(store, smtp_sink, database_url, tmp_path):
    # One process per SQLite database (the flock): a claim by another process is a dead one's.
    settings = _settings(smtp_sink, database_url, tmp_path)
    [row_id] = _enqueue(store, settings, 1)
    assert [r.id for r in OutboxRows(store, "killed").claim_next(T0, LEASE)] == [row_id]
    assert [r.id for r in OutboxRows(store, "restarted").claim_next(T0, LEASE)] == [row_id]


def test_sent_at_is_when_the_server_accepted_each_message(store, smtp_sink, database_url, tmp_path):
    settings = _settings(smtp_sink, database_url, tmp_path)
    _enqueue(store, settings, 3)
    clock = SteppingClock(T0)
    result = asyncio.run(Outbox(settings, store).drain(clock))
    assert result.sent == 3
    with store.reading() as session:
        sent_at = session.scalars(select(OutboxRow.sent_at).order_by(OutboxRow.id)).all()
    # Each send reads the clock after the server's reply: three different, later instants.
    assert len(set(sent_at)) == 3
    assert all(at > T0 for at in sent_at)
    assert sent_at == sorted(sent_at)
    assert set(sent_at) <= set(clock.readings)
    assert len(smtp_sink.messages) == 3


def test_a_rejected_message_is_parked_by_its_holder(store, smtp_sink, database_url, tmp_path):
    settings = _settings(smtp_sink, database_url, tmp_path)
    _enqueue(store, settings, 1)
    smtp_sink.reject_next(1)
    result = asyncio.run(Outbox(settings, store).drain(SteppingClock(T0)))
    assert (result.sent, result.failed) == (0, 1)
    with store.reading() as session:
        row = session.scalars(select(OutboxRow)).one()
        actions = session.scalars(select(AuditEntry.action)).all()
    assert row.state == "failed" and row.last_error.startswith("rejected: 550")
    assert row.lease_until is None
    assert "outbox-failed" in actions


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_deposed_leader_writes_nothing(store, database_url):
    old = PostgresLeader(database_url, "127.0.0.1/INBOX")
    new = PostgresLeader(database_url, "127.0.0.1/INBOX")
    fenced = Store(store.engine, fence=old.fence)
    try:
        assert old.acquire() and old.epoch() == 1
        assert not new.acquire()
        with fenced.transaction() as session:
            Store.audit(session, T0, "written-as-leader")
        # The lock's session ends (a partition, a pooler restart); the process lives on.
        with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        deadline = time.monotonic() + 10  # the killed backend lets go of the lock soon after
        while not new.acquire() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert new.epoch() == 2
        with pytest.raises(LeadershipLost, match="epoch 1 is stale"), fenced.transaction() as s:
            Store.audit(s, T0, "written-after-the-takeover")
        with store.reading() as session:
            actions = session.scalars(select(AuditEntry.action)).all()
        assert actions == ["written-as-leader"]
    finally:
        old.release()
        new.release()
