"""What intake records of each decision: the audit rows (with the rule that decided), the
checkpoint of each mailbox, and one log line, whatever the batch holds."""

from __future__ import annotations

import logging
from datetime import datetime

from disclosure_inbox.domain.intake import Decision, Writes
from disclosure_inbox.domain.model import Outcome
from disclosure_inbox.service.acks import entry

log = logging.getLogger("disclosure_inbox.service.intake")


def describe(writes: Writes, now: datetime) -> None:
    """The audit rows and checkpoints every batch writes, whatever it holds."""
    for d in writes.decisions:
        item = d.incoming
        key = (item.mailbox, item.uidvalidity)
        writes.checkpoints[key] = max(item.uid, writes.checkpoints.get(key, 0))
        mid = item.parsed.message_id
        match d.outcome:
            case Outcome.DUPLICATE:
                why = {"same-bytes": "same bytes"}.get(d.rule, "same Message-ID and sender")
                writes.audit.append(
                    entry(now, "duplicate-seen", d, why=why, mailbox=item.mailbox, uid=item.uid)
                    | {"report_id": None}
                )
            case Outcome.QUARANTINED:
                writes.audit.append(
                    entry(now, "quarantined", d, message_id=mid, reason=d.reason)
                    | {"report_id": None}
                )
            case Outcome.UNFILED:  # the loop rule's name is what `messages list` shows
                loop = {"rule": d.rule, "reason": d.reason, "mentioned": list(d.mentioned)}
                writes.audit.append(entry(now, "unfiled", d, message_id=mid, **loop))
            case Outcome.REPORT | Outcome.FOLLOWUP:
                action = "report-created" if d.outcome is Outcome.REPORT else "followup-added"
                writes.audit.append(
                    entry(now, action, d, message_id=mid, rule=d.rule, mentioned=list(d.mentioned))
                )
                claim = item.staff
                if claim is not None and not claim.authenticated:
                    # A staff From that nothing proves: no privilege, and it is said.
                    writes.audit.append(
                        entry(
                            now,
                            "unauthenticated-staff",
                            d,
                            message_id=mid,
                            rule=claim.rule,
                            reason=claim.reason,
                            sender=item.parsed.sender_address,
                        )
                    )


def log_decision(d: Decision, real: dict[int, int]) -> None:
    item, mid = d.incoming, d.incoming.parsed.message_id
    match d.outcome:
        case Outcome.DUPLICATE:
            log.info("duplicate of message %s (%s): UID %s", mid, d.rule, item.uid)
        case Outcome.QUARANTINED:
            log.warning("quarantined UID %s (%s): %s", item.uid, mid, d.reason)
        case Outcome.UNFILED:
            log.info("unfiled %s (rule %s: %s)", mid, d.rule, d.reason)
        case _:
            ref = (
                d.new_report.ref
                if d.new_report
                else f"report {real.get(d.report_id or 0, d.report_id)}"
            )
            log.info("%s %s: %s from %s", ref, d.outcome, mid, item.parsed.sender_address)
