"""Staff commands in a reply: parsed from the lines starting with "/", planned on the workflow."""

from __future__ import annotations

import pytest

from disclosure_inbox.domain.commands import (
    MAX_COMMANDS,
    MAX_LINE_CHARS,
    Accepted,
    Command,
    Invalid,
    Refused,
    Verb,
    parse_commands,
    plan,
)
from disclosure_inbox.domain.model import Severity, Status


def one(line: str) -> Command | Invalid:
    [command] = parse_commands(line).commands
    return command


@pytest.mark.parametrize(
    ("line", "verb", "target"),
    [
        ("/triage", Verb.TRIAGE, Status.TRIAGED),
        ("/needs-info", Verb.NEEDS_INFO, Status.NEEDS_INFO),
        ("/resolve", Verb.RESOLVE, Status.RESOLVED),
        ("/close", Verb.CLOSE, Status.CLOSED),
        ("/spam", Verb.SPAM, Status.SPAM),
        ("/reopen", Verb.REOPEN, Status.TRIAGED),
        ("/internal", Verb.INTERNAL, None),
    ],
)
def test_commands_without_arguments(line: str, verb: Verb, target: Status | None) -> None:
    assert one(line) == Command(verb, 1, target)


def test_severity_commands() -> None:
    assert one("/verify high") == Command(Verb.VERIFY, 1, Status.VERIFIED, Severity.HIGH)
    assert one("/severity Critical") == Command(Verb.SEVERITY, 1, None, Severity.CRITICAL)


def test_commands_with_text() -> None:
    assert one("/duplicate [mio-2026-0007]") == Command(
        Verb.DUPLICATE, 1, Status.DUPLICATE, argument="MIO-2026-0007"
    )
    assert one("/out-of-scope") == Command(Verb.OUT_OF_SCOPE, 1, Status.OUT_OF_SCOPE)
    assert one("/out-of-scope  third-party  plugin ") == Command(
        Verb.OUT_OF_SCOPE, 1, Status.OUT_OF_SCOPE, argument="third-party  plugin"
    )
    assert one("/assign <Carol@M.io>") == Command(Verb.ASSIGN, 1, argument="carol@m.io")
    assert one("/note  reproduced on 4.2, not 4.3") == Command(
        Verb.NOTE, 1, argument="reproduced on 4.2, not 4.3"
    )


def test_names_and_values_are_case_insensitive_and_may_be_indented() -> None:
    assert one("   /VERIFY   LOW") == Command(Verb.VERIFY, 1, Status.VERIFIED, Severity.LOW)
    assert one("\t/Needs-Info") == Command(Verb.NEEDS_INFO, 1, Status.NEEDS_INFO)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("/frobnicate", ["unknown command", "'/frobnicate'", "/triage", "/verify SEVERITY"]),
        ("/", ["unknown command"]),
        ("/verify", ["/verify needs SEVERITY"]),
        ("/verify urgent", ["unknown severity 'urgent'", "critical, high, medium, low, none"]),
        ("/verify high now", ["takes one SEVERITY"]),
        ("/severity", ["needs SEVERITY"]),
        ("/duplicate", ["needs REF"]),
        ("/duplicate 42", ["not a report reference"]),
        ("/duplicate MIO-26-1", ["not a report reference"]),
        ("/assign bob", ["not an address"]),
        ("/assign bob@m.io carol@m.io", ["takes one ADDRESS"]),
        ("/note", ["needs TEXT"]),
        ("/close now please", ["/close takes no argument"]),
        ("/triage" + " x" * MAX_LINE_CHARS, [f"longer than {MAX_LINE_CHARS}"]),
    ],
)
def test_invalid_lines_say_why_in_one_line(line: str, words: list[str]) -> None:
    parsed = parse_commands(f"Hello\n{line}\nBye")
    [invalid] = parsed.commands
    assert isinstance(invalid, Invalid)
    assert invalid.line == 2
    assert "\n" not in invalid.reason
    for word in words:
        assert word in invalid.reason
    assert parsed.text == "Hello\nBye"  # an invalid command line is still not message text


def test_the_message_text_keeps_its_order_without_the_command_lines() -> None:
    parsed = parse_commands(
        "\n/triage\n\nThanks for the report.\n  /verify medium\nWe will fix it in 4.3.\n"
        "  indented stays\n\n/internal\n\n"
    )
    assert [c.verb for c in parsed.commands if isinstance(c, Command)] == [
        Verb.TRIAGE,
        Verb.VERIFY,
        Verb.INTERNAL,
    ]
    assert [c.line for c in parsed.commands] == [2, 5, 9]
    assert parsed.text == "Thanks for the report.\nWe will fix it in 4.3.\n  indented stays"
    assert not parsed.only_commands
    assert parsed.internal


def test_paths_and_quotes_are_text() -> None:
    text = "/etc/passwd is world-readable\n> /close\n//comment\nsee /usr/bin"
    parsed = parse_commands(text)
    assert parsed.commands == ()
    assert parsed.text == text


def test_only_commands() -> None:
    parsed = parse_commands("\r\n/needs-info\r\n  \r\n/assign carol@m.io\r\n")
    assert parsed.only_commands
    assert not parsed.internal
    commands, text = parsed  # unpacks as (commands, text)
    assert len(commands) == 2 and text == ""
    assert parse_commands("/frobnicate").only_commands  # an invalid one counts too
    assert not parse_commands("").only_commands
    assert not parse_commands("just text").only_commands


def test_at_most_max_commands_are_read() -> None:
    parsed = parse_commands("\n".join(["/note n"] * (MAX_COMMANDS + 5) + ["text"]))
    assert len(parsed.commands) == MAX_COMMANDS + 1
    last = parsed.commands[-1]
    assert isinstance(last, Invalid) and f"more than {MAX_COMMANDS}" in last.reason
    assert parsed.text == "text"


def moves(steps: tuple[Accepted | Refused, ...]) -> list[str]:
    out = []
    for step in steps:
        if isinstance(step, Accepted):
            out.append(f"{step.from_status}->{step.to_status}/{step.severity}")
        else:
            out.append(f"refused: {step.reason}")
    return out


def test_plan_lets_later_commands_see_the_earlier_moves() -> None:
    commands, _ = parse_commands("/triage\n/verify high\n/needs-info\n/verify high")
    assert moves(plan(commands, Status.NEW, None)) == [
        "new->triaged/None",
        "triaged->verified/high",
        "verified->needs-info/high",
        "needs-info->verified/high",
    ]


def test_plan_refuses_with_the_workflow_reason_and_goes_on() -> None:
    commands, _ = parse_commands("/resolve\n/frobnicate\n/triage\n/resolve")
    steps = plan(commands, Status.NEW, None)
    assert moves(steps) == [
        "refused: cannot move from new to resolved "
        "(allowed: duplicate, needs-info, out-of-scope, spam, triaged)",
        moves(steps)[1],
        "new->triaged/None",
        "refused: cannot move from triaged to resolved "
        "(allowed: duplicate, needs-info, out-of-scope, spam, verified)",
    ]
    assert moves(steps)[1].startswith("refused: unknown command '/frobnicate'")


def test_plan_severity_duplicate_and_reopen() -> None:
    commands, _ = parse_commands("/severity low\n/severity low\n/verify high")
    assert moves(plan(commands, Status.TRIAGED, None)) == [
        "triaged->triaged/low",
        "refused: severity is already low",
        "triaged->verified/high",
    ]
    commands, _ = parse_commands("/duplicate MIO-2026-0001\n/reopen\n/reopen")
    steps = plan(commands, Status.VERIFIED, Severity.HIGH)
    assert moves(steps)[:2] == ["verified->duplicate/high", "duplicate->triaged/high"]
    assert moves(steps)[2].startswith("refused: report is triaged: /reopen is for")
    [step] = plan(parse_commands("/reopen").commands, Status.NEW, None)
    assert isinstance(step, Refused) and step.reason.startswith("report is new:")


def test_plan_refuses_what_the_workflow_refuses() -> None:
    steps = plan(parse_commands("/verify high").commands, Status.VERIFIED, Severity.LOW)
    assert moves(steps) == ["refused: report is already verified"]
    steps = plan(parse_commands("/spam").commands, Status.VERIFIED, Severity.LOW)
    assert moves(steps)[0].startswith("refused: cannot move from verified to spam")


def test_plan_passes_notes_assignments_and_internal_through() -> None:
    commands, _ = parse_commands("/note seen\n/assign carol@m.io\n/internal")
    steps = plan(commands, Status.CLOSED, None)
    assert all(isinstance(s, Accepted) and not s.moves for s in steps)
    assert [s.command.verb for s in steps] == [Verb.NOTE, Verb.ASSIGN, Verb.INTERNAL]
