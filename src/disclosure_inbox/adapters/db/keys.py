"""Reporters' public keys (``reporter_keys``): this module owns those rows.

A key is stored for the address its message came from, when one of its user IDs names that
address (``service/pgpin.py`` decides; the keyring holds the key too), as the reporter sent
it (``armored``), so that a GnuPG home rebuilt from scratch can take it again. The newest key
of an address is the one mail to it is encrypted to. A key offered twice is stored once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import ReporterKey
from disclosure_inbox.adapters.db.rows import insert_rows


@dataclass(frozen=True, slots=True)
class StoredKey:
    address: str
    fingerprint: str
    armored: str


def store_offered(
    tx: Session,
    offered: Iterable[tuple[str, str, tuple[str, ...], str, int | None]],
    now: datetime,
) -> int:
    """Store keys given as (address, fingerprint, user IDs, armored, message pk); those
    already stored for that address are left. The number stored."""
    wanted: dict[tuple[str, str], dict[str, object]] = {}
    for address, fingerprint, uids, armored, message_pk in offered:
        wanted.setdefault(
            (address.lower(), fingerprint),
            {
                "address": address.lower(),
                "fingerprint": fingerprint,
                "armored": armored,
                "uids": list(uids),
                "message_pk": message_pk,
                "created_at": now,
            },
        )
    if not wanted:
        return 0
    have = {
        (address, fingerprint)
        for address, fingerprint in tx.execute(
            select(ReporterKey.address, ReporterKey.fingerprint).where(
                tuple_(ReporterKey.address, ReporterKey.fingerprint).in_(list(wanted))
            )
        )
    }
    new = [row for pair, row in wanted.items() if pair not in have]
    insert_rows(tx, ReporterKey, new)
    return len(new)


def fingerprints_of(tx: Session, addresses: Iterable[str]) -> dict[str, set[str]]:
    """The fingerprints stored for each of ``addresses`` (lower-cased)."""
    wanted = sorted({a.lower() for a in addresses})
    out: dict[str, set[str]] = {}
    for address, fingerprint in tx.execute(
        select(ReporterKey.address, ReporterKey.fingerprint).where(ReporterKey.address.in_(wanted))
    ):
        out.setdefault(address, set()).add(fingerprint)
    return out


def newest_for(tx: Session, address: str) -> StoredKey | None:
    """The key stored last for ``address``, if any: the one mail to it is encrypted to."""
    row = tx.execute(
        select(ReporterKey.address, ReporterKey.fingerprint, ReporterKey.armored)
        .where(ReporterKey.address == address.lower())
        .order_by(ReporterKey.created_at.desc(), ReporterKey.id.desc())
        .limit(1)
    ).first()
    return StoredKey(*row) if row is not None else None
