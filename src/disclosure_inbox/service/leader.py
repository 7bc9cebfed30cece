"""Who may do the work: one instance at a time.

On PostgreSQL any number of instances may run; the one holding a session-level advisory lock
(on a connection of its own) is the leader and does intake, outbox and escalation. When it
dies, PostgreSQL ends its session and releases the lock, and the next standby to ask takes
over. The leader asks again before every pass, so a leader whose lock connection broke stops
working instead of running beside a new one.

On SQLite only one process may use a database: an exclusive ``flock`` on ``<database>.lock``,
released by the kernel whatever way the process ends.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from disclosure_inbox.adapters.db.engine import postgres_connect_args
from disclosure_inbox.domain.errors import PermanentError, StoreUnavailable

log = logging.getLogger(__name__)


class AnotherInstance(PermanentError):
    """A second instance on a SQLite database: it refuses to start."""


class Leadership(Protocol):
    def acquire(self) -> bool:
        """Become or stay the leader; False while another instance leads. Raises
        ``StoreUnavailable`` when the database cannot be asked."""

    def release(self) -> None: ...


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for this deployment."""
    digest = hashlib.sha256(f"disclosure-inbox:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLeader:
    def __init__(self, url: str, name: str) -> None:
        # A connection of its own, outside any pool: the lock lives exactly as long as it.
        self._engine: Engine = create_engine(
            url, poolclass=NullPool, connect_args=postgres_connect_args()
        )
        self._key = lock_key(name)
        self._conn: Connection | None = None
        self._leading = False

    def acquire(self) -> bool:
        try:
            if self._conn is None:
                # Autocommit: the lock belongs to the session, and no transaction stays open.
                self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if self._leading:
                self._conn.execute(text("SELECT 1"))  # still connected: still holding it
            else:
                got = self._conn.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
                ).scalar()
                if got:
                    log.info("this instance is now the leader")
                self._leading = bool(got)
        except Exception as exc:
            if self._leading:
                log.error("lost the leader lock: %s", exc)
            self._drop()
            raise StoreUnavailable(f"cannot check leadership: {exc}") from exc
        return self._leading

    def _drop(self) -> None:
        self._leading = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # the connection is already broken
                conn.invalidate()

    def release(self) -> None:
        if self._conn is not None and self._leading:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            except Exception as exc:  # closing the session releases it anyway
                log.debug("advisory unlock failed: %s", exc)
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

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def leadership_for(url: str, name: str) -> Leadership:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteLock(parsed.database or ":memory:")
    if parsed.get_backend_name() == "postgresql":
        return PostgresLeader(url, name)
    raise PermanentError(f"unsupported database {parsed.get_backend_name()}")
