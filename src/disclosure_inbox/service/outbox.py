"""The outbox: mail we write is a row first, and a sender drains the rows.

Delivery guarantee: at least once to the SMTP server, never lost. Each row is claimed with a
lease right before it is sent, and becomes ``sent`` only after the server accepted the message,
in a commit made right after the server's reply. A crash between the server's acceptance and
that commit sends the same bytes again once the lease has run out, with the same Message-ID,
which receiving systems (and our own threading) recognise as the same message. Temporary
failures (4xx, network) are retried with exponential backoff and jitter until the row's
deadline; a 5xx reply or an expired deadline parks the row as ``failed`` with the server's
reply, for ``outbox retry``.

Mail to be encrypted (``Outgoing.protect``) is sealed right before its first send, by the
sender that holds its claim (``service.sealing``): the sealed bytes are committed before they
go out, so a resend is the same bytes too. A key that cannot encrypt parks the row as
``failed`` with the reason, and nothing is sent; gpg that does not run defers it like a 4xx.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from disclosure_inbox.adapters import compose
from disclosure_inbox.adapters.db import audit
from disclosure_inbox.adapters.db.outbox import FAILED, Claimed, OutboxRows, insert_built
from disclosure_inbox.adapters.db.outbox_admin import Requeued, requeue
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.smtp import SmtpSender
from disclosure_inbox.config import Settings
from disclosure_inbox.domain.errors import (
    KeyUnusable,
    OpenPGPUnavailable,
    SendDeferred,
    SendRejected,
    StoreUnavailable,
)
from disclosure_inbox.domain.mail_ids import make_message_id
from disclosure_inbox.domain.outgoing import Built, Outgoing
from disclosure_inbox.domain.replies import envelope_sender
from disclosure_inbox.ports import Clock, Transaction
from disclosure_inbox.service.keyring import Keyring
from disclosure_inbox.service.leader import INSTANCE
from disclosure_inbox.service.sealing import Sealer

log = logging.getLogger(__name__)
T = TypeVar("T")

# Header we put on every message we send; seeing it come back means a loop.
LOOP_MARKER = "X-Disclosure-Inbox-Loop"


def backoff(attempts: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: a random delay in [base/2, base]."""
    base = min(maximum, initial * (2 ** max(0, attempts - 1)))
    return rng.uniform(base / 2, base)


def build_message(settings: Settings, out: Outgoing, message_id: str, now: datetime) -> bytes:
    """The message's bytes (``adapters.compose``: CR, LF and NUL in a value are refused)."""
    org = settings.organization
    headers = [
        compose.mailbox("From", settings.smtp.from_name, settings.smtp_from),
        compose.addresses("To", out.recipients),
        compose.addresses("Reply-To", [out.reply_to]) if out.reply_to else None,
        compose.unstructured("Subject", out.subject),
        compose.date("Date", now),
        compose.message_id("Message-ID", message_id),
        compose.message_ids("In-Reply-To", [out.in_reply_to] if out.in_reply_to else []),
        compose.message_ids("References", [r for r in out.references if r][-20:]),
        compose.unstructured("Auto-Submitted", out.auto_submitted),  # RFC 3834 section 5
        # Ask Exchange and friends not to answer us with out-of-office notices.
        "X-Auto-Response-Suppress: All",
        compose.unstructured(LOOP_MARKER, org.mailbox_address),
    ]
    return compose.compose(
        [h for h in headers if h is not None], out.text, out.html or None, out.attachments
    )


def build(settings: Settings, out: Outgoing, now: datetime, token: str | None = None) -> Built:
    """The final message: its Message-ID (``token`` makes it unique) and its bytes."""
    org = settings.organization
    message_id = make_message_id(
        out.report_ref, out.kind, token or secrets.token_hex(8), org.message_id_domain
    )
    raw = build_message(settings, out, message_id, now)
    return Built(
        out=out,
        message_id=message_id,
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        sender_address=settings.smtp_from.lower(),
        sender_name=settings.smtp.from_name,
        envelope_from=envelope_sender(settings.smtp.envelope_sender, org.mailbox_address),
        created_at=now,
        deadline_at=now + timedelta(hours=settings.smtp.retry_deadline_hours),
    )


def enqueue(tx: Transaction, settings: Settings, out: Outgoing, now: datetime) -> Queued:
    """Build the message and write it with its outbox row in the caller's transaction."""
    mail = build(settings, out, now)
    [row_id] = insert_built(tx, [mail])
    return Queued(row_id, mail.message_id)


@dataclass(frozen=True)
class Queued:
    id: int
    message_id: str


@dataclass
class DrainResult:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    sent_kinds: Counter[str] = field(default_factory=Counter)
    # The server was unreachable or answered 4xx (even if that row then ran out of retries).
    server_unwell: bool = False

    def summary(self) -> str:
        return f"{self.sent} sent, {self.deferred} deferred, {self.failed} failed"

    def add(self, other: DrainResult) -> None:
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed
        self.sent_kinds.update(other.sent_kinds)
        self.server_unwell = self.server_unwell or other.server_unwell


class Outbox:
    """Drains due rows, each claimed right before it is sent (see ``adapters.db.outbox``).

    One concurrency model, the daemon's: sending is async (aiosmtplib) on the event loop, and
    the store, which is synchronous, is called on one thread of the outbox's own, so that no
    query blocks the loop and the drain's held connection stays on one thread. ``drain`` can
    be given an open ``SmtpSender``, so that one connection serves several drains (``run
    --once`` drains after every intake batch).
    """

    CLAIM = 10  # rows claimed at once: sent within milliseconds, each under its lease

    def __init__(
        self,
        settings: Settings,
        store: Store,
        rng: random.Random | None = None,
        *,
        keyring: Keyring | None = None,
    ) -> None:
        self.settings = settings
        self.rows = OutboxRows(store, INSTANCE)
        self.sealer = Sealer(keyring, store, self.rows)
        self.rng = rng or random.Random()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-store")

    def close(self) -> None:
        self._db.shutdown(wait=True)

    async def _store(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)

    def retrying(self) -> str | None:
        """The last error of pending mail that has failed before, if any is waiting."""
        count, error = self.rows.retrying()
        return f"{count} message(s) waiting to be retried; last error: {error}" if count else None

    async def drain(
        self,
        clock: Clock,
        still_leading: Callable[[], bool] = lambda: True,
        sender: SmtpSender | None = None,
    ) -> DrainResult:
        """Send everything due; stop at the first sign of an outage, or when this instance is
        no longer the leader (claims are fenced; the leader is also asked every
        ``batch_size`` messages)."""
        if sender is None:
            async with SmtpSender(self.settings.smtp) as own:
                return await self.drain(clock, still_leading, own)
        result = DrainResult()
        cfg = self.settings.smtp
        lease = timedelta(seconds=cfg.lease_seconds)
        await self._store(self.rows.hold)
        try:
            count = 0
            while rows := await self._store(self.rows.claim_next, clock.now(), lease, self.CLAIM):
                # Our own view of the lease: if this process stood still (SIGSTOP, a swap
                # storm) past it, another sender may hold the rows now.
                held_until = time.monotonic() + cfg.lease_seconds * 0.8
                for row in rows:
                    if not await self._send(sender, row, clock, held_until, result):
                        return result
                count += len(rows)
                if count >= cfg.batch_size:
                    count = 0
                    if not await asyncio.to_thread(still_leading):
                        return result
            return result
        finally:
            await self._store(self.rows.release)

    async def _send(
        self,
        sender: SmtpSender,
        row: Claimed,
        clock: Clock,
        held_until: float,
        result: DrainResult,
    ) -> bool:
        """Send one claimed row; False when the server is unwell and the pass should end."""
        if time.monotonic() > held_until:
            log.warning(
                "%s %s: the claim ran out before sending; claiming again", row.kind, row.message_id
            )
            return True
        raw = await self._sealed(row, clock, result)
        if raw is None:
            return True
        if time.monotonic() > held_until:  # gpg took its time: the sealed row waits its turn
            return True
        try:
            await sender.send(row.envelope_from, row.recipients, raw)
        except SendRejected as exc:
            await self._store(self.rows.finish, row, clock.now(), FAILED, f"rejected: {exc}")
            log.error("%s %s rejected by SMTP: %s", row.kind, row.message_id, exc)
            result.failed += 1
        except (ValueError, UnicodeError) as exc:
            # The message itself cannot be sent (an address SMTP cannot carry).
            await self._store(self.rows.finish, row, clock.now(), FAILED, f"unsendable: {exc}")
            log.error("%s %s cannot be sent: %s", row.kind, row.message_id, exc)
            result.failed += 1
        except SendDeferred as exc:
            result.server_unwell = True
            parked = await self._store(self._defer, row, clock.now(), str(exc))
            result.failed += parked
            result.deferred += not parked
            log.warning("%s %s deferred: %s", row.kind, row.message_id, exc)
            return False  # leave the rest for the next pass
        else:
            await self._store(self._sent, row, clock.now())
            result.sent += 1
            result.sent_kinds[row.kind] += 1
        return True

    async def _sealed(self, row: Claimed, clock: Clock, result: DrainResult) -> bytes | None:
        """The bytes to send (sealed first if they are to be), or None: nothing now."""
        if row.protect is None or row.sealed:
            return row.raw
        try:
            raw = await self._store(self.sealer.seal, row, clock.now())
        except KeyUnusable as exc:
            await self._store(self.rows.finish, row, clock.now(), FAILED, str(exc))
            log.error("%s %s to %s not sent: %s", row.kind, row.message_id, row.to_address, exc)
            result.failed += 1
            return None
        except OpenPGPUnavailable as exc:
            parked = await self._store(self._defer, row, clock.now(), str(exc))
            result.failed += parked
            result.deferred += not parked
            log.warning("%s %s deferred, not sealed: %s", row.kind, row.message_id, exc)
            return None
        if raw is None:
            log.warning("%s %s: the claim passed to another sender", row.kind, row.message_id)
        return raw

    def _sent(self, row: Claimed, accepted_at: datetime) -> None:
        """Record acceptance at once: the shorter this window, the rarer a resend. A busy
        store is asked again rather than letting the message go out a second time."""
        for attempt in range(5):
            try:
                mine = self.rows.mark_sent(row.id, accepted_at)
                break
            except StoreUnavailable:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        if mine:
            log.info("%s %s sent to %s", row.kind, row.message_id, row.to_address)
        else:
            log.error(
                "%s %s sent to %s, but its claim had run out and passed to another sender: "
                "it may be sent twice",
                row.kind,
                row.message_id,
                row.to_address,
            )

    def _defer(self, row: Claimed, now: datetime, error: str) -> bool:
        """Schedule a retry; park as failed when the deadline has passed. True if parked."""
        cfg = self.settings.smtp
        attempts = row.attempts + 1
        delay = backoff(attempts, cfg.retry_initial_seconds, cfg.retry_max_seconds, self.rng)
        retry_at = now + timedelta(seconds=delay)
        if retry_at > row.deadline_at:
            self.rows.finish(row, now, FAILED, f"gave up after {attempts} attempts: {error}")
            return True
        self.rows.defer(row, now, retry_at, error)
        return False


def retry(store: Store, row_id: int, now: datetime, settings: Settings) -> Requeued:
    """Put a failed (or pending) row back in line, now, with a fresh deadline."""
    with store.transaction() as tx:
        row = requeue(tx, row_id, now, now + timedelta(hours=settings.smtp.retry_deadline_hours))
        audit.record(
            tx,
            now,
            "outbox-retry",
            actor="cli",
            report_id=row.report_id,
            message_id=row.message_id,
        )
        return row
