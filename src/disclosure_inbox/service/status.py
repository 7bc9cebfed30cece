"""A reporter asks where their report stands: a follow-up whose text is just ``status``.

The answer (template ``reporter/status``) gives the report's status, severity and each clock
with its due date in business days. It is planned with the batch, written in the follow-up's
transaction, and held to the acknowledgements' loop rules and rate limits: it goes only to
the report's reporter, never to machine mail, and counts as an acknowledgement towards the
per-sender, per-domain and hourly limits (``[limits]``).

Worked example: MIO-2026-0001 is ``triaged`` with its acknowledgement clock met; Ada writes
"status" in reply to our acknowledgement. She gets "Status: triaged ... acknowledgement:
met"; a second "status" the same day gets one more, and a fourth is held back by
``acks_per_sender_per_day = 3``, with the rule's name in the audit trail.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import loops, sla
from disclosure_inbox.domain.intake import AckCounts, Decision, FollowedReport, Found, Writes
from disclosure_inbox.domain.model import Outcome
from disclosure_inbox.domain.outgoing import Outgoing
from disclosure_inbox.domain.refs import tagged_subject
from disclosure_inbox.domain.replies import deliverable
from disclosure_inbox.domain.replytext import latest_reply
from disclosure_inbox.domain.sanitize import header_safe
from disclosure_inbox.domain.sealing import REPORTER
from disclosure_inbox.service.acks import entry, loop_context
from disclosure_inbox.service.clocks import business_calendar
from disclosure_inbox.service.outbox import build

log = logging.getLogger(__name__)

STATUS_REPLY = "status-reply"
ASKS = frozenset({"status", "status?", "/status"})


def asks_for_status(text: str) -> bool:
    # The reply parser is the costly part: run it only on text that could be the question.
    return "status" in text.lower() and latest_reply(text).strip().lower() in ASKS


class StatusReplies:
    """Plans the status replies of a batch: adds outbox mail and audit rows to ``Writes``."""

    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings = settings
        self.renderer = renderer
        self._calendar = business_calendar(settings)

    def plan(self, writes: Writes, found: Found, now: datetime) -> None:
        counts = AckCounts(
            Counter(found.acks.per_address), Counter(found.acks.per_domain), found.acks.last_hour
        )
        for d in writes.stored():
            if d.outcome is not Outcome.FOLLOWUP or d.report_id is None:
                continue
            report = found.followed.get(d.report_id)
            parsed = d.incoming.parsed
            if report is None or parsed.sender_address != report.reporter_address.lower():
                continue
            if not deliverable(report.reporter_address):
                continue
            if asks_for_status(parsed.text):
                self._answer(d, report, counts, writes, now)

    def _answer(
        self,
        d: Decision,
        report: FollowedReport,
        counts: AckCounts,
        writes: Writes,
        now: datetime,
    ) -> None:
        parsed = d.incoming.parsed
        address = report.reporter_address.lower()
        domain = address.rpartition("@")[2]
        verdict = loops.evaluate(
            loop_context(
                self.settings,
                parsed,
                acks_to_sender=counts.per_address[address],
                acks_to_domain=counts.per_domain[domain],
                acks_last_hour=counts.last_hour,
            )
        )
        if not verdict.allowed:
            writes.audit.append(
                entry(now, "status-suppressed", d, rule=verdict.rule, reason=verdict.reason)
            )
            log.info("%s: no status reply (rule %s)", report.ref, verdict.rule)
            return
        counts.per_address[address] += 1
        counts.per_domain[domain] += 1
        counts.last_hour += 1
        org = self.settings.organization
        rendered, problem = self.renderer.render_or_bundled(
            "reporter",
            "status",
            {
                "organization": org.name,
                "mailbox": org.mailbox_address,
                "ref": report.ref,
                "status": report.status,
                "severity": report.severity or "not set",
                "clocks": [
                    {
                        "name": c.name,
                        "state": sla.clock_state_label(c, now),
                        "due": sla.describe_lateness(c.due_at, now, self._calendar),
                    }
                    for c in report.clocks
                ],
            },
        )
        if problem is not None:
            log.error("reporter/status template failed, sent the bundled one: %s", problem)
        references = (*parsed.references, parsed.message_id) if parsed.message_id else ()
        mail = build(
            self.settings,
            Outgoing(
                kind=STATUS_REPLY,
                report_id=d.report_id,
                report_ref=report.ref,
                recipients=[report.reporter_address],
                subject=tagged_subject(report.ref, header_safe(report.subject, 150)),
                text=rendered.text,
                in_reply_to=parsed.message_id,
                references=tuple(r for r in references if r),
                protect=REPORTER,  # encrypted to the reporter's key, if one is known
            ),
            now,
        )
        writes.mails.append(mail)
        writes.audit.append(entry(now, "status-replied", d, message_id=mail.message_id))
