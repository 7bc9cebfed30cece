"""Large stores, built in seconds rather than hours.

``fill_clocks``: ``reports`` reports, each with an acknowledgement clock; all clocks stopped but
``running``, of which ``due`` are past their deadline on 2026-07-15. SQL inside the database does
the work.

``fill_triage``: reports with their triage as intake writes it (the triage row, the
likely-duplicate index keys, the hints), from rows made in Python: COPY on PostgreSQL, one
executemany a table on SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from disclosure_inbox.domain.triage.model import Triaged

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
                  CASE WHEN id <= :due THEN '2026-07-10 23:59:59'
                       ELSE '2026-09-01 23:59:59' END,
                  CASE WHEN id <= :open THEN NULL ELSE '2026-01-02 00:00:00' END, NULL, 0
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
                  CASE WHEN id <= :due THEN timestamptz '2026-07-10 23:59:59Z'
                       ELSE timestamptz '2026-09-01 23:59:59Z' END,
                  CASE WHEN id <= :open THEN NULL ELSE timestamptz '2026-01-02Z' END, NULL, 0
           FROM reports""",
        "ANALYZE reports",
        "ANALYZE clocks",
    ],
}


def fill_clocks(engine: Engine, reports: int, running: int = 1_000, due: int = 20) -> None:
    with engine.begin() as conn:
        for sql in FILL[engine.dialect.name]:
            conn.execute(text(sql), {"n": reports, "open": running, "due": due})


# The columns each table gets from ``fill_triage``, in the order of ``_triage_rows``.
TRIAGE_COLUMNS = {
    "reports": (
        "id, ref, year, seq, status, severity, reporter_address, reporter_name, subject, "
        "received_at, created_at, updated_at"
    ),
    "report_triage": "report_id, assessed_at, triage, signature",
    "triage_keys": "key, report_id, received_at",
    "report_hints": "report_id, category, confidence",
}
SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how ``UtcDateTime`` keeps a time on SQLite (UTC)


def fill_triage(engine: Engine, reports: Iterable[tuple[str, Triaged]]) -> int:
    """Store ``(ref, triaged)`` pairs: each a report (status ``new``, id ``report_id``, received
    and assessed at ``received_at``), its triage row, its index keys and its hints, in one
    transaction. Returns the number of reports written."""
    postgres = engine.dialect.name == "postgresql"
    tables = _triage_rows(reports, postgres)
    with engine.begin() as conn:
        if postgres:
            with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
                for table, rows in tables.items():
                    with cursor.copy(f"COPY {table} ({TRIAGE_COLUMNS[table]}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            for table in TRIAGE_COLUMNS:
                conn.execute(text(f"ANALYZE {table}"))
        else:
            for table, rows in tables.items():
                marks = ", ".join("?" * len(TRIAGE_COLUMNS[table].split(", ")))
                insert = f"INSERT INTO {table} ({TRIAGE_COLUMNS[table]}) VALUES ({marks})"
                if rows:
                    conn.exec_driver_sql(insert, rows)
    return len(tables["reports"])


def _triage_rows(
    reports: Iterable[tuple[str, Triaged]], postgres: bool
) -> dict[str, list[tuple[Any, ...]]]:
    tables: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TRIAGE_COLUMNS}
    for ref, t in reports:
        rid = t.report_id
        at = _time(t.received_at, postgres)
        tables["reports"].append(
            (rid, ref, t.received_at.year, rid, "new", None, f"r{rid}@example.org", "")
            + (f"report {rid}", at, at, at)
        )
        tables["report_triage"].append((rid, at, json.dumps(t.record), t.signature))
        tables["triage_keys"].extend((key, rid, at) for key in dict.fromkeys(t.keys))
        tables["report_hints"].extend((rid, c, confidence) for c, confidence in t.hints)
    tables["triage_keys"].sort()  # in index order: appended to the B-trees, not scattered
    return tables


def _time(at: datetime, postgres: bool) -> Any:
    return at if postgres else at.astimezone(UTC).strftime(SQLITE_TIME)
