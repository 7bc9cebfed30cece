"""Alembic owns the schema: the migrations build exactly what the models describe."""

from __future__ import annotations

from alembic import command

from disclosure_inbox.adapters.db.engine import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    upgrade,
)


def test_migrations_match_the_models_and_go_both_ways(database_url):
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision(engine)
        command.check(alembic_config(engine))  # raises if the models and schema differ
        command.downgrade(alembic_config(engine), "base")
        assert current_revision(engine) is None
        upgrade(engine)
        upgrade(engine)  # idempotent
        assert current_revision(engine) == head_revision(engine)
    finally:
        engine.dispose()


def test_0004_keeps_a_populated_outbox_and_its_rows_stay_claimable(database_url):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from disclosure_inbox.adapters.db.outbox import OutboxRows
    from disclosure_inbox.adapters.db.store import Store

    engine = make_engine(database_url)
    try:
        upgrade(engine, "0003")
        t0 = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
        with engine.begin() as conn:
            for i, state in enumerate(["pending", "sent", "failed"]):
                conn.execute(
                    text(
                        "INSERT INTO outbox (kind, message_id, envelope_from, recipients, "
                        "to_address, subject, raw, state, attempts, next_attempt_at, "
                        "deadline_at, created_at) VALUES ('ack', :mid, 'soc@m.io', "
                        "'[\"r@example.org\"]', 'r@example.org', 's', :raw, :state, 0, "
                        ":t, :t, :t)"
                    ),
                    {
                        "mid": f"<{i}@m.io>",
                        "raw": b"Subject: s\r\n\r\nbody\r\n",
                        "state": state,
                        "t": t0.replace(tzinfo=None),
                    },
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT message_id, state, claimed_by FROM outbox ORDER BY id")
            ).all()
        assert [(r[0], r[1], r[2]) for r in rows] == [
            ("<0@m.io>", "pending", None),
            ("<1@m.io>", "sent", None),
            ("<2@m.io>", "failed", None),
        ]
        claimed = OutboxRows(Store(engine), "upgraded").claim_next(t0, timedelta(seconds=60), 5)
        assert [c.message_id for c in claimed] == ["<0@m.io>"]
    finally:
        engine.dispose()


def test_0005_keeps_every_message_and_gives_none_an_author(database_url):
    from datetime import datetime

    from sqlalchemy import text

    engine = make_engine(database_url)
    try:
        upgrade(engine, "0004")
        t0 = datetime(2026, 7, 1, 14, 0)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO reports (ref, year, seq, status, reporter_address, "
                    "reporter_name, subject, received_at, created_at, updated_at) VALUES "
                    "('MIO-2026-0001', 2026, 1, 'new', 'r@example.org', 'R', 'XSS', :t, :t, :t)"
                ),
                {"t": t0},
            )
            for i, (outcome, rid) in enumerate([("report", 1), ("quarantined", None)]):
                conn.execute(
                    text(
                        "INSERT INTO messages (report_id, direction, outcome, message_id, "
                        'sender_address, sender_name, subject, in_reply_to, "references", '
                        "received_at, raw_sha256, raw_size, parse_outcome, body_text, headers, "
                        "created_at) VALUES (:rid, 'inbound', :outcome, :mid, 'r@example.org', "
                        "'R', 'XSS', '', '', :t, :sha, 10, 'mail-parser', 'the text', '{}', :t)"
                    ),
                    {
                        "rid": rid,
                        "outcome": outcome,
                        "mid": f"<{i}@x>",
                        "sha": f"{i:064d}",
                        "t": t0,
                    },
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT report_id, outcome, message_id, body_text, author FROM messages "
                    "ORDER BY id"
                )
            ).all()
            refs = conn.execute(text("SELECT ref, status FROM reports")).all()
        assert [tuple(r) for r in rows] == [
            (1, "report", "<0@x>", "the text", None),
            (None, "quarantined", "<1@x>", "the text", None),
        ]
        assert [tuple(r) for r in refs] == [("MIO-2026-0001", "new")]
    finally:
        engine.dispose()
