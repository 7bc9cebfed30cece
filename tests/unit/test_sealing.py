"""Which queued mail is encrypted to whom, sent plain, or held: ``domain.sealing``'s table."""

from __future__ import annotations

import pytest

from disclosure_inbox.domain.sealing import Seal, SealContext, decide

RITA = "A" * 40
ALICE, BOB = "B" * 40, "C" * 64


def ctx(
    protect: str | None = "reporter",
    *,
    openpgp: bool = True,
    encrypt_replies: bool = True,
    sign: bool = True,
    staff_keys: tuple[str, ...] = (ALICE, BOB),
    reporter_key: str | None = RITA,
) -> SealContext:
    return SealContext(protect, openpgp, encrypt_replies, sign, staff_keys, reporter_key)


CASES = [
    # (context, rule, action, recipients, signed)
    (ctx(None), "unprotected", "plain", (), False),
    (ctx(None, openpgp=False), "unprotected", "plain", (), False),
    (ctx("everyone"), "unknown-protection", "hold", (), False),
    (ctx("reporter"), "reporter-key", "encrypt", (RITA,), True),
    (ctx("reporter", sign=False), "reporter-key", "encrypt", (RITA,), False),
    (ctx("reporter", reporter_key=None), "no-reporter-key", "plain", (), False),
    (ctx("reporter", encrypt_replies=False), "replies-unencrypted", "plain", (), False),
    (ctx("reporter", openpgp=False, reporter_key=None), "no-openpgp", "plain", (), False),
    (ctx("reporter", staff_keys=()), "reporter-key", "encrypt", (RITA,), True),
    (ctx("staff"), "staff-keys", "encrypt", (ALICE, BOB), True),
    (ctx("staff", reporter_key=None, sign=False), "staff-keys", "encrypt", (ALICE, BOB), False),
    (ctx("staff", staff_keys=()), "staff-without-keys", "hold", (), False),
    (ctx("staff", openpgp=False), "staff-without-keys", "hold", (), False),
    # encrypt_replies is about replies to reporters; staff notices are encrypted regardless
    (ctx("staff", encrypt_replies=False), "staff-keys", "encrypt", (ALICE, BOB), True),
]


@pytest.mark.parametrize(("context", "rule", "action", "recipients", "signed"), CASES)
def test_the_first_rule_that_decides_names_the_verdict(context, rule, action, recipients, signed):
    verdict = decide(context)
    assert (verdict.rule, verdict.action, verdict.recipients, verdict.sign) == (
        rule,
        action,
        recipients,
        signed,
    )
    assert bool(verdict.reason) == (action == "hold")


def test_a_held_message_says_why_and_only_encryption_names_recipients():
    assert "staff_keys" in decide(ctx("staff", staff_keys=())).reason
    with pytest.raises(ValueError):
        Seal("encrypt")
    with pytest.raises(ValueError):
        Seal("plain", (RITA,))
    with pytest.raises(ValueError):
        Seal("hold")
