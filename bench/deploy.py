"""The servers and deployments the benchmark measures, made the way the tests make them.

`Environment` owns one private Dovecot, one SMTP sink, a working directory and every
PostgreSQL database it creates (``di_bench_<random>``, dropped at the end). `Environment.deploy`
makes one deployment: a fresh Dovecot account holding the given mail, a fresh, upgraded store
(an SQLite file or a new PostgreSQL database) and a config.toml, so that each run starts from
the same state.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.measure import BenchError
from disclosure_inbox.adapters.db.engine import make_engine, upgrade
from disclosure_inbox.testing.config import local_deployment, write_config
from disclosure_inbox.testing.dovecot import DovecotServer, ImapAccount, dovecot_installed
from disclosure_inbox.testing.smtp_sink import SmtpSink

POSTGRES_URL = os.environ.get(
    "DISCLOSURE_INBOX_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")
BENCH_SETTINGS: dict[str, dict[str, Any]] = {
    "imap": {"timeout_seconds": 30},
    "smtp": {"timeout_seconds": 10},
    # A backlog is a flood by design, from one domain: measure sending every acknowledgement,
    # not the flood limits (the per-address limit stays).
    "limits": {"acks_per_domain_per_day": 10**9, "acks_per_hour": 10**9},
}


@dataclass(frozen=True)
class Deployment:
    directory: Path
    config_path: Path
    account: ImapAccount
    database_url: str

    def cli(self, *args: str) -> list[str]:
        """The command line of ``disclosure-inbox --config <this> ARGS``, as a user runs it."""
        return [sys.executable, "-m", "disclosure_inbox", "--config", str(self.config_path), *args]


class Environment:
    def __init__(self, *, postgres: bool, keep: bool = False) -> None:
        if not dovecot_installed():
            raise BenchError("dovecot is not installed: run scripts/setup (Debian's dovecot-imapd)")
        self.keep = keep
        self.workdir = Path(tempfile.mkdtemp(prefix="di-bench-"))
        self.dovecot = DovecotServer()
        self.sink = SmtpSink()
        self._postgres = postgres
        self._admin_url = ""
        self._databases: list[str] = []
        self._serial = 0

    def __enter__(self) -> Environment:
        try:
            if self._postgres:
                self._check_postgres()
            self.dovecot.start()
            self.sink.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.sink.stop()
        self.dovecot.close()
        for name in self._databases:
            self.drop_database(name)
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- stores --------------------------------------------------------------------------

    def _check_postgres(self) -> None:
        server = make_url(POSTGRES_URL)
        self._admin_url = server.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            with psycopg.connect(self._admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            raise BenchError(
                f"PostgreSQL at {server.render_as_string()} is unreachable ({exc}); start it, "
                "or pass --skip-postgres"
            ) from exc

    def postgres_version(self) -> str | None:
        if not self._postgres:
            return None
        with psycopg.connect(self._admin_url, autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else None

    def new_database_url(self, backend: str, directory: Path) -> str:
        if backend == "sqlite":
            return f"sqlite:///{directory / 'store.sqlite3'}"
        if not self._postgres:
            raise BenchError("PostgreSQL was skipped")
        name = f"di_bench_{secrets.token_hex(6)}"
        with psycopg.connect(self._admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._databases.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop_database(self, name_or_url: str) -> None:
        name = make_url(name_or_url).database if "://" in name_or_url else name_or_url
        if not name or name not in self._databases:
            return
        with psycopg.connect(self._admin_url, autocommit=True, connect_timeout=5) as conn:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))
        self._databases.remove(name)

    def new_directory(self, label: str) -> Path:
        self._serial += 1
        directory = self.workdir / f"{self._serial:03d}-{label}"
        directory.mkdir()
        return directory

    def remove_directory(self, directory: Path) -> None:
        if not self.keep:
            shutil.rmtree(directory, ignore_errors=True)

    # --- deployments ---------------------------------------------------------------------

    def deploy(
        self,
        label: str,
        backend: str,
        mail: Iterable[bytes] = (),
        **overrides: dict[str, Any],
    ) -> Deployment:
        """A fresh account holding ``mail``, a fresh upgraded store and a config file.

        Keyword arguments update config sections, e.g. ``daemon={"poll_interval_seconds": 300}``.
        """
        directory = self.new_directory(label)
        account = self.dovecot.new_account()
        self._append(account, mail)
        url = self.new_database_url(backend, directory)
        sections = local_deployment(
            account,
            self.sink,
            url,
            directory / "var",
            {
                name: {**BENCH_SETTINGS.get(name, {}), **overrides.get(name, {})}
                for name in {*BENCH_SETTINGS, *overrides}
            },
        )
        config = write_config(directory / "config.toml", sections)
        engine = make_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        return Deployment(directory, config, account, url)

    @staticmethod
    def _append(account: ImapAccount, mail: Iterable[bytes]) -> None:
        """Append ``mail`` as it is read, so that a spooled backlog is never all in memory."""
        messages = iter(mail)
        first = next(messages, None)
        if first is None:
            return
        count = 0

        def counted() -> Iterator[bytes]:
            nonlocal count
            for raw in itertools.chain((first,), messages):
                count += 1
                yield raw

        uids = account.append(counted())
        if len(uids) != count:
            raise BenchError(f"Dovecot took {len(uids)} of {count} messages")

    def discard(self, deployment: Deployment, *, mail: bool = False) -> None:
        """Free what a finished run used: its database and its files, and with ``mail`` the
        account's messages too (a 20,000-message backlog is half a gigabyte on disk)."""
        if deployment.database_url.startswith("postgresql"):
            self.drop_database(deployment.database_url)
        self.remove_directory(deployment.directory)
        if mail:
            user = deployment.account.user
            self.dovecot.doveadm("expunge", "-u", user, "mailbox", "*", "all")
