"""Drafted replies for a person to edit: never sent, never changing a report by themselves.

``reports draft REF --out-of-scope CATEGORY`` prints one; ``/draft out-of-scope CATEGORY``
in a staff reply mails it to that staff member only. The draft cites the policy sentence of
the category (``[scope.policy]``) and, where triage quoted the report for that category, the
quote.
"""

from __future__ import annotations

from typing import Any

from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import Settings
from disclosure_inbox.domain.sanitize import header_safe, quote_for_text

EVIDENCE_CHARS = 300


def out_of_scope(
    settings: Settings,
    renderer: Renderer,
    *,
    ref: str,
    subject: str,
    reporter_name: str,
    category: str,
    triaged: dict[str, Any] | None,
) -> str:
    """The text of the ``reporter/out-of-scope`` template for this report and category."""
    org = settings.organization
    evidence = next(
        (
            h["evidence"]
            for h in (triaged or {}).get("hints", [])
            if h.get("category") == category and h.get("where") != "subject"
        ),
        "",
    )
    context = {
        "organization": org.name,
        "mailbox": org.mailbox_address,
        "policy_url": org.policy_url,
        "ref": ref,
        "subject": header_safe(subject, 150) or "(no subject)",
        "reporter_name": header_safe(reporter_name, 80),
        "category": category,
        "policy": settings.scope.sentence(category, org.name),
        "evidence": quote_for_text(" ".join(evidence.split()), EVIDENCE_CHARS) if evidence else "",
    }
    return renderer.render("reporter", "out-of-scope", context).text
