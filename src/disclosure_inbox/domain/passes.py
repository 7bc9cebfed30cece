"""What an intake pass reports: counts by outcome, and what happened to each UID."""

from __future__ import annotations

from dataclasses import dataclass

from disclosure_inbox.domain.model import Outcome


@dataclass
class IntakeResult:
    messages: int = 0  # new messages stored
    reports: int = 0
    followups: int = 0
    quarantined: int = 0
    unfiled: int = 0  # machine mail kept out of the reports
    duplicates: int = 0  # seen before under another UID or mailbox
    failed: int = 0  # failed this time, to be tried again
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.messages} messages, {self.reports} new reports, {self.followups} follow-ups, "
            f"{self.unfiled} unfiled, {self.quarantined} quarantined, "
            f"{self.duplicates} duplicates, {self.failed} to retry, {self.seconds:.2f} s"
        )

    def count(self, outcome: Outcome) -> None:
        match outcome:
            case Outcome.REPORT:
                self.messages += 1
                self.reports += 1
            case Outcome.FOLLOWUP | Outcome.STAFF_REPLY:
                self.messages += 1
                self.followups += 1
            case Outcome.QUARANTINED:
                self.messages += 1
                self.quarantined += 1
            case Outcome.UNFILED:
                self.messages += 1
                self.unfiled += 1
            case Outcome.DUPLICATE:
                self.duplicates += 1
            case Outcome.FAILED:
                self.failed += 1


@dataclass(frozen=True)
class Done:
    """What happened to one UID: it is flagged unless it failed, and copied to the
    quarantine folder when it was quarantined."""

    uid: int
    outcome: Outcome
