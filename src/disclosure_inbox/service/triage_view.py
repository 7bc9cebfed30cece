"""A report's stored triage as people and scripts see it: the JSON contract of ``reports
show`` (with each hint's policy sentence from ``[scope]``), and the lines at the top of a
staff notice.

Contract (``reports show REF --format json``, key ``triage``): ``hints`` (``category``,
``confidence``, ``evidence``, ``policy``; highest confidence first), ``indicators``
(``urls``, ``hosts``, ``ips``, ``emails``, ``cves``, ``cwes``, ``cvss`` of ``vector`` and
``score``), ``in_scope_hosts``, ``out_of_scope_hosts``, ``duplicates`` (``ref``, ``score``,
``reason``).
"""

from __future__ import annotations

from typing import Any

from disclosure_inbox.config import Settings
from disclosure_inbox.domain.sanitize import defang, defang_host, quote_for_text

INDICATOR_KEYS = ("urls", "hosts", "ips", "emails", "cves", "cwes", "cvss")
NOTICE_QUOTE = 200


def present(record: dict[str, Any], settings: Settings) -> dict[str, Any]:
    org = settings.organization.name
    hints = sorted(record.get("hints", []), key=lambda h: -float(h.get("confidence", 0)))
    indicators = record.get("indicators", {})
    return {
        "hints": [
            {
                "category": h["category"],
                "confidence": h["confidence"],
                "evidence": h["evidence"],
                "policy": settings.scope.sentence(h["category"], org),
            }
            for h in hints
        ],
        "indicators": {k: list(indicators.get(k, [])) for k in INDICATOR_KEYS},
        "in_scope_hosts": list(record.get("in_scope_hosts", [])),
        "out_of_scope_hosts": list(record.get("out_of_scope_hosts", [])),
        "duplicates": [
            {"ref": d["ref"], "score": d["score"], "reason": d["reason"]}
            for d in record.get("duplicates", [])
        ],
    }


def notice_lines(view: dict[str, Any]) -> list[str]:
    """What a staff notice says first: each hint with its quote and policy, then likely
    duplicates and the hosts, defanged. Empty when triage found nothing to say."""
    lines = []
    for h in view["hints"]:
        quote = quote_for_text(defang(" ".join(h["evidence"].split())), NOTICE_QUOTE)
        lines.append(
            f"Possibly out of scope: {h['category']} (confidence {h['confidence']:.2f}) — "
            f"'{quote}' (policy: {h['policy']})"
        )
    for d in view["duplicates"]:
        lines.append(f"Possible duplicate of {d['ref']} ({d['score']:.2f}): {defang(d['reason'])}")
    if view["in_scope_hosts"]:
        lines.append("In scope: " + ", ".join(defang_host(h) for h in view["in_scope_hosts"][:10]))
    if view["out_of_scope_hosts"]:
        lines.append(
            "Not in scope: " + ", ".join(defang_host(h) for h in view["out_of_scope_hosts"][:10])
        )
    cvss = view["indicators"]["cvss"]
    if cvss:
        lines.append("CVSS: " + ", ".join(f"{c['score']} {c['vector']}" for c in cvss[:3]))
    return lines
