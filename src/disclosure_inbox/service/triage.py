"""Triage in intake: each new report of a batch is compared with the stored reports of the
last year through the likely-duplicate index, and what triage found is added to the
batch's writes (the staff notice shows it; ``adapters/db/triage.py`` stores it).

The texts were assessed in the parse step (``Incoming.triage``); here only the index is
read: one query for the whole batch, whatever the store holds. Reports of the same batch
are compared with each other too, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from disclosure_inbox.adapters.db import reports
from disclosure_inbox.adapters.db import triage as triage_rows
from disclosure_inbox.adapters.db.reports import StoredReport
from disclosure_inbox.config import Settings
from disclosure_inbox.domain.intake import Writes
from disclosure_inbox.domain.model import Direction, Outcome
from disclosure_inbox.domain.triage import duplicates, minhash
from disclosure_inbox.domain.triage.assess import ScopeRules, assess
from disclosure_inbox.domain.triage.model import Assessment, Duplicate, Triaged, record
from disclosure_inbox.domain.triage.sources import text_sources
from disclosure_inbox.ports import BlobStore, Transaction


def plan(tx: Transaction, writes: Writes, now: datetime) -> None:
    """Add the triage of the batch's new reports to ``writes.triage``."""
    new = [
        (d.report_id, d.incoming.internaldate, d.new_report.ref, d.incoming.triage)
        for d in writes.decisions
        if d.outcome is Outcome.REPORT
        and d.report_id is not None
        and d.new_report is not None
        and d.incoming.triage is not None
    ]
    if not new:
        return
    keyed = [(rid, ref, a, keys_of(a)) for rid, _, ref, a in new]
    stored = triage_rows.candidates(
        tx,
        (k for *_, keys in keyed for k in keys),
        now - timedelta(days=duplicates.WINDOW_DAYS),
    )
    for (rid, at, _, a), (*_, keys), found in zip(new, keyed, compare(stored, keyed), strict=True):
        writes.triage.append(triaged(rid, at, a, keys, found))


def compare(
    stored: Sequence[duplicates.Candidate],
    new: Sequence[tuple[int, str, Assessment, tuple[str, ...]]],
) -> list[tuple[Duplicate, ...]]:
    """The likely duplicates of each new report (report id, ref, assessment, index keys),
    in order: among the stored candidates, which share a key with some report of the batch,
    and the new reports before it."""
    out = []
    earlier: list[duplicates.Candidate] = []
    for rid, ref, assessment, keys in new:
        own = set(keys)
        found = [
            duplicates.Candidate(c.report_id, c.ref, c.keys & own, c.signature)
            for c in [*stored, *earlier]
            if c.keys & own and c.report_id != rid
        ]
        out.append(duplicates.rank(assessment.signature, found))
        earlier.append(duplicates.Candidate(rid, ref, frozenset(keys), assessment.signature))
    return out


def reassess(
    tx: Transaction, blobs: BlobStore, report: StoredReport, scope: ScopeRules, now: datetime
) -> tuple[Triaged, tuple[Duplicate, ...]] | None:
    """A stored report's triage made anew from its first inbound message (``triage run``),
    and its likely duplicates."""
    first = next(
        (m for m in reports.messages_of(tx, report.id) if m.direction == Direction.INBOUND),
        None,
    )
    if first is None:
        return None
    attachments = [(a.filename, a.content_type, blobs.get(a.sha256)) for a in first.attachments]
    found = assess(text_sources(first.subject, first.body_text, "", attachments), scope)
    keys = keys_of(found)
    since = now - timedelta(days=duplicates.WINDOW_DAYS)
    stored = triage_rows.candidates(tx, keys, since)
    (ranked,) = compare(stored, [(report.id, report.ref, found, keys)])
    return triaged(report.id, report.received_at, found, keys, ranked), ranked


def keys_of(a: Assessment) -> tuple[str, ...]:
    return duplicates.index_keys(
        a.signature, a.indicators.cves, a.indicators.urls, a.in_scope_hosts
    )


def triaged(
    report_id: int,
    received_at: datetime,
    a: Assessment,
    keys: tuple[str, ...],
    found: tuple[Duplicate, ...] = (),
) -> Triaged:
    return Triaged(
        report_id=report_id,
        received_at=received_at,
        record=record(a, found),
        signature=minhash.encode(a.signature),
        keys=keys,
        hints=tuple((h.category, h.confidence) for h in a.hints),
    )


def scope_rules(settings: Settings) -> ScopeRules:
    return ScopeRules(
        domains=settings.scope_domains,
        threshold=settings.scope.hint_threshold,
        categories=settings.scope.categories,
    )
