"""The report state machine: which status changes are allowed, and what each does to the clocks.

The main line is ``new -> triaged -> verified -> resolved -> closed``. Beside it:

* ``needs-info`` waits for the reporter. It can be entered from new, triaged or verified, and is
  left for triaged or verified once the answer arrives (or for closed if it never does).
* ``duplicate``, ``out-of-scope`` and ``spam`` end a report without resolving it.

Reopening: every finished status (resolved, closed, duplicate, out-of-scope, spam) may go back to
``triaged``, and only there. A fix that did not hold, or a wrong call, needs a person to look
again, and going through ``verified`` afterwards sets the severity again and starts a fresh
resolution clock. The acknowledgement clock is never restarted: the reporter was answered once.

Moving to the status a report already has is refused: a severity change while verified is not a
transition (see ``sla.recompute_on_severity_change``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from disclosure_inbox.domain.errors import IllegalTransition
from disclosure_inbox.domain.model import Severity, Status

_REOPEN = frozenset({Status.TRIAGED})

TRANSITIONS: Mapping[Status, frozenset[Status]] = MappingProxyType(
    {
        # Nobody has looked yet. Any step out of here is a person's first response.
        Status.NEW: frozenset(
            {Status.TRIAGED, Status.NEEDS_INFO, Status.DUPLICATE, Status.OUT_OF_SCOPE, Status.SPAM}
        ),
        # Looked at and answered; next the issue is confirmed (with a severity) or dismissed.
        Status.TRIAGED: frozenset(
            {Status.VERIFIED, Status.NEEDS_INFO, Status.DUPLICATE, Status.OUT_OF_SCOPE, Status.SPAM}
        ),
        # Confirmed with a severity. It may still turn out to duplicate another report or to
        # belong to a third party, but a confirmed issue is never spam.
        Status.VERIFIED: frozenset(
            {Status.RESOLVED, Status.NEEDS_INFO, Status.DUPLICATE, Status.OUT_OF_SCOPE}
        ),
        # Fixed. Closed once the reporter is told; reopened when the fix does not hold.
        Status.RESOLVED: frozenset({Status.CLOSED}) | _REOPEN,
        # Done. Reopened if the reporter shows the issue is still there.
        Status.CLOSED: _REOPEN,
        # Waiting for the reporter: back to where the answer puts it, or closed if none comes.
        Status.NEEDS_INFO: frozenset(
            {
                Status.TRIAGED,
                Status.VERIFIED,
                Status.DUPLICATE,
                Status.OUT_OF_SCOPE,
                Status.SPAM,
                Status.CLOSED,
            }
        ),
        # Dismissals end the report; a wrong call is undone by reopening.
        Status.DUPLICATE: _REOPEN,
        Status.OUT_OF_SCOPE: _REOPEN,
        Status.SPAM: _REOPEN,
    }
)


def check_transition(
    current: Status, target: Status, *, severity: Severity | None, duplicate_of: str | None
) -> None:
    """Raise ``IllegalTransition`` unless ``current -> target`` is allowed with this data.

    ``severity`` is the severity the report will have after the move; ``duplicate_of`` the
    reference of the report it duplicates.
    """
    if current == target:
        raise IllegalTransition(f"report is already {current}")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise IllegalTransition(f"cannot move from {current} to {target} (allowed: {allowed})")
    if target is Status.VERIFIED and severity is None:
        raise IllegalTransition("cannot move to verified without a severity")
    if target is Status.DUPLICATE and not duplicate_of:
        raise IllegalTransition("cannot move to duplicate without the report it duplicates")


@dataclass(frozen=True, slots=True)
class Transition:
    """One status change, as the audit trail records it. Building one checks it is allowed."""

    report_ref: str
    from_status: Status
    to_status: Status
    actor: str
    at: datetime  # timezone-aware
    note: str = ""
    severity: Severity | None = None  # the severity after the move
    duplicate_of: str | None = None

    def __post_init__(self) -> None:
        if not self.report_ref.strip():
            raise ValueError("a transition needs a report reference")
        if not self.actor.strip():
            raise ValueError("a transition needs an actor")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("a transition's time must be timezone-aware")
        check_transition(
            self.from_status,
            self.to_status,
            severity=self.severity,
            duplicate_of=self.duplicate_of,
        )


class ClockEffect(enum.StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


class ClockPhase(enum.StrEnum):
    """Where a report's clock stands before a move. ``NONE``: no clock, or a stopped one."""

    NONE = "none"
    RUNNING = "running"
    PAUSED = "paused"


def ack_clock_effect(current: Status, target: Status) -> ClockEffect | None:
    """Any move out of ``new`` stops the acknowledgement clock, whatever ``target`` is: a person
    has responded. The clock starts when the report is created, not on a transition.
    """
    return ClockEffect.STOP if current is Status.NEW else None


def resolution_clock_effect(
    current: Status, target: Status, *, clock: ClockPhase, pause_in_needs_info: bool
) -> ClockEffect | None:
    """What ``current -> target`` does to the resolution clock.

    * Entering verified starts the clock, or resumes it when it was paused in needs-info.
    * Verified to needs-info pauses it when the policy says so (otherwise it keeps running).
    * Any other move while a clock is open (resolved, dismissed, reopened, closed from
      needs-info) stops it. Whether a severity has a clock at all is for ``sla`` to say.
    """
    if clock is ClockPhase.NONE:
        return ClockEffect.START if target is Status.VERIFIED else None
    if target is Status.VERIFIED:
        return ClockEffect.RESUME if clock is ClockPhase.PAUSED else None
    if target is Status.NEEDS_INFO:
        if current is Status.VERIFIED and clock is ClockPhase.RUNNING and pause_in_needs_info:
            return ClockEffect.PAUSE
        return None
    return ClockEffect.STOP
