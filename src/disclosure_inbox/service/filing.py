"""Unfiled messages: machine mail that intake kept out of the reports, and filing one as a
report when a person decides that it is one.

Filing gives the message a report with the next reference number of the year it arrived
in, status ``new``, and an acknowledgement clock that starts at the moment of filing: a
person decided now that someone is owed an answer, so the deadline counts from now, not from
when the machine mail arrived. No acknowledgement is sent: the sender is a machine (an
autoresponder, a mailer daemon, a list), and staff answer it themselves if there is anyone
to answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from disclosure_inbox.adapters.db import unfiled
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import sla
from disclosure_inbox.domain.errors import AlreadyRecorded, NotFound, UsageError
from disclosure_inbox.domain.intake import NewReport
from disclosure_inbox.service.clocks import business_calendar, clock_spec

log = logging.getLogger(__name__)

# An intake on PostgreSQL that takes the same reference number at the same moment makes a
# filing fail; the next try takes the number after it.
ATTEMPTS = 3


@dataclass(frozen=True)
class Filed:
    ref: str
    message_id: str
    due_at: datetime  # the acknowledgement deadline, counted from the filing


def bracketed(message_id: str) -> str:
    """A Message-ID as the store keeps it, in angle brackets, however it was typed."""
    bare = message_id.strip()
    if bare.startswith("<") and bare.endswith(">"):
        bare = bare[1:-1].strip()
    if not bare or any(c in bare for c in "<> \t\r\n"):
        raise UsageError(f"not a Message-ID: {message_id!r}")
    return f"<{bare}>"


def list_unfiled(store: Store) -> list[unfiled.UnfiledMessage]:
    with store.reading() as tx:
        return unfiled.listing(tx)


def file_message(
    store: Store, settings: Settings, message_id: str, *, actor: str, now: datetime
) -> Filed:
    """File the first unfiled message with ``message_id`` as a new report."""
    mid = bracketed(message_id)
    for _ in range(ATTEMPTS - 1):
        try:
            return _file(store, settings, mid, actor, now)
        except AlreadyRecorded as exc:
            log.info("filing %s: %s; trying the next number", mid, exc)
    return _file(store, settings, mid, actor, now)


def _file(store: Store, settings: Settings, mid: str, actor: str, now: datetime) -> Filed:
    org = settings.organization
    clock = sla.start_ack_clock(now, clock_spec(settings), business_calendar(settings))
    with store.transaction() as tx:
        message = unfiled.first_with(tx, mid)
        if message is None:
            outcomes = unfiled.outcomes_of(tx, mid)
            if not outcomes:
                raise NotFound(f"no message {mid}")
            raise UsageError(f"message {mid} is not unfiled (it is {', '.join(outcomes)})")
        year = message.received_at.astimezone(org.tz).year
        report = NewReport.after(org.reference_prefix, year, unfiled.last_seq(tx, year))
        unfiled.file(tx, message, report, clock, actor=actor, now=now)
    log.info("%s: filed from unfiled message %s by %s", report.ref, mid, actor)
    return Filed(report.ref, mid, clock.due_at)
