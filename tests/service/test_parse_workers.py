"""The parse pool: a message that kills or hangs its worker is isolated, counted and in the end
quarantined while the rest of its batch is stored; and a run killed while its workers parse
loses and doubles nothing and leaves no worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from disclosure_inbox.service.acks import Acknowledger
from disclosure_inbox.service.intake import Intake
from disclosure_inbox.service.parsing import Parser
from disclosure_inbox.testing.mailgen import generate, simple
from disclosure_inbox.testing.parsers import crash_or_hang

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
PROCESSED = b"$Processed"


def _with_header(raw: bytes, header: bytes) -> bytes:
    return header + b"\r\n" + raw


@SQLITE
def test_a_message_that_kills_or_hangs_its_worker_is_quarantined_and_the_batch_goes_on(
    make_deployment,
):
    d = make_deployment(imap={"max_attempts": 2}, intake={"workers": 2})
    good = [simple(f"good {i}", sender=f"r{i}@example{i}.org") for i in range(4)]
    crash = _with_header(simple("crash", sender="c@example.net"), b"X-Test-Crash: yes")
    hang = _with_header(simple("hang", sender="h@example.net"), b"X-Test-Hang: yes")
    d.account.append([good[0], crash, good[1], hang, good[2], good[3]])
    app = d.app()
    parser = Parser(app.parser().settings, workers=2, timeout=2.0, prepare_fn=crash_or_hang)
    intake = Intake(app.settings, app.store, parser, Acknowledger(app.settings, app.renderer))
    try:
        for attempt in (1, 2):
            mailbox = app.open_mailbox()
            try:
                result = intake.run(mailbox, d.clock.now())
            finally:
                mailbox.close()
            if attempt == 1:
                assert (result.reports, result.failed) == (4, 2)
                assert d.scalar("SELECT count(*) FROM intake_failures") == 2
                flags = d.account.fetch_flags()
                assert PROCESSED not in flags[2] and PROCESSED not in flags[4]
        assert result.quarantined == 2
    finally:
        parser.close()
    reasons = sorted(
        r for (r,) in d.rows("SELECT quarantine_reason FROM messages WHERE outcome='quarantined'")
    )
    assert reasons[0].startswith("failed 2 times: its parse worker died")
    assert reasons[1].startswith("failed 2 times: parsing took longer than 2 s")
    assert d.counts()["reports"] == 4
    assert d.scalar("SELECT count(*) FROM intake_failures") == 0
    flags = d.account.fetch_flags()
    assert all(PROCESSED in f for f in flags.values()), flags
    # Their bytes are kept, as for any quarantined message.
    for (sha,) in d.rows("SELECT raw_sha256 FROM messages WHERE outcome='quarantined'"):
        assert b"X-Test-" in app.blobs.get(sha)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


@pytest.mark.slow
@SQLITE
def test_sigkill_while_the_pool_parses_loses_and_doubles_nothing(make_deployment):
    d = make_deployment(intake={"workers": 2})
    messages = [g.raw for g in generate(600, seed=5, large_every=0)]
    d.account.append(messages)
    proc = subprocess.Popen(
        [sys.executable, "-m", "disclosure_inbox", "--config", str(d.config_path), "run", "--once"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            workers |= _children(proc.pid)
            try:
                stored = int(d.scalar("SELECT count(*) FROM message_locations"))
            except Exception:
                stored = 0
            if stored >= 100 and len(workers) >= 2:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed; use more mail"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert len(workers) >= 2, "the pool never started"
    assert 0 < stored < len(messages)
    # The workers notice their parent is gone and end; none is left parsing.
    until = time.monotonic() + 15
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < until:
        time.sleep(0.1)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()]
    assert not alive, f"parse workers {alive} outlived their parent"

    rerun = d.cli("run", "--once")
    assert rerun.returncode == 0, rerun.stderr
    assert d.scalar("SELECT count(*) FROM message_locations") == len(messages)
    assert d.scalar("SELECT count(*) FROM messages WHERE direction = 'inbound'") == len(messages)
    ids = [m.message["Message-ID"] for m in d.sink.messages]
    assert len(ids) == len(set(ids))
    assert d.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0
