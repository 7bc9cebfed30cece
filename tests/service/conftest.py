"""A whole deployment for end-to-end tests: config file, store, Dovecot account, SMTP sink."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from disclosure_inbox.adapters.db.engine import upgrade
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.config import Settings, load_settings
from disclosure_inbox.service.app import App, CycleResult, run_cycle
from disclosure_inbox.testing.config import local_deployment, write_config
from disclosure_inbox.testing.dovecot import ImapAccount
from disclosure_inbox.testing.smtp_sink import SmtpSink


class FrozenClock:
    """A clock tests move by hand; nothing in a test sleeps to wait for a deadline."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        self._now = now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now


@dataclass
class Deployment:
    config_path: Path
    account: ImapAccount
    sink: SmtpSink
    clock: FrozenClock = field(
        default_factory=lambda: FrozenClock(datetime(2026, 7, 1, 14, 0, tzinfo=UTC))
    )

    @property
    def settings(self) -> Settings:
        return load_settings(str(self.config_path))

    def app(self) -> App:
        return App.build(self.settings, clock=self.clock)

    def run_once(self) -> CycleResult:
        return run_cycle(self.app())

    @property
    def store(self) -> Store:
        return Store.from_url(self.settings.database_url)

    def counts(self) -> dict[str, int]:
        with self.store.reading() as session:
            return Store.counts(session)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.store.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.store.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The real command, as a user runs it."""
        env = dict(os.environ, DISCLOSURE_INBOX_CONFIG=str(self.config_path))
        return subprocess.run(
            [sys.executable, "-m", "disclosure_inbox", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def make_deployment(imap_account, smtp_sink, database_url, tmp_path):
    """Build a deployment; keyword arguments override config sections, e.g. imap={...}."""

    def make(**overrides: dict[str, Any]) -> Deployment:
        sections = local_deployment(
            imap_account, smtp_sink, database_url, tmp_path / "var", overrides
        )
        path = write_config(tmp_path / "config.toml", sections)
        deployment = Deployment(config_path=path, account=imap_account, sink=smtp_sink)
        upgrade(deployment.store.engine)
        return deployment

    return make


@pytest.fixture
def deployment(make_deployment) -> Deployment:
    return make_deployment()
