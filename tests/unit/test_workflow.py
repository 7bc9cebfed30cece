"""The report state machine and what each move does to the clocks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from disclosure_inbox.domain.errors import IllegalTransition
from disclosure_inbox.domain.model import Severity, Status
from disclosure_inbox.domain.workflow import (
    TRANSITIONS,
    ClockEffect,
    ClockPhase,
    Transition,
    ack_clock_effect,
    check_transition,
    resolution_clock_effect,
)

S = Status
AT = datetime(2026, 7, 2, 14, 0, tzinfo=UTC)

# Written out independently of the table in workflow.py, so that a change to either shows here.
ALLOWED = {
    (S.NEW, S.TRIAGED),
    (S.NEW, S.NEEDS_INFO),
    (S.NEW, S.DUPLICATE),
    (S.NEW, S.OUT_OF_SCOPE),
    (S.NEW, S.SPAM),
    (S.TRIAGED, S.VERIFIED),
    (S.TRIAGED, S.NEEDS_INFO),
    (S.TRIAGED, S.DUPLICATE),
    (S.TRIAGED, S.OUT_OF_SCOPE),
    (S.TRIAGED, S.SPAM),
    (S.VERIFIED, S.RESOLVED),
    (S.VERIFIED, S.NEEDS_INFO),
    (S.VERIFIED, S.DUPLICATE),
    (S.VERIFIED, S.OUT_OF_SCOPE),
    (S.RESOLVED, S.CLOSED),
    (S.RESOLVED, S.TRIAGED),  # reopened: the fix did not hold
    (S.CLOSED, S.TRIAGED),  # reopened
    (S.NEEDS_INFO, S.TRIAGED),
    (S.NEEDS_INFO, S.VERIFIED),
    (S.NEEDS_INFO, S.DUPLICATE),
    (S.NEEDS_INFO, S.OUT_OF_SCOPE),
    (S.NEEDS_INFO, S.SPAM),
    (S.NEEDS_INFO, S.CLOSED),  # the reporter never answered
    (S.DUPLICATE, S.TRIAGED),  # reopened: a wrong call
    (S.OUT_OF_SCOPE, S.TRIAGED),
    (S.SPAM, S.TRIAGED),
}
ALL_PAIRS = [(a, b) for a in Status for b in Status]


def test_the_table_is_exactly_the_allowed_moves() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert {(a, b) for a, targets in TRANSITIONS.items() for b in targets} == ALLOWED


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_every_allowed_move_passes(current: Status, target: Status) -> None:
    check_transition(current, target, severity=Severity.HIGH, duplicate_of="MIO-2026-0001")


@pytest.mark.parametrize(("current", "target"), [p for p in ALL_PAIRS if p not in ALLOWED])
def test_every_other_move_is_refused(current: Status, target: Status) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(current, target, severity=Severity.HIGH, duplicate_of="MIO-2026-0001")


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (S.RESOLVED, S.NEW, "cannot move from resolved to new"),
        (S.NEW, S.VERIFIED, "cannot move from new to verified"),  # triage comes first
        (S.NEW, S.RESOLVED, "cannot move from new to resolved"),
        (S.CLOSED, S.VERIFIED, "cannot move from closed to verified"),  # reopen to triaged
        (S.VERIFIED, S.SPAM, "cannot move from verified to spam"),
        (S.SPAM, S.CLOSED, "cannot move from spam to closed"),
        (S.NEEDS_INFO, S.RESOLVED, "cannot move from needs-info to resolved"),
        (S.TRIAGED, S.TRIAGED, "already triaged"),
    ],
)
def test_refusals_say_what_was_refused(current: Status, target: Status, message: str) -> None:
    with pytest.raises(IllegalTransition, match=message):
        check_transition(current, target, severity=Severity.LOW, duplicate_of="MIO-2026-0001")


@pytest.mark.parametrize("current", [S.TRIAGED, S.NEEDS_INFO])
def test_verified_needs_a_severity(current: Status) -> None:
    with pytest.raises(IllegalTransition, match="without a severity"):
        check_transition(current, S.VERIFIED, severity=None, duplicate_of=None)


@pytest.mark.parametrize("duplicate_of", [None, ""])
def test_duplicate_needs_the_original(duplicate_of: str | None) -> None:
    with pytest.raises(IllegalTransition, match="without the report it duplicates"):
        check_transition(S.NEW, S.DUPLICATE, severity=None, duplicate_of=duplicate_of)


def test_a_transition_records_a_checked_move() -> None:
    move = Transition(
        "MIO-2026-0007", S.TRIAGED, S.VERIFIED, "alice", AT, "reproduced", Severity.HIGH
    )
    assert (move.from_status, move.to_status, move.severity) == (
        S.TRIAGED,
        S.VERIFIED,
        Severity.HIGH,
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"to_status": S.RESOLVED}, IllegalTransition, "cannot move from triaged to resolved"),
        ({"to_status": S.VERIFIED}, IllegalTransition, "without a severity"),
        ({"to_status": S.DUPLICATE}, IllegalTransition, "without the report it duplicates"),
        ({"actor": " "}, ValueError, "needs an actor"),
        ({"report_ref": ""}, ValueError, "needs a report reference"),
        ({"at": datetime(2026, 7, 2, 14, 0)}, ValueError, "timezone-aware"),
    ],
)
def test_a_bad_transition_cannot_be_built(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    values: dict[str, Any] = {
        "report_ref": "MIO-2026-0007",
        "from_status": S.TRIAGED,
        "to_status": S.NEEDS_INFO,
        "actor": "alice",
        "at": AT,
    }
    with pytest.raises(error, match=message):
        Transition(**(values | kwargs))


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_only_moves_out_of_new_stop_the_acknowledgement_clock(
    current: Status, target: Status
) -> None:
    expected = ClockEffect.STOP if current is S.NEW else None
    assert ack_clock_effect(current, target) is expected


P = ClockPhase
E = ClockEffect


@pytest.mark.parametrize(
    ("current", "target", "clock", "pause_in_needs_info", "expected"),
    [
        (S.TRIAGED, S.VERIFIED, P.NONE, True, E.START),
        (S.NEEDS_INFO, S.VERIFIED, P.NONE, True, E.START),  # came from triaged via needs-info
        (S.VERIFIED, S.NEEDS_INFO, P.RUNNING, True, E.PAUSE),
        (S.VERIFIED, S.NEEDS_INFO, P.RUNNING, False, None),  # keeps running
        (S.NEEDS_INFO, S.VERIFIED, P.PAUSED, True, E.RESUME),
        (S.NEEDS_INFO, S.VERIFIED, P.RUNNING, False, None),  # was never paused
        (S.VERIFIED, S.RESOLVED, P.RUNNING, True, E.STOP),
        (S.VERIFIED, S.DUPLICATE, P.RUNNING, True, E.STOP),
        (S.VERIFIED, S.OUT_OF_SCOPE, P.RUNNING, True, E.STOP),
        (S.NEEDS_INFO, S.CLOSED, P.PAUSED, True, E.STOP),
        (S.NEEDS_INFO, S.TRIAGED, P.PAUSED, True, E.STOP),  # no longer verified
        (S.RESOLVED, S.CLOSED, P.NONE, True, None),  # stopped at resolved
        (S.RESOLVED, S.TRIAGED, P.NONE, True, None),  # reopened: starts again when verified
        (S.NEW, S.TRIAGED, P.NONE, True, None),
        (S.TRIAGED, S.NEEDS_INFO, P.NONE, True, None),
    ],
)
def test_resolution_clock_effect(
    current: Status,
    target: Status,
    clock: ClockPhase,
    pause_in_needs_info: bool,
    expected: ClockEffect | None,
) -> None:
    effect = resolution_clock_effect(
        current, target, clock=clock, pause_in_needs_info=pause_in_needs_info
    )
    assert effect is expected
