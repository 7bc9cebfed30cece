"""The SLA scan's query stays an index lookup with 100,000 reports in the store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, text

from disclosure_inbox.adapters.db.engine import make_engine, upgrade
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.db.types import UtcDateTime
from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import parse_settings
from disclosure_inbox.service.escalation import Escalator

N = 100_000
NOW = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)

# 100,000 reports, each with an acknowledgement clock: all stopped (met) but 1,000 running,
# of which 20 are due at NOW. Generated inside the database for speed.
FILL = {
    "sqlite": [
        """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :n)
           INSERT INTO reports (id, ref, year, seq, status, severity, reporter_address,
                                reporter_name, subject, received_at, created_at, updated_at)
           SELECT i, 'MIO-2026-' || i, 2026, i, 'triaged', NULL, 'r' || i || '@example.org', '',
                  'report ' || i, '2026-01-01 00:00:00', '2026-01-01 00:00:00',
                  '2026-01-01 00:00:00' FROM n""",
        """INSERT INTO clocks (report_id, name, started_at, due_at, stopped_at, paused_at,
                               paused_business_days)
           SELECT id, 'acknowledgement', '2026-01-01 00:00:00',
                  CASE WHEN id <= 20 THEN '2026-07-10 23:59:59'
                       ELSE '2026-09-01 23:59:59' END,
                  CASE WHEN id <= 1000 THEN NULL ELSE '2026-01-02 00:00:00' END, NULL, 0
           FROM reports""",
    ],
    "postgresql": [
        """INSERT INTO reports (id, ref, year, seq, status, severity, reporter_address,
                                reporter_name, subject, received_at, created_at, updated_at)
           SELECT i, 'MIO-2026-' || i, 2026, i, 'triaged', NULL, 'r' || i || '@example.org', '',
                  'report ' || i, '2026-01-01Z', '2026-01-01Z', '2026-01-01Z'
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO clocks (report_id, name, started_at, due_at, stopped_at, paused_at,
                               paused_business_days)
           SELECT id, 'acknowledgement', '2026-01-01Z',
                  CASE WHEN id <= 20 THEN timestamptz '2026-07-10 23:59:59Z'
                       ELSE timestamptz '2026-09-01 23:59:59Z' END,
                  CASE WHEN id <= 1000 THEN NULL ELSE timestamptz '2026-01-02Z' END, NULL, 0
           FROM reports""",
        "ANALYZE reports",
        "ANALYZE clocks",
    ],
}


def test_scan_uses_the_partial_index_at_100k_reports(database_url, tmp_path):
    engine = make_engine(database_url)
    upgrade(engine)
    dialect = engine.dialect.name
    with engine.begin() as conn:
        for sql in FILL[dialect]:
            conn.execute(text(sql), {"n": N})
    settings = parse_settings(
        {
            "organization": {"name": "Mio", "mailbox_address": "soc@m.io"},
            "imap": {"host": "127.0.0.1", "username": "u", "password": "p"},
            "database": {"url": database_url},
            "storage": {"dir": str(tmp_path)},
        }
    )
    store = Store(engine)
    escalator = Escalator(settings, store, Renderer())
    query = escalator.due_query(NOW)
    [name] = query.compile().params  # the one bound value: the horizon
    explain = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    statement = text(explain + str(query)).bindparams(
        bindparam(name, value=escalator.horizon(NOW), type_=UtcDateTime())
    )
    with engine.connect() as conn:
        plan = "\n".join(" ".join(str(c) for c in row) for row in conn.execute(statement))
    assert "ix_clocks_running_due" in plan, plan
    if dialect == "sqlite":
        assert "SCAN clocks" not in plan, plan
    else:
        assert "Seq Scan on clocks" not in plan, plan

    with store.reading() as session:
        due = escalator.find_due(session, NOW)
    assert len({item.report.id for item in due}) == 20
    engine.dispose()
