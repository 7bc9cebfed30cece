"""Engines and schema upgrades."""

from __future__ import annotations

import atexit
import functools
import os
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from disclosure_inbox.paths import migrations_dir


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins: without this,
    # SAVEPOINT (one per message inside a batch) does not work with pysqlite.
    dbapi_connection.isolation_level = None
    # journal_mode=WAL persists in the file; the others are per connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit survives power loss too. Intake commits once per batch, so this costs
    # little, and a message moved to processed_folder after its commit is not read again.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # A write transaction takes the write lock when it begins (``sqlite_begin="IMMEDIATE"``,
    # see ``Store.transaction``): a deferred one that read first and then writes fails at
    # once with "database is locked" if another connection wrote in between, busy_timeout
    # or not. An AUTOCOMMIT connection runs each statement as its own transaction.
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    conn.exec_driver_sql(f"BEGIN {options.get('sqlite_begin', '')}".strip())


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return _count_statements(engine)
    kwargs.setdefault("pool_pre_ping", True)
    if parsed.get_backend_name() == "postgresql":
        connect_args = kwargs.setdefault("connect_args", {})
        for key, value in postgres_connect_args().items():
            connect_args.setdefault(key, value)
    return _count_statements(create_engine(url, **kwargs))


SQL_COUNT_ENV = "DISCLOSURE_INBOX_SQL_COUNT_FILE"


class _StatementCounter:
    def __init__(self, path: str) -> None:
        self.path = path
        self.statements = 0
        self._lock = threading.Lock()  # intake and the outbox run in different threads

    def __call__(self, *_event_args: Any) -> None:
        with self._lock:
            self.statements += 1

    def write(self) -> None:
        with open(self.path, "a", encoding="ascii") as out:
            out.write(f"{os.getpid()} {self.statements}\n")


@functools.cache
def _statement_counter() -> _StatementCounter | None:
    path = os.environ.get(SQL_COUNT_ENV, "")
    if not path:
        return None
    counter = _StatementCounter(path)
    atexit.register(counter.write)
    return counter


def _count_statements(engine: Engine) -> Engine:
    """Count the SQL statements this process sends, for the benchmark; off unless asked.

    With ``DISCLOSURE_INBOX_SQL_COUNT_FILE=PATH`` in the environment, every engine made here
    counts its ``before_cursor_execute`` events, and when the process exits normally it
    appends one line, ``<pid> <statements>``, to PATH (several processes may share one file).
    An executemany is one statement, as it is one round trip; so is each batch SQLAlchemy
    makes of an "insertmanyvalues" INSERT. The variable is read once, at the first engine;
    unset, no listener is attached and nothing is written.
    """
    counter = _statement_counter()
    if counter is not None:
        event.listen(engine, "before_cursor_execute", counter)
    return engine


def postgres_connect_args() -> dict[str, Any]:
    """No network call may hang the daemon: bound the connect and every statement on the
    server, and notice a silently dropped connection on the client (libpq keepalives and
    TCP_USER_TIMEOUT) instead of waiting hours for the kernel."""
    return {
        "connect_timeout": 10,
        "options": "-c statement_timeout=60000",
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
        "tcp_user_timeout": 60000,
    }


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
