"""Likely duplicates: which stored reports a new one resembles, and why.

A report is indexed under keys written with it at intake (``index_keys``): its MinHash
bands (``minhash.py``), each CVE id it names, and each in-scope URL it names by host and path
(the query left out: ``https://app.m.io/api/users?id=2`` is ``at:app.m.io/api/users``). A new
report looks up its own keys among the reports of the last ``WINDOW_DAYS`` days, and
``rank`` scores what it finds, one reason a row:

====================  =========================================================
reason                score
====================  =========================================================
near-duplicate text   the estimated share of shingles in common (0.5 and up)
same URL              0.8 (the same in-scope host and path)
same CVE              0.6
====================  =========================================================

Reasons combine like independent signals, 1 - (1 - a)(1 - b); up to ``MOST`` reports
scoring ``LEAST`` or more are listed, highest first. Worked example: a report naming
CVE-2024-3094 whose text shares about 70% of its shingles with MIO-2026-0012 scores
1 - 0.3 * 0.4 = 0.88 against it: "near-duplicate text (0.70); same CVE CVE-2024-3094".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from disclosure_inbox.domain.triage.minhash import bands, similarity
from disclosure_inbox.domain.triage.model import Duplicate

WINDOW_DAYS = 365
MOST = 3
LEAST = 0.5
SAME_URL = 0.8
SAME_CVE = 0.6
MOST_KEYS = 40  # a report names at most this many CVEs and URLs in the index
KEY_LIMIT = 200  # characters of a key (the column's width)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored report that shares at least one index key with the new one."""

    report_id: int
    ref: str
    keys: frozenset[str]  # the keys it shares
    signature: tuple[int, ...]


def index_keys(
    signature: Sequence[int], cves: Iterable[str], urls: Iterable[str], in_scope: Iterable[str]
) -> tuple[str, ...]:
    """The keys a report is indexed under: bands, CVEs, in-scope host-and-path URLs."""
    hosts = {h.lower() for h in in_scope}
    keys: list[str] = list(bands(signature))
    extra: list[str] = [f"cve:{c.upper()}" for c in cves]
    for url in urls:
        key = _url_key(url, hosts)
        if key is not None:
            extra.append(key)
    keys += [k for k in dict.fromkeys(extra) if len(k) <= KEY_LIMIT][:MOST_KEYS]
    return tuple(keys)


def _url_key(url: str, hosts: set[str]) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    path = parts.path.rstrip("/").lower()
    if host not in hosts or not path:
        return None  # a bare host says too little: every report names the main site
    return f"at:{host}{path}"


def rank(signature: Sequence[int], candidates: Iterable[Candidate]) -> tuple[Duplicate, ...]:
    """Score every candidate (see the module docstring); the best ``MOST``, highest first."""
    found: list[Duplicate] = []
    for c in candidates:
        reasons: list[tuple[float, str]] = []
        text = similarity(signature, c.signature)
        if text >= LEAST:
            reasons.append((text, f"near-duplicate text ({text:.2f})"))
        urls = sorted(k[3:] for k in c.keys if k.startswith("at:"))
        if urls:
            reasons.append((SAME_URL, "same URL " + ", ".join(urls[:2])))
        cves = sorted(k[4:] for k in c.keys if k.startswith("cve:"))
        if cves:
            reasons.append((SAME_CVE, "same CVE " + ", ".join(cves[:3])))
        if not reasons:
            continue
        miss = 1.0
        for score, _ in reasons:
            miss *= 1 - score
        score = int((1 - miss) * 100) / 100
        if score >= LEAST:
            found.append(Duplicate(c.ref, score, "; ".join(r for _, r in reasons)))
    found.sort(key=lambda d: (-d.score, d.ref))
    return tuple(found[:MOST])
