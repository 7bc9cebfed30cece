"""What the store knows of the IMAP mailbox: its state (UIDVALIDITY, highest processed UID),
where each message was seen (locations), and messages whose processing failed (attempts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.orm import Session

from disclosure_inbox.adapters.db.models import (
    IntakeFailure,
    MailboxState,
    Message,
    MessageLocation,
)

Location = tuple[str, int, int]  # (mailbox, UIDVALIDITY, UID)


def state(tx: Session, name: str) -> tuple[int, int] | None:
    """(UIDVALIDITY, highest processed UID) of ``name``, if it was ever read."""
    row = tx.get(MailboxState, name)
    return None if row is None else (row.uidvalidity, row.last_uid)


def set_state(tx: Session, name: str, uidvalidity: int, last_uid: int, now: datetime) -> None:
    row = tx.get(MailboxState, name)
    if row is None:
        tx.add(MailboxState(name=name, uidvalidity=uidvalidity, last_uid=last_uid, updated_at=now))
    else:
        row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, last_uid, now


def advance(tx: Session, name: str, uidvalidity: int, uid: int, now: datetime) -> None:
    """Raise the highest processed UID (never lower it; ignored after a UIDVALIDITY change)."""
    row = tx.get(MailboxState, name)
    if row is not None and row.uidvalidity == uidvalidity and uid > row.last_uid:
        row.last_uid, row.updated_at = uid, now


def known_uids(tx: Session, name: str, uidvalidity: int, uids: Sequence[int]) -> dict[int, str]:
    """Which of ``uids`` already have a stored location, with their message's outcome."""
    if not uids:
        return {}
    rows = tx.execute(
        select(MessageLocation.uid, Message.outcome)
        .join(Message, Message.id == MessageLocation.message_pk)
        .where(
            MessageLocation.mailbox == name,
            MessageLocation.uidvalidity == uidvalidity,
            MessageLocation.uid.in_(list(uids)),
        )
    )
    return {int(uid): str(outcome) for uid, outcome in rows}


def add_locations(tx: Session, rows: Iterable[tuple[Location, int, str]], now: datetime) -> None:
    """Record where each message was seen: ((mailbox, UIDVALIDITY, UID), message pk, sha256)."""
    values = [
        {
            "mailbox": loc[0],
            "uidvalidity": loc[1],
            "uid": loc[2],
            "message_pk": pk,
            "raw_sha256": sha,
            "seen_at": now,
        }
        for loc, pk, sha in rows
    ]
    if values:
        tx.execute(insert(MessageLocation.__table__), values)


def failing(tx: Session, locations: Iterable[Location]) -> dict[Location, int]:
    """Attempts so far of each of ``locations`` that failed before."""
    wanted = list(locations)
    if not wanted:
        return {}
    rows = tx.execute(
        select(
            IntakeFailure.mailbox,
            IntakeFailure.uidvalidity,
            IntakeFailure.uid,
            IntakeFailure.attempts,
        ).where(
            tuple_(IntakeFailure.mailbox, IntakeFailure.uidvalidity, IntakeFailure.uid).in_(wanted)
        )
    )
    return {(m, v, u): int(a) for m, v, u, a in rows}


def clear_failures(tx: Session, locations: Iterable[Location]) -> None:
    """Forget the failed attempts of messages now stored."""
    gone = list(locations)
    if gone:
        tx.execute(
            delete(IntakeFailure).where(
                tuple_(IntakeFailure.mailbox, IntakeFailure.uidvalidity, IntakeFailure.uid).in_(
                    gone
                )
            )
        )


def count_failure(tx: Session, location: Location, error: str, now: datetime) -> int:
    """One more failed attempt at ``location``; the attempts so far."""
    row = tx.get(IntakeFailure, location)
    if row is None:
        row = IntakeFailure(
            mailbox=location[0],
            uidvalidity=location[1],
            uid=location[2],
            attempts=0,
            last_error="",
            updated_at=now,
        )
        tx.add(row)
    row.attempts += 1
    row.last_error, row.updated_at = error, now
    return row.attempts
