"""The SLA scan: find escalations that are due, and send each one at most once.

The query reads running clocks whose deadline is near enough for some tier to fire (a partial
index on ``due_at`` over running clocks), so its cost follows what is due, not how many
reports exist. The pure ``sla.due_escalations`` decides; this module records each step in the
escalation ledger and writes its mail to the outbox in one transaction, so a step is either
recorded and queued, or neither. The ledger's unique key (clock, tier, occurrence) makes a
second scan, a restart or a second instance unable to send it again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from disclosure_inbox.adapters.db import audit, clocks
from disclosure_inbox.adapters.db.clocks import LedgerStep
from disclosure_inbox.adapters.db.reports import StoredReport
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import sla
from disclosure_inbox.domain.errors import AlreadyRecorded
from disclosure_inbox.domain.sanitize import defang, header_safe
from disclosure_inbox.ports import Transaction
from disclosure_inbox.service.clocks import business_calendar, tiers
from disclosure_inbox.service.notices import thread_root
from disclosure_inbox.service.outbox import Outgoing, enqueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DueItem:
    escalation: sla.DueEscalation
    report: StoredReport
    clock_id: int


@dataclass
class ScanResult:
    escalations: int = 0
    mails: int = 0
    digests: int = 0
    unrouted: int = 0
    items: list[DueItem] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.escalations} escalations in {self.mails} mails "
            f"({self.digests} digests, {self.unrouted} without recipients)"
        )


class Escalator:
    def __init__(self, settings: Settings, store: Store, renderer: Renderer) -> None:
        self.settings = settings
        self.store = store
        self.renderer = renderer
        self.calendar = business_calendar(settings)
        self.tiers = tiers(settings)

    def horizon(self, now: datetime) -> datetime:
        """The latest deadline for which some tier can fire at ``now``."""
        before = max([0, *(-t.offset for t in self.tiers)])
        return self.calendar.add_business_days(now, before) if before else now

    def find_due(self, tx: Transaction, now: datetime) -> list[DueItem]:
        rows = clocks.running_due(tx, self.horizon(now))
        if not rows:
            return []
        sent = clocks.escalated(tx, [clock.id for clock, _ in rows])
        reports = {clock.id: report for clock, report in rows}
        # Twice the scan interval: an ordinary scan is never "late", one after downtime is.
        grace = timedelta(seconds=2 * self.settings.escalation.scan_interval_seconds)
        due = sla.due_escalations(
            [(str(clock.id), clock.state) for clock, _ in rows],
            self.tiers,
            now,
            self.calendar,
            sent,
            grace=grace,
        )
        return [DueItem(e, reports[int(e.report_key)], int(e.report_key)) for e in due]

    def scan(self, now: datetime) -> ScanResult:
        result = ScanResult()
        try:
            with self.store.transaction() as tx:
                result.items = self.find_due(tx, now)
                if result.items:
                    self._send(tx, result, now)
        except AlreadyRecorded:
            # Another instance recorded the same step first: it sends, we do not.
            log.warning("escalation scan raced with another instance; nothing sent twice")
            return ScanResult()
        return result

    def _send(self, tx: Transaction, result: ScanResult, now: datetime) -> None:
        # The ledger first: its unique key is checked here, before any mail is queued.
        steps = [
            LedgerStep(
                clock_id=item.clock_id,
                report_id=item.report.id,
                tier=item.escalation.tier_name,
                occurrence=item.escalation.occurrence,
                fire_at=item.escalation.fire_at,
                late=item.escalation.late,
            )
            for item in result.items
        ]
        clocks.record_escalations(tx, steps, now)
        audit.record_many(
            tx,
            (
                {
                    "at": now,
                    "action": "escalated",
                    "report_id": item.report.id,
                    "detail": {
                        "clock": item.escalation.clock_name,
                        "tier": item.escalation.tier_name,
                        "occurrence": item.escalation.occurrence,
                        "late": item.escalation.late,
                        "recipients": list(item.escalation.recipients),
                    },
                }
                for item in result.items
            ),
        )
        for item in result.items:
            if not item.escalation.recipients:
                result.unrouted += 1
                log.error(
                    "%s: %s escalation %s has no recipients: set [organization] "
                    "staff_addresses or the tier's recipients",
                    item.report.ref,
                    item.escalation.clock_name,
                    item.escalation.tier_name,
                )
        result.escalations = len(result.items)

        by_recipient: dict[str, list[DueItem]] = defaultdict(list)
        for item in result.items:
            for address in item.escalation.recipients:
                by_recipient[address.lower()].append(item)
        cfg = self.settings.escalation
        # Each step's key (clock, tier, occurrence) -> the first outbox row that carries it.
        carried_by: dict[tuple[int, str, int], int] = {}
        for address, items in sorted(by_recipient.items()):
            groups = (
                [items] if cfg.digest and len(items) >= cfg.digest_min else [[i] for i in items]
            )
            for group in groups:
                queued = enqueue(tx, self.settings, self._mail(address, group, now), now)
                result.mails += 1
                result.digests += len(group) > 1
                for item in group:
                    e = item.escalation
                    carried_by.setdefault((item.clock_id, e.tier_name, e.occurrence), queued.id)
        clocks.link_outbox(tx, carried_by)
        for item in result.items:
            e = item.escalation
            log.warning(
                "%s: %s escalation %s (%s)%s",
                item.report.ref,
                e.clock_name,
                e.tier_name,
                sla.describe_lateness(e.due_at, now, self.calendar),
                " [late]" if e.late else "",
            )

    def describe(self, item: DueItem, now: datetime) -> dict[str, object]:
        e = item.escalation
        tz = self.settings.organization.tz
        return {
            "ref": item.report.ref,
            "severity": item.report.severity or "not set",
            "status": item.report.status,
            "clock": e.clock_name,
            "tier": e.tier_name,
            "occurrence": e.occurrence,
            "due_at": e.due_at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z"),
            "fire_at": e.fire_at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z"),
            "lateness": sla.describe_lateness(e.due_at, now, self.calendar),
            "late": e.late,
            # Reporter-supplied text: one line, defanged, never a live link.
            "subject": defang(header_safe(item.report.subject, 200)) or "(no subject)",
            "reporter": defang(header_safe(item.report.reporter_address, 120)),
        }

    def _mail(self, address: str, group: list[DueItem], now: datetime) -> Outgoing:
        org = self.settings.organization
        items = [self.describe(i, now) for i in group]
        if len(group) == 1:
            event = "escalation"
            i = items[0]
            subject = f"[{i['ref']}] {i['tier']}: {i['clock']} {i['lateness']}"
        else:
            event = "digest"
            subject = f"[{org.name}] {len(group)} SLA escalations"
        context = {
            "organization": org.name,
            "items": items,
            "count": len(items),
            "mailbox": org.mailbox_address,
        }
        # One report's data must not hold back every escalation in the scan: send the bundled
        # wording, and tell the staff reading it that their template failed.
        rendered, problem = self.renderer.render_or_bundled("staff", event, context)
        text = rendered.text
        if problem is not None:
            log.error("staff/%s template failed, sent the bundled one: %s", event, problem)
            text = f"[Your template failed, so this is the bundled one: {problem}]\n\n" + text
        first = group[0].report
        # One report's escalation joins that recipient's thread of the report (a digest
        # spans several reports, so it stands alone).
        root = thread_root(self.settings, first.ref, address) if len(group) == 1 else None
        return Outgoing(
            kind="escalation",
            report_id=first.id if len(group) == 1 else None,
            report_ref=first.ref if len(group) == 1 else None,
            recipients=[address],
            subject=header_safe(subject, 200),
            text=text,
            html=None,
            in_reply_to=root,
            references=(root,) if root else (),
            auto_submitted="auto-generated",
        )
