"""Who may do the work: one instance at a time.

On PostgreSQL any number of instances may run; the one holding a session-level advisory lock
(on a connection of its own) is the leader and does intake, outbox and escalation. When it
dies, PostgreSQL ends its session and releases the lock, and the next standby to ask takes
over, incrementing the leadership epoch as it does. Correctness does not rest on the old
leader noticing in time: every write it makes checks the epoch in its own transaction (the
store's fence), so once the new leader holds the epoch, the old one's writes are refused, it
steps down and logs why. Outgoing mail is claimed row by row with a lease (see ``outbox``),
so two senders never send the same message within a lease either.

On SQLite only one process may use a database: an exclusive ``flock`` on ``<database>.lock``,
released by the kernel whatever way the process ends.

Both live in ``adapters.db.leadership``; the service sees them through ``Leadership``.
"""

from __future__ import annotations

from typing import Protocol

from disclosure_inbox.adapters.db import leadership
from disclosure_inbox.adapters.db.leadership import (
    INSTANCE,
    AnotherInstance,
    PostgresLeader,
    SqliteLock,
)
from disclosure_inbox.ports import Fence

# The outbox names its claims with INSTANCE, and tests take a PostgresLeader, from here.
__all__ = [
    "INSTANCE",
    "AnotherInstance",
    "Leadership",
    "PostgresLeader",
    "SqliteLock",
    "leadership_for",
]


class Leadership(Protocol):
    def acquire(self) -> bool:
        """Become or stay the leader; False while another instance leads. Raises
        ``StoreUnavailable`` when the database cannot be asked."""

    def step_down(self, epoch: int | None, why: str) -> None:
        """Stop leading in ``epoch`` (a write made in it was refused); ``acquire`` may lead
        again. A no-op when this instance has since left that epoch."""

    def release(self) -> None: ...

    @property
    def fence(self) -> Fence | None:
        """What the store checks before each write, or None where leadership cannot be lost
        while the process lives (SQLite's flock)."""


def leadership_for(url: str, name: str) -> Leadership:
    return leadership.for_database(url, name)
