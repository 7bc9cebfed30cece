"""The SLA scan's query stays an index lookup with 100,000 reports in the store."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import bindparam, text

from disclosure_inbox.adapters.db import clocks
from disclosure_inbox.adapters.db.engine import make_engine, upgrade
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.db.types import UtcDateTime
from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import parse_settings
from disclosure_inbox.service.escalation import Escalator
from disclosure_inbox.testing.bulk import fill_clocks

N = 100_000
NOW = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)


def test_scan_uses_the_partial_index_at_100k_reports(database_url, tmp_path):
    engine = make_engine(database_url)
    upgrade(engine)
    dialect = engine.dialect.name
    fill_clocks(engine, N, running=1_000, due=20)
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
    query = clocks.due_query(escalator.horizon(NOW))
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
