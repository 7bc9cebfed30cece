"""Deadlines (clocks) and the escalations they make due. Everything is computed from ``now``.

Two clocks per report, both counted in business days (see ``calendar`` for what that means):

* ``acknowledgement`` starts when the report is received and stops when a person first moves it
  out of ``new``. The policy promises an answer within five business days.
* ``resolution`` starts when the report is verified, if its severity has a target (by default only
  critical: five business days). It stops at resolved or when the report leaves the verified line.

Pausing (needs-info, when ``ClockSpec.pause_in_needs_info``): on resume the deadline moves later by
``calendar.business_days_between(paused_at, resumed_at)`` business days, i.e. one for each
business day in (pause date, resume date]. Paused and resumed on the same date adds nothing;
paused on Friday and resumed on Monday adds one. This is the same day-counting rule as for a
deadline itself, where the day of the event is free. A pause that begins after the deadline does
not move it: the clock was already breached. Stopping a paused clock records the stop at the
moment it paused, since no time counted after that.

Escalations: a ``Tier`` fires ``offset`` business days from a running clock's deadline (see
``due_escalations``). Each sending is identified by (report key, clock, tier, occurrence); the
caller records the ones it sent and passes them back as ``already_sent``. A report that can get a
second clock of the same name (reopened and verified again) needs a report key that differs per
clock, e.g. the clock row's id, or the new clock's escalations are taken as already sent.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, Literal

from disclosure_inbox.domain.calendar import BusinessCalendar
from disclosure_inbox.domain.model import Severity
from disclosure_inbox.domain.workflow import ClockPhase

ClockName = Literal["acknowledgement", "resolution"]
ACKNOWLEDGEMENT: Final = "acknowledgement"
RESOLUTION: Final = "resolution"
CLOCK_NAMES: frozenset[str] = frozenset({ACKNOWLEDGEMENT, RESOLUTION})

Label = Literal["running", "met", "breached", "paused"]
DEFAULT_GRACE = timedelta(minutes=15)
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not %a: locale-independent


def _default_resolution() -> Mapping[Severity, int | None]:
    return {Severity.CRITICAL: 5}


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value.isoformat()}")


@dataclass(frozen=True, slots=True)
class ClockSpec:
    """The SLA targets, in business days. A severity mapped to None (or left out) has no clock."""

    ack_business_days: int = 5
    resolution_business_days: Mapping[Severity, int | None] = field(
        default_factory=_default_resolution
    )
    pause_in_needs_info: bool = True

    def __post_init__(self) -> None:
        if self.ack_business_days < 1:
            raise ValueError("the acknowledgement target must be at least one business day")
        targets: dict[Severity, int | None] = dict.fromkeys(Severity)
        for key, days in self.resolution_business_days.items():
            if days is not None and days < 1:
                raise ValueError(f"resolution target for {key} must be at least one business day")
            targets[Severity(key)] = days
        object.__setattr__(self, "resolution_business_days", MappingProxyType(targets))

    def resolution_target(self, severity: Severity) -> int | None:
        return self.resolution_business_days[severity]


@dataclass(frozen=True, slots=True)
class ClockState:
    name: ClockName
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None = None
    paused_at: datetime | None = None
    paused_business_days: int = 0  # how far pauses have moved due_at so far

    def __post_init__(self) -> None:
        if self.name not in CLOCK_NAMES:
            raise ValueError(f"unknown clock {self.name!r}")
        for what in ("started_at", "due_at", "stopped_at", "paused_at"):
            value = getattr(self, what)
            if value is not None:
                _require_aware(value, what)
                if value < self.started_at:
                    raise ValueError(f"{what} is before started_at")
        if self.stopped_at is not None and self.paused_at is not None:
            raise ValueError("a clock cannot be both stopped and paused")
        if self.paused_business_days < 0:
            raise ValueError("paused_business_days cannot be negative")

    @property
    def phase(self) -> ClockPhase:
        if self.stopped_at is not None:
            return ClockPhase.NONE
        return ClockPhase.PAUSED if self.paused_at is not None else ClockPhase.RUNNING


def clock_phase(clock: ClockState | None) -> ClockPhase:
    """For ``workflow.resolution_clock_effect``: no clock counts as a stopped one."""
    return ClockPhase.NONE if clock is None else clock.phase


def start_ack_clock(received_at: datetime, spec: ClockSpec, cal: BusinessCalendar) -> ClockState:
    due = cal.add_business_days(received_at, spec.ack_business_days)
    return ClockState(ACKNOWLEDGEMENT, started_at=received_at, due_at=due)


def start_resolution_clock(
    verified_at: datetime, severity: Severity, spec: ClockSpec, cal: BusinessCalendar
) -> ClockState | None:
    """The resolution clock, or None when this severity has no target."""
    target = spec.resolution_target(severity)
    if target is None:
        return None
    return ClockState(RESOLUTION, verified_at, cal.add_business_days(verified_at, target))


def recompute_on_severity_change(
    clock: ClockState, severity: Severity, spec: ClockSpec, cal: BusinessCalendar
) -> ClockState | None:
    """The deadline for the new severity, counted from the clock's start plus its pauses.

    None when the new severity has no target: the caller drops the clock, as no deadline applies.
    """
    if clock.name != RESOLUTION:
        raise ValueError("only the resolution clock depends on severity")
    target = spec.resolution_target(severity)
    if target is None:
        return None
    due = cal.add_business_days(clock.started_at, target + clock.paused_business_days)
    return replace(clock, due_at=due)


def pause(clock: ClockState, at: datetime) -> ClockState:
    if clock.phase is not ClockPhase.RUNNING:
        raise ValueError(f"cannot pause the {clock.name} clock: it is not running")
    return replace(clock, paused_at=at)


def resume(clock: ClockState, at: datetime, cal: BusinessCalendar) -> ClockState:
    """Run again, the deadline moved by the business days paused (the rule is in the docstring)."""
    if clock.paused_at is None:
        raise ValueError(f"cannot resume the {clock.name} clock: it is not paused")
    if at < clock.paused_at:
        raise ValueError("cannot resume before the pause began")
    days = cal.business_days_between(clock.paused_at, at) if clock.paused_at <= clock.due_at else 0
    due = cal.add_business_days(clock.due_at, days) if days else clock.due_at
    return replace(
        clock, due_at=due, paused_at=None, paused_business_days=clock.paused_business_days + days
    )


def stop(clock: ClockState, at: datetime) -> ClockState:
    """Stop for good; a paused clock is stopped as of its pause (no time counted since). A
    stop before the start (the mail server, whose receipt time started the clock, is ahead
    of our clock) counts as at the start."""
    if clock.stopped_at is not None:
        raise ValueError(f"the {clock.name} clock is already stopped")
    stopped = clock.paused_at if clock.paused_at is not None else max(at, clock.started_at)
    return replace(clock, stopped_at=stopped, paused_at=None)


def clock_state_label(clock: ClockState, now: datetime) -> Label:
    """met/breached once stopped (at or before the deadline is met); otherwise as of ``now``.

    A clock paused after its deadline stays breached: the pause did not move it.
    """
    if clock.stopped_at is not None:
        return "met" if clock.stopped_at <= clock.due_at else "breached"
    if clock.paused_at is not None:
        return "breached" if clock.paused_at > clock.due_at else "paused"
    return "breached" if now > clock.due_at else "running"


@dataclass(frozen=True, slots=True)
class Tier:
    """One escalation step, ``offset`` business days from the deadline.

    -1 fires at the deadline's local time of day one business day earlier (for a deadline at the
    end of Thursday: the end of Wednesday, so "due soon" arrives as the last day begins); 0 fires
    at the deadline; +1 at the end of the first business day after it. A repeating tier fires
    again at the end of every following business day while the clock runs.
    """

    name: str
    offset: int
    repeat: bool = False
    recipients: tuple[str, ...] = ()
    clocks: frozenset[str] = CLOCK_NAMES  # which clocks it watches

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an escalation tier needs a name")
        if not self.clocks or not self.clocks <= CLOCK_NAMES:
            raise ValueError(f"tier {self.name!r}: clocks must be among {sorted(CLOCK_NAMES)}")
        # Accept any iterable from configuration, keep an immutable tuple.
        object.__setattr__(self, "recipients", tuple(self.recipients))
        object.__setattr__(self, "clocks", frozenset(self.clocks))


SentKey = tuple[str, str, str, int]  # (report key, clock name, tier name, occurrence)


@dataclass(frozen=True, slots=True)
class DueEscalation:
    report_key: str
    clock_name: ClockName
    tier_name: str
    occurrence: int  # 0 for a one-off tier; n >= 1 for the n-th firing of a repeating one
    fire_at: datetime  # when it was due to go out
    due_at: datetime
    late: bool  # found more than the grace period after fire_at (the daemon was down)
    recipients: tuple[str, ...]

    @property
    def key(self) -> SentKey:
        """What the caller records once sent, and passes back in ``already_sent``."""
        return (self.report_key, self.clock_name, self.tier_name, self.occurrence)


def due_escalations(
    clocks: Iterable[tuple[str, ClockState]],
    tiers: Iterable[Tier],
    now: datetime,
    cal: BusinessCalendar,
    already_sent: Container[SentKey],
    *,
    grace: timedelta = DEFAULT_GRACE,
) -> list[DueEscalation]:
    """The escalations to send now, oldest fire time first.

    Only running clocks escalate (not stopped, not paused). A tier fires once ``now`` is past
    its fire time. After downtime nothing is sent for every step missed:

    * a repeating tier yields only its latest step that is due; earlier unsent ones are dropped;
    * a tier that fires before the deadline (due-soon) is skipped once the deadline has passed,
      since the tiers at or after the deadline now say more;
    * what is sent more than ``grace`` after its fire time is marked ``late``. Pass at least the
      scan interval, so that an ordinary scan is not reported as late.
    """
    tier_list = list(tiers)
    names = [t.name for t in tier_list]
    if len(set(names)) != len(names):
        raise ValueError(f"escalation tier names must be unique, got {names}")
    found: list[DueEscalation] = []
    for report_key, clock in clocks:
        if clock.phase is not ClockPhase.RUNNING:
            continue
        for tier in tier_list:
            if clock.name not in tier.clocks:
                continue
            step = _latest_step(clock.due_at, tier, now, cal)
            if step is None:
                continue
            occurrence, fire_at = step
            if fire_at < clock.due_at < now:
                continue
            # A short target can put a step before the clock began; it is due from the start.
            fire_at = max(fire_at, clock.started_at)
            escalation = DueEscalation(
                report_key=report_key,
                clock_name=clock.name,
                tier_name=tier.name,
                occurrence=occurrence,
                fire_at=fire_at,
                due_at=clock.due_at,
                late=now - fire_at > grace,
                recipients=tier.recipients,
            )
            if escalation.key not in already_sent:
                found.append(escalation)
    found.sort(key=lambda e: (e.fire_at, e.report_key, e.clock_name, e.tier_name))
    return found


def _fire_time(due: datetime, step: int, cal: BusinessCalendar) -> datetime:
    if step < 0:
        return cal.subtract_business_days(due, -step)
    return cal.add_business_days(due, step) if step else due


def _latest_step(
    due: datetime, tier: Tier, now: datetime, cal: BusinessCalendar
) -> tuple[int, datetime] | None:
    """(occurrence, fire time) of the tier's latest step before ``now``, or None if none yet."""
    step = tier.offset
    fire_at = _fire_time(due, step, cal)
    if fire_at >= now:
        return None
    if not tier.repeat:
        return 0, fire_at
    while True:
        # Walk one business day at a time: linear in how long the clock has been overdue.
        following = (
            _fire_time(due, step + 1, cal) if step < 1 else cal.add_business_days(fire_at, 1)
        )
        if following >= now:
            return step - tier.offset + 1, fire_at
        step, fire_at = step + 1, following


def describe_lateness(due_at: datetime, now: datetime, cal: BusinessCalendar) -> str:
    """For people: "due in 1 business day (Thu 2026-07-09 23:59 EDT)", "overdue by 2 ..."."""
    local = due_at.astimezone(cal.tz)
    when = f"{_DAY_NAMES[local.weekday()]} {local:%Y-%m-%d %H:%M} {local.tzname()}"
    if now <= due_at:
        days = cal.business_days_between(now, due_at)
        if days == 0:
            return f"due today ({when})"
        return f"due in {_plural(days)} ({when})"
    days = cal.business_days_between(due_at, now)
    if days == 0:
        return f"overdue (due {when})"
    return f"overdue by {_plural(days)} (due {when})"


def _plural(days: int) -> str:
    return f"{days} business day" if days == 1 else f"{days} business days"
