"""Intake: every message in the mailbox into the store, exactly once, a batch at a time.

One pass selects the mailbox, compares UIDVALIDITY with what the store remembers, lists what
is pending (UIDs above the highest processed one, plus any message not yet flagged) and takes
it in batches bounded by count and bytes. Each batch goes read, decide, write:

- *read*: fetch the batch; parse it (``parsing``: in worker processes when that pays; the raw
  bytes and attachments are made durable there); then one bulk look-up (``messages.look_up``)
  of everything the decisions need: known hashes, Message-IDs and senders, the reports named
  by In-Reply-To, References and subject tags, the year's reference numbers, the
  acknowledgement counts for the rate limits, our own Message-IDs quoted by bounces;
- *decide*: ``domain.intake.decide_batch`` turns each message into a typed decision
  (duplicate, quarantine with its rule, follow-up with its thread rule, unfiled machine mail
  with its loop rule, new report), and the ``Acknowledger`` plans each new report's clock and
  answer;
- *write*: ``messages.apply`` writes the whole batch with multi-row INSERTs in one
  transaction, together with each message's location (mailbox, UIDVALIDITY, UID). The
  look-up and the decisions are made before that transaction takes the write lock (which
  the outbox's sent marks wait for); ``messages.high_water`` tells whether anything was
  stored in between, and if so the batch is decided again inside the transaction.

While a batch is written, the pool parses the next one.

Only after the commit are the messages flagged on the server, so a crash anywhere leaves
either nothing (the batch is fetched again) or stored messages whose locations are known
(they are only flagged). If writing the batch fails for a reason of its own (not the
database being away), it is done again message by message, each in a transaction of its own,
so that only the message at fault fails; a message that keeps failing is quarantined after
``[imap] max_attempts``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from disclosure_inbox.adapters.db import mailbox as mailbox_rows
from disclosure_inbox.adapters.db import messages
from disclosure_inbox.adapters.db import triage as triage_rows
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.config import Settings
from disclosure_inbox.domain.errors import StoreUnavailable, TransientError
from disclosure_inbox.domain.intake import (
    Decision,
    Found,
    Incoming,
    Writes,
    decide_batch,
    failed_too_often,
    lookup_keys,
    years,
)
from disclosure_inbox.domain.model import Outcome, RawMessage
from disclosure_inbox.domain.passes import Done, IntakeResult
from disclosure_inbox.ports import Mailbox, Transaction
from disclosure_inbox.service import keys as offered_keys
from disclosure_inbox.service import triage
from disclosure_inbox.service.acks import machine_check
from disclosure_inbox.service.parsing import EMPTY, ParseFailure, Parser, Parsing
from disclosure_inbox.service.records import describe, log_decision
from disclosure_inbox.service.staffmail import StaffDesk

log = logging.getLogger(__name__)

BATCH_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class _Read:
    seen: dict[int, str]  # UIDs stored before, with their outcome
    parsing: Parsing


class Planner(Protocol):
    """Adds what new reports get (clocks, acknowledgements, audit) to a batch's writes."""

    def plan(self, writes: Writes, found: Found, now: datetime) -> None: ...


def _batches(uids: Sequence[int], sizes: dict[int, int], count: int) -> Iterator[list[int]]:
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid)
        if size is None:
            continue  # expunged since the search
        if batch and (len(batch) >= count or total + size > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


class Planners:
    """Planners asked in order: a later one sees what the earlier ones added (the staff
    notices show the clock the acknowledgement planned)."""

    def __init__(self, *planners: Planner) -> None:
        self.planners = planners

    def plan(self, writes: Writes, found: Found, now: datetime) -> None:
        for planner in self.planners:
            planner.plan(writes, found, now)


class Intake:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        parser: Parser,
        planner: Planner,
        *,
        desk: StaffDesk | None = None,
        after_commit: Callable[[], Any] = lambda: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.parser = parser
        self.planner = planner
        self.desk = desk  # staff mail: who is staff, and what their replies do
        self.after_commit = after_commit  # e.g. wake the sender: the batch's mail is due
        org = settings.organization
        self._prefix, self._tz = org.reference_prefix, org.tz
        self._machine = machine_check(settings)

    # --- one pass ------------------------------------------------------------------------

    def run(
        self,
        mailbox: Mailbox,
        now: datetime,
        progress: Callable[[int], Any] | None = None,
        total: Callable[[int], Any] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> IntakeResult:
        started = time.monotonic()
        cfg = self.settings.imap
        result = IntakeResult()
        name = cfg.mailbox
        uidvalidity = mailbox.select(name)
        after_uid = self._check_uidvalidity(name, uidvalidity, now)
        pending = mailbox.pending_uids(after_uid, cfg.processed_flag)
        sizes = mailbox.sizes(pending)
        if total:
            total(len(sizes))
        if len(sizes) > 1:
            self.parser.warm()
        # Two batches are under way at a time: while one is written, the next is parsed in
        # the pool (its results are waited for only after the one before is collected, so
        # the pool holds one batch at a time and a worker's crash is that batch's alone).
        waiting: _Read | None = None
        try:
            for batch in _batches(pending, sizes, cfg.batch_size):
                if should_stop():
                    break
                parsed = waiting.parsing.results() if waiting else []
                following = self._read(mailbox, name, uidvalidity, batch)
                if waiting:
                    self._finish(mailbox, waiting, parsed, now, result, progress)
                waiting = following
            if waiting:
                parsed, last, waiting = waiting.parsing.results(), waiting, None
                self._finish(mailbox, last, parsed, now, result, progress)
        finally:
            if waiting:
                waiting.parsing.cancel()
        result.seconds = time.monotonic() - started
        return result

    def _read(self, mailbox: Mailbox, name: str, uidvalidity: int, batch: list[int]) -> _Read:
        """What the store has of a batch already, and the parse of the rest, started."""
        with self.store.reading() as tx:
            seen = mailbox_rows.known_uids(tx, name, uidvalidity, batch)
        # Fetched before any transaction opens: no network wait while holding the store.
        fetched = list(mailbox.fetch([uid for uid in batch if uid not in seen]))
        return _Read(seen, self.parser.submit(fetched))

    def _finish(
        self,
        mailbox: Mailbox,
        read: _Read,
        parsed: Sequence[Incoming | ParseFailure],
        now: datetime,
        result: IntakeResult,
        progress: Callable[[int], Any] | None,
    ) -> None:
        """Write a parsed batch, then flag it on the server."""
        # Stored before, not yet flagged (a crash between commit and flag): flag only, and
        # copy a quarantined one again in case that copy was what failed.
        done = [Done(uid, Outcome(outcome)) for uid, outcome in read.seen.items()]
        done += self.store_parsed(parsed, now)
        for d in done:
            if d.uid not in read.seen:
                result.count(d.outcome)
        self._flag(mailbox, done)
        if progress:
            progress(len(done))
        self.after_commit()

    def _check_uidvalidity(self, name: str, uidvalidity: int, now: datetime) -> int:
        with self.store.transaction() as tx:
            state = mailbox_rows.state(tx, name)
            if state is None:
                mailbox_rows.set_state(tx, name, uidvalidity, 0, now)
                return 0
            known, last_uid = state
            if known != uidvalidity:
                # The mailbox was recreated or restored: every UID is new. Nothing is lost
                # (all are fetched again) and nothing doubles (sha256 / Message-ID match).
                log.warning(
                    "UIDVALIDITY of %s changed from %s to %s; rescanning the mailbox",
                    name,
                    known,
                    uidvalidity,
                )
                Store.audit(
                    tx, now, "uidvalidity-changed", mailbox=name, old=known, new=uidvalidity
                )
                mailbox_rows.set_state(tx, name, uidvalidity, 0, now)
                return 0
            return last_uid

    def _flag(self, mailbox: Mailbox, done: Sequence[Done]) -> None:
        cfg = self.settings.imap
        quarantine = [d.uid for d in done if d.outcome is Outcome.QUARANTINED]
        if quarantine and cfg.quarantine_folder:
            mailbox.copy_to(quarantine, cfg.quarantine_folder)
        finished = [d.uid for d in done if d.outcome is not Outcome.FAILED]
        mailbox.add_flag(finished, cfg.processed_flag)
        if cfg.processed_folder and finished:
            mailbox.move_to(finished, cfg.processed_folder)

    # --- one batch -----------------------------------------------------------------------

    def ingest(self, raws: Sequence[RawMessage], now: datetime) -> list[Done]:
        """Store a fetched batch: read, decide, write in one transaction; if that fails for
        a reason of the batch's own, message by message."""
        return self.store_parsed(self.parser.parse(raws), now) if raws else []

    def store_parsed(self, parsed: Sequence[Incoming | ParseFailure], now: datetime) -> list[Done]:
        """The write half of ``ingest``, for a batch already parsed."""
        items = [p for p in parsed if isinstance(p, Incoming)]
        done = [self._failed(p.raw, p.error, now) for p in parsed if isinstance(p, ParseFailure)]
        try:
            return done + self._write(items, now)
        except (TransientError, OSError) as exc:
            if isinstance(exc, OSError):  # the disk, not the messages: stop the pass
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
            raise
        except Exception as exc:
            if len(items) == 1:
                return done + [self._failed_item(items[0], exc, now)]
            log.warning("batch of %d failed (%s); storing it message by message", len(items), exc)
        for item in items:
            try:
                done += self._write([item], now)
            except TransientError:
                raise
            except OSError as exc:
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
            except Exception as exc:
                done.append(self._failed_item(item, exc, now))
        return done

    def _write(self, items: Sequence[Incoming], now: datetime) -> list[Done]:
        if not items:
            return []
        # Looked up and decided (acknowledgements built) before the write lock is taken, so
        # that the lock is held only to write; if anything was stored meanwhile (another
        # process, a command), decided again inside the write transaction.
        if self.desk is not None:
            items = self.desk.checked(items, now)
        with self.store.reading() as tx:
            mark = messages.high_water(tx)
            writes = self._decide(tx, items, now)
        with self.store.transaction() as tx:
            if messages.high_water(tx) != mark:
                writes = self._decide(tx, items, now)
            real = messages.apply(tx, writes, now)
            triage_rows.apply(tx, writes.triage, real, now)
            staff = [d for d in writes.decisions if d.outcome is Outcome.STAFF_REPLY]
            if staff and self.desk is not None:
                self.desk.apply(tx, staff, real, now)
        for d in writes.decisions:
            log_decision(d, real)
        return [Done(d.incoming.uid, d.outcome) for d in writes.decisions]

    def _decide(self, tx: Transaction, items: Sequence[Incoming], now: datetime) -> Writes:
        keys = lookup_keys(items)
        quoted = [mid for i in items for mid in i.quoted_ids]
        found = messages.look_up(tx, keys, years(items, self._tz), quoted, now)
        writes = Writes(
            decisions=decide_batch(
                items, found.known, self._prefix, self._tz, machine=self._machine
            )
        )
        found.followed = messages.followed(
            tx,
            (
                d.report_id
                for d in writes.decisions
                if d.outcome is Outcome.FOLLOWUP and d.report_id is not None and d.report_id > 0
            ),
        )
        describe(writes, now)
        triage.plan(tx, writes, now)
        offered_keys.plan(tx, self.settings, writes, now)
        self.planner.plan(writes, found, now)
        return writes

    # --- failures ------------------------------------------------------------------------

    def _failed_item(self, item: Incoming, exc: Exception, now: datetime) -> Done:
        log.error("processing UID %s of %s failed: %s", item.uid, item.mailbox, exc, exc_info=exc)
        return self._failed_at(item.location, f"{type(exc).__name__}: {exc}"[:2000], now, item)

    def _failed(self, raw: RawMessage, error: str, now: datetime) -> Done:
        log.error("processing UID %s of %s failed: %s", raw.uid, raw.mailbox, error)
        return self._failed_at((raw.mailbox, raw.uidvalidity, raw.uid), error, now, raw)

    def _failed_at(
        self,
        location: tuple[str, int, int],
        error: str,
        now: datetime,
        what: Incoming | RawMessage,
    ) -> Done:
        """Count an attempt; at the limit, quarantine the message with the error."""
        with self.store.transaction() as tx:
            attempts = mailbox_rows.count_failure(tx, location, error, now)
        reason = failed_too_often(attempts, self.settings.imap.max_attempts, error)
        if reason is None:
            return Done(location[2], Outcome.FAILED)
        item = what if isinstance(what, Incoming) else _bare(what, self.parser)
        with self.store.transaction() as tx:
            found = messages.look_up(tx, lookup_keys([item]), (), (), now)
            if item.sha256 in found.known.by_sha:  # stored under another UID meanwhile
                decision = Decision(
                    item, Outcome.DUPLICATE, "same-bytes", found.known.by_sha[item.sha256]
                )
            else:
                decision = Decision(
                    item, Outcome.QUARANTINED, "failed", message_pk=-1, reason=reason
                )
            writes = Writes(decisions=[decision])
            describe(writes, now)
            messages.apply(tx, writes, now)
        log_decision(decision, {})
        return Done(location[2], decision.outcome)


def _bare(raw: RawMessage, parser: Parser) -> Incoming:
    """A message that could not even be parsed, with its bytes kept, to quarantine."""
    digest = parser.keep(raw.raw)
    return Incoming(
        mailbox=raw.mailbox,
        uidvalidity=raw.uidvalidity,
        uid=raw.uid,
        internaldate=raw.internaldate,
        size=raw.size,
        sha256=digest,
        parsed=parser.headers_or_nothing(raw.raw),
        parse_outcome="failed",
    )


__all__ = ["EMPTY", "Done", "Intake", "IntakeResult", "Planner"]
