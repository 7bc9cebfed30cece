"""Intake end to end: a real Dovecot, a real store (SQLite and PostgreSQL), the real CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from disclosure_inbox.service.acks import Acknowledger
from disclosure_inbox.service.intake import Intake
from disclosure_inbox.testing.mailgen import generate, simple

PROCESSED = b"$Processed"


def locations(d) -> int:
    return d.scalar("SELECT count(*) FROM message_locations")


def test_corpus_goes_through_intake_exactly_once(deployment, corpus_files):
    raws = [p.read_bytes() for p in corpus_files]
    uids = deployment.account.append(raws)

    result = deployment.run_once()
    assert result.errors == []
    counts = deployment.counts()

    # Every message ends up in the store: each UID has a location, and each location is a
    # message that is a report, a follow-up, a quarantined item, or machine mail in no
    # thread, unfiled.
    assert locations(deployment) == len(uids)
    outcomes = dict(
        deployment.rows(
            "SELECT outcome, count(*) FROM messages WHERE direction = 'inbound' GROUP BY outcome"
        )
    )
    assert set(outcomes) <= {"report", "followup", "quarantined", "unfiled"}
    assert sum(outcomes.values()) == counts["messages"]
    # The corpus has exact duplicates and resent Message-IDs: fewer messages than UIDs.
    assert counts["messages"] < len(uids)
    assert counts["reports"] == outcomes["report"]

    # Nothing is marked read, everything is flagged as processed.
    flags = deployment.account.fetch_flags()
    assert all(PROCESSED in f and b"\\Seen" not in f for f in flags.values())

    # Running again adds nothing; appending the same mail again adds nothing either.
    deployment.run_once()
    assert deployment.counts() == counts
    deployment.account.append(raws)
    deployment.run_once()
    assert deployment.counts() == counts
    assert locations(deployment) == 2 * len(uids)


def test_internaldate_is_the_received_time(deployment):
    saturday = datetime(2026, 7, 4, 9, 30, tzinfo=UTC)
    deployment.account.append([simple("XSS in search")], internaldates=[saturday])
    deployment.run_once()
    shown = deployment.cli("reports", "show", "MIO-2026-0001", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["received_at"] == "2026-07-04T09:30:00+00:00"
    assert report["ref"] == "MIO-2026-0001"
    assert report["status"] == "new"
    assert report["severity"] is None
    assert report["reporter"] == "ada@example.org"
    assert report["subject"] == "XSS in search"
    inbound = [m for m in report["messages"] if m["direction"] == "inbound"]
    assert inbound[0]["received_at"] == "2026-07-04T09:30:00+00:00"
    assert {"message_id", "received_at", "direction"} <= set(report["messages"][0])
    assert report["attachments"] == []


def test_reference_year_follows_the_received_date(deployment):
    deployment.account.append(
        [simple("one"), simple("two")],
        internaldates=[
            datetime(2025, 12, 31, 23, 0, tzinfo=UTC),
            datetime(2026, 1, 1, 1, 0, tzinfo=UTC),
        ],
    )
    deployment.run_once()
    refs = [r for (r,) in deployment.rows("SELECT ref FROM reports ORDER BY ref")]
    assert refs == ["MIO-2025-0001", "MIO-2026-0001"]


def test_attachments_are_kept_and_listed(deployment):
    msg = generate(1, seed=3, large_every=1, large_bytes=300_000)
    deployment.account.append([next(msg).raw])
    deployment.run_once()
    report = json.loads(
        deployment.cli("reports", "show", "MIO-2026-0001", "--format", "json").stdout
    )
    [att] = report["attachments"]
    assert att["filename"] == "capture.pcap"
    assert att["size"] == 300_000
    blob = deployment.app().blobs.get(att["sha256"])
    assert len(blob) == 300_000


def test_oversized_message_is_stored_raw_and_quarantined(make_deployment):
    d = make_deployment(storage={"max_message_bytes": 4096})
    big = simple("huge", body="A" * 20_000)
    d.account.append([big, simple("small")])
    d.run_once()
    [(reason, sha, outcome)] = d.rows(
        "SELECT quarantine_reason, raw_sha256, parse_outcome FROM messages "
        "WHERE outcome = 'quarantined'"
    )
    assert reason.startswith("oversized")
    assert outcome == "oversized"
    assert d.app().blobs.get(sha) == big
    assert d.counts()["reports"] == 1
    assert all(PROCESSED in f for f in d.account.fetch_flags().values())


def test_a_failing_message_is_retried_then_quarantined_and_the_queue_goes_on(deployment):
    class Explode(Acknowledger):
        """A planner with a bug that only one message meets."""

        def plan(self, writes, found, now):
            if any(d.incoming.parsed.subject == "boom" for d in writes.decisions):
                raise RuntimeError("a bug in a later stage")
            super().plan(writes, found, now)

    deployment.account.append([simple("first"), simple("boom"), simple("third")])
    app = deployment.app()
    intake = Intake(app.settings, app.store, app.parser(), Explode(app.settings, app.renderer))
    for attempt in (1, 2):
        mailbox = app.open_mailbox()
        result = intake.run(mailbox, deployment.clock.now())
        mailbox.close()
        assert result.failed == 1
        flags = deployment.account.fetch_flags()
        assert PROCESSED not in flags[2], "a failed message must not be flagged"
        assert deployment.scalar("SELECT attempts FROM intake_failures") == attempt
    assert deployment.counts()["reports"] == 2
    mailbox = app.open_mailbox()
    result = intake.run(mailbox, deployment.clock.now())
    mailbox.close()
    assert result.quarantined == 1
    [(reason,)] = deployment.rows(
        "SELECT quarantine_reason FROM messages WHERE outcome='quarantined'"
    )
    assert "a bug in a later stage" in reason
    assert deployment.scalar("SELECT count(*) FROM intake_failures") == 0
    assert PROCESSED in deployment.account.fetch_flags()[2]


def test_quarantine_folder_gets_a_copy(make_deployment):
    d = make_deployment(
        storage={"max_message_bytes": 2048}, imap={"quarantine_folder": "Quarantine"}
    )
    d.account.append([simple("huge", body="B" * 10_000)])
    d.run_once()
    assert d.account.message_count("Quarantine") == 1
    assert d.account.message_count("INBOX") == 1  # never deleted


def test_uidvalidity_change_neither_loses_nor_doubles(deployment):
    first = [g.raw for g in generate(30, seed=5, large_every=0)]
    deployment.account.append(first)
    deployment.run_once()
    before = deployment.counts()
    old = deployment.account.uidvalidity()

    new = deployment.account.recreate_mailbox("INBOX")
    assert new != old
    # The restored mailbox holds the old mail plus one new message.
    deployment.account.append([*first, simple("new after the restore")])
    deployment.run_once()
    after = deployment.counts()
    assert after["messages"] == before["messages"] + 1
    assert after["reports"] == before["reports"] + 1
    assert deployment.scalar("SELECT count(*) FROM audit WHERE action = 'uidvalidity-changed'") == 1
    assert deployment.scalar("SELECT uidvalidity FROM mailbox_state") == new


def test_processed_folder_moves_mail_out_of_the_inbox(make_deployment):
    d = make_deployment(imap={"processed_folder": "Processed"})
    d.account.append([simple("one"), simple("two")])
    d.run_once()
    assert d.account.message_count("INBOX") == 0
    assert d.account.message_count("Processed") == 2
    d.run_once()
    assert d.counts()["messages"] == 2


@pytest.mark.slow
def test_sigkill_mid_run_loses_and_doubles_nothing(make_deployment):
    # Acknowledgements go out while intake runs: the killed process may hold claims, which
    # another process may take over once their lease has run out (at once on SQLite).
    lease = 2.0
    deployment = make_deployment(smtp={"lease_seconds": lease, "timeout_seconds": 1.5})
    messages = [g.raw for g in generate(400, seed=11, large_every=0)]
    deployment.account.append(messages)
    env_cmd = [
        sys.executable,
        "-m",
        "disclosure_inbox",
        "--config",
        str(deployment.config_path),
        "run",
        "--once",
    ]
    proc = subprocess.Popen(env_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    stored = 0
    try:
        while time.monotonic() < deadline:
            try:
                stored = locations(deployment)
            except Exception:
                stored = 0  # the schema is there, but SQLite may be busy for a moment
            if stored >= 40 or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed; use more mail"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert 0 < stored < len(messages)

    time.sleep(lease)
    rerun = deployment.cli("run", "--once")
    assert rerun.returncode == 0, rerun.stderr
    assert locations(deployment) == len(messages)
    assert deployment.scalar("SELECT count(*) FROM messages WHERE direction = 'inbound'") == len(
        messages
    )
    # Each new report got exactly one acknowledgement, none twice.
    acks = deployment.sink.messages
    ids = [m.message["Message-ID"] for m in acks]
    assert len(ids) == len(set(ids))
    in_reply_to = [m.message["In-Reply-To"] for m in acks]
    assert len(in_reply_to) == len(set(in_reply_to))
    assert deployment.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0
    assert all(PROCESSED in f for f in deployment.account.fetch_flags().values())
