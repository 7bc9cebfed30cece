"""Triage's cost at intake: the assessment in the parse step, and the likely-duplicate look-up
as the store grows.

Assessment: every message the parse step reads is assessed (``service/parsing._assess``:
``text_sources`` and ``assess``). It is timed here on fixed messages, in-process: the labelled
set ``tests/triage/set`` (84 reports in four languages, some with attachments) when the
checkout has it, and the first messages of the generated backlog (the drain's mail: bigger,
with bounces and auto-replies). The same messages' parsing (``parse_message``, the step's
parser) is timed in the same run, so the assessment can be read as a share of it. One
untimed pass warms both first.

Look-up: stores of N reports, each with its triage row and its index keys as intake writes
them (``bench/triage_corpus.py`` makes the reports, ``fill_triage`` stores them). Batches of
``BATCH`` new reports (intake's batch, ``[imap] batch_size``) then go through
``service.triage.plan`` as in intake: one candidate query a batch, then the ranking of each
new report. One untimed pass over the batches warms the caches; each run times every batch.
"""

from __future__ import annotations

import gc
import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from bench import mailbox
from bench.deploy import Environment
from bench.measure import BenchError, Measurement, Target
from bench.triage_corpus import Arrival, Corpus, assessment, received
from disclosure_inbox.adapters.db import triage as triage_rows
from disclosure_inbox.adapters.db.engine import make_engine, upgrade
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.parse import parse_message
from disclosure_inbox.domain.intake import Decision, Incoming, NewReport, Writes
from disclosure_inbox.domain.model import Outcome, ParsedMessage
from disclosure_inbox.domain.triage import duplicates
from disclosure_inbox.domain.triage.assess import ScopeRules, assess
from disclosure_inbox.domain.triage.model import Triaged
from disclosure_inbox.domain.triage.sources import sources_of
from disclosure_inbox.service import triage
from disclosure_inbox.service.parsing import EMPTY
from disclosure_inbox.testing.bulk import fill_triage

LABELLED = Path(__file__).resolve().parent.parent / "tests" / "triage" / "set"
BACKLOG = 100  # generated messages assessed at most
NOW = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
BATCH = 100
BATCHES, QUICK_BATCHES = 5, 1
LEAST_STORED = 100  # reports in a store at least: the resent ones are among them

# mail-parser logs every part it does not handle; the project quiets it too.
logging.getLogger("mailparser").setLevel(logging.ERROR)


# --- assessment ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Messages:
    name: str  # "set" or "backlog"
    raw: list[bytes]
    scope: ScopeRules


@dataclass(frozen=True)
class AssessSeries:
    name: str
    messages: int
    assess_ms: list[float]  # the mean per message, one per run
    parse_ms: list[float]
    slowest_ms: list[float]  # the slowest message's assessment, one per run


def messages(backlog: int, seed: int) -> list[Messages]:
    """The labelled set (if the checkout has it) and ``backlog`` generated messages."""
    found = []
    labelled = sorted(LABELLED.glob("*.eml"))
    if labelled:
        found.append(Messages("set", [p.read_bytes() for p in labelled], _scope("m.io")))
    generated = list(mailbox.backlog(min(backlog, BACKLOG), seed))
    found.append(Messages("backlog", generated, _scope("example.com")))
    return found


def _scope(domain: str) -> ScopeRules:
    return ScopeRules(domains=(domain, f"*.{domain}"))


def _assessed(parsed: ParsedMessage, scope: ScopeRules) -> None:
    # As the parse step does it (``service/parsing._assess``).
    assess(sources_of(parsed), scope)


def measure_assess(group: Messages, runs: int) -> AssessSeries:
    parsed = [parse_message(raw) for raw in group.raw]
    for p in parsed:  # the warm-up: regular expressions compiled, caches filled
        _assessed(p, group.scope)
    assess_ms, parse_ms, slowest = [], [], []
    for _ in range(runs):
        gc.collect()
        began = time.perf_counter()
        for raw in group.raw:
            parse_message(raw)
        parse_ms.append((time.perf_counter() - began) * 1000 / len(group.raw))
        gc.collect()
        each = []
        for p in parsed:
            began = time.perf_counter()
            _assessed(p, group.scope)
            each.append(time.perf_counter() - began)
        assess_ms.append(sum(each) * 1000 / len(each))
        slowest.append(max(each) * 1000)
    return AssessSeries(group.name, len(group.raw), assess_ms, parse_ms, slowest)


# --- the likely-duplicate look-up ------------------------------------------------------------


@dataclass(frozen=True)
class LookupSeries:
    backend: str
    reports: int
    keys: int  # index rows in the store
    build_seconds: float
    ms_per_report: list[float]  # one per run
    candidates: float  # stored reports a batch's query returned, on average
    resends: int  # new reports that resend a stored one
    found: int  # of which the look-up listed the original


class Stored:
    """The stored reports' triage, made once for the largest store and shared (the first N
    for a store of N): the signatures are most of the cost of building a store."""

    def __init__(self, seed: int, reports: int) -> None:
        self.corpus = corpus = Corpus(seed)
        self.rows: list[Triaged] = []
        for i in range(1, reports + 1):
            a = assessment(corpus.stored(i))
            self.rows.append(triage.triaged(i, NOW, a, triage.keys_of(a)))

    def store(self, reports: int) -> list[tuple[str, Triaged]]:
        return [
            (_ref(t.report_id), replace(t, received_at=received(t.report_id, reports, NOW)))
            for t in self.rows[:reports]
        ]


def _ref(report_id: int) -> str:
    return f"MIO-{report_id:06d}"


_PARSED = replace(
    EMPTY,
    sender_address="researcher@example.org",
    subject="report",
    content_type="text/plain",
    parser="mail-parser",
)


def _decisions(batch: Sequence[Arrival], first: int, stored: int) -> list[Decision]:
    """A batch's new reports as intake's decisions, with provisional (negative) ids."""
    decisions = []
    for k, new in enumerate(batch, start=first):
        incoming = Incoming(
            mailbox="INBOX",
            uidvalidity=1,
            uid=k + 1,
            internaldate=NOW - timedelta(seconds=len(batch) - k),
            size=len(new.draft.text),
            sha256=f"{k:064x}",
            parsed=_PARSED,
            parse_outcome="mail-parser",
            triage=assessment(new.draft),
        )
        seq = stored + k + 1
        decisions.append(
            Decision(
                incoming,
                Outcome.REPORT,
                "new-report",
                report_id=-(k + 1),
                new_report=NewReport(_ref(seq), NOW.year, seq),
            )
        )
    return decisions


def measure_lookup(
    env: Environment, backend: str, stored: Stored, reports: int, runs: int, batches: int
) -> LookupSeries:
    new = [stored.corpus.new(k, reports) for k in range(batches * BATCH)]
    planned = [
        _decisions(new[b * BATCH : (b + 1) * BATCH], b * BATCH, reports) for b in range(batches)
    ]
    directory = env.new_directory(f"triage-{backend}-{reports}")
    url = env.new_database_url(backend, directory)
    engine = make_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        rows = stored.store(reports)
        fill_triage(engine, rows)
        build_seconds = time.perf_counter() - started
        keys = sum(len(dict.fromkeys(t.keys)) for _, t in rows)
        del rows
        store = Store(engine)
        times: list[float] = []
        found = 0
        with store.reading() as tx:
            tx.connection()  # intake's transaction holds its connection already
            for attempt in range(runs + 1):  # the first is the warm-up
                gc.collect()
                took = 0.0
                found = 0
                for decisions in planned:
                    writes = Writes(decisions=decisions)
                    began = time.perf_counter()
                    triage.plan(tx, writes, NOW)
                    took += time.perf_counter() - began
                    found += _originals_found(writes, decisions, new)
                if attempt:
                    times.append(took * 1000 / len(new))
            candidates = statistics.mean(_candidates(tx, decisions) for decisions in planned)
    finally:
        engine.dispose()
        env.drop_database(url)
        env.remove_directory(directory)
    resends = sum(n.resends is not None for n in new)
    if resends and not found:
        raise BenchError(f"the look-up found none of {resends} resent reports ({backend})")
    return LookupSeries(backend, reports, keys, build_seconds, times, candidates, resends, found)


def _originals_found(writes: Writes, decisions: list[Decision], new: list[Arrival]) -> int:
    if len(writes.triage) != len(decisions):
        raise BenchError(f"triage planned {len(writes.triage)} of {len(decisions)} new reports")
    found = 0
    for d, t in zip(decisions, writes.triage, strict=True):
        original = new[-(d.report_id or 0) - 1].resends
        listed = t.record.get("duplicates")
        if original is not None and isinstance(listed, list):
            found += any(row["ref"] == _ref(original) for row in listed)
    return found


def _candidates(tx: Session, decisions: list[Decision]) -> int:
    keys = [k for d in decisions if d.incoming.triage for k in triage.keys_of(d.incoming.triage)]
    since = NOW - timedelta(days=duplicates.WINDOW_DAYS)
    return len(triage_rows.candidates(tx, keys, since))


# --- figures ---------------------------------------------------------------------------------


def assess_figures(series: list[AssessSeries], most_ms: float) -> list[Measurement]:
    """One row per kind of message (target: at most ``most_ms``), and the assessment's cost
    as a multiple of parsing over all of them (no target)."""
    figures = []
    for s in series:
        kind = "labelled set" if s.name == "set" else "generated backlog"
        figures.append(
            Measurement(
                f"triage.assess.{s.name}",
                f"triage assess, {kind} ({s.messages} messages)",
                "ms/msg",
                s.assess_ms,
                Target("<=", 1.0, f"<= {most_ms:g} ms", most_ms),
                note="text_sources + assess per message, as the parse step runs them; mean",
                details={"parse_ms": s.parse_ms, "slowest_ms": s.slowest_ms},
            )
        )
    runs = len(series[0].assess_ms)
    ratios = [
        sum(s.assess_ms[i] * s.messages for s in series)
        / sum(s.parse_ms[i] * s.messages for s in series)
        for i in range(runs)
    ]
    figures.append(
        Measurement(
            "triage.assess.to_parse",
            f"  triage assess / parse_message, {sum(s.messages for s in series)} messages",
            "x",
            ratios,
            note="the assessment's time over the parser's, same messages, same run; no target",
            details={
                s.name: [a / p for a, p in zip(s.assess_ms, s.parse_ms, strict=True)]
                for s in series
            },
        )
    )
    return figures


def lookup_figures(
    series: list[LookupSeries], name: str, most_ms: float, growth: float, batches: int
) -> list[Measurement]:
    """Per store: the look-up's cost per new report (target: at most ``most_ms``) and the share
    of resends listed with their original; then the largest store's cost over the smallest's
    (target: at most ``growth``)."""
    figures = []
    for s in series:
        figures.append(
            Measurement(
                f"triage.{s.backend}.lookup.{s.reports}",
                f"triage duplicate look-up, {name}, {s.reports:,} reports",
                "ms/report",
                s.ms_per_report,
                Target("<=", 1.0, f"<= {most_ms:g} ms", most_ms),
                note=(
                    f"service.triage.plan on {batches} batches of {BATCH} new reports; "
                    f"{s.keys:,} index rows"
                ),
                details={
                    "build_seconds": s.build_seconds,
                    "index_rows": s.keys,
                    "candidates_per_batch": s.candidates,
                    "resends": s.resends,
                    "resends_found": s.found,
                },
            )
        )
        figures.append(
            Measurement(
                f"triage.{s.backend}.found.{s.reports}",
                f"  resends listed with their original, {name}, {s.reports:,} reports",
                "%",
                [100 * s.found / s.resends],
                note=f"of {s.resends} new reports that resend a stored one; no target",
            )
        )
    if len(series) >= 2:
        base, top = series[0], series[-1]
        figures.append(
            Measurement(
                f"triage.{top.backend}.lookup.growth",
                f"triage look-up growth, {name}, {top.reports:,} / {base.reports:,}",
                "x",
                [a / b for a, b in zip(top.ms_per_report, base.ms_per_report, strict=True)],
                Target("<=", growth, f"<= {growth:g} x", 1.0),
                note="cost per new report at the largest store / at the smallest, per run",
            )
        )
    return figures
