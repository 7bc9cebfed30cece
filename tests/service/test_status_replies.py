"""A reporter who writes just "status" is told where the report stands, within the limits of
the acknowledgements and never in answer to machine mail."""

from __future__ import annotations

from disclosure_inbox.testing.mailgen import simple

REPORTER = "ada@example.org"


def to_reporter(d):
    return [m.message for m in d.sink.messages if list(m.rcpt_tos) == [REPORTER]]


def asks(n: int, **headers: str) -> bytes:
    return simple(
        "Re: [MIO-2026-0001] Re: XSS",
        "status\n\nOn Wed, Mio Security wrote:\n> Thank you for your report\n",
        message_id=f"<s{n}@example.org>",
        headers={"In-Reply-To": "<r1@example.org>", **headers},
    )


def test_status_is_answered_with_the_clocks_in_business_days(deployment):
    d = deployment
    d.account.append([simple("XSS", message_id="<r1@example.org>")])
    d.run_once()
    d.account.append([asks(1)])
    d.run_once()
    [_, reply] = to_reporter(d)
    assert reply["Subject"] == "[MIO-2026-0001] Re: XSS"
    assert reply["In-Reply-To"] == "<s1@example.org>"
    text = reply.get_body(("plain",)).get_content()
    assert "Status:     new" in text
    assert "Acknowledgement: running, due in" in text and "business days" in text
    assert d.scalar("SELECT count(*) FROM outbox WHERE kind = 'status-reply'") == 1
    d.run_once()
    assert len(to_reporter(d)) == 2  # once


def test_status_from_a_machine_or_over_the_limit_is_not_answered(deployment):
    d = deployment
    d.account.append([simple("XSS", message_id="<r1@example.org>")])
    d.run_once()
    d.account.append([asks(1, **{"Auto-Submitted": "auto-replied"})])
    d.run_once()
    assert len(to_reporter(d)) == 1
    # The acknowledgement and two answers reach acks_per_sender_per_day (3): no fourth mail.
    d.account.append([asks(2), asks(3), asks(4)])
    d.run_once()
    assert len(to_reporter(d)) == 3
    assert d.scalar("SELECT count(*) FROM audit WHERE action = 'status-suppressed'") == 2


def test_text_that_is_more_than_status_is_a_plain_follow_up(deployment):
    d = deployment
    d.account.append([simple("XSS", message_id="<r1@example.org>")])
    d.run_once()
    d.account.append(
        [
            simple(
                "Re: XSS",
                "What is the status of my report?\n",
                headers={"In-Reply-To": "<r1@example.org>"},
            )
        ]
    )
    d.run_once()
    assert len(to_reporter(d)) == 1
