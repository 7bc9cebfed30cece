"""Intake: every message in the mailbox into the store, exactly once.

One pass: select the mailbox, compare UIDVALIDITY with what we remember, list what is pending
(UIDs above the highest processed one, plus any message not yet flagged), fetch in batches
bounded by count and bytes, and store each message in its own transaction together with its
location (mailbox, UIDVALIDITY, UID). Only after the commit is the message flagged on the
server, so a crash anywhere leaves either nothing (the message is fetched again) or a stored
message whose location is known (it is only flagged). A message seen again under another UID
is recognised by the sha256 of its bytes or by its Message-ID and sender, and gets only a new
location.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import (
    AttachmentRow,
    IntakeFailure,
    MailboxState,
    Message,
    MessageLocation,
    Report,
)
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.parse import parse_headers_only, parse_message
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import loops
from disclosure_inbox.domain.errors import StoreUnavailable, TransientError
from disclosure_inbox.domain.mail_ids import our_message_ids
from disclosure_inbox.domain.model import Direction, Outcome, ParsedMessage, RawMessage, Status
from disclosure_inbox.domain.refs import format_ref, refs_in_subject
from disclosure_inbox.domain.threading import decide_thread
from disclosure_inbox.ports import BlobStore, Mailbox
from disclosure_inbox.service.acks import loop_context

log = logging.getLogger(__name__)

BATCH_BYTES = 32 * 1024 * 1024


@dataclass
class IntakeResult:
    messages: int = 0  # new messages stored
    reports: int = 0
    followups: int = 0
    quarantined: int = 0
    duplicates: int = 0  # seen before under another UID or mailbox
    failed: int = 0  # failed this time, to be tried again
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.messages} messages, {self.reports} new reports, {self.followups} follow-ups, "
            f"{self.quarantined} quarantined, {self.duplicates} duplicates, "
            f"{self.failed} to retry, {self.seconds:.2f} s"
        )


@dataclass(frozen=True)
class Stored:
    """What happened to one message: the caller flags ``uid`` when ``flag`` is true."""

    uid: int
    outcome: str  # report | followup | quarantined | duplicate | seen | failed
    message_pk: int | None = None
    report_ref: str | None = None
    quarantine: bool = False


class MessageHook(Protocol):
    """Runs inside the transaction that stores a report or follow-up (acknowledgements)."""

    def __call__(
        self,
        session: Session,
        message: Message,
        report: Report,
        parsed: ParsedMessage,
        is_new_report: bool,
        now: datetime,
        quoted_ids: tuple[str, ...] = (),
    ) -> None: ...


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


class Intake:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        blobs: BlobStore,
        *,
        on_message: MessageHook | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.on_message = on_message
        self._seq: dict[int, int] = {}  # year -> last reference number, within one batch
        self._failing: set[tuple[str, int, int]] = set()  # locations with failed attempts
        self._highest: dict[tuple[str, int], int] = {}  # stored in this batch, per mailbox

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
        for batch in _batches(pending, sizes, cfg.batch_size):
            if should_stop():
                break
            with self.store.reading() as session:
                seen = Store.known_uids(session, name, uidvalidity, batch)
            # Stored before, not yet flagged (a crash between commit and flag): flag only, and
            # copy a quarantined one again in case that copy was what failed.
            done = [
                Stored(uid, "seen", quarantine=outcome == Outcome.QUARANTINED)
                for uid, outcome in seen.items()
            ]
            # Fetched before the transaction opens: no network wait while holding the store.
            fetched = list(mailbox.fetch([uid for uid in batch if uid not in seen]))
            done += self.ingest_batch(fetched, now, progress, should_stop)
            for stored in done:
                self._count(result, stored)
            self._after_commit(mailbox, done)
        result.seconds = time.monotonic() - started
        return result

    def _check_uidvalidity(self, name: str, uidvalidity: int, now: datetime) -> int:
        with self.store.transaction() as session:
            state = Store.mailbox_state(session, name)
            if state is None:
                session.add(
                    MailboxState(name=name, uidvalidity=uidvalidity, last_uid=0, updated_at=now)
                )
                return 0
            if state.uidvalidity != uidvalidity:
                # The mailbox was recreated or restored: every UID is new. Nothing is lost
                # (all are fetched again) and nothing doubles (sha256 / Message-ID match).
                log.warning(
                    "UIDVALIDITY of %s changed from %s to %s; rescanning the mailbox",
                    name,
                    state.uidvalidity,
                    uidvalidity,
                )
                Store.audit(
                    session,
                    now,
                    "uidvalidity-changed",
                    mailbox=name,
                    old=state.uidvalidity,
                    new=uidvalidity,
                )
                state.uidvalidity, state.last_uid, state.updated_at = uidvalidity, 0, now
            return state.last_uid

    def _after_commit(self, mailbox: Mailbox, done: Iterable[Stored]) -> None:
        cfg = self.settings.imap
        done = list(done)
        quarantine = [s.uid for s in done if s.quarantine]
        if quarantine and cfg.quarantine_folder:
            mailbox.copy_to(quarantine, cfg.quarantine_folder)
        finished = [s.uid for s in done if s.outcome != "failed"]
        mailbox.add_flag(finished, cfg.processed_flag)
        if cfg.processed_folder and finished:
            mailbox.move_to(finished, cfg.processed_folder)

    @staticmethod
    def _count(result: IntakeResult, stored: Stored) -> None:
        match stored.outcome:
            case "report":
                result.messages += 1
                result.reports += 1
            case "followup":
                result.messages += 1
                result.followups += 1
            case "quarantined":
                result.messages += 1
                result.quarantined += 1
            case "duplicate":
                result.duplicates += 1
            case "failed":
                result.failed += 1

    # --- one message ---------------------------------------------------------------------

    def ingest_batch(
        self,
        raws: Iterable[RawMessage],
        now: datetime,
        progress: Callable[[int], Any] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[Stored]:
        """Store a batch in one transaction, each message in a savepoint of its own.

        One commit per batch instead of per message; a message that fails rolls back only its
        savepoint and is counted as a failed attempt after the commit. Nothing is flagged on
        the server before that commit, so a crash only means the batch is fetched again.
        """
        done: list[Stored] = []
        failed: list[tuple[RawMessage, Exception]] = []
        with self.store.transaction() as session:
            self._seq.clear()
            self._highest.clear()
            self._failing = Store.failing(session)
            for raw in raws:
                try:
                    with session.begin_nested():
                        done.append(self._ingest(session, raw, now))
                    key = (raw.mailbox, raw.uidvalidity)
                    self._highest[key] = max(raw.uid, self._highest.get(key, 0))
                except (TransientError, OperationalError):
                    raise
                except OSError as exc:
                    # The disk, not the message: stop the pass and keep the message's
                    # attempts for faults that are its own. (A failing template is no reason:
                    # the acknowledger parks that acknowledgement and the message is stored.)
                    raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc
                except Exception as exc:
                    self._seq.clear()  # a rolled-back report may have taken a number
                    failed.append((raw, exc))
                if progress:
                    progress(1)
                if should_stop():
                    break
            self._advance_checkpoints(session, now)
        done += [self._failed(raw, now, exc) for raw, exc in failed]
        return done

    def _ingest(self, session: Session, raw: RawMessage, now: datetime) -> Stored:
        sha = hashlib.sha256(raw.raw).hexdigest()
        existing = Store.inbound_by_sha(session, sha)
        if existing is not None:
            return self._duplicate(session, raw, sha, existing, now, "same bytes")

        limit = self.settings.storage.max_message_bytes
        problem: tuple[str, str] | None = None  # (parse outcome, quarantine reason)
        if raw.size > limit:
            problem = ("oversized", f"oversized: {raw.size} bytes is over the limit of {limit}")
            parsed = parse_headers_only(raw.raw)
        else:
            try:
                parsed = parse_message(raw.raw)
            except Exception as exc:  # both parsers gave up (e.g. nesting past the stack)
                # Parsing is deterministic: retrying cannot help, so quarantine at once.
                problem = ("unparseable", f"unparseable: {type(exc).__name__}: {exc}"[:2000])
                parsed = _headers_or_nothing(raw.raw)
        if parsed.message_id:
            existing = Store.inbound_by_message_id(
                session, parsed.message_id, parsed.sender_address
            )
            if existing is not None:
                return self._duplicate(
                    session, raw, sha, existing, now, "same Message-ID and sender"
                )

        self.blobs.put(raw.raw)
        if problem is not None:
            outcome, reason = problem
            return self._quarantine(session, raw, parsed, sha, now, reason, outcome)

        # A bounce quotes the message it returns: our Message-ID there finds the report.
        quoted = self._quoted_own_ids(parsed, raw.raw)
        tags = tuple(refs_in_subject(self.settings.organization.reference_prefix, parsed.subject))
        decision = decide_thread(
            sender_address=parsed.sender_address,
            in_reply_to=parsed.in_reply_to,
            references=parsed.references + quoted,
            subject_refs=tags,
            known_message_ids=Store.reports_by_message_ids(
                session, parsed.in_reply_to + parsed.references + quoted, parsed.sender_address
            ),
            tagged_reports=Store.reports_by_ref(session, tags),
        )
        if decision.report_id is not None:
            report = session.get_one(Report, decision.report_id)
            outcome = Outcome.FOLLOWUP
        else:
            report = self._new_report(session, parsed, raw.internaldate, now)
            outcome = Outcome.REPORT
        message = self._message_row(raw, parsed, sha, outcome, parsed.parser, now)
        message.report = report
        message.thread_rule = decision.rule
        message.attachments = [
            AttachmentRow(
                filename=att.filename,
                content_type=att.content_type,
                size=len(att.content),
                sha256=self.blobs.put(att.content),
            )
            for att in parsed.attachments
        ]
        session.add(message)
        self._locate(session, raw, message, sha, now)
        session.flush()  # one flush for the report, message, attachments and location
        Store.audit(
            session,
            now,
            "report-created" if outcome == Outcome.REPORT else "followup-added",
            report_id=report.id,
            message_pk=message.id,
            message_id=parsed.message_id,
            rule=decision.rule,
            mentioned=list(decision.mentioned_refs),
        )
        if outcome == Outcome.FOLLOWUP:
            report.updated_at = now
        if self.on_message is not None:
            self.on_message(
                session, message, report, parsed, outcome == Outcome.REPORT, now, quoted
            )
        log.info("%s %s: %s from %s", report.ref, outcome, parsed.message_id, parsed.sender_address)
        return Stored(raw.uid, str(outcome), message.id, report.ref)

    def _quoted_own_ids(self, parsed: ParsedMessage, raw: bytes) -> tuple[str, ...]:
        if not loops.is_bounce(loop_context(self.settings, parsed)):
            return ()
        domain = self.settings.organization.message_id_domain
        return tuple(our_message_ids(raw.decode("latin-1"), domain))

    def _new_report(
        self, session: Session, parsed: ParsedMessage, received: datetime, now: datetime
    ) -> Report:
        org = self.settings.organization
        year = received.astimezone(org.tz).year
        if year not in self._seq:
            self._seq[year] = Store.last_report_seq(session, year)
        self._seq[year] += 1
        seq = self._seq[year]
        report = Report(
            ref=format_ref(org.reference_prefix, year, seq),
            year=year,
            seq=seq,
            status=Status.NEW,
            severity=None,
            reporter_address=parsed.sender_address,
            reporter_name=parsed.sender_name,
            subject=parsed.subject,
            received_at=received,
            created_at=now,
            updated_at=now,
        )
        session.add(report)
        return report

    @staticmethod
    def _message_row(
        raw: RawMessage,
        parsed: ParsedMessage,
        sha: str,
        outcome: str,
        parse_outcome: str,
        now: datetime,
    ) -> Message:
        return Message(
            direction=Direction.INBOUND,
            outcome=outcome,
            message_id=parsed.message_id,
            sender_address=parsed.sender_address,
            sender_name=parsed.sender_name,
            subject=parsed.subject,
            in_reply_to=" ".join(parsed.in_reply_to),
            references=" ".join(parsed.references),
            received_at=raw.internaldate,
            raw_sha256=sha,
            raw_size=raw.size,
            parse_outcome=parse_outcome,
            body_text=parsed.text,
            headers=parsed.headers,
            created_at=now,
        )

    def _advance_checkpoints(self, session: Session, now: datetime) -> None:
        """Raise each mailbox's highest processed UID once per batch, in its transaction."""
        for (name, uidvalidity), uid in self._highest.items():
            state = session.get(MailboxState, name)
            if state is not None and state.uidvalidity == uidvalidity and uid > state.last_uid:
                state.last_uid, state.updated_at = uid, now

    def _locate(
        self, session: Session, raw: RawMessage, message: Message, sha: str, now: datetime
    ) -> None:
        session.add(
            MessageLocation(
                message=message,
                mailbox=raw.mailbox,
                uidvalidity=raw.uidvalidity,
                uid=raw.uid,
                raw_sha256=sha,
                seen_at=now,
            )
        )
        if (raw.mailbox, raw.uidvalidity, raw.uid) in self._failing:
            failure = Store.failure(session, raw.mailbox, raw.uidvalidity, raw.uid)
            if failure is not None:
                session.delete(failure)

    def _duplicate(
        self,
        session: Session,
        raw: RawMessage,
        sha: str,
        existing: Message,
        now: datetime,
        why: str,
    ) -> Stored:
        if existing.raw_sha256 != sha:
            self.blobs.put(raw.raw)  # a resend that differs: keep its bytes as well
        self._locate(session, raw, existing, sha, now)
        Store.audit(
            session,
            now,
            "duplicate-seen",
            report_id=existing.report_id,
            message_pk=existing.id,
            why=why,
            mailbox=raw.mailbox,
            uid=raw.uid,
        )
        log.info("duplicate of message %s (%s): UID %s", existing.message_id, why, raw.uid)
        return Stored(raw.uid, "duplicate", existing.id)

    def _quarantine(
        self,
        session: Session,
        raw: RawMessage,
        parsed: ParsedMessage,
        sha: str,
        now: datetime,
        reason: str,
        parse_outcome: str,
    ) -> Stored:
        message = self._message_row(raw, parsed, sha, Outcome.QUARANTINED, parse_outcome, now)
        message.quarantine_reason = reason
        session.add(message)
        self._locate(session, raw, message, sha, now)
        session.flush()
        Store.audit(
            session,
            now,
            "quarantined",
            message_pk=message.id,
            message_id=parsed.message_id,
            reason=reason,
        )
        log.warning("quarantined UID %s (%s): %s", raw.uid, parsed.message_id, reason)
        return Stored(raw.uid, "quarantined", message.id, quarantine=True)

    def _failed(self, raw: RawMessage, now: datetime, exc: Exception) -> Stored:
        """Count an attempt; at the limit, quarantine the message with the error."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.exception("processing UID %s of %s failed", raw.uid, raw.mailbox)
        with self.store.transaction() as session:
            failure = Store.failure(session, raw.mailbox, raw.uidvalidity, raw.uid)
            if failure is None:
                failure = IntakeFailure(
                    mailbox=raw.mailbox,
                    uidvalidity=raw.uidvalidity,
                    uid=raw.uid,
                    attempts=0,
                    last_error="",
                    updated_at=now,
                )
                session.add(failure)
            failure.attempts += 1
            failure.last_error, failure.updated_at = error, now
            if failure.attempts < self.settings.imap.max_attempts:
                return Stored(raw.uid, "failed")
        with self.store.transaction() as session:
            sha = self.blobs.put(raw.raw)
            existing = Store.inbound_by_sha(session, sha)
            if existing is not None:
                return self._duplicate(session, raw, sha, existing, now, "same bytes")
            parsed = _headers_or_nothing(raw.raw)
            return self._quarantine(
                session,
                raw,
                parsed,
                sha,
                now,
                f"failed {self.settings.imap.max_attempts} times: {error}",
                "failed",
            )


def _headers_or_nothing(raw: bytes) -> ParsedMessage:
    try:
        return parse_headers_only(raw)
    except Exception:
        return _EMPTY


_EMPTY = ParsedMessage(
    message_id=None,
    sender_address="",
    sender_name="",
    subject="",
    date_header=None,
    in_reply_to=(),
    references=(),
    text="",
    html="",
    attachments=(),
    headers={},
    content_type="",
    parser="none",
)
