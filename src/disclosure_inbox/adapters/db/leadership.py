"""Leadership in the store: a PostgreSQL advisory lock with its epoch row, or a file lock on
SQLite (see ``service.leader`` for what leading means).

``PostgresLeader`` holds a session-level advisory lock on a connection of its own; PostgreSQL
releases it when that session ends, however the process ends. Taking the lock increments the
leadership epoch, which the store's fence compares on every write (``store.check_epoch``).
``SqliteLock`` is an exclusive ``flock`` on ``<database>.lock``, released by the kernel
whatever way the process ends.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from disclosure_inbox.adapters.db.engine import postgres_connect_args
from disclosure_inbox.domain.errors import PermanentError, StoreUnavailable
from disclosure_inbox.ports import Fence

log = logging.getLogger(__name__)

# This process, as it names itself in leadership rows and outbox claims.
INSTANCE = f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


class AnotherInstance(PermanentError):
    """A second instance on a SQLite database: it refuses to start."""


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for this deployment."""
    digest = hashlib.sha256(f"disclosure-inbox:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLeader:
    """The advisory lock plus the epoch row; it is its own fence (``name`` and ``epoch``)."""

    def __init__(self, url: str, name: str) -> None:
        # A connection of its own, outside any pool: the lock lives exactly as long as it.
        self._engine: Engine = create_engine(
            url, poolclass=NullPool, connect_args=postgres_connect_args()
        )
        self.name = name
        self._key = lock_key(name)
        self._conn: Connection | None = None
        self._epoch: int | None = None
        self._mutex = threading.Lock()  # jobs ask from several threads; one connection

    @property
    def fence(self) -> Fence:
        return self

    def epoch(self) -> int | None:
        return self._epoch

    def acquire(self) -> bool:
        with self._mutex:
            try:
                if self._conn is None:
                    # Autocommit: the lock belongs to the session; no transaction stays open.
                    self._conn = self._engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT"
                    )
                if self._epoch is not None:
                    self._check_epoch(self._conn, self._epoch)
                else:
                    self._try_lock(self._conn)
            except Exception as exc:
                if self._epoch is not None:
                    log.error("lost the leader lock: %s", exc)
                self._drop()
                raise StoreUnavailable(f"cannot check leadership: {exc}") from exc
            return self._epoch is not None

    def _try_lock(self, conn: Connection) -> None:
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}).scalar()
        if not got:
            return
        # Waits for any transaction of a deposed leader that still holds the row (FOR SHARE);
        # everything that one starts after this sees the new epoch and is refused.
        self._epoch = int(
            conn.execute(
                text(
                    "INSERT INTO leadership (name, epoch, holder, taken_at) "
                    "VALUES (:name, 1, :holder, now()) "
                    "ON CONFLICT (name) DO UPDATE SET epoch = leadership.epoch + 1, "
                    "holder = excluded.holder, taken_at = excluded.taken_at "
                    "RETURNING epoch"
                ),
                {"name": self.name, "holder": INSTANCE},
            ).scalar_one()
        )
        log.info("this instance is now the leader (epoch %d)", self._epoch)

    def _check_epoch(self, conn: Connection, mine: int) -> None:
        current = conn.execute(
            text("SELECT epoch FROM leadership WHERE name = :name"), {"name": self.name}
        ).scalar()
        if current != mine:
            log.error(
                "another instance took over (epoch %s, this one had %d); standing by",
                current,
                mine,
            )
            self._drop()

    def step_down(self, epoch: int | None, why: str) -> None:
        with self._mutex:
            if epoch is None or epoch != self._epoch:
                return  # already left that epoch (and perhaps leading in a newer one)
            log.error("stepping down as leader: %s", why)
            self._release_lock()
            self._drop()

    def _drop(self) -> None:
        self._epoch = None
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # the connection is already broken
                conn.invalidate()

    def _release_lock(self) -> None:
        if self._conn is not None and self._epoch is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            except Exception as exc:  # closing the session releases it anyway
                log.debug("advisory unlock failed: %s", exc)

    def release(self) -> None:
        with self._mutex:
            self._release_lock()
            self._drop()
        self._engine.dispose()


class SqliteLock:
    def __init__(self, database: str) -> None:
        self.path = Path(f"{database}.lock")
        self._fh: IO[str] | None = None

    def acquire(self) -> bool:
        if self._fh is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise AnotherInstance(
                f"another disclosure-inbox (pid {holder}) is already using this SQLite database "
                f"(lock {self.path}); on SQLite only one instance may run"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    @property
    def fence(self) -> None:
        return None  # the kernel holds the flock for as long as the process lives

    def step_down(self, epoch: int | None, why: str) -> None:
        log.error("%s", why)  # nobody else can lead this database: keep the lock

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def for_database(url: str, name: str) -> PostgresLeader | SqliteLock:
    """The leadership that fits the database at ``url``; ``name`` names the deployment."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteLock(parsed.database or ":memory:")
    if parsed.get_backend_name() == "postgresql":
        return PostgresLeader(url, name)
    raise PermanentError(f"unsupported database {parsed.get_backend_name()}")
