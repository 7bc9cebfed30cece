"""Hints: the category, a confidence, and a verbatim quote from the report."""

from __future__ import annotations

import pytest

from disclosure_inbox.domain.triage.hints import hints, quote
from disclosure_inbox.domain.triage.model import Source


def top(text: str, subject: str = "", inside=(), outside=()) -> tuple[str | None, str]:
    sources = [Source("subject", subject), Source("text", text)]
    found = hints(sources, list(inside), list(outside))
    for h in found:
        assert h.evidence and h.evidence in (text + "\n" + subject)  # verbatim
        assert 0.5 <= h.confidence <= 1
    assert [h.confidence for h in found] == sorted((h.confidence for h in found), reverse=True)
    return (found[0].category, found[0].evidence) if found else (None, "")


@pytest.mark.parametrize(
    ("text", "category"),
    [
        (
            "Hi, the site m.io is missing the X-Frame-Options header. This allows clickjacking.",
            "best_practice",
        ),
        (
            "Your domain m.io has no DMARC record, so anyone can spoof e-mails from it.",
            "best_practice",
        ),
        ("I can take your website offline with a DDoS attack from my botnet.", "dos"),
        ("Your contact form lets me send unlimited emails to anyone; it is a spam cannon.", "spam"),
        (
            "I called your support desk, pretended to be an employee and convinced the agent to "
            "reset a password.",
            "social_engineering",
        ),
        (
            "Yesterday I walked into your office building behind an employee without a badge.",
            "physical",
        ),
        (
            "Your server runs nginx 1.14.0, which is an outdated version. Please upgrade.",
            "outdated_version",
        ),
        ("Attached is the Nessus scan report for m.io with 14 findings.", "scanner_unvalidated"),
        (
            "In theory, an attacker could potentially guess session ids; I have not tested this.",
            "theoretical",
        ),
        (
            "I found a critical vulnerability in your website. Do you offer a bug bounty before I "
            "share the details?",
            "no_report",
        ),
        (
            "Bei m.io fehlt der Header X-Frame-Options, dadurch ist Clickjacking möglich.",
            "best_practice",
        ),
        (
            "Su servidor usa una versión obsoleta de Apache 2.4.29. Recomiendo actualizar.",
            "outdated_version",
        ),
        ("大量のリクエストを送信したところ、サーバーがダウンしました。", "dos"),
        (
            "脆弱性を発見しました。報奨金はいただけますか？詳細をお伝えする前に確認させてください。",
            "no_report",
        ),
    ],
)
def test_each_category_is_named_with_its_sentence(text, category):
    assert top(text)[0] == category


def test_an_in_scope_host_with_a_reproduction_gets_no_hint_at_all():
    text = (
        "IDOR on api.m.io: the missing X-Frame-Options header aside, the real issue is here.\n"
        "Steps to reproduce:\n1. Log in as user A.\n2. Send the request below with B's id.\n"
        "GET /v1/invoices/1002 HTTP/1.1\nHost: api.m.io\n\n"
        "The response returns user B's invoice. I was able to read 20 other invoices."
    )
    assert top(text, inside=["api.m.io"]) == (None, "")


def test_hosts_outside_the_scope_alone_suggest_a_third_party():
    text = "The login page of partner-shop.example.net reflects the q parameter unescaped."
    assert top(text, outside=["partner-shop.example.net"])[0] == "third_party"


def test_references_are_not_targets():
    text = "See https://owasp.org/www-community/attacks/csrf for the class of bug."
    category, _ = top(text, outside=["owasp.org"])
    assert category != "third_party"


def test_the_evidence_is_the_sentence_around_the_cue():
    text = "Hello team. The response lacks the HSTS header on m.io. Regards, Ana"
    assert top(text)[1] == "The response lacks the HSTS header on m.io."


def test_a_long_line_is_quoted_as_a_window_of_itself():
    text = "x" * 500 + " missing X-Frame-Options header " + "y" * 500
    found = quote(text, 501, 530)
    assert len(found) <= 240 and found in text and "X-Frame" in found


def test_spanish_dos_is_not_denial_of_service():
    category, _ = top("Encontré dos problemas en el formulario de login de m.io.")
    assert category != "dos"
