"""Burned reply tokens: the sha256 of each token that must authenticate nothing again."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import BurnedToken


def burned(tx: Session, digests: Iterable[str]) -> set[str]:
    wanted = list(set(digests))
    if not wanted:
        return set()
    return set(tx.scalars(select(BurnedToken.digest).where(BurnedToken.digest.in_(wanted))))


def burn(tx: Session, digests: Iterable[str], now: datetime) -> None:
    """Record each digest once (a second burn of the same token changes nothing)."""
    rows = [{"digest": d, "burned_at": now} for d in set(digests)]
    if not rows:
        return
    dialect = tx.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    tx.execute(insert(BurnedToken.__table__).values(rows).on_conflict_do_nothing())
