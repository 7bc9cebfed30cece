"""Large stores built inside the database: ``reports`` reports, each with an acknowledgement
clock; all clocks stopped but ``running``, of which ``due`` are past their deadline on
2026-07-15. SQL does the work, so a million reports take seconds, not hours."""

from __future__ import annotations

from sqlalchemy import Engine, text

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
