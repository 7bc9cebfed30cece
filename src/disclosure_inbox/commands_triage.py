"""``reports draft``, ``triage eval`` and ``triage run``: the triage side of the command line.

``triage eval DIR LABELS.tsv`` reads a folder of .eml files and a tab-separated list of
``file`` and ``label`` (a category, or ``in_scope``), assesses each message as intake would
and prints the figures of ``domain/triage/evaluation.py``. It reads no store and sends
nothing. Without a configuration, the domains in scope are those of the address most of the
messages were sent to (and its subdomains).
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path
from typing import Any

from disclosure_inbox.adapters.db import reports
from disclosure_inbox.adapters.db import triage as triage_rows
from disclosure_inbox.adapters.parse import parse_message
from disclosure_inbox.config import Settings
from disclosure_inbox.domain.errors import UsageError
from disclosure_inbox.domain.triage.assess import ScopeRules, assess
from disclosure_inbox.domain.triage.evaluation import LABELS, score
from disclosure_inbox.domain.triage.model import IN_SCOPE
from disclosure_inbox.domain.triage.sources import sources_of
from disclosure_inbox.service.app import App
from disclosure_inbox.service.drafts import out_of_scope
from disclosure_inbox.service.triage import reassess, scope_rules
from disclosure_inbox.tables import render

MOST_EML_BYTES = 25 * 1024 * 1024


def report_draft(settings: Settings, ref: str, category: str) -> str:
    app = App.without_template_check(settings)
    app.store.check_schema()
    with app.store.reading() as tx:
        report = reports.existing(tx, ref)
        record = triage_rows.of_report(tx, report.id)
    return out_of_scope(
        settings,
        app.renderer,
        ref=report.ref,
        subject=report.subject,
        reporter_name=report.reporter_name,
        category=category,
        triaged=record,
    )


# --- triage eval ---------------------------------------------------------------------------


def _labels(path: Path) -> list[tuple[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f, delimiter="\t"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["file", "label"]:
        rows = rows[1:]
    out = []
    for number, row in enumerate(rows, start=2):
        if not row or not "".join(row).strip() or row[0].startswith("#"):
            continue
        if len(row) < 2 or row[1].strip() not in LABELS:
            raise UsageError(
                f"{path}, line {number}: want FILE<TAB>LABEL, LABEL one of {', '.join(LABELS)}"
            )
        out.append((row[0].strip(), row[1].strip()))
    if not out:
        raise UsageError(f"{path}: no labelled files")
    return out


def _read(folder: Path, name: str) -> bytes:
    path = folder / name
    if Path(name).name != name or not path.is_file():
        raise UsageError(f"{name}: no such file in {folder}")
    if path.stat().st_size > MOST_EML_BYTES:
        raise UsageError(f"{name}: larger than {MOST_EML_BYTES} bytes")
    return path.read_bytes()


def _guessed_scope(parsed: list[Any]) -> ScopeRules:
    domains = Counter(r.rpartition("@")[2] for p in parsed for r in p.recipients[:1] if "@" in r)
    if not domains:
        raise UsageError("no configuration, and no recipient address to take the scope from")
    domain = domains.most_common(1)[0][0]
    return ScopeRules(domains=(domain, f"*.{domain}"))


def evaluate(settings: Settings | None, folder: Path, labels_path: Path) -> dict[str, Any]:
    labelled = _labels(labels_path)
    parsed = [parse_message(_read(folder, name)) for name, _ in labelled]
    scope = scope_rules(settings) if settings is not None else _guessed_scope(parsed)
    pairs, rows, spent = [], [], 0.0
    for (name, label), p in zip(labelled, parsed, strict=True):
        started = time.perf_counter()
        found = assess(sources_of(p), scope)
        spent += time.perf_counter() - started
        top = found.hints[0].category if found.hints else IN_SCOPE
        pairs.append((label, top))
        rows.append({"file": name, "label": label, "top": top, "right": label == top})
    figures = score(pairs)
    figures["scope"] = list(scope.domains)
    figures["ms_per_message"] = round(spent * 1000 / len(pairs), 2)
    figures["files"] = rows
    return figures


def eval_table(figures: dict[str, Any]) -> str:
    oos = figures["out_of_scope"]
    head = (
        f"messages {figures['messages']}; scope {', '.join(figures['scope'])}; "
        f"{figures['ms_per_message']} ms a message\n"
        f"out of scope: precision {_pct(oos['precision'])}, recall {_pct(oos['recall'])} "
        f"({oos['flagged']} flagged, {oos['labelled']} labelled)\n"
        f"false alarms on in_scope: {_pct(figures['false_alarm_rate'])}\n"
        f"top hint right (out-of-scope messages): {_pct(figures['top_right'])}\n\n"
    )
    cats = [
        {**c, "precision": _pct(c["precision"]), "recall": _pct(c["recall"])}
        for c in figures["categories"]
    ]
    wrong = [r for r in figures["files"] if not r["right"]]
    tail = "\nmisses:\n" + render(wrong) if wrong else ""
    return head + render(cats) + tail


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# --- triage run ----------------------------------------------------------------------------


def run(settings: Settings, refs: list[str]) -> list[dict[str, Any]]:
    """Assess stored reports: those without triage (after an upgrade), or ``refs`` again."""
    app = App.without_template_check(settings)
    app.store.check_schema()
    now = app.clock.now()
    scope = scope_rules(settings)
    done = []
    with app.store.reading() as tx:
        targets = [reports.existing(tx, ref) for ref in refs] if refs else triage_rows.untriaged(tx)
    for report in targets:
        with app.store.transaction() as tx:
            made = reassess(tx, app.blobs, report, scope, now)
            if made is None:
                continue
            triage, ranked = made
            triage_rows.replace_one(tx, triage, now)
        done.append(
            {
                "ref": report.ref,
                "hints": ",".join(category for category, _ in triage.hints),
                "duplicates": ",".join(d.ref for d in ranked),
            }
        )
    return done
