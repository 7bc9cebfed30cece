"""The outbox: mail we write is a row first, and a sender drains the rows.

Delivery guarantee: at least once to the SMTP server, never lost. A row becomes ``sent`` only
after the server accepted the message; a crash between the server's acceptance and our commit
sends the same bytes again on restart, with the same Message-ID, which receiving systems (and
our own threading) recognise as the same message. Temporary failures (4xx, network) are
retried with exponential backoff and jitter until the row's deadline; a 5xx reply or an expired
deadline parks the row as ``failed`` with the server's reply, for ``outbox retry``.
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import Message, OutboxRow
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.smtp import SmtpSender
from disclosure_inbox.config import Settings
from disclosure_inbox.domain.errors import (
    NotFound,
    SendDeferred,
    SendRejected,
    StoreUnavailable,
)
from disclosure_inbox.domain.mail_ids import make_message_id
from disclosure_inbox.domain.model import Direction
from disclosure_inbox.domain.replies import envelope_sender

log = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"
# Header we put on every message we send; seeing it come back means a loop.
LOOP_MARKER = "X-Disclosure-Inbox-Loop"
# A strict policy: CR/LF inside a header value raises instead of being sent.
STRICT = SMTP_POLICY.clone(raise_on_defect=True, max_line_length=998)


@dataclass(frozen=True)
class Outgoing:
    kind: str
    report_id: int | None
    report_ref: str | None
    recipients: Sequence[str]
    subject: str
    text: str
    html: str | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    auto_submitted: str = "auto-replied"


def backoff(attempts: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: a random delay in [base/2, base]."""
    base = min(maximum, initial * (2 ** max(0, attempts - 1)))
    return rng.uniform(base / 2, base)


def build_message(settings: Settings, out: Outgoing, message_id: str, now: datetime) -> bytes:
    org = settings.organization
    msg = EmailMessage(policy=STRICT)
    msg["From"] = (
        f"{settings.smtp.from_name} <{settings.smtp_from}>"
        if settings.smtp.from_name
        else settings.smtp_from
    )
    msg["To"] = ", ".join(out.recipients)
    msg["Subject"] = out.subject
    msg["Date"] = now
    msg["Message-ID"] = message_id
    if out.in_reply_to:
        msg["In-Reply-To"] = out.in_reply_to
    refs = [r for r in out.references if r][-20:]
    if refs:
        msg["References"] = " ".join(refs)
    msg["Auto-Submitted"] = out.auto_submitted  # RFC 3834 section 5
    # Ask Exchange and friends not to answer us with out-of-office notices.
    msg["X-Auto-Response-Suppress"] = "All"
    msg[LOOP_MARKER] = org.mailbox_address
    msg.set_content(out.text)
    if out.html:
        msg.add_alternative(out.html, subtype="html")
    return msg.as_bytes()


def enqueue(session: Session, settings: Settings, out: Outgoing, now: datetime) -> OutboxRow:
    """Write the message and its outbox row in the caller's transaction."""
    org = settings.organization
    message_id = make_message_id(
        out.report_ref, out.kind, secrets.token_hex(8), org.message_id_domain
    )
    raw = build_message(settings, out, message_id, now)
    message = Message(
        report_id=out.report_id,
        direction=Direction.OUTBOUND,
        outcome=out.kind,
        message_id=message_id,
        sender_address=settings.smtp_from.lower(),
        sender_name=settings.smtp.from_name,
        subject=out.subject,
        in_reply_to=out.in_reply_to or "",
        references=" ".join(out.references),
        received_at=now,
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        raw_size=len(raw),
        parse_outcome="built",
        body_text=out.text,
        headers={},
        created_at=now,
    )
    row = OutboxRow(
        kind=out.kind,
        report_id=out.report_id,
        message=message,
        message_id=message_id,
        envelope_from=envelope_sender(settings.smtp.envelope_sender, org.mailbox_address),
        recipients=list(out.recipients),
        to_address=out.recipients[0].lower(),
        subject=out.subject,
        raw=raw,
        state=PENDING,
        attempts=0,
        next_attempt_at=now,
        deadline_at=now + timedelta(hours=settings.smtp.retry_deadline_hours),
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


@dataclass
class DrainResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    sent_kinds: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        return f"{self.sent} sent, {self.deferred} deferred, {self.failed} failed"


class Outbox:
    def __init__(self, settings: Settings, store: Store, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.store = store
        self.rng = rng or random.Random()

    def due(self, now: datetime, limit: int) -> list[OutboxRow]:
        with self.store.reading() as session:
            return list(
                session.scalars(
                    select(OutboxRow)
                    .where(OutboxRow.state == PENDING, OutboxRow.next_attempt_at <= now)
                    .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
                    .limit(limit)
                )
            )

    def retrying(self) -> str | None:
        """The last error of pending mail that has failed before, if any is waiting."""
        with self.store.reading() as session:
            row = session.execute(
                select(func.count(), func.max(OutboxRow.last_error)).where(
                    OutboxRow.state == PENDING, OutboxRow.attempts > 0
                )
            ).one()
        count, error = row
        return f"{count} message(s) waiting to be retried; last error: {error}" if count else None

    async def drain(
        self, now: datetime, still_leading: Callable[[], bool] = lambda: True
    ) -> DrainResult:
        """Send everything due over one connection; stop at the first sign of an outage, or
        when this instance is no longer the leader (checked between batches)."""
        result = DrainResult()
        cfg = self.settings.smtp
        async with SmtpSender(cfg) as sender:
            while rows := self.due(now, cfg.batch_size):
                if not await self._send_batch(sender, rows, now, result) or not still_leading():
                    break
        return result

    async def _send_batch(
        self, sender: SmtpSender, rows: list[OutboxRow], now: datetime, result: DrainResult
    ) -> bool:
        """Send ``rows``; False when the server is unwell and the pass should end."""
        for row in rows:
            try:
                await sender.send(row.envelope_from, row.recipients, row.raw)
            except SendRejected as exc:
                self._finish(row.id, now, FAILED, f"rejected: {exc}")
                log.error("%s %s rejected by SMTP: %s", row.kind, row.message_id, exc)
                result.failed += 1
            except (ValueError, UnicodeError) as exc:
                # The message itself cannot be sent (an address SMTP cannot carry).
                self._finish(row.id, now, FAILED, f"unsendable: {exc}")
                log.error("%s %s cannot be sent: %s", row.kind, row.message_id, exc)
                result.failed += 1
            except SendDeferred as exc:
                parked = self._defer(row.id, now, str(exc))
                result.failed += parked
                result.deferred += not parked
                log.warning("%s %s deferred: %s", row.kind, row.message_id, exc)
                return False  # leave the rest for the next pass
            else:
                self._sent(row.id, now)
                log.info("%s %s sent to %s", row.kind, row.message_id, row.to_address)
                result.sent += 1
                result.sent_kinds[row.kind] += 1
        return True

    def _sent(self, row_id: int, now: datetime) -> None:
        """Record acceptance at once: the shorter this window, the rarer a resend. A busy
        store is asked again rather than letting the message go out a second time."""
        for attempt in range(5):
            try:
                with self.store.transaction() as session:
                    session.execute(
                        update(OutboxRow)
                        .where(OutboxRow.id == row_id, OutboxRow.state == PENDING)
                        .values(
                            state=SENT,
                            attempts=OutboxRow.attempts + 1,
                            sent_at=now,
                            last_error=None,
                        )
                    )
                return
            except StoreUnavailable:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _finish(self, row_id: int, now: datetime, state: str, error: str) -> None:
        with self.store.transaction() as session:
            row = session.get_one(OutboxRow, row_id)
            row.state, row.attempts, row.last_error = state, row.attempts + 1, error
            Store.audit(
                session,
                now,
                f"outbox-{state}",
                report_id=row.report_id,
                message_id=row.message_id,
                kind=row.kind,
                reply=error,
            )

    def _defer(self, row_id: int, now: datetime, error: str) -> bool:
        """Schedule a retry; park as failed when the deadline has passed. True if parked."""
        cfg = self.settings.smtp
        with self.store.transaction() as session:
            row = session.get_one(OutboxRow, row_id)
            row.attempts += 1
            row.last_error = error
            delay = backoff(
                row.attempts, cfg.retry_initial_seconds, cfg.retry_max_seconds, self.rng
            )
            row.next_attempt_at = now + timedelta(seconds=delay)
            if row.next_attempt_at > row.deadline_at:
                row.state = FAILED
                row.last_error = f"gave up after {row.attempts} attempts: {error}"
                Store.audit(
                    session,
                    now,
                    "outbox-failed",
                    report_id=row.report_id,
                    message_id=row.message_id,
                    reply=row.last_error,
                )
                return True
            return False


def retry(store: Store, row_id: int, now: datetime, settings: Settings) -> OutboxRow:
    """Put a failed (or pending) row back in line, now, with a fresh deadline."""
    with store.transaction() as session:
        row = session.get(OutboxRow, row_id)
        if row is None:
            raise NotFound(f"no outbox message {row_id}")
        if row.state == SENT:
            raise NotFound(f"outbox message {row_id} was already sent at {row.sent_at}")
        row.state, row.next_attempt_at = PENDING, now
        row.deadline_at = now + timedelta(hours=settings.smtp.retry_deadline_hours)
        Store.audit(
            session,
            now,
            "outbox-retry",
            actor="cli",
            report_id=row.report_id,
            message_id=row.message_id,
        )
        return row
