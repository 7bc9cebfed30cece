"""How well the hints do on a labelled set: the figures ``triage eval`` prints.

Each message has a label (a category, or ``in_scope``) and a prediction: its top hint's
category, or ``in_scope`` when it has no hint. Per category, precision is the share of the
messages predicted as it that are labelled as it, and recall the share of those labelled as
it that are predicted as it. "Out of scope" as a whole counts any category but ``in_scope``:
a message is flagged when it has any hint. The false-alarm rate is the share of ``in_scope``
messages flagged; ``top_right`` the share of out-of-scope messages whose top hint names
their label.

Worked example: labels (dos, dos, in_scope) predicted (dos, in_scope, spam): dos has
precision 1/1 and recall 1/2; out of scope, precision 1/2 (two flagged, one of them out of
scope) and recall 1/2; false alarms 1/1; top hint right 1/2.
"""

from __future__ import annotations

from collections.abc import Sequence

from disclosure_inbox.domain.triage.model import CATEGORIES, IN_SCOPE

LABELS = (*CATEGORIES, IN_SCOPE)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def score(pairs: Sequence[tuple[str, str]]) -> dict[str, object]:
    """The figures for ``(label, predicted)`` pairs (``predicted`` is ``in_scope`` for a
    message with no hint)."""
    per_category = []
    for category in LABELS:
        labelled = sum(label == category for label, _ in pairs)
        predicted = sum(p == category for _, p in pairs)
        right = sum(label == p == category for label, p in pairs)
        per_category.append(
            {
                "category": category,
                "labelled": labelled,
                "predicted": predicted,
                "precision": _ratio(right, predicted),
                "recall": _ratio(right, labelled),
            }
        )
    out_labelled = [(label, p) for label, p in pairs if label != IN_SCOPE]
    flagged = [(label, p) for label, p in pairs if p != IN_SCOPE]
    in_scope = [(label, p) for label, p in pairs if label == IN_SCOPE]
    return {
        "messages": len(pairs),
        "out_of_scope": {
            "labelled": len(out_labelled),
            "flagged": len(flagged),
            "precision": _ratio(sum(label != IN_SCOPE for label, _ in flagged), len(flagged)),
            "recall": _ratio(sum(p != IN_SCOPE for _, p in out_labelled), len(out_labelled)),
        },
        "false_alarm_rate": _ratio(sum(p != IN_SCOPE for _, p in in_scope), len(in_scope)),
        "top_right": _ratio(sum(label == p for label, p in out_labelled), len(out_labelled)),
        "categories": per_category,
    }
