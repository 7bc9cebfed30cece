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
