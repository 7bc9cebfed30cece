"""What happens after a message is stored: an acknowledgement for a new report, or nothing.

Machine mail that threads into no report is not a report at all: ``machine_check`` gives the
intake decisions the loop rules that say so (``loops.MACHINE_RULES``), built from the settings,
and such a message is stored unfiled, with neither a clock nor an answer.

Planned with the rest of the batch and written in the transaction that stores the report, so
a report and its acknowledgement's outbox row commit together or not at all. Every decision
not to answer names the loop rule that fired, in the log and in the audit trail.

A template that fails never keeps a report out of the store: its acknowledgement is written
in the bundled template's words and parked as ``failed``, with the error, for staff to read
(``outbox list --state failed``) and to send or not (``outbox retry``).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from datetime import datetime

from disclosure_inbox.adapters.render import Rendered, Renderer, describe_failure
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import loops, sla
from disclosure_inbox.domain.intake import AckCounts, Decision, Found, MachineCheck, Writes
from disclosure_inbox.domain.model import Outcome, ParsedMessage
from disclosure_inbox.domain.refs import tagged_subject
from disclosure_inbox.domain.replies import reply_target
from disclosure_inbox.domain.sanitize import display_name_safe, header_safe
from disclosure_inbox.domain.sealing import REPORTER
from disclosure_inbox.service.clocks import business_calendar, clock_spec
from disclosure_inbox.service.outbox import FAILED, LOOP_MARKER, Outgoing, build

log = logging.getLogger(__name__)

ACK = "ack"
SUPPRESSED = "ack-suppressed"


def loop_context(
    settings: Settings,
    parsed: ParsedMessage,
    *,
    acks_to_sender: int = 0,
    acks_to_domain: int = 0,
    acks_for_report: int = 0,
    acks_last_hour: int = 0,
) -> loops.LoopContext:
    org = settings.organization
    limits = settings.limits
    return loops.LoopContext(
        headers=parsed.headers,
        sender_address=parsed.sender_address,
        content_type=parsed.content_type,
        message_id=parsed.message_id,
        own_addresses=frozenset({org.mailbox_address.lower(), settings.smtp_from.lower()}),
        staff_addresses=frozenset(a.lower() for a in org.staff_addresses),
        own_domain=org.message_id_domain,
        loop_marker=LOOP_MARKER,
        own_list_ids=frozenset(settings.loops.own_list_ids),
        acks_to_sender_last_24h=acks_to_sender,
        acks_to_domain_last_24h=acks_to_domain,
        acks_for_report=acks_for_report,
        acks_last_hour=acks_last_hour,
        max_acks_per_sender_per_day=limits.acks_per_sender_per_day,
        max_acks_per_domain_per_day=limits.acks_per_domain_per_day,
        max_acks_per_report=limits.acks_per_report,
        max_acks_per_hour=limits.acks_per_hour,
    )


def machine_check(settings: Settings) -> MachineCheck:
    """Whether a message is machine mail, by ``loops.MACHINE_RULES`` under these settings (our
    addresses, domain and lists); pure, so the intake decisions can call it. The rate limits
    are not asked: they say nothing about who wrote a message."""

    def check(parsed: ParsedMessage) -> loops.Verdict:
        return loops.machine_mail(loop_context(settings, parsed))

    return check


def format_local(value: datetime, settings: Settings) -> str:
    local = value.astimezone(settings.organization.tz)
    return local.strftime("%A %d %B %Y, %H:%M %Z")


class Acknowledger:
    """Plans what a batch's new reports get: an acknowledgement clock, and an answer through
    the outbox with the promised response date (or the rule that says no); it also records
    bounces of our mail. Pure but for rendering: it adds rows to the batch's ``Writes``."""

    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings = settings
        self.renderer = renderer
        self._spec = clock_spec(settings)
        self._calendar = business_calendar(settings)

    def plan(self, writes: Writes, found: Found, now: datetime) -> None:
        counts = AckCounts(
            Counter(found.acks.per_address), Counter(found.acks.per_domain), found.acks.last_hour
        )
        unbounced = set(found.unbounced)
        for d in writes.stored():
            if d.outcome is Outcome.QUARANTINED:
                continue
            bounced = [mid for mid in d.incoming.quoted_ids if mid in unbounced]
            if bounced:
                unbounced.difference_update(bounced)
                writes.bounced += bounced
                writes.audit.append(
                    entry(now, "outgoing-bounced", d, bounced=list(d.incoming.quoted_ids))
                )
                log.warning(
                    "%s: our message %s bounced", self._ref(d), ", ".join(d.incoming.quoted_ids)
                )
            if d.outcome is Outcome.REPORT:  # follow-ups are threaded, never answered
                self._answer(d, counts, writes, now)

    @staticmethod
    def _ref(d: Decision) -> str:
        if d.new_report:
            return d.new_report.ref
        if d.report_id is None:  # unfiled
            return f"unfiled message {d.incoming.parsed.message_id}"
        return f"report {d.report_id}"

    def _answer(self, d: Decision, counts: AckCounts, writes: Writes, now: datetime) -> None:
        assert d.new_report is not None and d.report_id is not None
        parsed = d.incoming.parsed
        target = reply_target(parsed.headers, parsed.sender_address)
        address = (target.address or parsed.sender_address).lower()
        domain = address.rpartition("@")[2] if "@" in address else ""
        ctx = loop_context(
            self.settings,
            parsed,
            acks_to_sender=counts.per_address[address],
            acks_to_domain=counts.per_domain[domain] if domain else 0,
            acks_for_report=0,  # a new report: nothing sent for it yet
            acks_last_hour=counts.last_hour,
        )
        verdict = loops.evaluate(ctx)
        due_at = None
        if not verdict.machine:
            clock = sla.start_ack_clock(d.incoming.internaldate, self._spec, self._calendar)
            writes.clocks.append((d.report_id, clock))
            due_at = clock.due_at
        if verdict.allowed and target.address is None:
            verdict = loops.Verdict(False, target.source, "no address to reply to (RFC 3834 §4)")
        if not verdict.allowed:
            writes.audit.append(
                entry(
                    now,
                    SUPPRESSED,
                    d,
                    rule=verdict.rule,
                    reason=verdict.reason,
                    message_id=parsed.message_id,
                )
            )
            log.info(
                "%s: no acknowledgement for %s (rule %s: %s)",
                d.new_report.ref,
                parsed.message_id,
                verdict.rule,
                verdict.reason,
            )
            return
        assert target.address is not None
        ack, problem = self._ack(d, parsed, target.address, due_at)
        mail = build(self.settings, ack, now)
        counts.per_address[address] += 1
        if domain:
            counts.per_domain[domain] += 1
        counts.last_hour += 1
        if problem is not None:
            writes.mails.append(
                replace(
                    mail,
                    state=FAILED,
                    last_error=(
                        f"not sent, the template failed: {problem}; the message holds the "
                        "bundled template's text instead, which `outbox retry` sends"
                    ),
                )
            )
            writes.audit.append(
                entry(
                    now,
                    "ack-template-failed",
                    d,
                    message_id=mail.message_id,
                    to=target.address,
                    error=problem,
                )
            )
            log.error(
                "%s: acknowledgement to %s parked as failed: template %s",
                d.new_report.ref,
                target.address,
                problem,
            )
            return
        writes.mails.append(mail)
        writes.audit.append(
            entry(
                now,
                "ack-queued",
                d,
                message_id=mail.message_id,
                to=target.address,
                via=target.source,
            )
        )

    def _ack(
        self, d: Decision, parsed: ParsedMessage, to: str, due: datetime | None
    ) -> tuple[Outgoing, str | None]:
        """The acknowledgement, and what went wrong with the template if anything did."""
        assert d.new_report is not None
        org, ref = self.settings.organization, d.new_report.ref
        subject = header_safe(parsed.subject, 150)
        rendered, problem = self._render(
            {
                "organization": org.name,
                "mailbox": org.mailbox_address,
                "policy_url": org.policy_url,
                "ref": ref,
                "reporter_name": display_name_safe(parsed.sender_name, 80),
                "subject": subject or "(no subject)",
                "received_at": format_local(d.incoming.internaldate, self.settings),
                "due_at": format_local(due, self.settings) if due else None,
            }
        )
        references = (*parsed.references, parsed.message_id) if parsed.message_id else ()
        return Outgoing(
            kind=ACK,
            report_id=d.report_id,
            report_ref=ref,
            recipients=[to],
            subject=tagged_subject(ref, subject),
            text=rendered.text,
            html=rendered.html,
            in_reply_to=parsed.message_id,
            references=tuple(r for r in references if r),
            protect=REPORTER,  # encrypted to the reporter's key, if one is known
        ), problem

    def _render(self, context: dict[str, object]) -> tuple[Rendered, str | None]:
        try:
            return self.renderer.render("reporter", "ack", context), None
        except Exception as exc:  # a template is the operator's code; any error is its own
            problem = describe_failure(exc)
        # The bundled templates render every context built here (test_template_checks.py).
        return self.renderer.bundled().render("reporter", "ack", context), problem


def entry(now: datetime, action: str, d: Decision, **detail: object) -> dict[str, object]:
    """A row of the audit trail about a decision (ids may be provisional)."""
    return {
        "at": now,
        "action": action,
        "report_id": d.report_id,
        "message_pk": d.message_pk,
        "detail": detail,
    }
