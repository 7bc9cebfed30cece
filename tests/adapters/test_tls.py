"""IMAP over TLS against a private Dovecot with a self-signed certificate: implicit TLS on its
TLS port and STARTTLS on its plain port. A certificate that does not verify, or a server that
does not offer STARTTLS, is an error; nothing ever falls back to a plain-text login.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from disclosure_inbox.adapters.db.engine import upgrade
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.imap import ImapMailbox
from disclosure_inbox.config import Imap, Settings, load_settings
from disclosure_inbox.domain.errors import MailboxUnavailable, SecurityError
from disclosure_inbox.service.app import App, CycleResult, run_cycle
from disclosure_inbox.testing.dovecot import DovecotServer
from disclosure_inbox.testing.mailgen import simple
from disclosure_inbox.testing.smtp_sink import SmtpSink

ServerFactory = Callable[..., DovecotServer]
PROCESSED = b"$Processed"
WHEN = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)


@pytest.fixture
def tls_server(dovecot_factory: ServerFactory) -> DovecotServer:
    return dovecot_factory(tls=True)


def settings(server: DovecotServer, **values: object) -> Imap:
    base: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "username": server.user,
        "password": server.password,
        "timeout_seconds": 5,
    }
    return Imap.model_validate({**base, **values})


def logins(server: DovecotServer, user: str) -> int:
    log = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
    return log.count(f"Login: user=<{user}>")


def imap_section(server: DovecotServer, **values: object) -> dict[str, object]:
    return {
        "host": server.host,
        "username": server.user,
        "password": server.password,
        "timeout_seconds": 5,
        **values,
    }


class Deployment:
    """A configuration file, an upgraded SQLite store and the SMTP sink."""

    def __init__(self, root: Path, sink: SmtpSink, imap: dict[str, object]) -> None:
        self.sink = sink
        self.config_path = root / "config.toml"
        sections: dict[str, dict[str, object]] = {
            "organization": {
                "name": "Mio",
                "reference_prefix": "MIO",
                "mailbox_address": "soc@m.io",
                "staff_addresses": ["lead@m.io"],
            },
            "imap": imap,
            "database": {"url": f"sqlite:///{root / 'store.sqlite3'}"},
            "storage": {"dir": str(root / "var")},
            "smtp": {
                "host": sink.host,
                "port": sink.port,
                "tls": "none",
                "timeout_seconds": 5,
                "retry_initial_seconds": 0.01,  # a deferred message is due again at once
            },
            "staff": {"notify": False},  # the tests count the reporters' mail
        }
        # JSON strings, numbers, booleans and arrays of them are valid TOML values.
        self.config_path.write_text(
            "".join(
                f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())
                for name, values in sections.items()
            )
        )
        self.store = Store.from_url(self.settings.database_url)
        upgrade(self.store.engine)

    @property
    def settings(self) -> Settings:
        return load_settings(str(self.config_path))

    def counts(self) -> dict[str, int]:
        with self.store.reading() as session:
            return Store.counts(session)

    def run_once(self) -> CycleResult:
        return run_cycle(App.build(self.settings))


@pytest.fixture
def deploy(tmp_path: Path, smtp_sink: SmtpSink) -> Callable[..., Deployment]:
    def make(**imap: object) -> Deployment:
        root = tmp_path / f"d{len(list(tmp_path.iterdir()))}"
        root.mkdir()
        return Deployment(root, smtp_sink, imap)

    return make


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DISCLOSURE_INBOX_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "disclosure_inbox", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


# --- the adapter -----------------------------------------------------------------------------


MODES_WITH_BAD_CERTIFICATE = ["ssl", "starttls"]


@pytest.mark.parametrize("mode", MODES_WITH_BAD_CERTIFICATE)
def test_an_unverifiable_certificate_is_a_security_error(tls_server, mode):
    port = tls_server.tls_port if mode == "ssl" else tls_server.port
    before = logins(tls_server, tls_server.user)
    with pytest.raises(SecurityError, match="certificate verify failed"):
        ImapMailbox(settings(tls_server, tls=mode, port=port))
    assert logins(tls_server, tls_server.user) == before


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_the_servers_ca_file_makes_it_verify(tls_server, mode):
    port = tls_server.tls_port if mode == "ssl" else tls_server.port
    [uid] = tls_server.append([simple("over TLS")], internaldates=[WHEN])
    mailbox = ImapMailbox(
        settings(tls_server, tls=mode, port=port, ca_file=str(tls_server.cert_path))
    )
    try:
        assert mailbox.select("INBOX") == tls_server.uidvalidity()
        [fetched] = list(mailbox.fetch([uid]))
        assert b"Subject: over TLS" in fetched.raw
    finally:
        mailbox.close()


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_verification_off_connects_and_warns(tls_server, mode, caplog):
    port = tls_server.tls_port if mode == "ssl" else tls_server.port
    caplog.set_level("WARNING", logger="disclosure_inbox.adapters.imap")
    mailbox = ImapMailbox(settings(tls_server, tls=mode, port=port, verify_certificates=False))
    try:
        assert mailbox.select("INBOX") > 0
    finally:
        mailbox.close()
    assert any("verification is off" in r.getMessage() for r in caplog.records)


def test_starttls_against_a_server_without_it_never_logs_in(dovecot_factory):
    plain = dovecot_factory()  # ssl = no: no STARTTLS in its capabilities
    plain.append([simple("must stay unread")], internaldates=[WHEN])
    before = logins(plain, plain.user)
    with pytest.raises(SecurityError, match="does not offer STARTTLS"):
        ImapMailbox(settings(plain, tls="starttls"))
    assert logins(plain, plain.user) == before
    assert plain.fetch_flags() == {1: ()}


def test_implicit_tls_against_a_plain_port_is_a_security_error(tls_server):
    with pytest.raises(SecurityError):
        ImapMailbox(settings(tls_server, tls="ssl", port=tls_server.port))


def test_plain_text_against_the_tls_port_gives_up_within_the_timeout(tls_server):
    # The server waits for a TLS hello, the client for a greeting: only the timeout ends it.
    started = time.monotonic()
    with pytest.raises(MailboxUnavailable):
        ImapMailbox(settings(tls_server, tls="none", port=tls_server.tls_port, timeout_seconds=1))
    assert time.monotonic() - started < 5


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES_WITH_BAD_CERTIFICATE)
def test_check_config_connect_reports_a_certificate_error(deploy, tls_server, mode):
    port = tls_server.tls_port if mode == "ssl" else tls_server.port
    d = deploy(**imap_section(tls_server, tls=mode, port=port))
    tls_server.append([simple("waits for a trusted connection")], internaldates=[WHEN])

    checked = cli(d.config_path, "check-config", "--connect")
    assert checked.returncode == 1
    line = error_line(checked)
    assert line.startswith("disclosure-inbox: error: IMAP ")
    assert "certificate verify failed" in line

    once = cli(d.config_path, "run", "--once")
    assert once.returncode == 1
    assert "certificate verify failed" in error_line(once)
    assert d.counts()["messages"] == 0
    assert tls_server.fetch_flags() == {1: ()}


@pytest.mark.parametrize("mode", ["ssl", "starttls"])
def test_with_the_ca_file_intake_runs_over_tls(deploy, tls_server, mode):
    port = tls_server.tls_port if mode == "ssl" else tls_server.port
    d = deploy(**imap_section(tls_server, tls=mode, port=port, ca_file=str(tls_server.cert_path)))
    tls_server.append([simple("Report over TLS")], internaldates=[WHEN])

    checked = cli(d.config_path, "check-config", "--connect")
    assert checked.returncode == 0, checked.stderr
    assert f"IMAP 127.0.0.1:{port} mailbox INBOX: ok" in checked.stderr

    once = cli(d.config_path, "run", "--once")
    assert once.returncode == 0, once.stderr
    assert d.counts()["reports"] == 1
    assert PROCESSED in tls_server.fetch_flags()[1]
    d.sink.wait_for(1)
    [ack] = [m for m in d.sink.messages if m.rcpt_tos == ("ada@example.org",)]
    assert ack.message["Subject"] == "[MIO-2026-0001] Re: Report over TLS"


def test_verification_off_works_and_says_so(deploy, tls_server):
    d = deploy(
        **imap_section(tls_server, tls="ssl", port=tls_server.tls_port, verify_certificates=False)
    )
    tls_server.append([simple("Unverified")], internaldates=[WHEN])
    once = cli(d.config_path, "run", "--once")
    assert once.returncode == 0, once.stderr
    assert "IMAP certificate verification is off for 127.0.0.1" in once.stderr
    assert "WARNING" in once.stderr
    assert d.counts()["reports"] == 1


def test_starttls_missing_on_the_server_fails_the_run_and_fetches_nothing(
    deploy, imap_account, dovecot
):
    # The shared Dovecot runs with ssl = no: no STARTTLS in its capabilities.
    d = deploy(
        host=imap_account.host,
        port=imap_account.port,
        username=imap_account.user,
        password=imap_account.password,
        tls="starttls",
        timeout_seconds=5,
    )
    imap_account.append([simple("never read in plain text")], internaldates=[WHEN])
    before = logins(dovecot, imap_account.user)

    checked = cli(d.config_path, "check-config", "--connect")
    assert checked.returncode == 1
    assert "does not offer STARTTLS" in error_line(checked)
    once = cli(d.config_path, "run", "--once")
    assert once.returncode == 1
    assert "does not offer STARTTLS" in error_line(once)

    assert logins(dovecot, imap_account.user) == before
    assert d.counts()["messages"] == 0
    assert imap_account.fetch_flags() == {1: ()}


def test_an_imap_certificate_failure_does_not_hold_back_outgoing_mail(deploy, tls_server, tmp_path):
    trusted = imap_section(
        tls_server, tls="ssl", port=tls_server.tls_port, ca_file=str(tls_server.cert_path)
    )
    d = deploy(**trusted)
    d.sink.stop()
    tls_server.append([simple("Acknowledge me")])  # received now: nothing escalates
    d.run_once()  # stored; its acknowledgement waits for the SMTP server
    assert d.counts()["outbox_pending"] == 1
    d.sink.start()

    # The IMAP certificate stops verifying (here: the CA is no longer configured).
    untrusted = tmp_path / "untrusted.toml"
    text = d.config_path.read_text()
    untrusted.write_text(text.replace(f'ca_file = "{tls_server.cert_path}"\n', ""))
    assert "ca_file" not in untrusted.read_text()
    once = cli(untrusted, "run", "--once")
    assert once.returncode == 1
    assert "certificate verify failed" in once.stderr
    assert len(d.sink.wait_for(1, timeout=2)) == 1
