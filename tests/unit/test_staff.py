"""Who may act as staff: a reply token issued to From, or our own server's aligned dkim=pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from disclosure_inbox.domain.staff import (
    RULES,
    AuthResult,
    StaffEvidence,
    aligned,
    evaluate,
)
from disclosure_inbox.domain.tokens import issue, verify

KEY = b"staff token key"
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
REF = "MIO-2026-0042"
OURS = "mx.m.io"
STAFF = frozenset({"bob@m.io", "carol@m.io"})


def checks(*tokens: str, sender: str = "bob@m.io") -> tuple[Any, ...]:
    return tuple(verify([KEY], t, sender, NOW) for t in tokens)


def token_for(recipient: str, *, expires: datetime = NOW + timedelta(days=30)) -> str:
    return issue([KEY], REF, recipient, expires)


def evidence(**changes: Any) -> StaffEvidence:
    """Bob writes from his staff address, with nothing to prove it."""
    fields: dict[str, Any] = {
        "from_address": "bob@m.io",
        "staff_addresses": STAFF,
        "token_checks": (),
        "auth_results": (),
        "trusted_authserv_ids": frozenset({OURS}),
    }
    fields.update(changes)
    return StaffEvidence(**fields)


def dkim(result: str, domain: str, authserv_id: str = OURS) -> AuthResult:
    return AuthResult(authserv_id, "dkim", result, domain)


# --- accepted -----------------------------------------------------------------------------


def test_a_reply_token_issued_to_from() -> None:
    verdict = evaluate(evidence(token_checks=checks(token_for("Bob@M.io"))))
    assert verdict.authenticated
    assert verdict.is_staff_claim
    assert verdict.rule == "reply-token"
    assert verdict.report_ref == REF


def test_an_aligned_dkim_pass_from_our_server() -> None:
    verdict = evaluate(evidence(auth_results=(dkim("pass", "m.io"),)))
    assert verdict.authenticated
    assert verdict.rule == "dkim-aligned"
    assert verdict.report_ref is None


def test_the_token_wins_over_dkim_and_names_the_report() -> None:
    verdict = evaluate(
        evidence(
            token_checks=checks(token_for("bob@m.io")),
            auth_results=(dkim("pass", "m.io"),),
        )
    )
    assert (verdict.rule, verdict.report_ref) == ("reply-token", REF)


def test_a_valid_token_beside_a_broken_one() -> None:
    broken = token_for("bob@m.io")[:-3] + "aaa"
    verdict = evaluate(evidence(token_checks=checks(broken, token_for("bob@m.io"))))
    assert verdict.authenticated and verdict.rule == "reply-token"


def test_names_and_ids_are_compared_case_insensitively() -> None:
    verdict = evaluate(
        evidence(
            from_address=" Bob@M.IO ",
            staff_addresses=frozenset({"BOB@m.io"}),
            auth_results=(AuthResult("MX.M.IO", "DKIM", "Pass", "M.IO"),),
            trusted_authserv_ids=frozenset({"Mx.M.io"}),
        )
    )
    assert verdict.authenticated and verdict.rule == "dkim-aligned"


# --- refused: each rule the table names ---------------------------------------------------


def test_a_forged_from_without_a_token() -> None:
    verdict = evaluate(evidence())
    assert not verdict.authenticated
    assert verdict.is_staff_claim  # it claims to be Bob, and nothing backs it
    assert verdict.rule == "no-authentication"


def test_not_a_staff_address() -> None:
    # A stranger with a valid DKIM signature of their own is still a stranger.
    verdict = evaluate(
        evidence(from_address="alice@reporter.example", auth_results=(dkim("pass", "m.io"),))
    )
    assert not verdict.authenticated and not verdict.is_staff_claim
    assert verdict.rule == "not-staff"


def test_a_token_issued_to_another_staff_address() -> None:
    # Carol's notification, replied to as Bob (or forwarded to someone posing as Bob).
    verdict = evaluate(evidence(token_checks=checks(token_for("carol@m.io"))))
    assert not verdict.authenticated
    assert verdict.rule == "token-other-recipient"
    assert verdict.report_ref is None


def test_an_expired_token() -> None:
    old = token_for("bob@m.io", expires=NOW - timedelta(seconds=1))
    verdict = evaluate(evidence(token_checks=checks(old)))
    assert (verdict.authenticated, verdict.rule) == (False, "token-expired")
    assert "expired" in verdict.reason


def test_a_token_with_one_character_changed() -> None:
    t = token_for("bob@m.io")
    changed = t[:10] + ("b" if t[10] == "a" else "a") + t[11:]
    verdict = evaluate(evidence(token_checks=checks(changed)))
    assert (verdict.authenticated, verdict.rule) == (False, "token-bad-signature")


def test_a_malformed_token() -> None:
    verdict = evaluate(evidence(token_checks=checks("a" * 41)))  # no base32 has 41 characters
    assert (verdict.authenticated, verdict.rule) == (False, "token-malformed")


def test_a_check_made_against_another_address_than_from_does_not_count() -> None:
    # The caller verified Carol's token against Carol, then Bob's From came in: not Bob's.
    carol = checks(token_for("carol@m.io"), sender="carol@m.io")
    assert carol[0].valid
    verdict = evaluate(evidence(token_checks=carol))
    assert (verdict.authenticated, verdict.rule) == (False, "no-authentication")


def test_authentication_results_from_an_untrusted_authserv_id() -> None:
    forged = dkim("pass", "m.io", authserv_id="mail.attacker.example")
    verdict = evaluate(evidence(auth_results=(forged,)))
    assert (verdict.authenticated, verdict.rule) == (False, "untrusted-authserv")
    assert "mail.attacker.example" in verdict.reason


def test_untrusted_results_are_ignored_beside_ours() -> None:
    forged = dkim("pass", "m.io", authserv_id="mail.attacker.example")
    verdict = evaluate(evidence(auth_results=(forged, dkim("fail", "m.io"))))
    assert (verdict.authenticated, verdict.rule) == (False, "dkim-fail")


def test_no_trusted_authserv_ids_configured() -> None:
    verdict = evaluate(
        evidence(auth_results=(dkim("pass", "m.io"),), trusted_authserv_ids=frozenset())
    )
    assert (verdict.authenticated, verdict.rule) == (False, "untrusted-authserv")


def test_dkim_pass_for_a_domain_that_is_not_the_from_domain() -> None:
    verdict = evaluate(evidence(auth_results=(dkim("pass", "gmail.com"),)))
    assert (verdict.authenticated, verdict.rule) == (False, "dkim-not-aligned")
    assert "gmail.com" in verdict.reason


def test_dkim_fail_from_the_trusted_authserv_id() -> None:
    verdict = evaluate(evidence(auth_results=(dkim("fail", "m.io"),)))
    assert (verdict.authenticated, verdict.rule) == (False, "dkim-fail")


def test_the_from_domains_failure_is_the_one_named() -> None:
    results = (dkim("fail", "lists.example"), dkim("permerror", "m.io"))
    verdict = evaluate(evidence(auth_results=results))
    assert verdict.rule == "dkim-fail"
    assert "permerror" in verdict.reason


def test_a_second_valid_signature_still_counts() -> None:
    # A list broke the author's signature but our domain's second signature held.
    verdict = evaluate(evidence(auth_results=(dkim("fail", "m.io"), dkim("pass", "m.io"))))
    assert verdict.authenticated and verdict.rule == "dkim-aligned"


def test_trusted_results_without_dkim() -> None:
    spf = AuthResult(OURS, "spf", "pass", "")
    verdict = evaluate(evidence(auth_results=(spf, dkim("none", ""))))
    assert (verdict.authenticated, verdict.rule) == (False, "no-authentication")


def test_token_refusals_come_before_dkim_refusals() -> None:
    verdict = evaluate(
        evidence(
            token_checks=checks(token_for("carol@m.io")),
            auth_results=(dkim("fail", "m.io"),),
        )
    )
    assert verdict.rule == "token-other-recipient"


def test_reasons_quote_header_values_on_one_short_line() -> None:
    hostile = "evil\r\nBcc: x@y" + "z" * 500
    verdict = evaluate(evidence(auth_results=(dkim("pass", "m.io", authserv_id=hostile),)))
    assert verdict.rule == "untrusted-authserv"
    assert "\n" not in verdict.reason and "\r" not in verdict.reason
    assert len(verdict.reason) < 200


@pytest.mark.parametrize(
    ("signing", "author", "expected"),
    [
        ("m.io", "m.io", True),
        ("mail.m.io", "m.io", True),  # our signer on a subdomain
        ("m.io", "eu.m.io", True),  # signed by the parent domain
        ("M.IO.", "m.io", True),
        ("eu.m.io", "us.m.io", False),  # siblings: DMARC would align them, we do not
        ("xm.io", "m.io", False),  # a suffix of the name, not a subdomain
        ("io", "m.io", False),  # a bare top-level label never aligns
        ("", "m.io", False),
        ("m.io", "", False),
        ("gmail.com", "m.io", False),
    ],
)
def test_alignment(signing: str, author: str, expected: bool) -> None:
    assert aligned(signing, author) is expected


def test_every_rule_has_a_unique_kebab_case_name() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert all(name == name.lower() and " " not in name for name in names)
    assert [rule.name for rule in RULES if rule.authenticates] == ["reply-token", "dkim-aligned"]
