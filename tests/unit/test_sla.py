"""Clocks, deadlines and escalations, all with a frozen ``now``. Dates are worked out in comments.

New York with US federal holidays throughout; Independence Day 2026 is observed on Fri 3 Jul.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from disclosure_inbox.domain.calendar import BusinessCalendar
from disclosure_inbox.domain.model import Severity
from disclosure_inbox.domain.sla import (
    ACKNOWLEDGEMENT,
    RESOLUTION,
    ClockSpec,
    ClockState,
    DueEscalation,
    Tier,
    clock_phase,
    clock_state_label,
    describe_lateness,
    due_escalations,
    pause,
    recompute_on_severity_change,
    resume,
    start_ack_clock,
    start_resolution_clock,
    stop,
)
from disclosure_inbox.domain.workflow import ClockPhase

CAL = BusinessCalendar.build("America/New_York", "US")
SPEC = ClockSpec()
GRACE = timedelta(minutes=10)
DUE_SOON = Tier("due-soon", -1, recipients=("triage@example.org",))
OVERDUE = Tier("overdue", 0, recipients=("triage@example.org", "lead@example.org"))
AGAIN = Tier("overdue-again", 1, repeat=True, recipients=("lead@example.org",))


def ny(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CAL.tz)


def end_of(day: str) -> datetime:
    return ny(f"{day}T23:59:59")


# Received Wed 1 Jul 10:00. Thu 2 (1), Fri 3 holiday, Mon 6 (2), Tue 7 (3), Wed 8 (4), Thu 9 (5).
ACK = start_ack_clock(ny("2026-07-01T10:00"), SPEC, CAL)


def test_the_acknowledgement_clock_follows_the_policy_example() -> None:
    assert (ACK.name, ACK.started_at, ACK.due_at) == (
        ACKNOWLEDGEMENT,
        ny("2026-07-01T10:00"),
        end_of("2026-07-09"),
    )
    assert ACK.stopped_at is None and ACK.paused_at is None


def test_the_default_spec_only_times_critical_resolutions() -> None:
    assert SPEC.ack_business_days == 5
    assert dict(SPEC.resolution_business_days) == {
        Severity.CRITICAL: 5,
        Severity.HIGH: None,
        Severity.MEDIUM: None,
        Severity.LOW: None,
        Severity.NONE: None,
    }
    assert SPEC.pause_in_needs_info is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ack_business_days": 0}, "acknowledgement target"),
        ({"resolution_business_days": {Severity.HIGH: 0}}, "resolution target for high"),
    ],
)
def test_spec_rejects_targets_below_one_day(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClockSpec(**kwargs)


HIGH_TEN = ClockSpec(resolution_business_days={Severity.CRITICAL: 5, Severity.HIGH: 10})


@pytest.mark.parametrize(
    ("severity", "spec", "expected_due"),
    [
        # Verified Mon 6 Jul. Tue 7 (1), Wed 8 (2), Thu 9 (3), Fri 10 (4), Mon 13 (5).
        (Severity.CRITICAL, SPEC, end_of("2026-07-13")),
        (Severity.HIGH, SPEC, None),  # no target by default
        # Mon 13 (5) as above, Tue 14 (6), Wed 15 (7), Thu 16 (8), Fri 17 (9), Mon 20 (10).
        (Severity.HIGH, HIGH_TEN, end_of("2026-07-20")),
        (Severity.LOW, HIGH_TEN, None),
    ],
)
def test_start_resolution_clock(
    severity: Severity, spec: ClockSpec, expected_due: datetime | None
) -> None:
    clock = start_resolution_clock(ny("2026-07-06T10:00"), severity, spec, CAL)
    assert (clock.due_at if clock else None) == expected_due


def test_a_severity_change_recomputes_the_deadline_from_verification() -> None:
    high = start_resolution_clock(ny("2026-07-06T10:00"), Severity.HIGH, HIGH_TEN, CAL)
    assert high is not None and high.due_at == end_of("2026-07-20")
    # Raised to critical on Tue 14 Jul: five days from Mon 6 Jul is the end of Mon 13 Jul,
    # already past, so the clock is breached at once.
    critical = recompute_on_severity_change(high, Severity.CRITICAL, HIGH_TEN, CAL)
    assert critical is not None and critical.due_at == end_of("2026-07-13")
    assert critical.started_at == high.started_at
    assert clock_state_label(critical, ny("2026-07-14T09:00")) == "breached"
    # Lowered to a severity without a target: no clock at all.
    assert recompute_on_severity_change(high, Severity.LOW, HIGH_TEN, CAL) is None


def test_a_severity_change_keeps_the_days_added_by_pauses() -> None:
    clock = start_resolution_clock(ny("2026-07-06T10:00"), Severity.CRITICAL, HIGH_TEN, CAL)
    assert clock is not None
    # Paused Tue 7 and resumed Thu 9: Wed 8, Thu 9 = 2 days added.
    clock = resume(pause(clock, ny("2026-07-07T10:00")), ny("2026-07-09T10:00"), CAL)
    assert clock.paused_business_days == 2
    # High: 10 + 2 = 12 from Mon 6 Jul: ... Mon 20 (10), Tue 21 (11), Wed 22 (12).
    high = recompute_on_severity_change(clock, Severity.HIGH, HIGH_TEN, CAL)
    assert high is not None and high.due_at == end_of("2026-07-22")


def test_only_the_resolution_clock_depends_on_severity() -> None:
    with pytest.raises(ValueError, match="only the resolution clock"):
        recompute_on_severity_change(ACK, Severity.CRITICAL, SPEC, CAL)


# Critical, verified Wed 1 Jul 10:00: due at the end of Thu 9 Jul, as for ACK.
RESOLVING = ClockState(RESOLUTION, ny("2026-07-01T10:00"), end_of("2026-07-09"))


@pytest.mark.parametrize(
    ("paused", "resumed", "added", "expected_due"),
    [
        # Same date: (Thu 2, Thu 2] is empty.
        ("2026-07-02T09:00", "2026-07-02T17:00", 0, "2026-07-09"),
        # (Thu 2, Mon 6]: Fri 3 holiday, Sat, Sun, Mon 6 = 1. One after Thu 9: Fri 10.
        ("2026-07-02T09:00", "2026-07-06T09:00", 1, "2026-07-10"),
        # (Mon 6, Wed 8]: Tue 7, Wed 8 = 2. Two after Thu 9: Fri 10, Mon 13.
        ("2026-07-06T12:00", "2026-07-08T12:00", 2, "2026-07-13"),
        # On the last day: (Thu 9, Mon 13]: Fri 10, Mon 13 = 2. Fri 10, Mon 13.
        ("2026-07-09T12:00", "2026-07-13T09:00", 2, "2026-07-13"),
        # Paused after the deadline had passed: it does not move.
        ("2026-07-10T10:00", "2026-07-14T10:00", 0, "2026-07-09"),
    ],
)
def test_resume_extends_the_deadline_by_the_business_days_paused(
    paused: str, resumed: str, added: int, expected_due: str
) -> None:
    on_hold = pause(RESOLVING, ny(paused))
    assert on_hold.paused_at == ny(paused)
    running = resume(on_hold, ny(resumed), CAL)
    assert running.paused_at is None
    assert running.paused_business_days == added
    assert running.due_at == end_of(expected_due)


def test_pauses_add_up() -> None:
    # (Thu 2, Mon 6] = 1: due Fri 10. Then (Tue 7, Thu 9] = Wed 8, Thu 9 = 2: Mon 13, Tue 14.
    clock = resume(pause(RESOLVING, ny("2026-07-02T09:00")), ny("2026-07-06T09:00"), CAL)
    clock = resume(pause(clock, ny("2026-07-07T10:00")), ny("2026-07-09T10:00"), CAL)
    assert (clock.paused_business_days, clock.due_at) == (3, end_of("2026-07-14"))


@pytest.mark.parametrize(
    ("clock", "now", "label"),
    [
        (RESOLVING, ny("2026-07-09T12:00"), "running"),
        (RESOLVING, end_of("2026-07-09"), "running"),  # the last second still counts
        (RESOLVING, ny("2026-07-10T00:00"), "breached"),
        (pause(RESOLVING, ny("2026-07-08T10:00")), ny("2026-07-20T10:00"), "paused"),
        (pause(RESOLVING, ny("2026-07-10T10:00")), ny("2026-07-20T10:00"), "breached"),
        (stop(RESOLVING, end_of("2026-07-09")), ny("2026-07-20T10:00"), "met"),
        (stop(RESOLVING, ny("2026-07-10T08:00")), ny("2026-07-20T10:00"), "breached"),
    ],
)
def test_clock_state_label(clock: ClockState, now: datetime, label: str) -> None:
    assert clock_state_label(clock, now) == label


def test_stopping_a_paused_clock_stops_it_when_it_paused() -> None:
    stopped = stop(pause(RESOLVING, ny("2026-07-08T10:00")), ny("2026-07-20T10:00"))
    assert stopped.stopped_at == ny("2026-07-08T10:00")
    assert clock_state_label(stopped, ny("2026-07-20T10:00")) == "met"


def test_clock_phase() -> None:
    assert clock_phase(None) is ClockPhase.NONE
    assert clock_phase(RESOLVING) is ClockPhase.RUNNING
    assert clock_phase(pause(RESOLVING, ny("2026-07-02T09:00"))) is ClockPhase.PAUSED
    assert clock_phase(stop(RESOLVING, ny("2026-07-02T09:00"))) is ClockPhase.NONE


def test_clock_misuse_is_refused() -> None:
    paused = pause(RESOLVING, ny("2026-07-02T09:00"))
    stopped = stop(RESOLVING, ny("2026-07-02T09:00"))
    with pytest.raises(ValueError, match="not running"):
        pause(paused, ny("2026-07-03T09:00"))
    with pytest.raises(ValueError, match="not running"):
        pause(stopped, ny("2026-07-03T09:00"))
    with pytest.raises(ValueError, match="not paused"):
        resume(RESOLVING, ny("2026-07-03T09:00"), CAL)
    with pytest.raises(ValueError, match="before the pause"):
        resume(paused, ny("2026-07-02T08:00"), CAL)
    with pytest.raises(ValueError, match="already stopped"):
        stop(stopped, ny("2026-07-03T09:00"))
    with pytest.raises(ValueError, match="timezone-aware"):
        ClockState(ACKNOWLEDGEMENT, datetime(2026, 7, 1, 10), end_of("2026-07-09"))


def summary(found: list[DueEscalation]) -> list[tuple[str, int, bool]]:
    return [(e.tier_name, e.occurrence, e.late) for e in found]


# A daemon scanning every few minutes, seen at the moments that matter. ACK is due at the end of
# Thu 9 Jul; due-soon fires at the end of Wed 8, overdue at the end of Thu 9, overdue-again at
# the end of each business day after that: Fri 10 (1), Mon 13 (2), Tue 14 (3).
SCANS = [
    ("2026-07-08T12:00", []),
    ("2026-07-08T23:59:59", []),  # not yet past the fire time
    ("2026-07-09T00:05", [("due-soon", 0, False)]),
    ("2026-07-09T12:00", []),  # already sent
    ("2026-07-10T00:05", [("overdue", 0, False)]),
    ("2026-07-10T17:00", []),
    ("2026-07-11T00:05", [("overdue-again", 1, False)]),
    ("2026-07-12T00:05", []),  # the weekend: the next one is at the end of Monday
    ("2026-07-13T23:00", []),
    ("2026-07-14T00:05", [("overdue-again", 2, False)]),
]


def test_escalations_as_a_frozen_now_moves_forward() -> None:
    sent: set[tuple[str, str, str, int]] = set()
    for now, expected in SCANS:
        found = due_escalations([("MIO-1", ACK)], [DUE_SOON, OVERDUE, AGAIN], ny(now), CAL, sent)
        assert summary(found) == expected, now
        sent.update(e.key for e in found)


def test_an_escalation_carries_what_the_message_needs() -> None:
    (found,) = due_escalations([("MIO-1", ACK)], [OVERDUE], ny("2026-07-10T00:05"), CAL, set())
    assert found == DueEscalation(
        report_key="MIO-1",
        clock_name=ACKNOWLEDGEMENT,
        tier_name="overdue",
        occurrence=0,
        fire_at=end_of("2026-07-09"),
        due_at=end_of("2026-07-09"),
        late=False,
        recipients=("triage@example.org", "lead@example.org"),
    )
    assert found.key == ("MIO-1", ACKNOWLEDGEMENT, "overdue", 0)


def test_already_sent_suppresses() -> None:
    sent = {
        ("MIO-1", ACKNOWLEDGEMENT, "overdue", 0),
        ("MIO-1", ACKNOWLEDGEMENT, "overdue-again", 2),
    }
    found = due_escalations(
        [("MIO-1", ACK)], [OVERDUE, AGAIN], ny("2026-07-14T00:05"), CAL, sent, grace=GRACE
    )
    assert found == []


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        # Down from Wed 8 Jul noon to Wed 15 Jul 09:00. The due-soon is stale and skipped; one
        # overdue goes out, marked late.
        ([DUE_SOON, OVERDUE], [("overdue", 0, True)]),
        # The repeating tier sends only its latest step, the end of Tue 14 (3), not 1 and 2.
        ([DUE_SOON, OVERDUE, AGAIN], [("overdue", 0, True), ("overdue-again", 3, True)]),
    ],
)
def test_downtime_across_the_deadline_sends_one_late_escalation_per_tier(
    tiers: list[Tier], expected: list[tuple[str, int, bool]]
) -> None:
    found = due_escalations(
        [("MIO-1", ACK)], tiers, ny("2026-07-15T09:00"), CAL, set(), grace=GRACE
    )
    assert summary(found) == expected


def test_downtime_before_the_deadline_still_sends_due_soon_late() -> None:
    found = due_escalations(
        [("MIO-1", ACK)], [DUE_SOON, OVERDUE], ny("2026-07-09T09:00"), CAL, set(), grace=GRACE
    )
    assert summary(found) == [("due-soon", 0, True)]
    assert found[0].fire_at == end_of("2026-07-08")


def test_a_step_before_the_clock_started_is_due_from_the_start() -> None:
    # One-day target, received Sat 11 Jul: due at the end of Mon 13, so due-soon would be the
    # end of Fri 10, before the report existed. It goes out at the first scan, not late.
    received = ny("2026-07-11T10:00")
    clock = start_ack_clock(received, ClockSpec(ack_business_days=1), CAL)
    found = due_escalations(
        [("MIO-2", clock)], [DUE_SOON], ny("2026-07-11T10:05"), CAL, set(), grace=GRACE
    )
    assert [(e.tier_name, e.fire_at, e.late) for e in found] == [("due-soon", received, False)]


def test_only_running_clocks_escalate_and_tiers_watch_their_clocks() -> None:
    resolution_only = Tier("resolution-overdue", 0, clocks=frozenset({RESOLUTION}))
    clocks = [
        ("MIO-1", ACK),
        ("MIO-2", RESOLVING),
        ("MIO-3", pause(RESOLVING, ny("2026-07-08T10:00"))),
        ("MIO-4", stop(RESOLVING, ny("2026-07-08T10:00"))),
    ]
    found = due_escalations(
        clocks, [OVERDUE, resolution_only], ny("2026-07-10T00:05"), CAL, set(), grace=GRACE
    )
    assert [(e.report_key, e.clock_name, e.tier_name) for e in found] == [
        ("MIO-1", ACKNOWLEDGEMENT, "overdue"),
        ("MIO-2", RESOLUTION, "overdue"),
        ("MIO-2", RESOLUTION, "resolution-overdue"),
    ]


def test_results_come_oldest_first() -> None:
    # MIO-9 received Tue 30 Jun: Wed 1 (1), Thu 2 (2), Mon 6 (3), Tue 7 (4), Wed 8 (5).
    earlier = start_ack_clock(ny("2026-06-30T10:00"), SPEC, CAL)
    clocks = [("MIO-1", ACK), ("MIO-9", earlier)]
    found = due_escalations(clocks, [OVERDUE], ny("2026-07-10T00:05"), CAL, set(), grace=GRACE)
    assert [(e.report_key, e.fire_at) for e in found] == [
        ("MIO-9", end_of("2026-07-08")),
        ("MIO-1", end_of("2026-07-09")),
    ]


def test_tier_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        due_escalations([], [OVERDUE, Tier("overdue", 2)], ny("2026-07-10T00:05"), CAL, set())


JUL_9 = "(due Thu 2026-07-09 23:59 EDT)"


@pytest.mark.parametrize(
    ("due", "now", "text"),
    [
        ("2026-07-09", "2026-07-01T10:00", "due in 5 business days (Thu 2026-07-09 23:59 EDT)"),
        ("2026-07-09", "2026-07-08T12:00", "due in 1 business day (Thu 2026-07-09 23:59 EDT)"),
        ("2026-07-09", "2026-07-09T12:00", "due today (Thu 2026-07-09 23:59 EDT)"),
        # Fri 10 is the first late business day; Sat and Sun add nothing; Mon 13 the second.
        ("2026-07-09", "2026-07-10T09:00", f"overdue by 1 business day {JUL_9}"),
        ("2026-07-09", "2026-07-12T09:00", f"overdue by 1 business day {JUL_9}"),
        ("2026-07-09", "2026-07-13T09:00", f"overdue by 2 business days {JUL_9}"),
        # Wed 25 Nov: Thanksgiving Thu 26, Fri 27 (1), Mon 30 (2), Tue 1 (3), Wed 2 (4), Thu 3 (5).
        ("2026-12-03", "2026-11-25T16:00", "due in 5 business days (Thu 2026-12-03 23:59 EST)"),
    ],
)
def test_describe_lateness(due: str, now: str, text: str) -> None:
    assert describe_lateness(end_of(due), ny(now), CAL) == text
