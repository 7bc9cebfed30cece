"""Tables. Changing one means a new Alembic revision in ``migrations/versions``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from disclosure_inbox.adapters.db.types import UtcDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON()}


class MailboxState(Base):
    """Where intake stands in one IMAP mailbox."""

    __tablename__ = "mailbox_state"

    name: Mapped[str] = mapped_column(String(500), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]


class Report(Base):
    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    severity: Mapped[str | None] = mapped_column(String(20))
    reporter_address: Mapped[str] = mapped_column(String(320), index=True)
    reporter_name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))

    messages: Mapped[list[Message]] = relationship(
        back_populates="report", order_by="Message.id", foreign_keys="Message.report_id"
    )

    __table_args__ = (UniqueConstraint("year", "seq", name="uq_reports_year_seq"),)


class Message(Base):
    """Every message, inbound and outbound. Raw bytes live in the blob store by sha256."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    direction: Mapped[str] = mapped_column(String(10))
    # inbound: report | followup | quarantined | unfiled | staff-reply; outbound: the outbox
    # kind (ack, escalation, notification, relay, command-result, status-reply, ...)
    outcome: Mapped[str] = mapped_column(String(20), index=True)
    message_id: Mapped[str | None] = mapped_column(String(1000))
    sender_address: Mapped[str] = mapped_column(String(320))
    sender_name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    in_reply_to: Mapped[str] = mapped_column(Text, default="")
    references: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime]
    raw_sha256: Mapped[str | None] = mapped_column(String(64))
    raw_size: Mapped[int] = mapped_column(BigInteger)
    # mail-parser | email (the fallback) | oversized | unparseable | failed
    parse_outcome: Mapped[str] = mapped_column(String(20))
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    thread_rule: Mapped[str | None] = mapped_column(String(30))
    body_text: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    # The staff address that wrote it (a staff reply, a relay, a command); None: a reporter
    # or the system.
    author: Mapped[str | None] = mapped_column(String(320))
    # OpenPGP: none | decrypted | unreadable (the reason in encryption_problem); a signature's
    # status (valid | invalid | unknown-key) and its signer, when the message was signed.
    encryption: Mapped[str] = mapped_column(String(12), default="none", server_default="none")
    encryption_problem: Mapped[str | None] = mapped_column(Text)
    signature_status: Mapped[str | None] = mapped_column(String(12))
    signature_fingerprint: Mapped[str | None] = mapped_column(String(64))

    report: Mapped[Report | None] = relationship(
        back_populates="messages", foreign_keys=[report_id]
    )
    attachments: Mapped[list[AttachmentRow]] = relationship(order_by="AttachmentRow.id")

    __table_args__ = (
        # The hash leads: a lookup by hash must not be served by a scan over one direction.
        UniqueConstraint("raw_sha256", "direction", name="uq_messages_sha_direction"),
        # Also serves threading's lookups by Message-ID alone.
        Index("ix_messages_msgid_sender", "message_id", "sender_address"),
    )


class MessageLocation(Base):
    """Each place (mailbox, UIDVALIDITY, UID) a message was seen: the intake idempotency key."""

    __tablename__ = "message_locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    mailbox: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    # The bytes found at this place: a resend with the same Message-ID may differ slightly
    # (other Received headers), and those bytes are kept too.
    raw_sha256: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[datetime]

    message: Mapped[Message] = relationship()

    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_locations_mailbox_uid"),
    )


class AttachmentRow(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_pk: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))


class IntakeFailure(Base):
    """Attempts at a message that failed to process; at the limit it is quarantined."""

    __tablename__ = "intake_failures"

    mailbox: Mapped[str] = mapped_column(String(500), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    uid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class AuditEntry(Base):
    """Every decision, so that each one can be explained afterwards."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class OutboxRow(Base):
    """Mail we send, written in the transaction of the event that causes it.

    The message is built, with its Message-ID, when it is enqueued: a resend after a crash is
    byte for byte the same message, so a receiving system can recognise the duplicate.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # ack | escalation | alert
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"), index=True)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    envelope_from: Mapped[str] = mapped_column(String(320))  # "" is the null reverse-path
    recipients: Mapped[list[str]] = mapped_column(JSON)
    # The first recipient, lower-cased: what the per-sender rate limit counts.
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(10))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]  # when the server accepted it (its 250)
    bounced_at: Mapped[datetime | None]
    # The sender that claimed the row to send it, and until when no other sender may: taken
    # right before the send, so two senders never send one row within a lease.
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]
    # OpenPGP: "reporter" (encrypt to the recipient's key if one is stored) or "staff"
    # (encrypt to [openpgp] staff_keys); sealed_at: when ``raw`` was replaced by the sealed
    # message, before its first send, so that every resend is the same bytes.
    protect: Mapped[str | None] = mapped_column(String(10))
    sealed_at: Mapped[datetime | None]

    message: Mapped[Message | None] = relationship()

    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_outbox_kind_to_created", "kind", "to_address", "created_at"),
    )


class ClockRow(Base):
    """One SLA clock of a report. Finding what is due reads only running clocks near their
    deadline, through a partial index, so a scan costs what is due, not what is stored."""

    __tablename__ = "clocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    name: Mapped[str] = mapped_column(String(20))  # acknowledgement | resolution
    started_at: Mapped[datetime]
    due_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    paused_business_days: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index(
            "ix_clocks_running_due",
            "due_at",
            sqlite_where=text("stopped_at IS NULL AND paused_at IS NULL"),
            postgresql_where=text("stopped_at IS NULL AND paused_at IS NULL"),
        ),
    )


class EscalationRow(Base):
    """The escalation ledger: each (clock, tier, occurrence) is sent at most once."""

    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clock_id: Mapped[int] = mapped_column(ForeignKey("clocks.id"))
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    tier: Mapped[str] = mapped_column(String(40))
    occurrence: Mapped[int] = mapped_column(Integer)
    fire_at: Mapped[datetime]
    created_at: Mapped[datetime]
    late: Mapped[bool]
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))

    __table_args__ = (
        UniqueConstraint("clock_id", "tier", "occurrence", name="uq_escalations_step"),
    )


class LeaderEpoch(Base):
    """Who leads a deployment, and since which takeover. Each new leader increments ``epoch``;
    a leader's writes check, in their own transaction, that the epoch is still the one it
    took, so a deposed leader that has not noticed yet cannot write beside the new one."""

    __tablename__ = "leadership"

    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    epoch: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(200))
    taken_at: Mapped[datetime]


class BurnedToken(Base):
    """A reply token that was seen addressed to someone outside the organisation (a staff
    member's reply that also went to the reporter, say): it authenticates nothing again.
    Only the token's sha256 is kept."""

    __tablename__ = "burned_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    burned_at: Mapped[datetime]


class TriageRow(Base):
    """What triage made of a report at intake (``domain/triage``): its hints, indicators,
    hosts in and out of scope and likely duplicates, as one JSON document, and the MinHash
    signature of its text (hex) for comparing later reports with it."""

    __tablename__ = "report_triage"

    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    assessed_at: Mapped[datetime]
    triage: Mapped[dict[str, Any]]
    signature: Mapped[str] = mapped_column(Text, default="")


class TriageKey(Base):
    """The likely-duplicate index: a report under each of its keys (MinHash bands, CVE ids,
    in-scope URLs), with its receipt time, so that a new report looks up only its own keys
    among the reports of the last year."""

    __tablename__ = "triage_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    received_at: Mapped[datetime]

    __table_args__ = (Index("ix_triage_keys_key_received", "key", "received_at"),)


class HintRow(Base):
    """One hint of a report, for ``reports list --hint CATEGORY``."""

    __tablename__ = "report_hints"

    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)
    confidence: Mapped[float] = mapped_column(Float)


class ReporterKey(Base):
    """A public key a reporter sent, stored for the address it came from (and names in one of
    its user IDs): replies to that address are encrypted to the newest one."""

    __tablename__ = "reporter_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    fingerprint: Mapped[str] = mapped_column(String(64))
    armored: Mapped[str] = mapped_column(Text)
    uids: Mapped[list[str]] = mapped_column(JSON)
    message_pk: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("address", "fingerprint", name="uq_reporter_keys_address_fpr"),
        Index("ix_reporter_keys_address", "address", "created_at"),
    )
