"""The reporters' OpenPGP public keys (table ``reporter_keys``): this module owns those rows.

A key is stored for an address, lower-cased, as the reporter sent it (``armored``), so that a
GnuPG home rebuilt from scratch can take it again. Mail to an address is encrypted to the
newest key stored for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import ReporterKey


@dataclass(frozen=True, slots=True)
class StoredKey:
    address: str
    fingerprint: str
    armored: str


def newest_for(tx: Session, address: str) -> StoredKey | None:
    """The key stored last for ``address``, if any."""
    row = tx.execute(
        select(ReporterKey.address, ReporterKey.fingerprint, ReporterKey.armored)
        .where(ReporterKey.address == address.lower())
        .order_by(ReporterKey.created_at.desc(), ReporterKey.id.desc())
        .limit(1)
    ).first()
    return StoredKey(*row) if row is not None else None
