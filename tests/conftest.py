"""Fixtures that run real servers: Dovecot, an SMTP sink, SQLite and PostgreSQL; and gpg.

Tests fail, rather than skip, when a server they need is missing, so that a machine without
it cannot pass for green. To leave those tests out on purpose:

- ``DISCLOSURE_INBOX_SKIP_DOVECOT=1`` skips the tests that need Dovecot;
- ``DISCLOSURE_INBOX_SKIP_POSTGRES=1`` skips the PostgreSQL variant of ``database_url``.

``DISCLOSURE_INBOX_POSTGRES_URL`` names the PostgreSQL server on which each test gets a
database of its own (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from disclosure_inbox.testing.dovecot import DovecotServer, ImapAccount, dovecot_installed
from disclosure_inbox.testing.openpgp_keys import ThrowawayKey, ThrowawayKeys, copy_home, stop_agent
from disclosure_inbox.testing.smtp_sink import SmtpSink

POSTGRES_URL = os.environ.get(
    "DISCLOSURE_INBOX_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SHARED_DIR = Path(__file__).resolve().parent.parent.parent / "shared"


def _skipping(variable: str) -> bool:
    return os.environ.get(variable, "") == "1"


def _require_dovecot() -> None:
    if _skipping("DISCLOSURE_INBOX_SKIP_DOVECOT"):
        pytest.skip("DISCLOSURE_INBOX_SKIP_DOVECOT=1")
    if not dovecot_installed():
        pytest.fail(
            "dovecot is not installed: run scripts/setup (it installs Debian's dovecot-imapd), "
            "or set DISCLOSURE_INBOX_SKIP_DOVECOT=1 to skip the tests that need it.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """One Dovecot for the whole run; tests get their own user from `imap_account`.

    Tests that stop the server, or need TLS, make their own with `dovecot_factory`.
    """
    _require_dovecot()
    with DovecotServer() as server:
        yield server


@pytest.fixture
def imap_account(dovecot: DovecotServer) -> ImapAccount:
    """A user nobody else uses, with an empty INBOX, on the shared Dovecot."""
    return dovecot.new_account()


@pytest.fixture
def dovecot_factory() -> Iterator[Callable[..., DovecotServer]]:
    """Start private Dovecots (arguments as for `DovecotServer`); all are closed afterwards."""
    _require_dovecot()
    servers: list[DovecotServer] = []

    def start(**kwargs: Any) -> DovecotServer:
        server = DovecotServer(**kwargs)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An SQLAlchemy URL of an empty database: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    if _skipping("DISCLOSURE_INBOX_SKIP_POSTGRES"):
        pytest.skip("DISCLOSURE_INBOX_SKIP_POSTGRES=1")
    server = make_url(POSTGRES_URL)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"di_test_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at {server.render_as_string()} is unreachable ({exc}). Start it, or set "
            "DISCLOSURE_INBOX_SKIP_POSTGRES=1 to skip the PostgreSQL variants.",
            pytrace=False,
        )
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            # FORCE ends connections a test left open (an engine's pool, say).
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared/ directory beside the repository (corpus, notes, spec); read-only."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} does not exist")
    return SHARED_DIR


@pytest.fixture(scope="session")
def corpus_files(shared_dir: Path) -> list[Path]:
    """The public corpus: shared/corpus/public/*.eml, sorted by name."""
    files = sorted((shared_dir / "corpus" / "public").glob("*.eml"))
    if not files:
        pytest.skip(f"no .eml files in {shared_dir / 'corpus' / 'public'}")
    return files


@pytest.fixture(scope="session")
def pgp_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayKeys]:
    """Throwaway OpenPGP keys, made once: the organisation's (passphrase ``org pass``), a
    reporter's and a stranger's (no passphrase). Each lives in a GnuPG home of its own;
    tests change copies from `pgp_home`, never these."""
    keys = ThrowawayKeys.make(tmp_path_factory.mktemp("pgp"))
    yield keys
    keys.close()


@pytest.fixture
def pgp_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[ThrowawayKey], Path]]:
    """``pgp_home(key)``: a fresh copy of ``key``'s GnuPG home for this test. The copies sit
    under short paths (the agent's sockets live in them); their agents are stopped after."""
    homes: list[Path] = []

    def copy(key: ThrowawayKey) -> Path:
        homes.append(copy_home(key.home, tmp_path_factory.mktemp("gnupg")))
        return homes[-1]

    yield copy
    for home in homes:
        stop_agent(home)
