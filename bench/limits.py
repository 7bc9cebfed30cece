"""The raw limits of a pipeline that must fetch and parse every message, measured in-process.

- Fetch: imapclient, imaplib's debug level 0 (as the project's adapter sets it), UID FETCH
  ``BODY.PEEK[]`` in batches of 100 over one connection, nothing done with the bytes.
- Parse: ``mailparser.parse_from_bytes`` on the same bytes, nothing done with the result.

One process doing both in turn cannot go faster than ``n / (fetch seconds + parse seconds)``:
that combined rate is the single-core limit the backlog drain is compared with.
"""

from __future__ import annotations

import gc
import logging
import time
from dataclasses import dataclass

import mailparser

from bench.measure import MB, Measurement
from disclosure_inbox.testing.dovecot import ImapAccount

BATCH = 100  # as [imap] batch_size's default

# mail-parser logs every part it does not handle (delivery reports); the project quiets it too.
logging.getLogger("mailparser").setLevel(logging.ERROR)


@dataclass(frozen=True)
class LimitRun:
    messages: int
    bytes: int
    fetch_seconds: float
    parse_seconds: float

    @property
    def fetch_rate(self) -> float:
        return self.messages / self.fetch_seconds

    @property
    def parse_rate(self) -> float:
        return self.messages / self.parse_seconds

    @property
    def combined_rate(self) -> float:
        return self.messages / (self.fetch_seconds + self.parse_seconds)


def fetch_all(account: ImapAccount) -> tuple[float, list[bytes]]:
    """Seconds to log in, select and fetch every message in batches, and the bytes."""
    started = time.perf_counter()
    raw: list[bytes] = []
    with account.connect(timeout=60) as client:  # connect() sets imaplib's debug to 0
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search("ALL"))
        for first in range(0, len(uids), BATCH):
            batch = uids[first : first + BATCH]
            data = client.fetch(batch, ["BODY.PEEK[]"])
            raw.extend(data[uid][b"BODY[]"] for uid in batch)
    return time.perf_counter() - started, raw


def parse_all(messages: list[bytes]) -> float:
    started = time.perf_counter()
    for raw in messages:
        mailparser.parse_from_bytes(raw)
    return time.perf_counter() - started


def measure(account: ImapAccount, expected: int) -> LimitRun:
    gc.collect()
    fetch_seconds, raw = fetch_all(account)
    if len(raw) != expected:
        raise RuntimeError(f"fetched {len(raw)} of {expected} messages")
    gc.collect()
    parse_seconds = parse_all(raw)
    return LimitRun(len(raw), sum(map(len, raw)), fetch_seconds, parse_seconds)


def figures(runs: list[LimitRun]) -> list[Measurement]:
    """Fetch alone, parse alone, and the two together; the last is the single-core limit the
    drain rows are compared with."""
    return [
        Measurement(
            "limit.fetch",
            "IMAP FETCH alone (imapclient, 100 a batch)",
            "msg/s",
            [r.fetch_rate for r in runs],
            details={"mb_per_s": [r.bytes / MB / r.fetch_seconds for r in runs]},
        ),
        Measurement(
            "limit.parse",
            "parsing alone (mail-parser)",
            "msg/s",
            [r.parse_rate for r in runs],
            details={"mb_per_s": [r.bytes / MB / r.parse_seconds for r in runs]},
        ),
        Measurement(
            "limit.combined",
            "fetch+parse, single-core limit",
            "msg/s",
            [r.combined_rate for r in runs],
            note="messages / (fetch seconds + parse seconds), per run",
        ),
    ]
