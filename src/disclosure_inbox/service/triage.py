"""Triage in intake: each new report of a batch is compared with the stored reports of the
last year through the likely-duplicate index, and what triage found is added to the
batch's writes (the staff notice shows it; ``adapters/db/triage.py`` stores it).

The texts were assessed in the parse step (``Incoming.triage``); here only the index is
read: one query for the whole batch, whatever the store holds. Reports of the same batch
are compared with each other too, in order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from disclosure_inbox.adapters.db import triage as triage_rows
from disclosure_inbox.config import Settings
from disclosure_inbox.domain.intake import Writes
from disclosure_inbox.domain.model import Outcome
from disclosure_inbox.domain.triage import duplicates, minhash
from disclosure_inbox.domain.triage.assess import ScopeRules
from disclosure_inbox.domain.triage.model import Assessment, Duplicate, Triaged, record
from disclosure_inbox.ports import Transaction


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
    keyed = [(rid, at, ref, a, keys_of(a)) for rid, at, ref, a in new]
    stored = triage_rows.candidates(
        tx,
        (k for *_, keys in keyed for k in keys),
        now - timedelta(days=duplicates.WINDOW_DAYS),
    )
    earlier: list[duplicates.Candidate] = []
    for rid, at, ref, assessment, keys in keyed:
        own = set(keys)
        found = [
            duplicates.Candidate(c.report_id, c.ref, c.keys & own, c.signature)
            for c in stored + earlier
            if c.keys & own
        ]
        writes.triage.append(
            triaged(rid, at, assessment, keys, duplicates.rank(assessment.signature, found))
        )
        earlier.append(duplicates.Candidate(rid, ref, frozenset(keys), assessment.signature))


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
