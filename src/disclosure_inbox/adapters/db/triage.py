"""The triage rows: a report's assessment, its hints, and the likely-duplicate index.

Intake writes them in the batch's transaction (``apply``); it looks candidates up before
(``candidates``), one query a batch. Each key gives its newest ``PER_KEY`` reports at most,
so the cost is bounded whatever the store holds, and a key many reports share (a popular
URL, a much-reported CVE) cannot crowd out the rarer keys of an older original: each key
has its own share.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import HintRow, Report, TriageKey, TriageRow
from disclosure_inbox.adapters.db.reports import StoredReport, stored
from disclosure_inbox.adapters.db.rows import insert_rows
from disclosure_inbox.domain.triage.duplicates import Candidate
from disclosure_inbox.domain.triage.minhash import decode
from disclosure_inbox.domain.triage.model import Triaged

CHUNK = 500  # keys a statement (SQLite allows 32,766 variables; PostgreSQL 65,535)
PER_KEY = 25  # reports read for one key at most: the newest


def candidates(tx: Session, keys: Iterable[str], since: datetime) -> list[Candidate]:
    """Stored reports received since ``since`` that share a key with ``keys``."""
    wanted = sorted(set(keys))
    shared: dict[int, set[str]] = {}
    refs: dict[int, str] = {}
    for i in range(0, len(wanted), CHUNK):
        ranked = (
            select(
                TriageKey.report_id,
                TriageKey.key,
                func.row_number()
                .over(partition_by=TriageKey.key, order_by=TriageKey.received_at.desc())
                .label("rank"),
            )
            .where(TriageKey.key.in_(wanted[i : i + CHUNK]), TriageKey.received_at >= since)
            .subquery()
        )
        rows = tx.execute(
            select(ranked.c.report_id, ranked.c.key, Report.ref)
            .join(Report, Report.id == ranked.c.report_id)
            .where(ranked.c.rank <= PER_KEY)
        ).all()
        for report_id, key, ref in rows:
            shared.setdefault(report_id, set()).add(key)
            refs[report_id] = ref
    signatures = signatures_of(tx, list(shared))
    return [
        Candidate(rid, refs[rid], frozenset(k), signatures.get(rid, ()))
        for rid, k in shared.items()
    ]


def signatures_of(tx: Session, report_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
    out: dict[int, tuple[int, ...]] = {}
    for i in range(0, len(report_ids), CHUNK):
        rows = tx.execute(
            select(TriageRow.report_id, TriageRow.signature).where(
                TriageRow.report_id.in_(report_ids[i : i + CHUNK])
            )
        ).all()
        out.update({rid: decode(sig) for rid, sig in rows})
    return out


def apply(tx: Session, triaged: Sequence[Triaged], ids: dict[int, int], now: datetime) -> None:
    """Write the triage of a batch's new reports; ``ids`` maps provisional ids to real."""
    if not triaged:
        return
    real = [(ids.get(t.report_id, t.report_id), t) for t in triaged]
    insert_rows(
        tx,
        TriageRow,
        [
            {"report_id": rid, "assessed_at": now, "triage": t.record, "signature": t.signature}
            for rid, t in real
        ],
    )
    insert_rows(
        tx,
        TriageKey,
        [
            {"key": key, "report_id": rid, "received_at": t.received_at}
            for rid, t in real
            for key in dict.fromkeys(t.keys)
        ],
    )
    insert_rows(
        tx,
        HintRow,
        [
            {"report_id": rid, "category": c, "confidence": conf}
            for rid, t in real
            for c, conf in t.hints
        ],
    )


def replace_one(tx: Session, t: Triaged, now: datetime) -> None:
    """Assess a stored report again (``triage run``): its old rows go, the new ones come."""
    for model in (TriageRow, TriageKey, HintRow):
        tx.execute(delete(model).where(model.report_id == t.report_id))  # type: ignore[attr-defined]
    apply(tx, [t], {}, now)


def of_report(tx: Session, report_id: int) -> dict[str, Any] | None:
    return tx.execute(
        select(TriageRow.triage).where(TriageRow.report_id == report_id)
    ).scalar_one_or_none()


def untriaged(tx: Session) -> list[StoredReport]:
    """Reports with no triage row, oldest first (stored before triage existed)."""
    rows = tx.scalars(
        select(Report)
        .where(~exists().where(TriageRow.report_id == Report.id))
        .order_by(Report.received_at, Report.id)
    )
    return [stored(r) for r in rows]
