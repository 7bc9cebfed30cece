"""The triage rows: a report's assessment, its hints, and the likely-duplicate index.

Intake writes them in the batch's transaction (``apply``); it looks candidates up before
(``candidates``), in a few statements a batch. Each key gives its newest ``PER_KEY``
reports at most, read from the index and no further, so the cost is bounded whatever the
store holds, and a key many reports share (a popular
URL, a much-reported CVE) cannot crowd out the rarer keys of an older original: each key
has its own share.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, bindparam, delete, exists, select, text
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import HintRow, Report, TriageKey, TriageRow
from disclosure_inbox.adapters.db.reports import StoredReport, stored
from disclosure_inbox.adapters.db.rows import insert_rows
from disclosure_inbox.domain.triage.duplicates import Candidate
from disclosure_inbox.domain.triage.minhash import decode
from disclosure_inbox.domain.triage.model import Triaged

CHUNK = 500  # keys a statement (SQLite allows 32,766 variables; PostgreSQL 65,535)
PER_KEY = 25  # reports read for one key at most: the newest
# Keys looked up in one statement, each its own LIMITed index range (SQLite allows 500
# SELECTs in one compound statement): the cost is keys x PER_KEY rows whatever the store.
PER_STATEMENT = 200
BAND = "mh:"  # the prefix of MinHash band keys (``minhash.bands``); others name a URL or CVE


def candidates(tx: Session, keys: Iterable[str], since: datetime) -> list[Candidate]:
    """Stored reports received since ``since`` that share a key with ``keys``."""
    wanted = sorted(set(keys))
    shared: dict[int, set[str]] = {}
    for i in range(0, len(wanted), PER_STATEMENT):
        chunk = wanted[i : i + PER_STATEMENT]
        values = {"since": since, **{f"key_{n}": key for n, key in enumerate(chunk)}}
        rows = tx.execute(_newest(len(chunk)), values).all()
        for report_id, key in rows:
            shared.setdefault(report_id, set()).add(key)
    refs = _refs(tx, list(shared))
    _complete(tx, shared, [k for k in wanted if not k.startswith(BAND)])
    signatures = signatures_of(tx, list(shared))
    return [
        Candidate(rid, refs[rid], frozenset(k), signatures.get(rid, ()))
        for rid, k in shared.items()
    ]


@functools.lru_cache(maxsize=8)
def _newest(keys: int) -> TextClause:
    """One statement for ``keys`` keys: each key's newest ``PER_KEY`` rows since ``since``,
    each read as its own LIMITed range of the (key, received_at) index. Written as SQL text
    (one part a key, made once for each size): building it as an expression costs more than
    running it."""
    part = (
        'SELECT * FROM (SELECT report_id, "key" FROM triage_keys WHERE "key" = :key_{n} '
        f"AND received_at >= :since ORDER BY received_at DESC LIMIT {PER_KEY}) AS k{{n}}"
    )
    sql = " UNION ALL ".join(part.format(n=n) for n in range(keys))
    return text(sql).bindparams(
        bindparam("since", type_=TriageKey.__table__.c.received_at.type),
        *(bindparam(f"key_{n}") for n in range(keys)),
    )


def _refs(tx: Session, report_ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for i in range(0, len(report_ids), CHUNK):
        chunk = report_ids[i : i + CHUNK]
        rows = tx.execute(select(Report.id, Report.ref).where(Report.id.in_(chunk)))
        out.update({report_id: ref for report_id, ref in rows})
    return out


def _complete(tx: Session, shared: dict[int, set[str]], named: list[str]) -> None:
    """Add the URL and CVE keys each candidate shares, however it was found: an original
    found by its text may be older than the newest ``PER_KEY`` reports of its URL, and
    its URL is a reason to list it first."""
    found = list(shared)
    for i in range(0, len(found), CHUNK):
        for j in range(0, len(named), CHUNK):
            rows = tx.execute(
                select(TriageKey.report_id, TriageKey.key).where(
                    TriageKey.report_id.in_(found[i : i + CHUNK]),
                    TriageKey.key.in_(named[j : j + CHUNK]),
                )
            ).all()
            for report_id, key in rows:
                shared[report_id].add(key)


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
