"""The daemon as a subprocess, against real Dovecot, SMTP and store: IDLE, outages, signals,
systemd notify, health and metrics, and two instances on one PostgreSQL database, including a
leader that loses its lock while it lives on."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from disclosure_inbox.testing.mailgen import generate, simple

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
FAST = {
    "poll_interval_seconds": 300,  # IDLE must do the work, not polling
    "outbox_interval_seconds": 1,
    "backoff_max_seconds": 2,
    "shutdown_grace_seconds": 5,
    "leader_check_seconds": 1,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something true; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class DaemonProcess:
    def __init__(self, config: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "disclosure_inbox", "--config", str(config), "run"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        return until(lambda: re.search(pattern, self.log), timeout, f"log line {pattern!r}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 15.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def daemons(tmp_path):
    started: list[DaemonProcess] = []

    def start(deployment, name: str = "daemon", env: dict[str, str] | None = None) -> DaemonProcess:
        d = DaemonProcess(deployment.config_path, tmp_path / f"{name}.log", env)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


@SQLITE
def test_idle_acknowledges_within_seconds_not_the_poll_interval(make_deployment, daemons):
    d = make_deployment(daemon=FAST)
    daemon = daemons(d)
    daemon.wait_for_log("disclosure-inbox running")
    until(lambda: "intake" in daemon.log or True)
    time.sleep(0.5)  # let the IDLE connection settle on the mailbox
    started = time.monotonic()
    d.account.append([simple("Idle report")])
    [ack] = d.sink.wait_for(1, timeout=10)
    took = time.monotonic() - started
    assert took < 10 < FAST["poll_interval_seconds"]
    assert ack.message["Subject"] == "[MIO-2026-0001] Re: Idle report"
    assert daemon.alive()
    # IDLE's first wake-up comes while the first intake pass runs: no scheduler noise.
    assert "maximum number of running instances" not in daemon.log
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0


@SQLITE
def test_systemd_notify_protocol(make_deployment, daemons, tmp_path):
    d = make_deployment(daemon=FAST)
    path = f"/tmp/di-notify-{os.getpid()}-{time.monotonic_ns()}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(15)
    try:
        daemon = daemons(d, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
        seen: list[str] = []

        def receive_until(prefix: str) -> None:
            while not any(m.startswith(prefix) for m in seen):
                seen.append(sock.recv(4096).decode())

        receive_until("READY=1")
        receive_until("WATCHDOG=1")
        daemon.signal(signal.SIGTERM)
        receive_until("STOPPING=1")
        assert daemon.wait() == 0
        assert any(m.startswith("STATUS=") or "\nSTATUS=" in m for m in seen)
    finally:
        sock.close()
        os.unlink(path)


@SQLITE
def test_outages_of_imap_and_smtp(make_deployment, daemons, dovecot_factory):
    server = dovecot_factory()
    port = free_port()
    d = make_deployment(
        imap={
            "host": server.host,
            "port": server.port,
            "username": server.user,
            "password": server.password,
        },
        daemon={**FAST, "poll_interval_seconds": 1},
        health={"enabled": True, "port": port, "max_age_seconds": 3},
        smtp={"retry_initial_seconds": 1},
    )
    account = server.account()
    healthz = f"http://127.0.0.1:{port}/healthz"
    daemon = daemons(d)
    daemon.wait_for_log("disclosure-inbox running")
    account.append([simple("before the outage")])
    d.sink.wait_for(1)
    until(lambda: get(healthz)[0] == 200, what="healthy")

    server.stop()  # IMAP goes away
    status, body = until(lambda: (r := get(healthz))[0] == 503 and r, what="unhealthy")
    assert json.loads(body)["loops"]["intake"]["ok"] is False
    assert daemon.alive()
    server.start()
    account.append([simple("after the IMAP outage")])
    d.sink.wait_for(2)
    until(lambda: get(healthz)[0] == 200, what="healthy again")

    d.sink.stop()  # SMTP goes away
    account.append([simple("during the SMTP outage")])
    until(lambda: d.counts()["reports"] == 3, what="the report stored")
    until(lambda: get(healthz)[0] == 503, what="unhealthy (outbox)")
    assert d.counts()["outbox_pending"] == 1
    d.sink.start()
    d.sink.wait_for(3, timeout=20)
    until(lambda: get(healthz)[0] == 200, what="healthy after SMTP")
    assert daemon.alive()

    subjects = sorted(m.message["Subject"] for m in d.sink.messages)
    assert len(subjects) == len(set(subjects)) == 3
    status, metrics = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert "disclosure_inbox_messages_ingested_total 3.0" in metrics
    assert "disclosure_inbox_acks_sent_total 3.0" in metrics
    assert re.search(r"disclosure_inbox_imap_reconnects_total [1-9]", metrics)
    assert "disclosure_inbox_outbox_depth" in metrics
    daemon.signal(signal.SIGTERM)
    assert daemon.wait() == 0


@SQLITE
def test_after_an_imap_outage_mail_is_taken_in_without_waiting_out_the_backoff(
    make_deployment, daemons, dovecot_factory
):
    server = dovecot_factory()
    d = make_deployment(
        imap={
            "host": server.host,
            "port": server.port,
            "username": server.user,
            "password": server.password,
        },
        daemon={**FAST, "backoff_max_seconds": 60},
    )
    account = server.account()
    daemon = daemons(d)
    daemon.wait_for_log("disclosure-inbox running")
    server.stop()
    # Five failures in a row: intake's next try is 8 to 16 seconds away.
    daemon.wait_for_log(r"intake failed \(attempt 5", timeout=40)
    server.start()
    back = time.monotonic()
    account.append([simple("right after the outage")])
    d.sink.wait_for(1, timeout=30)
    assert time.monotonic() - back < 7.0
    assert daemon.alive()


@SQLITE
def test_sigterm_mid_batch_exits_0_and_loses_nothing(make_deployment, daemons):
    # Batches of ten: intake is seen under way long before the last one.
    d = make_deployment(daemon=FAST, imap={"batch_size": 10})
    messages = [g.raw for g in generate(300, seed=21, large_every=0)]
    d.account.append(messages)
    daemon = daemons(d)

    def stored() -> int:
        try:
            return int(d.scalar("SELECT count(*) FROM message_locations"))
        except Exception:
            return 0

    until(lambda: stored() >= 20, what="intake under way")
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(timeout=FAST["shutdown_grace_seconds"] + 5) == 0
    assert stored() < len(messages), "the batch finished before the signal; use more mail"
    rerun = d.cli("run", "--once")
    assert rerun.returncode == 0, rerun.stderr
    assert stored() == len(messages)
    assert d.scalar("SELECT count(*) FROM messages WHERE direction = 'inbound'") == len(messages)
    subjects = [m.message["Subject"] for m in d.sink.messages]
    assert len(subjects) == len(set(subjects)) == d.counts()["outbox_sent"]


@SQLITE
def test_second_instance_on_sqlite_refuses_to_start(make_deployment, daemons):
    d = make_deployment(daemon=FAST)
    first = daemons(d, "first")
    first.wait_for_log("disclosure-inbox running")
    second = daemons(d, "second")
    assert second.wait(timeout=15) == 1
    assert "already using this SQLite database" in second.log
    once = d.cli("run", "--once")
    assert once.returncode == 1 and "already using this SQLite database" in once.stderr
    assert first.alive()


@SQLITE
def test_sighup_keeps_the_old_configuration_when_the_new_one_is_invalid(make_deployment, daemons):
    d = make_deployment(daemon=FAST)
    daemon = daemons(d)
    daemon.wait_for_log("disclosure-inbox running")
    good = d.config_path.read_text()
    d.config_path.write_text(good.replace("[imap]", "[imap]\nport = 'not a number'", 1))
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("configuration reload failed, keeping the running one")
    d.config_path.write_text(good)
    daemon.signal(signal.SIGHUP)
    daemon.wait_for_log("configuration and templates reloaded")
    d.account.append([simple("after reload")])
    d.sink.wait_for(1)
    assert daemon.alive()
    daemon.signal(signal.SIGINT)
    assert daemon.wait() == 0


@POSTGRES
def test_two_instances_on_postgresql_share_the_work_and_fail_over(make_deployment, daemons):
    d = make_deployment(daemon={**FAST, "poll_interval_seconds": 2})
    a = daemons(d, "a")
    b = daemons(d, "b")
    a.wait_for_log("disclosure-inbox running")
    b.wait_for_log("disclosure-inbox running")
    d.account.append([simple(f"report {i}", sender=f"r{i}@example.org") for i in range(10)])
    d.sink.wait_for(10, timeout=20)
    # Kill it once it has recorded the sends; a kill between the SMTP server's "250" and that
    # record is the documented at-least-once window (the same message, same Message-ID).
    until(lambda: d.counts()["outbox_sent"] == 10, what="sends recorded")
    leader, standby = (a, b) if "now the leader" in a.log else (b, a)
    assert "now the leader" not in standby.log
    leader.signal(signal.SIGKILL)
    leader.wait()
    d.account.append([simple(f"later {i}", sender=f"s{i}@example.org") for i in range(5)])
    standby.wait_for_log("now the leader", timeout=30)
    d.sink.wait_for(15, timeout=30)
    time.sleep(1)  # anything doubled would arrive now
    subjects = [m.message["Subject"] for m in d.sink.messages]
    assert len(subjects) == len(set(subjects)) == 15
    assert d.counts()["reports"] == 15
    assert d.scalar("SELECT count(DISTINCT report_id) FROM outbox") == 15
    assert d.scalar("SELECT count(*) FROM outbox") == 15


@SQLITE
def test_intake_failing_for_too_long_alerts_staff_once(make_deployment, daemons, dovecot_factory):
    server = dovecot_factory()
    d = make_deployment(
        imap={
            "host": server.host,
            "port": server.port,
            "username": server.user,
            "password": server.password,
        },
        daemon={
            **FAST,
            "poll_interval_seconds": 1,
            "alert_after_seconds": 10,
            "alert_repeat_seconds": 3600,
        },
    )
    daemon = daemons(d)
    daemon.wait_for_log("disclosure-inbox running")
    server.stop()
    [alert] = d.sink.wait_for(1, timeout=30)
    assert list(alert.rcpt_tos) == ["lead@m.io"]
    assert alert.message["Subject"] == "[Mio] disclosure-inbox: mailbox intake is failing"
    assert "Connection refused" in alert.message.get_body(("plain",)).get_content()
    daemon.wait_for_log("no successful intake since")
    time.sleep(3)  # further housekeeping rounds: still one alert
    assert len(d.sink.messages) == 1
    assert daemon.alive()


# --- split brain: a leader deposed while it lives on ------------------------------------

REPORTS = 120
SLOW_RELAY = 0.1  # seconds the SMTP server takes to answer each message


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _start_pair(make_deployment, daemons, phase: str = "outbox", **smtp):
    d = make_deployment(
        daemon={**FAST, "poll_interval_seconds": 2},
        smtp={"batch_size": 200, **smtp},
        limits={"acks_per_hour": 1000},
        # Small batches, so that intake is seen under way: it commits a batch at a time.
        imap={"batch_size": 5} if phase == "intake" else {},
    )
    d.sink.delay_seconds = SLOW_RELAY
    a, b = daemons(d, "a"), daemons(d, "b")
    a.wait_for_log("disclosure-inbox running")
    b.wait_for_log("disclosure-inbox running")
    d.account.append([simple("first report", sender="first@example.org")])
    d.sink.wait_for(1, timeout=20)
    leader, standby = (a, b) if "now the leader" in a.log else (b, a)
    assert "now the leader" not in standby.log
    d.account.append([simple(f"report {i}", sender=f"r@example{i}.org") for i in range(REPORTS)])
    if phase == "intake":  # the leader is storing the new reports now
        until(lambda: d.counts()["reports"] >= 20, timeout=30, what="intake under way")
        assert d.counts()["reports"] < REPORTS
    else:  # the leader is draining its outbox now
        d.sink.wait_for(12, timeout=30)
    return d, leader, standby


def _assert_each_acknowledged_once(d) -> None:
    d.sink.wait_for(REPORTS + 1, timeout=60)
    until(lambda: d.counts()["outbox_sent"] == REPORTS + 1, timeout=30, what="sends recorded")
    time.sleep(2)  # anything doubled would arrive now
    ids = Counter(m.message["Message-ID"] for m in d.sink.messages)
    doubled = {mid: n for mid, n in ids.items() if n > 1}
    assert not doubled, f"{len(doubled)} acknowledgements sent twice"
    assert len(ids) == REPORTS + 1
    assert d.counts()["reports"] == REPORTS + 1
    assert d.scalar("SELECT count(*) FROM outbox") == REPORTS + 1
    assert d.scalar("SELECT count(*) FROM intake_failures") == 0
    assert d.scalar("SELECT count(*) FROM outbox WHERE state <> 'sent'") == 0


@POSTGRES
@pytest.mark.parametrize("phase", ["intake", "outbox"])
def test_a_leader_whose_lock_session_is_killed_stops_at_once(make_deployment, daemons, phase):
    d, leader, standby = _start_pair(make_deployment, daemons, phase)
    # A network partition or a pooler restart: the lock's session ends, the process lives.
    with psycopg.connect(_libpq(d.settings.database_url), autocommit=True) as conn:
        killed = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks "
            "WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchall()
    assert killed == [(True,)]
    # Whoever asks first after the session ends leads in epoch 2: usually the standby, but
    # the old leader may take the lock back; either way the writes of epoch 1 are over.
    until(
        lambda: "now the leader (epoch 2)" in standby.log + leader.log,
        timeout=30,
        what="a takeover in epoch 2",
    )
    _assert_each_acknowledged_once(d)
    assert leader.alive() and standby.alive()
    assert "lost the leader lock" in leader.log or "stepping down as leader" in leader.log
    # The deposed leader sent nothing it had not claimed before the takeover.
    assert d.scalar("SELECT max(epoch) FROM leadership") == 2


@POSTGRES
def test_a_leader_stopped_past_its_lease_sends_nothing_twice(make_deployment, daemons):
    lease = 2.0
    d, leader, standby = _start_pair(
        make_deployment, daemons, lease_seconds=lease, timeout_seconds=1.5
    )
    leader.signal(signal.SIGSTOP)
    try:
        time.sleep(lease * 2)
    finally:
        leader.signal(signal.SIGCONT)
    _assert_each_acknowledged_once(d)
    assert leader.alive() and standby.alive()
