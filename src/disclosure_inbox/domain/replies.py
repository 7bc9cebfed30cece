"""Where an automatic reply goes, and from which envelope sender (RFC 3834).

Section 4 ("Where to send automatic responses"): a response generated after delivery, as ours
is (we read the message from a mailbox), SHOULD go to the Return-Path, the envelope sender
that the final MTA recorded. A null Return-Path (``<>``) marks a message that must not be
answered at all: it is a bounce or another automatic message. Where no Return-Path was
recorded (mail put into the mailbox without SMTP, as IMAP APPEND does), the only address left
is the one the message came from: Sender, then From (section 4 names "the address from which
the subject message was sent" for that case). Reply-To is not used: it is the author's wish for
human replies and is easily set to a third party, which would make us a reflector.

Section 3.3 (the response's own return path): a responder SHOULD use a null reverse-path
unless it wants to learn about delivery failures and will not answer them automatically. We
want to know when an acknowledgement bounced (the report is then flagged), and our mailbox
never auto-answers a bounce (see ``loops``), so the default envelope sender is the mailbox
address; ``[smtp] envelope_sender = "<>"`` chooses the null reverse-path instead.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    address: str | None  # None: do not reply
    source: str  # return-path | sender | from | null-return-path | none


# Conservative: what we are willing to put in RCPT TO. A quoted local part or an address
# literal is legal but rare in reports, and far more often a sign of a forged header.
_DELIVERABLE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-.]{0,251}[A-Za-z0-9])?$"
)


def deliverable(address: str) -> bool:
    return bool(_DELIVERABLE.match(address)) and ".." not in address


def _address(value: str) -> str:
    pairs = email.utils.getaddresses([value])
    for _name, addr in pairs:
        if "@" in addr:
            return addr.strip().lower()
    return ""


def reply_target(headers: Mapping[str, str], from_address: str) -> ReplyTarget:
    if "return-path" in headers:
        value = headers["return-path"].strip()
        if value in ("<>", "") or value.replace(" ", "") == "<>":
            return ReplyTarget(None, "null-return-path")
        # The final MTA writes exactly one angle-addr here; anything else is not trusted.
        match = re.fullmatch(r"<?([^<>\s]+)>?", value)
        return _checked(match.group(1).lower() if match else value, "return-path")
    sender = _address(headers.get("sender", ""))
    if sender:
        return _checked(sender, "sender")
    if from_address:
        return _checked(from_address.lower(), "from")
    return ReplyTarget(None, "none")


def _checked(address: str, source: str) -> ReplyTarget:
    if deliverable(address):
        return ReplyTarget(address, source)
    return ReplyTarget(None, f"undeliverable-{source}")


def envelope_sender(configured: str, mailbox_address: str) -> str:
    """The MAIL FROM of our mail; "" is the null reverse-path."""
    if configured.strip() in ("<>",):
        return ""
    return configured.strip() or mailbox_address
