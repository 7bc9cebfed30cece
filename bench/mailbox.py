"""The benchmark's mailboxes, generated deterministically from a seed.

The backlog is `disclosure_inbox.testing.mailgen` as the tests use it: plain reports in several
charsets, multipart/alternative, HTML-only, attachments (a tail of large ones), replies,
auto-replies and bounces, median size around 8 KB. `describe` says what a generated mailbox
holds, so that the JSON records what was measured.

The memory test adds one report carrying a single large binary attachment.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

from disclosure_inbox.testing.mailgen import generate

LARGE_EVERY = 200  # one message in 200 carries a large attachment ...
LARGE_BYTES = 2_000_000  # ... of this many bytes (about 2.7 MB once base64-encoded)


@dataclass(frozen=True)
class Mailbox:
    messages: list[bytes]
    kinds: list[str]

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def total_bytes(self) -> int:
        return sum(len(m) for m in self.messages)

    def describe(self) -> dict[str, Any]:
        sizes = sorted(len(m) for m in self.messages)
        return {
            "messages": len(sizes),
            "bytes": sum(sizes),
            "median_bytes": statistics.median(sizes),
            "p90_bytes": sizes[int(0.9 * (len(sizes) - 1))],
            "max_bytes": sizes[-1],
            "over_1mb": sum(s > 1_000_000 for s in sizes),
            "kinds": dict(Counter(self.kinds)),
        }


def backlog(n: int, seed: int) -> Mailbox:
    """``n`` messages of the realistic mix; the same bytes for the same ``n`` and ``seed``."""
    generated = list(generate(n, seed, large_every=LARGE_EVERY, large_bytes=LARGE_BYTES))
    return Mailbox([g.raw for g in generated], [g.kind for g in generated])


@dataclass(frozen=True)
class BigMessage:
    raw: bytes
    attachment: bytes
    filename: str
    sender: str


def big_message(attachment_bytes: int, seed: int) -> BigMessage:
    """One report with a binary attachment of ``attachment_bytes`` (base64 in the message)."""
    rng = random.Random(seed)
    attachment = rng.randbytes(attachment_bytes)
    sender = "big-capture@example.org"
    msg = EmailMessage()
    msg["From"] = f"Ada Researcher <{sender}>"
    msg["To"] = "soc@example.com"
    msg["Subject"] = "Full packet capture of the exploit"
    msg["Message-ID"] = f"<big-{seed}-{attachment_bytes}@example.org>"
    msg["Date"] = format_datetime(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    msg.set_content("Hello,\n\nThe attached capture shows the whole exchange.\n\nRegards\n")
    filename = "capture.pcap"
    msg.add_attachment(
        attachment, maintype="application", subtype="vnd.tcpdump.pcap", filename=filename
    )
    return BigMessage(msg.as_bytes(policy=SMTP), attachment, filename, sender)
