"""The benchmark's mailboxes, generated deterministically from a seed.

The backlog is `disclosure_inbox.testing.mailgen` as the tests use it: plain reports in several
charsets, multipart/alternative, HTML-only, attachments (a tail of large ones), replies,
auto-replies and bounces, median size around 8 KB. `describe` says what a generated mailbox
holds, so that the JSON records what was measured.

The benchmark writes its backlogs to a `Spool`, a file read back one message at a time: each
run appends the whole backlog to a fresh Dovecot account, and 20,000 messages are about
480 MB and take the generator most of a minute, too much to hold in memory or to make again
for every run. `backlog` keeps a small one in memory, for bench/crash.py.

The memory test adds one report carrying a single large binary attachment.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

from disclosure_inbox.testing.mailgen import generate

LARGE_EVERY = 200  # one message in 200 carries a large attachment ...
LARGE_BYTES = 2_000_000  # ... of this many bytes (about 2.7 MB once base64-encoded)


class Backlog(Protocol):
    """Messages to append, in order, as many times as needed."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[bytes]: ...

    def describe(self) -> dict[str, Any]: ...


def _describe(sizes: Sequence[int], kinds: Sequence[str]) -> dict[str, Any]:
    ordered = sorted(sizes)
    return {
        "messages": len(ordered),
        "bytes": sum(ordered),
        "median_bytes": statistics.median(ordered),
        "p90_bytes": ordered[int(0.9 * (len(ordered) - 1))],
        "max_bytes": ordered[-1],
        "over_1mb": sum(s > 1_000_000 for s in ordered),
        "kinds": dict(Counter(kinds)),
    }


@dataclass(frozen=True)
class Mailbox:
    messages: list[bytes]
    kinds: list[str]

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.messages)

    def describe(self) -> dict[str, Any]:
        return _describe([len(m) for m in self.messages], self.kinds)


def backlog(n: int, seed: int) -> Mailbox:
    """``n`` messages of the realistic mix; the same bytes for the same ``n`` and ``seed``."""
    generated = list(generate(n, seed, large_every=LARGE_EVERY, large_bytes=LARGE_BYTES))
    return Mailbox([g.raw for g in generated], [g.kind for g in generated])


@dataclass(frozen=True)
class Spool:
    """A generated backlog in one file, the messages end to end; ``sizes`` delimit them."""

    path: Path
    sizes: list[int]
    kinds: list[str]

    def __len__(self) -> int:
        return len(self.sizes)

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as spool:
            for size in self.sizes:
                raw = spool.read(size)
                if len(raw) != size:
                    raise OSError(f"{self.path} ends early")
                yield raw

    def describe(self) -> dict[str, Any]:
        return _describe(self.sizes, self.kinds)


def spool(n: int, seed: int, path: Path) -> Spool:
    """`backlog`'s messages for ``n`` and ``seed``, written to ``path`` as they are made."""
    sizes: list[int] = []
    kinds: list[str] = []
    with open(path, "wb") as out:
        for g in generate(n, seed, large_every=LARGE_EVERY, large_bytes=LARGE_BYTES):
            out.write(g.raw)
            sizes.append(len(g.raw))
            kinds.append(g.kind)
    return Spool(path, sizes, kinds)


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
