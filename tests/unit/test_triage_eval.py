"""The figures of ``triage eval``: the worked example of domain/triage/evaluation.py."""

from __future__ import annotations

from disclosure_inbox.domain.triage.evaluation import score


def test_the_worked_example():
    figures = score([("dos", "dos"), ("dos", "in_scope"), ("in_scope", "spam")])
    dos = next(c for c in figures["categories"] if c["category"] == "dos")
    assert (dos["precision"], dos["recall"]) == (1.0, 0.5)
    assert figures["out_of_scope"] == {
        "labelled": 2,
        "flagged": 2,
        "precision": 0.5,
        "recall": 0.5,
    }
    assert figures["false_alarm_rate"] == 1.0
    assert figures["top_right"] == 0.5


def test_a_category_never_predicted_has_no_precision():
    figures = score([("spam", "in_scope")])
    spam = next(c for c in figures["categories"] if c["category"] == "spam")
    assert spam["precision"] is None and spam["recall"] == 0.0
    assert figures["false_alarm_rate"] is None
