"""The new part of a staff reply, without the quoted mail below it and the signature."""

from __future__ import annotations

import time

from disclosure_inbox.domain.commands import Command, Verb, parse_commands
from disclosure_inbox.domain.replytext import MAX_CHARS, latest_reply


def test_gmail_style_quote() -> None:
    text = (
        "/verify high\n"
        "Confirmed on 4.2.\n"
        "\n"
        "On Tue, 1 Jul 2026 at 10:00, Alice Researcher <alice@reporter.example> wrote:\n"
        "> I found a stored XSS in the profile page.\n"
        "> /close\n"
    )
    assert latest_reply(text) == "/verify high\nConfirmed on 4.2."


def test_gmail_attribution_wrapped_over_two_lines() -> None:
    text = (
        "Confirmed.\n\n"
        "On Tue, 1 Jul 2026 at 10:00, Alice Researcher <alice@reporter.example>\n"
        "wrote:\n"
        "\n"
        "> I found a stored XSS.\n"
    )
    assert latest_reply(text) == "Confirmed."


def test_outlook_original_message_block() -> None:
    text = (
        "Thanks for the report.\r\n"
        "/triage\r\n"
        "\r\n"
        "-----Original Message-----\r\n"
        "From: Alice Researcher <alice@reporter.example>\r\n"
        "Sent: Tuesday, July 1, 2026 10:00 AM\r\n"
        "To: security@m.io\r\n"
        "Subject: Stored XSS\r\n"
        "\r\n"
        "/spam\r\n"
    )
    assert latest_reply(text) == "Thanks for the report.\n/triage"


def test_outlook_from_sent_block_under_a_rule() -> None:
    text = (
        "Looking into it.\n"
        "\n"
        "________________________________\n"
        "From: Alice Researcher <alice@reporter.example>\n"
        "Sent: Tuesday, July 1, 2026 10:00\n"
        "To: security@m.io\n"
        "Subject: Stored XSS\n"
        "\n"
        "/close\n"
    )
    assert latest_reply(text) == "Looking into it."


def test_quoted_lines_without_a_header() -> None:
    text = "We reproduced it:\n\n    curl -s https://m.io/x\n\n> I found\n> /spam\n"
    # Indentation is kept: the library compares stripped lines, we return them as written.
    assert latest_reply(text) == "We reproduced it:\n\n    curl -s https://m.io/x"


def test_inline_answers_below_a_quote_are_not_part_of_the_reply() -> None:
    assert latest_reply("Short answer.\n> Does 4.2 have it?\nYes.\n/close\n") == "Short answer."


def test_dash_dash_space_signature() -> None:
    text = "Fixed in 4.3.\n/resolve\n\n-- \nBob Example\nSecurity team, m.io\n"
    assert latest_reply(text) == "Fixed in 4.3.\n/resolve"


def test_mobile_and_closing_signatures() -> None:
    assert latest_reply("ok, will check\n\nSent from my iPhone") == "ok, will check"
    assert latest_reply("We will fix it.\n\nBest regards,\nBob") == "We will fix it."


def test_german_header() -> None:
    text = (
        "Danke, wir sehen es uns an.\n"
        "/needs-info\n"
        "\n"
        "Am 01.07.2026 um 10:00 schrieb Alice Researcher <alice@reporter.example>:\n"
        "> Hallo,\n"
        "> /close\n"
    )
    assert latest_reply(text) == "Danke, wir sehen es uns an.\n/needs-info"


def test_a_reply_with_no_quote() -> None:
    text = "\n\nJust a note.\n/note internal only\n\n\n- step one\n- step two\n\n"
    assert latest_reply(text) == "Just a note.\n/note internal only\n\n\n- step one\n- step two"


def test_a_message_that_is_only_a_quote_has_no_reply() -> None:
    assert latest_reply("On Tue, 1 Jul 2026, Alice wrote:\n> /close\n") == ""
    assert latest_reply("> /close\n> /spam") == ""
    assert latest_reply("") == ""


def test_commands_survive_and_quoted_commands_do_not() -> None:
    text = (
        "/verify critical\n/assign carol@m.io\nConfirmed.\n\n"
        "On Tue, 1 Jul 2026 at 10:00, Bob <bob@m.io> wrote:\n> /spam\n> /close\n"
    )
    parsed = parse_commands(latest_reply(text))
    assert [c.verb for c in parsed.commands if isinstance(c, Command)] == [
        Verb.VERIFY,
        Verb.ASSIGN,
    ]
    assert len(parsed.commands) == 2
    assert parsed.text == "Confirmed."


def test_hostile_text_stays_fast_and_bounded() -> None:
    started = time.monotonic()
    for text in ("\n" * 100_000, "On " * 100_000, ("On " * 300 + "\n") * 300, " \n" * 50_000):
        assert len(latest_reply(text)) <= MAX_CHARS
    assert time.monotonic() - started < 5
