from __future__ import annotations

import re
from typing import Any

import pytest

from disclosure_inbox.domain.loops import (
    ALLOWED,
    RULES,
    LoopContext,
    Rule,
    Verdict,
    evaluate,
    is_bounce,
)

MARKER = "X-Disclosure-Inbox-Loop"
# The organisation's security address, run as a mailing list ([loops] own_list_ids).
OWN_LIST = "security.example.com"


def report(**changes: Any) -> LoopContext:
    """A plain first report from a researcher: no rule may fire on it."""
    fields: dict[str, Any] = {
        "headers": {
            "from": "Alice Researcher <alice@reporter.example>",
            "to": "security@example.com",
            "subject": "Stored XSS in the profile page",
            "message-id": "<CAF1234@mail.reporter.example>",
            "return-path": "<alice@reporter.example>",
            "content-type": "text/plain; charset=utf-8",
        },
        "sender_address": "alice@reporter.example",
        "content_type": "text/plain",
        "message_id": "<CAF1234@mail.reporter.example>",
        "own_addresses": frozenset({"security@example.com", "noreply@example.com"}),
        "staff_addresses": frozenset({"bob@example.com"}),
        "own_domain": "example.com",
        "loop_marker": MARKER,
        "own_list_ids": frozenset({OWN_LIST}),
        "acks_to_sender_last_24h": 0,
        "acks_to_domain_last_24h": 0,
        "acks_for_report": 0,
        "acks_last_hour": 0,
        "max_acks_per_sender_per_day": 3,
        "max_acks_per_domain_per_day": 20,
        "max_acks_per_report": 1,
        "max_acks_per_hour": 100,
    }
    extra_headers = changes.pop("extra_headers", {})
    fields["headers"] = {**fields["headers"], **extra_headers}
    fields.update(changes)
    return LoopContext(**fields)


def fired(ctx: LoopContext) -> list[str]:
    return [rule.name for rule in RULES if rule.check(ctx) is not None]


# One message per rule that triggers that rule and no other.
FIRING: dict[str, dict[str, Any]] = {
    "own-loop-marker": {"extra_headers": {"x-disclosure-inbox-loop": "security@example.com"}},
    "own-message-id": {"message_id": "<20260301.4f2a@example.com>"},
    "own-address": {"sender_address": "security@example.com"},
    "mailer-daemon": {"sender_address": "mailer-daemon@mx.reporter.example"},
    "delivery-report": {"content_type": "multipart/report"},
    "auto-submitted": {"extra_headers": {"auto-submitted": "auto-replied"}},
    "auto-reply-headers": {"extra_headers": {"x-autoreply": "yes"}},
    "auto-response-suppress": {"extra_headers": {"x-auto-response-suppress": "All"}},
    "precedence": {"extra_headers": {"precedence": "bulk"}},
    "list-headers": {"extra_headers": {"list-id": "<security.lists.example.org>"}},
    "staff-address": {"sender_address": "bob@example.com"},
    "rate-limit-sender": {"acks_to_sender_last_24h": 3},
    "rate-limit-domain": {"acks_to_domain_last_24h": 20},
    "rate-limit-report": {"acks_for_report": 1},
    "rate-limit-global": {"acks_last_hour": 100},
}


def test_every_rule_has_a_firing_case() -> None:
    assert sorted(FIRING) == sorted(rule.name for rule in RULES)


def test_rule_names_are_unique_and_kebab_case() -> None:
    names = [rule.name for rule in RULES]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z]+(?:-[a-z0-9]+)*", name) for name in names)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule_fires_alone_on_its_message(rule: Rule) -> None:
    ctx = report(**FIRING[rule.name])
    assert fired(ctx) == [rule.name]
    verdict = evaluate(ctx)
    assert verdict.allowed is False
    assert verdict.rule == rule.name
    assert verdict.reason


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_rule_passes_a_plain_report(rule: Rule) -> None:
    assert rule.check(report()) is None


def test_plain_report_is_allowed() -> None:
    assert evaluate(report()) == ALLOWED == Verdict(allowed=True, rule=None, reason=None)


@pytest.mark.parametrize(
    ("expected", "changes"),
    [
        ("auto-submitted", {"extra_headers": {"auto-submitted": "AUTO-GENERATED"}}),
        (
            "auto-submitted",
            {"extra_headers": {"auto-submitted": "  auto-generated (warning-timeout)"}},
        ),
        ("auto-submitted", {"extra_headers": {"auto-submitted": "auto-notified; owner-email=x"}}),
        ("auto-submitted", {"extra_headers": {"auto-submitted": "(no) auto-replied"}}),
        ("auto-submitted", {"extra_headers": {"auto-submitted": ""}}),
        ("auto-submitted", {"extra_headers": {"auto-submitted": "\t\u00a0auto-replied\u2003"}}),
        ("auto-reply-headers", {"extra_headers": {"x-autorespond": "Autoresponder"}}),
        ("auto-response-suppress", {"extra_headers": {"x-auto-response-suppress": "DR, OOF"}}),
        (
            "auto-response-suppress",
            {"extra_headers": {"x-auto-response-suppress": "oof,autoreply"}},
        ),
        ("auto-response-suppress", {"extra_headers": {"x-auto-response-suppress": " dr "}}),
        ("precedence", {"extra_headers": {"precedence": " JUNK "}}),
        ("precedence", {"extra_headers": {"precedence": "list; x=y"}}),
        ("precedence", {"extra_headers": {"precedence": "auto_reply"}}),
        ("list-headers", {"extra_headers": {"list-unsubscribe": "<mailto:leave@lists.example>"}}),
        # Someone else's list, even one whose name starts like ours or whose phrase is ours.
        ("list-headers", {"extra_headers": {"list-id": "<security.example.com.evil.example>"}}),
        ("list-headers", {"extra_headers": {"list-id": "security.example.com <l.evil.example>"}}),
        ("list-headers", {"extra_headers": {"list-id": "<sub.security.example.com>"}}),
        ("list-headers", {"own_list_ids": frozenset(), "extra_headers": {"list-id": OWN_LIST}}),
        # Our own list passes the other Precedence values on; they still count.
        ("precedence", {"extra_headers": {"precedence": "bulk", "list-id": f"<{OWN_LIST}>"}}),
        ("precedence", {"extra_headers": {"precedence": "junk", "list-id": f"<{OWN_LIST}>"}}),
        ("mailer-daemon", {"sender_address": "MAILER-DAEMON@mx.example.net"}),
        ("mailer-daemon", {"sender_address": "Postmaster@reporter.example"}),
        ("mailer-daemon", {"sender_address": "mailer-daemon"}),
        ("mailer-daemon", {"sender_address": ""}),
        ("mailer-daemon", {"sender_address": "   "}),
        ("mailer-daemon", {"extra_headers": {"return-path": "<>"}}),
        ("mailer-daemon", {"extra_headers": {"return-path": " < > "}}),
        ("mailer-daemon", {"extra_headers": {"return-path": "<MAILER-DAEMON@mx.example>"}}),
        ("delivery-report", {"content_type": "Multipart/Report; report-type=delivery-status"}),
        ("delivery-report", {"content_type": "message/delivery-status"}),
        ("own-loop-marker", {"extra_headers": {"x-disclosure-inbox-loop": "other@else.example"}}),
        (
            "own-loop-marker",
            {
                "loop_marker": " x-DISCLOSURE-inbox-LOOP: ",
                "extra_headers": {"x-disclosure-inbox-loop": ""},
            },
        ),
        ("own-message-id", {"message_id": "<A.B@EXAMPLE.COM>"}),
        ("own-message-id", {"message_id": "a.b@example.com"}),
        ("own-address", {"sender_address": "NoReply@Example.com"}),
        ("staff-address", {"sender_address": " BOB@example.com "}),
        ("rate-limit-sender", {"acks_to_sender_last_24h": 7}),
        ("rate-limit-sender", {"max_acks_per_sender_per_day": 0}),
        ("rate-limit-report", {"acks_for_report": 2, "max_acks_per_report": 2}),
        ("rate-limit-domain", {"acks_to_domain_last_24h": 50}),
        ("rate-limit-domain", {"max_acks_per_domain_per_day": 0}),
        ("rate-limit-global", {"acks_last_hour": 1000}),
        ("rate-limit-global", {"max_acks_per_hour": 0}),
    ],
)
def test_variants_that_fire(expected: str, changes: dict[str, Any]) -> None:
    ctx = report(**changes)
    assert fired(ctx) == [expected]
    assert evaluate(ctx).rule == expected


@pytest.mark.parametrize(
    ("rule_name", "changes"),
    [
        ("auto-submitted", {"extra_headers": {"auto-submitted": "no"}}),
        ("auto-submitted", {"extra_headers": {"auto-submitted": "  No "}}),
        ("auto-submitted", {"extra_headers": {"auto-submitted": "no; reason=typed-by-hand"}}),
        ("auto-submitted", {"extra_headers": {"auto-submitted": "no (a person wrote this)"}}),
        ("auto-reply-headers", {"extra_headers": {"x-autoreply-count": "1"}}),
        ("auto-response-suppress", {"extra_headers": {"x-auto-response-suppress": "OOF"}}),
        (
            "auto-response-suppress",
            {"extra_headers": {"x-auto-response-suppress": "NDR, RN, NRN, OOF"}},
        ),
        ("auto-response-suppress", {"extra_headers": {"x-auto-response-suppress": "None"}}),
        ("auto-response-suppress", {"extra_headers": {"x-auto-response-suppress": "DRAFT"}}),
        ("precedence", {"extra_headers": {"precedence": "first-class"}}),
        ("precedence", {"extra_headers": {"precedence": "special-delivery"}}),
        ("precedence", {"extra_headers": {"precedence": "bulky"}}),
        ("list-headers", {"extra_headers": {"list-ids-seen": "3"}}),
        # Our own lists: the List-Id says so, whatever the case, phrase or brackets.
        ("list-headers", {"extra_headers": {"list-id": f"<{OWN_LIST}>"}}),
        ("list-headers", {"extra_headers": {"list-id": "Security Team <Security.Example.COM>"}}),
        ("list-headers", {"extra_headers": {"list-id": f"  {OWN_LIST}  "}}),
        (
            "list-headers",
            {
                "own_list_ids": frozenset({"<Security.Example.com>"}),
                "extra_headers": {
                    "list-id": f'"security" <{OWN_LIST}>',
                    "list-unsubscribe": "<mailto:security+unsubscribe@example.com>",
                    "precedence": "list",
                },
            },
        ),
        ("precedence", {"extra_headers": {"precedence": "list", "list-id": f"<{OWN_LIST}>"}}),
        ("mailer-daemon", {"sender_address": "mailer-daemon-fan@reporter.example"}),
        ("mailer-daemon", {"sender_address": "alice@mailer-daemon.example"}),
        ("mailer-daemon", {"sender_address": "postmaster.jr@reporter.example"}),
        ("mailer-daemon", {"extra_headers": {"return-path": "<bounces+alice@reporter.example>"}}),
        ("delivery-report", {"content_type": "multipart/mixed"}),
        ("delivery-report", {"content_type": "message/rfc822"}),
        ("own-loop-marker", {"extra_headers": {"x-disclosure-inbox-loop-id": "1"}}),
        ("own-loop-marker", {"loop_marker": "", "extra_headers": {"": "x"}}),
        ("own-message-id", {"message_id": "<a@sub.example.com>"}),
        ("own-message-id", {"message_id": "<a@example.com.evil.example>"}),
        ("own-message-id", {"message_id": "<a@notexample.com>"}),
        ("own-message-id", {"message_id": None}),
        ("own-message-id", {"own_domain": "", "message_id": "<a@>"}),
        ("own-address", {"sender_address": "security@example.com.evil.example"}),
        ("staff-address", {"sender_address": "bob@example.org"}),
        ("rate-limit-sender", {"acks_to_sender_last_24h": 2}),
        ("rate-limit-report", {"acks_for_report": 0, "max_acks_per_report": 1}),
        ("rate-limit-domain", {"acks_to_domain_last_24h": 19}),
        ("rate-limit-global", {"acks_last_hour": 99}),
    ],
)
def test_near_misses_do_not_fire(rule_name: str, changes: dict[str, Any]) -> None:
    ctx = report(**changes)
    assert fired(ctx) == []
    assert evaluate(ctx).allowed


def test_first_firing_rule_in_table_order_is_reported() -> None:
    ctx = report(
        sender_address="mailer-daemon@mx.reporter.example",
        content_type="multipart/report",
        acks_to_sender_last_24h=10,
        extra_headers={"auto-submitted": "auto-replied", "precedence": "bulk"},
    )
    assert fired(ctx) == [
        "mailer-daemon",
        "delivery-report",
        "auto-submitted",
        "precedence",
        "rate-limit-sender",
    ]
    assert evaluate(ctx).rule == "mailer-daemon"
    # The table decides: the same message under the reversed table reports the last rule.
    assert evaluate(ctx, tuple(reversed(RULES))).rule == "rate-limit-sender"


def test_mail_through_our_own_list_still_meets_the_other_rules() -> None:
    via_list = {"list-id": f"Security <{OWN_LIST}>", "precedence": "list"}
    assert evaluate(report(extra_headers=via_list)).allowed
    auto = report(extra_headers={**via_list, "auto-submitted": "auto-replied"})
    assert fired(auto) == ["auto-submitted"]
    assert fired(report(extra_headers=via_list, sender_address="bob@example.com")) == [
        "staff-address"
    ]
    assert fired(report(extra_headers=via_list, acks_to_domain_last_24h=20)) == [
        "rate-limit-domain"
    ]


def test_rate_limits_run_from_the_narrowest_to_the_widest() -> None:
    ctx = report(
        acks_to_sender_last_24h=3, acks_to_domain_last_24h=20, acks_for_report=1, acks_last_hour=100
    )
    assert fired(ctx) == [
        "rate-limit-sender",
        "rate-limit-domain",
        "rate-limit-report",
        "rate-limit-global",
    ]
    assert evaluate(report(acks_to_domain_last_24h=20, acks_last_hour=100)).rule == (
        "rate-limit-domain"
    )


def test_our_mail_coming_back_is_explained_as_a_loop_before_anything_else() -> None:
    ctx = report(
        sender_address="security@example.com",
        message_id="<1.2@example.com>",
        extra_headers={"x-disclosure-inbox-loop": "security@example.com", "auto-submitted": "x"},
    )
    assert evaluate(ctx).rule == "own-loop-marker"


@pytest.mark.parametrize(
    ("changes", "bounce"),
    [
        ({"sender_address": "MAILER-DAEMON@mx.example.net"}, True),
        ({"sender_address": "postmaster@reporter.example"}, True),
        ({"content_type": "multipart/report"}, True),
        ({"content_type": "message/delivery-status"}, True),
        ({}, False),
        ({"sender_address": ""}, False),
        ({"extra_headers": {"return-path": "<>"}}, False),
        ({"extra_headers": {"auto-submitted": "auto-replied"}}, False),
    ],
)
def test_is_bounce(changes: dict[str, Any], bounce: bool) -> None:
    assert is_bounce(report(**changes)) is bounce


def test_hostile_header_values_give_one_short_line_of_reason() -> None:
    value = "auto-replied\r\nBcc: victim@example.org\x00" + "\u2028A" * 50_000
    verdict = evaluate(report(extra_headers={"auto-submitted": value}))
    assert verdict.rule == "auto-submitted"
    assert verdict.reason is not None
    assert len(verdict.reason) < 200
    assert not re.search(r"[\x00-\x1f\u2028\u2029]", verdict.reason)


def test_long_whitespace_and_comment_padding_is_read_correctly() -> None:
    padded = " \t" * 100_000 + "(" * 1000 + "x" + ")" * 1000 + " no" + " " * 100_000
    assert evaluate(report(extra_headers={"auto-submitted": padded})).allowed
    bulk = "\u2003" * 200_000 + "Bulk"
    assert evaluate(report(extra_headers={"precedence": bulk})).rule == "precedence"
    many = ", ".join(["OOF"] * 100_000 + ["AutoReply"])
    assert evaluate(report(extra_headers={"x-auto-response-suppress": many})).rule == (
        "auto-response-suppress"
    )


def test_context_normalises_names_and_addresses() -> None:
    ctx = report(
        headers={"Auto-Submitted": "no", "LIST-ID": "<l.example>", "list-id": "ignored"},
        sender_address="  Alice@Reporter.Example ",
        own_addresses=frozenset({"Security@Example.com"}),
    )
    assert dict(ctx.headers) == {"auto-submitted": "no", "list-id": "<l.example>"}
    assert ctx.sender_address == "alice@reporter.example"
    assert ctx.own_addresses == frozenset({"security@example.com"})
    assert evaluate(ctx).rule == "list-headers"


def test_context_is_immutable_even_through_headers() -> None:
    source = {"subject": "hello"}
    ctx = report(headers=source)
    source["auto-submitted"] = "auto-replied"
    assert "auto-submitted" not in ctx.headers
    assert evaluate(ctx).allowed
    with pytest.raises(TypeError):
        ctx.headers["precedence"] = "bulk"  # type: ignore[index]


@pytest.mark.parametrize(
    "field",
    [
        "acks_to_sender_last_24h",
        "acks_to_domain_last_24h",
        "acks_for_report",
        "acks_last_hour",
        "max_acks_per_sender_per_day",
        "max_acks_per_domain_per_day",
        "max_acks_per_report",
        "max_acks_per_hour",
    ],
)
def test_negative_counts_are_rejected(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        report(**{field: -1})
