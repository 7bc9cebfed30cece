"""Multi-row INSERTs that give back the new rows' ids, in order, in one statement per table.

A batch needs the id of each row it inserts (a message row names its report, an outbox row
its message). ``INSERT ... RETURNING`` with the rows in parameter order is one statement on
PostgreSQL, whose SERIAL values follow the order of a multi-row VALUES list. SQLite has no
form of INSERT that ties the new ROWIDs to the parameter order, so SQLAlchemy falls back to
one INSERT per row there (the "insertmanyvalues" note on ``sort_by_parameter_order``): a
batch of 100 reports was 300 statements.

On SQLite the ids are therefore chosen here: the highest id in the table plus one, two, ...,
then one executemany. That is safe because every write transaction on SQLite takes the
write lock at BEGIN (``BEGIN IMMEDIATE``, see ``Store``): no other writer can insert between
the look-up and the INSERT. Were one to try from a deferred transaction, the primary key
would refuse the clash (an error, never two rows with one id). The ids are the ones SQLite
would itself have given (``INTEGER PRIMARY KEY`` is max(ROWID) + 1).

Worked example: the messages table holds ids 1 to 40 and a batch brings 3 rows. One SELECT
finds 40, the rows get 41, 42 and 43, and one INSERT writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session


def insert_with_ids(tx: Session, model: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` into ``model``'s table; their new ids, in the order of ``rows``."""
    if not rows:
        return []
    table = model.__table__
    if tx.get_bind().dialect.name == "sqlite":
        highest = tx.execute(select(func.max(table.c.id))).scalar() or 0
        ids = list(range(highest + 1, highest + 1 + len(rows)))
        tx.execute(insert(table), [{**row, "id": i} for row, i in zip(rows, ids, strict=True)])
        return ids
    returning = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(tx.execute(returning, list(rows)).scalars())


def insert_rows(tx: Session, model: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``model``'s table in one executemany, ids left to the database."""
    if rows:
        tx.execute(insert(model.__table__), list(rows))
