"""Inbound messages and the reports they make: what one intake batch looks up, and how its
decisions are written.

``look_up`` answers everything the decisions of a batch need in a handful of queries, however
many messages the batch holds. ``apply`` writes a batch's ``Writes`` with one multi-row INSERT
per table (reports, messages, attachments, locations, clocks, outgoing mail, audit) and
replaces the provisional ids as it goes: a new report's id is known once its row is in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db import audit, keys, mailbox
from disclosure_inbox.adapters.db.clocks import clock_state
from disclosure_inbox.adapters.db.models import (
    AttachmentRow,
    ClockRow,
    Message,
    OutboxRow,
    Report,
)
from disclosure_inbox.adapters.db.outbox import insert_built
from disclosure_inbox.adapters.db.rows import insert_rows, insert_with_ids
from disclosure_inbox.domain.intake import (
    AckCounts,
    Decision,
    FollowedReport,
    Found,
    Known,
    LookupKeys,
    NewReport,
    Writes,
)
from disclosure_inbox.domain.model import Direction, Outcome, Status
from disclosure_inbox.domain.sla import ClockState
from disclosure_inbox.domain.threading import TaggedReport

ACK = "ack"
STATUS_REPLY = "status-reply"  # answers to a reporter's "status": limited as acks are


def high_water(tx: Session) -> tuple[int, int]:
    """The highest message and report ids: what ``look_up`` reads changes only by rows being
    added (a new message, report or outgoing mail; no command updates a Message-ID, a
    sender, a hash, a reference or a report's reporter), so an unchanged pair means an
    unchanged answer. Filing an unfiled message (``unfiled.file``) sets its report, which
    threading reads, but adds that report in the same transaction, so the pair changes too.
    A change to any of those columns must be added here."""
    row = tx.execute(
        select(
            select(func.max(Message.id)).scalar_subquery(),
            select(func.max(Report.id)).scalar_subquery(),
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def followed(tx: Session, report_ids: Iterable[int]) -> dict[int, FollowedReport]:
    """These reports, by id, with their clocks."""
    ids = list(set(report_ids))
    if not ids:
        return {}
    states: dict[int, list[ClockState]] = {}
    for row in tx.scalars(
        select(ClockRow).where(ClockRow.report_id.in_(ids)).order_by(ClockRow.id)
    ):
        states.setdefault(row.report_id, []).append(clock_state(row))
    return {
        r.id: FollowedReport(
            r.ref, r.status, r.severity, r.reporter_address, r.subject, tuple(states.get(r.id, ()))
        )
        for r in tx.scalars(select(Report).where(Report.id.in_(ids)))
    }


def look_up(
    tx: Session, keys: LookupKeys, years: Iterable[int], quoted: Iterable[str], now: datetime
) -> Found:
    known = Known()
    if keys.shas:
        known.by_sha = {
            sha: pk
            for sha, pk in tx.execute(
                select(Message.raw_sha256, Message.id).where(
                    Message.raw_sha256.in_(list(keys.shas)),
                    Message.direction == Direction.INBOUND,
                )
            )
        }
    if keys.message_ids:
        rows = tx.execute(
            select(
                Message.message_id,
                Message.sender_address,
                Message.report_id,
                Message.id,
                Message.direction,
            ).where(Message.message_id.in_(list(keys.message_ids)))
        )
        for mid, sender, report_id, pk, direction in rows:
            if direction == Direction.INBOUND:
                known.by_id_sender.setdefault((mid, sender), pk)
            if report_id is not None:
                known.id_reports.setdefault(mid, []).append((report_id, sender))
    if keys.refs:
        known.tagged = {
            ref: TaggedReport(rid, address)
            for ref, rid, address in tx.execute(
                select(Report.ref, Report.id, Report.reporter_address).where(
                    Report.ref.in_(list(keys.refs))
                )
            )
        }
    known.last_seq = last_seqs(tx, years)
    return Found(known, _ack_counts(tx, now), _unbounced(tx, quoted))


def last_seqs(tx: Session, years: Iterable[int]) -> dict[int, int]:
    """The highest reference number used in each of ``years`` that has reports. A new report
    takes the next one; the unique (year, seq) constraint refuses a number taken meanwhile."""
    wanted = list(years)
    if not wanted:
        return {}
    return {
        int(year): int(seq or 0)
        for year, seq in tx.execute(
            select(Report.year, func.max(Report.seq))
            .where(Report.year.in_(wanted))
            .group_by(Report.year)
        )
    }


def _ack_counts(tx: Session, now: datetime) -> AckCounts:
    hour_ago = now - timedelta(hours=1)
    per_address: Counter[str] = Counter()
    per_domain: Counter[str] = Counter()
    last_hour = 0
    rows = tx.execute(
        select(
            OutboxRow.to_address,
            func.count(),
            func.sum(case((OutboxRow.created_at > hour_ago, 1), else_=0)),
        )
        .where(
            OutboxRow.kind.in_([ACK, STATUS_REPLY]),
            OutboxRow.created_at > now - timedelta(hours=24),
        )
        .group_by(OutboxRow.to_address)
    )
    for address, count, recent in rows:
        per_address[address] += int(count)
        if "@" in address:
            per_domain[address.rpartition("@")[2]] += int(count)
        last_hour += int(recent or 0)
    return AckCounts(per_address, per_domain, last_hour)


def _unbounced(tx: Session, quoted: Iterable[str]) -> set[str]:
    ids = list(dict.fromkeys(quoted))
    if not ids:
        return set()
    return set(
        tx.scalars(
            select(OutboxRow.message_id).where(
                OutboxRow.message_id.in_(ids), OutboxRow.bounced_at.is_(None)
            )
        )
    )


def apply(tx: Session, writes: Writes, now: datetime) -> dict[int, int]:
    """Write a batch; the real id of each provisional report id."""
    ids: dict[int, int] = {}  # provisional report id -> real
    pks: dict[int, int] = {}  # provisional message pk -> real

    def report(rid: int | None) -> int | None:
        return ids.get(rid, rid) if rid is not None else None

    def message(pk: int | None) -> int | None:
        return pks.get(pk, pk) if pk is not None else None

    new = [d for d in writes.decisions if d.new_report is not None]
    if new:
        real = insert_with_ids(
            tx,
            Report,
            [
                report_row(
                    d.new_report,
                    d.incoming.parsed.sender_address,
                    d.incoming.parsed.sender_name,
                    d.incoming.parsed.subject,
                    d.incoming.internaldate,
                    now,
                )
                for d in new
                if d.new_report is not None
            ],
        )
        ids.update({d.report_id: rid for d, rid in zip(new, real, strict=True) if d.report_id})
    stored = writes.stored()
    if stored:
        real = insert_with_ids(
            tx, Message, [_message_row(d, report(d.report_id), now) for d in stored]
        )
        pks.update({d.message_pk: pk for d, pk in zip(stored, real, strict=True) if d.message_pk})
    attachments = [
        {
            "message_pk": message(d.message_pk),
            "filename": a.filename,
            "content_type": a.content_type,
            "size": a.size,
            "sha256": a.sha256,
        }
        for d in stored
        for a in d.incoming.attachments
    ]
    insert_rows(tx, AttachmentRow, attachments)
    keys.store_offered(
        tx,
        (
            (address, fpr, uids, armored, message(pk))
            for address, fpr, uids, armored, pk in writes.keys
        ),
        now,
    )
    mailbox.add_locations(
        tx,
        [
            (d.incoming.location, message(d.message_pk) or 0, d.incoming.sha256)
            for d in writes.decisions
        ],
        now,
    )
    mailbox.clear_failures(tx, [d.incoming.location for d in writes.decisions])
    followed = {
        report(d.report_id) for d in stored if d.outcome in (Outcome.FOLLOWUP, Outcome.STAFF_REPLY)
    }
    if followed:
        tx.execute(update(Report).where(Report.id.in_(followed)).values(updated_at=now))
    if writes.clocks:
        insert_rows(
            tx,
            ClockRow,
            [
                {
                    "report_id": report(rid),
                    "name": c.name,
                    "started_at": c.started_at,
                    "due_at": c.due_at,
                    "stopped_at": c.stopped_at,
                    "paused_at": c.paused_at,
                    "paused_business_days": c.paused_business_days,
                }
                for rid, c in writes.clocks
            ],
        )
    insert_built(
        tx,
        [replace(m, out=replace(m.out, report_id=report(m.out.report_id))) for m in writes.mails],
    )
    if writes.bounced:
        tx.execute(
            update(OutboxRow)
            .where(OutboxRow.message_id.in_(writes.bounced), OutboxRow.bounced_at.is_(None))
            .values(bounced_at=now)
        )
    audit.record_many(
        tx,
        (
            {
                **entry,
                "report_id": report(entry.get("report_id")),
                "message_pk": message(entry.get("message_pk")),
            }
            for entry in writes.audit
        ),
    )
    for (name, uidvalidity), uid in writes.checkpoints.items():
        mailbox.advance(tx, name, uidvalidity, uid, now)
    return ids


def report_row(
    new: NewReport, sender: str, sender_name: str, subject: str, received: datetime, now: datetime
) -> dict[str, object]:
    """The row of a new report, made from its first message."""
    return {
        "ref": new.ref,
        "year": new.year,
        "seq": new.seq,
        "status": Status.NEW,
        "severity": None,
        "reporter_address": sender,
        "reporter_name": sender_name,
        "subject": subject,
        "received_at": received,
        "created_at": now,
        "updated_at": now,
        "duplicate_of_id": None,
    }


def _message_row(d: Decision, report_id: int | None, now: datetime) -> dict[str, object]:
    item, parsed = d.incoming, d.incoming.parsed
    quarantined = d.outcome is Outcome.QUARANTINED
    # Neither is in a thread; an unfiled message's loop rule is in its audit entry.
    threaded = d.outcome in (Outcome.REPORT, Outcome.FOLLOWUP, Outcome.STAFF_REPLY)
    return {
        "report_id": report_id if threaded else None,
        "direction": Direction.INBOUND,
        "outcome": str(d.outcome),
        "message_id": parsed.message_id,
        "sender_address": parsed.sender_address,
        "sender_name": parsed.sender_name,
        "subject": parsed.subject,
        "in_reply_to": " ".join(parsed.in_reply_to),
        "references": " ".join(parsed.references),
        "received_at": item.internaldate,
        "raw_sha256": item.sha256,
        "raw_size": item.size,
        "parse_outcome": d.rule if quarantined and d.rule == "failed" else item.parse_outcome,
        "quarantine_reason": d.reason if quarantined else None,
        "thread_rule": d.rule if threaded else None,
        "body_text": parsed.text,
        "headers": parsed.headers,
        "created_at": now,
        "author": parsed.sender_address if d.outcome is Outcome.STAFF_REPLY else None,
        "encryption": item.encryption,
        "encryption_problem": item.encryption_problem,
        "signature_status": item.signature.status if item.signature else None,
        "signature_fingerprint": item.signature.fingerprint if item.signature else None,
    }
