"""Which offered keys are stored for a sender's address: the rules of domain/keyrules.py."""

from __future__ import annotations

import pytest

from disclosure_inbox.domain.keyrules import RULES, KeyEvidence, decide

A, B = "A" * 40, "B" * 40


@pytest.mark.parametrize(
    ("stored", "signed_by", "dkim", "expected"),
    [
        ((), None, False, (True, "first-key")),
        ((A,), None, False, (False, "unverified-replacement")),
        ((A,), A, False, (True, "signed-by-stored-key")),
        ((A,), B, False, (False, "unverified-replacement")),  # signed by the new key itself
        ((A,), None, True, (True, "dkim-authenticated")),
        ((B,), None, False, (False, "already-stored")),
    ],
)
def test_a_key_is_stored_on_first_use_or_when_its_sender_is_proved(
    stored, signed_by, dkim, expected
):
    verdict = decide(KeyEvidence(B, frozenset(stored), signed_by, dkim))
    assert (verdict.store, verdict.rule) == expected


def test_every_rule_is_named_once():
    names = [name for name, _, _ in RULES]
    assert len(names) == len(set(names))
