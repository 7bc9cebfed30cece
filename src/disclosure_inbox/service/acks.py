"""What happens after a message is stored: an acknowledgement for a new report, or nothing.

Runs inside the transaction that stores the message, so a report and its acknowledgement's
outbox row commit together or not at all. Every decision not to answer names the loop rule
that fired, in the log and in the audit trail.

A template that fails never keeps a report out of the store: its acknowledgement is written
in the bundled template's words and parked as ``failed``, with the error, for staff to read
(``outbox list --state failed``) and to send or not (``outbox retry``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import Message, OutboxRow, Report
from disclosure_inbox.adapters.db.outbox import insert_built
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.render import Rendered, Renderer, describe_failure
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import loops
from disclosure_inbox.domain.model import ParsedMessage
from disclosure_inbox.domain.refs import tagged_subject
from disclosure_inbox.domain.replies import reply_target
from disclosure_inbox.domain.sanitize import display_name_safe, header_safe
from disclosure_inbox.service.clocks import start_ack_clock
from disclosure_inbox.service.outbox import FAILED, LOOP_MARKER, Outgoing, build

log = logging.getLogger(__name__)

ACK = "ack"
SUPPRESSED = "ack-suppressed"
# Rules that say the message was written by a machine, not a person: such a "report" gets no
# acknowledgement clock (nobody owes a bounce an answer). Mail from staff, an address we
# cannot reply to or one held back by any rate limit (sender, domain, report, global) is
# still a person's report with a deadline.
MACHINE_RULES = frozenset(
    {
        "own-loop-marker",
        "own-message-id",
        "own-address",
        "mailer-daemon",
        "delivery-report",
        "auto-submitted",
        "auto-reply-headers",
        "auto-response-suppress",
        "precedence",
        "list-headers",
    }
)


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


def format_local(value: datetime, settings: Settings) -> str:
    local = value.astimezone(settings.organization.tz)
    return local.strftime("%A %d %B %Y, %H:%M %Z")


class Acknowledger:
    """The intake hook that starts a new report's acknowledgement clock, answers it (through
    the outbox) with the promised response date, and records bounces of our mail."""

    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings = settings
        self.renderer = renderer

    def __call__(
        self,
        session: Session,
        message: Message,
        report: Report,
        parsed: ParsedMessage,
        is_new_report: bool,
        now: datetime,
        quoted_ids: tuple[str, ...] = (),
    ) -> None:
        if quoted_ids:
            self._record_bounce(session, report, message, quoted_ids, now)
        if not is_new_report:
            return  # follow-ups are threaded, never answered automatically
        target = reply_target(parsed.headers, parsed.sender_address)
        address = target.address or parsed.sender_address
        ctx = loop_context(
            self.settings,
            parsed,
            acks_to_sender=self._acks_to(session, address, now),
            acks_to_domain=self._acks_to_domain(session, address, now),
            acks_for_report=self._acks_for(session, report.id),
            acks_last_hour=self._acks_since(session, now - timedelta(hours=1)),
        )
        verdict = loops.evaluate(ctx)
        due_at = None
        if verdict.rule not in MACHINE_RULES:
            due_at = start_ack_clock(session, report.id, report.received_at, self.settings).due_at
        if verdict.allowed and target.address is None:
            verdict = loops.Verdict(False, target.source, "no address to reply to (RFC 3834 §4)")
        if not verdict.allowed:
            Store.audit(
                session,
                now,
                SUPPRESSED,
                report_id=report.id,
                message_pk=message.id,
                rule=verdict.rule,
                reason=verdict.reason,
                message_id=parsed.message_id,
            )
            log.info(
                "%s: no acknowledgement for %s (rule %s: %s)",
                report.ref,
                parsed.message_id,
                verdict.rule,
                verdict.reason,
            )
            return
        assert target.address is not None
        ack, problem = self._ack(report, parsed, target.address, due_at)
        row = build(self.settings, ack, now)
        if problem is not None:
            row = replace(
                row,
                state=FAILED,
                last_error=(
                    f"not sent, the template failed: {problem}; the message holds the bundled "
                    "template's text instead, which `outbox retry` sends"
                ),
            )
        insert_built(session, [row])
        if problem is not None:
            Store.audit(
                session,
                now,
                "ack-template-failed",
                report_id=report.id,
                message_pk=message.id,
                message_id=row.message_id,
                to=target.address,
                error=problem,
            )
            log.error(
                "%s: acknowledgement to %s parked as failed: template %s",
                report.ref,
                target.address,
                problem,
            )
            return
        Store.audit(
            session,
            now,
            "ack-queued",
            report_id=report.id,
            message_pk=message.id,
            message_id=row.message_id,
            to=target.address,
            via=target.source,
        )

    def _ack(
        self, report: Report, parsed: ParsedMessage, to: str, due: datetime | None
    ) -> tuple[Outgoing, str | None]:
        """The acknowledgement, and what went wrong with the template if anything did."""
        org = self.settings.organization
        subject = header_safe(parsed.subject, 150)
        rendered, problem = self._render(
            {
                "organization": org.name,
                "mailbox": org.mailbox_address,
                "policy_url": org.policy_url,
                "ref": report.ref,
                "reporter_name": display_name_safe(parsed.sender_name, 80),
                "subject": subject or "(no subject)",
                "received_at": format_local(report.received_at, self.settings),
                "due_at": format_local(due, self.settings) if due else None,
            }
        )
        references = (*parsed.references, parsed.message_id) if parsed.message_id else ()
        return Outgoing(
            kind=ACK,
            report_id=report.id,
            report_ref=report.ref,
            recipients=[to],
            subject=tagged_subject(report.ref, subject),
            text=rendered.text,
            html=rendered.html,
            in_reply_to=parsed.message_id,
            references=tuple(r for r in references if r),
        ), problem

    def _render(self, context: dict[str, object]) -> tuple[Rendered, str | None]:
        try:
            return self.renderer.render("reporter", "ack", context), None
        except Exception as exc:  # a template is the operator's code; any error is its own
            problem = describe_failure(exc)
        # The bundled templates render every context built here (test_template_checks.py).
        return self.renderer.bundled().render("reporter", "ack", context), problem

    @staticmethod
    def _acks_to(session: Session, address: str, now: datetime) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.kind == ACK,
                    OutboxRow.to_address == address.lower(),
                    OutboxRow.created_at > now - timedelta(hours=24),
                )
            )
            or 0
        )

    @staticmethod
    def _acks_to_domain(session: Session, address: str, now: datetime) -> int:
        domain = address.rpartition("@")[2].lower()
        if "@" not in address or not domain:
            return 0
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(
                    OutboxRow.kind == ACK,
                    OutboxRow.to_address.endswith("@" + domain, autoescape=True),
                    OutboxRow.created_at > now - timedelta(hours=24),
                )
            )
            or 0
        )

    @staticmethod
    def _acks_since(session: Session, since: datetime) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.kind == ACK, OutboxRow.created_at > since)
            )
            or 0
        )

    @staticmethod
    def _acks_for(session: Session, report_id: int) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxRow)
                .where(OutboxRow.kind == ACK, OutboxRow.report_id == report_id)
            )
            or 0
        )

    @staticmethod
    def _record_bounce(
        session: Session,
        report: Report,
        message: Message,
        quoted_ids: tuple[str, ...],
        now: datetime,
    ) -> None:
        result = session.execute(
            update(OutboxRow)
            .where(OutboxRow.message_id.in_(quoted_ids), OutboxRow.bounced_at.is_(None))
            .values(bounced_at=now)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            Store.audit(
                session,
                now,
                "outgoing-bounced",
                report_id=report.id,
                message_pk=message.id,
                bounced=list(quoted_ids),
            )
            log.warning("%s: our message %s bounced", report.ref, ", ".join(quoted_ids))
