"""Mail we send, as values: what to say (``Outgoing``) and the built message (``Built``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Outgoing:
    kind: str  # ack | escalation | alert | notification | relay | command-result | ...
    report_id: int | None
    report_ref: str | None
    recipients: Sequence[str]
    subject: str
    text: str
    html: str | None = None
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    auto_submitted: str = "auto-replied"
    reply_to: str | None = None  # staff mail: the reply address with the recipient's token
    attachments: Sequence[tuple[str, str, bytes]] = ()  # (filename, content type, bytes)
    author: str | None = None  # the staff member who wrote it (a relay), None: the system
    # Whom the outbox encrypts it to right before its first send (``domain.sealing``):
    # "reporter" (the recipient's stored OpenPGP key, if any), "staff" (the staff keys).
    protect: str | None = None


@dataclass(frozen=True)
class Built:
    """A message ready for the outbox: its final Message-ID and bytes, so that a resend after
    a crash is byte for byte the same message."""

    out: Outgoing
    message_id: str
    raw: bytes
    sha256: str
    sender_address: str
    sender_name: str
    envelope_from: str
    created_at: datetime
    deadline_at: datetime
    state: str = "pending"  # or "failed", with last_error, for mail that must not go out
    last_error: str | None = None
