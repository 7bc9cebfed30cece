"""What triage finds in a report: value objects shared by its rules, the store and the CLI.

Triage never decides anything about a report: it points at the policy clause a report may
fall under and at the sentence of the report that matches it, lists what the report names
(indicators), and which stored reports it resembles. A person reads it and acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# The out-of-scope categories, in the order the policy lists them. Their names are part of
# the CLI and JSON contract (``reports list --hint``, ``reports draft --out-of-scope``).
CATEGORIES: tuple[str, ...] = (
    "dos",
    "spam",
    "social_engineering",
    "physical",
    "third_party",
    "best_practice",
    "scanner_unvalidated",
    "theoretical",
    "outdated_version",
    "no_report",
)
IN_SCOPE = "in_scope"  # the label of a report that is none of the above (evaluation only)


@dataclass(frozen=True, slots=True)
class Source:
    """One text triage reads: where it comes from ("subject", "text", "html", or
    "attachment:NAME") and the text itself (already decoded, possibly cut to a limit)."""

    where: str
    text: str


@dataclass(frozen=True, slots=True)
class Cvss:
    vector: str  # as written in the report, normalised (e.g. "CVSS:3.1/AV:N/...")
    score: float  # the base score the vector gives


@dataclass(frozen=True, slots=True)
class Indicators:
    """What a report names, each list deduplicated in order of first appearance."""

    urls: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()  # lower-case host names (from URLs and bare names)
    ips: tuple[str, ...] = ()  # IPv4 and IPv6 addresses
    emails: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()  # upper-case, e.g. "CVE-2024-3094"
    cwes: tuple[str, ...] = ()  # upper-case, e.g. "CWE-79"
    cvss: tuple[Cvss, ...] = ()
    requests: tuple[str, ...] = ()  # HTTP request lines, e.g. "GET /api/user?id=2 HTTP/1.1"


@dataclass(frozen=True, slots=True)
class Hint:
    category: str  # one of CATEGORIES
    confidence: float  # 0..1
    evidence: str  # a verbatim quote (a sentence or a line) from the report
    where: str  # the Source it was quoted from


@dataclass(frozen=True, slots=True)
class Duplicate:
    ref: str
    score: float  # 0..1
    reason: str


@dataclass(frozen=True, slots=True)
class Assessment:
    """Everything triage makes of one message, before it is compared with stored reports."""

    hints: tuple[Hint, ...] = ()  # highest confidence first
    indicators: Indicators = field(default_factory=Indicators)
    in_scope_hosts: tuple[str, ...] = ()
    out_of_scope_hosts: tuple[str, ...] = ()
    signature: tuple[int, ...] = ()  # the text's MinHash signature (empty: too little text)


def record(assessment: Assessment, duplicates: tuple[Duplicate, ...]) -> dict[str, object]:
    """The stored form of a report's triage: the JSON contract of ``reports show`` without
    the policy sentences, which come from the configuration when it is shown."""
    ind = assessment.indicators
    return {
        "hints": [
            {
                "category": h.category,
                "confidence": h.confidence,
                "evidence": h.evidence,
                "where": h.where,
            }
            for h in assessment.hints
        ],
        "indicators": {
            "urls": list(ind.urls),
            "hosts": list(ind.hosts),
            "ips": list(ind.ips),
            "emails": list(ind.emails),
            "cves": list(ind.cves),
            "cwes": list(ind.cwes),
            "cvss": [{"vector": c.vector, "score": c.score} for c in ind.cvss],
            "requests": list(ind.requests),
        },
        "in_scope_hosts": list(assessment.in_scope_hosts),
        "out_of_scope_hosts": list(assessment.out_of_scope_hosts),
        "duplicates": [{"ref": d.ref, "score": d.score, "reason": d.reason} for d in duplicates],
    }


@dataclass(frozen=True, slots=True)
class Triaged:
    """One report's triage as intake writes it (``report_id`` may be provisional)."""

    report_id: int
    received_at: datetime
    record: dict[str, object]
    signature: str  # minhash.encode of the signature
    keys: tuple[str, ...]  # its keys in the likely-duplicate index
    hints: tuple[tuple[str, float], ...]  # (category, confidence)
