"""Value objects shared by the domain and the adapters."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Status(enum.StrEnum):
    NEW = "new"
    TRIAGED = "triaged"
    VERIFIED = "verified"
    RESOLVED = "resolved"
    CLOSED = "closed"
    NEEDS_INFO = "needs-info"
    DUPLICATE = "duplicate"
    OUT_OF_SCOPE = "out-of-scope"
    SPAM = "spam"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NONE = "none"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Outcome(enum.StrEnum):
    """What intake made of an inbound message."""

    REPORT = "report"
    FOLLOWUP = "followup"
    QUARANTINED = "quarantined"
    STAFF_REPLY = "staff-reply"  # an authenticated staff member's mail about a report
    # Machine mail (a loop rule marked ``machine``) that threads into no report: stored with
    # no report, reference, clock or answer, until a person files it as a report.
    UNFILED = "unfiled"
    # Not stored as a message's outcome: what a pass did with a location.
    DUPLICATE = "duplicate"  # seen before under another UID or mailbox: only a new location
    SEEN = "seen"  # stored before, not yet flagged (a crash between commit and flag)
    FAILED = "failed"  # failed this time; tried again, quarantined after max_attempts


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str  # already made safe
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """What intake needs from one inbound message; every text field is already decoded."""

    message_id: str | None
    sender_address: str  # lower-cased addr-spec, "" when absent
    sender_name: str
    subject: str
    date_header: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str
    html: str
    attachments: tuple[Attachment, ...]
    # Headers the loop rules read, by lower-case name (first occurrence, decoded).
    headers: dict[str, str]
    content_type: str
    parser: str  # "mail-parser" or "email" (the fallback)
    defects: tuple[str, ...] = field(default=())
    # Every address it was sent to (To, Cc, Delivered-To, X-Original-To), lower-cased.
    recipients: tuple[str, ...] = field(default=())
    # Every Authentication-Results header (RFC 8601), as written, in order.
    auth_results: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message as the mailbox holds it."""

    mailbox: str
    uidvalidity: int
    uid: int
    raw: bytes
    internaldate: datetime  # timezone-aware; the server's receipt time
    size: int
