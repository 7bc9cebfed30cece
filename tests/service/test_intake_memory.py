"""Intake through the real service code with the mailbox in memory: no Dovecot, so each case
runs in well under a second or two, on SQLite and PostgreSQL.

The mailbox is swapped at the port only: `MemoryApp` is the real composition root whose
``open_mailbox`` hands out a session on a `MemoryMailbox`. Everything else (store, blobs,
templates, the outbox and the SMTP sink it sends to) is what ``run --once`` uses. The tests
look at what a user sees: rows in the store, flags in the mailbox, mail at the SMTP sink.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from disclosure_inbox.adapters.db.engine import upgrade
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.config import load_settings
from disclosure_inbox.domain.errors import NotFound, UsageError
from disclosure_inbox.domain.model import RawMessage
from disclosure_inbox.ports import Mailbox
from disclosure_inbox.service.app import App, run_cycle
from disclosure_inbox.service.filing import file_message
from disclosure_inbox.testing.config import local_deployment, write_config
from disclosure_inbox.testing.mailgen import Generated, generate, simple
from disclosure_inbox.testing.memory_mailbox import MemoryMailbox
from disclosure_inbox.testing.smtp_sink import SmtpSink

PROCESSED = "$Processed"
NOW = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


@dataclass
class MemoryApp(App):
    """The composition root with its mailbox in memory; each pass opens a session of its own
    and closes it, as with IMAP."""

    mail: MemoryMailbox = field(default_factory=MemoryMailbox)

    def open_mailbox(self) -> Mailbox:
        return self.mail.connect()


@dataclass(frozen=True)
class NoImapServer:
    """[imap] must be valid, but nothing connects to it: the mailbox is in memory."""

    host: str = "127.0.0.1"
    port: int = 1
    user: str = "nobody"
    password: str = "unused"


@pytest.fixture
def make_app(smtp_sink: SmtpSink, database_url: str, tmp_path: Path) -> Callable[..., MemoryApp]:
    """A migrated store and an App on it; keyword arguments override config sections."""

    def make(**overrides: dict[str, Any]) -> MemoryApp:
        sections = local_deployment(
            NoImapServer(),  # type: ignore[arg-type]
            smtp_sink,
            database_url,
            tmp_path / "var",
            {"intake": {"workers": 1}, **overrides},  # parsing in-process: no pool to start
        )
        settings = load_settings(str(write_config(tmp_path / "config.toml", sections)))
        app = MemoryApp.build(settings, clock=FixedClock())
        upgrade(app.store.engine)
        return app

    return make


def intake_pass(app: App) -> None:
    """One intake pass over a fresh session, as ``run_intake`` makes it."""
    mailbox = app.open_mailbox()
    try:
        app.intake().run(mailbox, NOW)
    finally:
        mailbox.close()


def counts(app: App) -> dict[str, int]:
    with app.store.reading() as session:
        return Store.counts(session)


def located(app: App) -> list[int]:
    """The INBOX UIDs the store has committed a location for, one entry per location."""
    with app.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT uid FROM message_locations WHERE mailbox = 'INBOX'"))
        return sorted(uid for (uid,) in rows)


def flagged(mail: MemoryMailbox, folder: str = "INBOX") -> list[int]:
    return [uid for uid in mail.uids(folder) if PROCESSED in mail.flags(uid, folder)]


def deliver(app: MemoryApp, raws: Iterable[bytes]) -> list[int]:
    return [app.mail.append(raw) for raw in raws]


def reports_from_distinct_senders(n: int) -> list[bytes]:
    # One domain each: the per-domain acknowledgement limit must not be what is measured.
    return [simple(f"finding {i}", sender=f"Reporter {i} <r{i}@lab{i}.example>") for i in range(n)]


class CommitWitness(MemoryMailbox):
    """Notes every UID that is flagged before the store has committed its location, seen from a
    connection of its own, which sees only committed rows."""

    app: App
    early: list[int]

    def add_flag(self, uids: Iterable[int], flag: str) -> None:
        uids = list(uids)
        self.early.extend(sorted(set(uids) - set(located(self.app))))
        super().add_flag(uids, flag)


class Vanishing(MemoryMailbox):
    """Expunges ``victims`` just before the first call of ``before`` (sizes or fetch), as when
    another client deletes mail between the search and that call."""

    victims: list[int]
    before: str

    def _vanish(self, call: str) -> None:
        if call == self.before:
            for uid in self.victims:
                self.expunge(uid)
            self.victims.clear()

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        self._vanish("sizes")
        return super().sizes(uids)

    def fetch(self, uids: Sequence[int]) -> Iterator[RawMessage]:
        self._vanish("fetch")
        return super().fetch(uids)


# -- the tests --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backlog() -> list[Generated]:
    return list(generate(200, seed=7, large_every=0))


def test_a_backlog_is_stored_once_and_flagged_only_after_its_commit(
    make_app: Callable[..., MemoryApp], backlog: list[Generated]
) -> None:
    app = make_app(imap={"batch_size": 50})
    witness = app.mail = CommitWitness()
    witness.app, witness.early = app, []
    for g in backlog:
        witness.append(g.raw, g.internaldate)

    intake_pass(app)

    stored = counts(app)
    assert stored["messages"] == 200
    assert stored["followups"] == sum(g.kind == "reply" for g in backlog)
    # The backlog's auto-replies and bounces answer nothing of ours: machine mail, unfiled.
    assert stored["unfiled"] == sum(g.kind in ("auto-reply", "bounce") for g in backlog) > 0
    assert (
        stored["reports"] + stored["followups"] + stored["quarantined"] + stored["unfiled"] == 200
    )
    assert located(app) == list(range(1, 201))
    assert flagged(witness) == list(range(1, 201))
    assert witness.early == []
    assert all("\\Seen" not in witness.flags(uid) for uid in witness.uids())

    intake_pass(app)
    assert counts(app) == stored
    assert located(app) == list(range(1, 201))


def test_a_uidvalidity_change_rescans_without_duplicates(
    make_app: Callable[..., MemoryApp],
) -> None:
    app = make_app()
    first = [g.raw for g in generate(30, seed=5, large_every=0)]
    deliver(app, first)
    intake_pass(app)
    before = counts(app)

    app.mail.recreate("INBOX")  # restored from backup: the old mail under new UIDs, and more
    deliver(app, [*first, simple("new after the restore")])
    intake_pass(app)

    after = counts(app)
    assert after["messages"] == before["messages"] + 1
    assert after["reports"] == before["reports"] + 1
    assert flagged(app.mail) == list(range(1, 32))
    intake_pass(app)
    assert counts(app) == after


@pytest.mark.parametrize("before", ["sizes", "fetch"])
def test_a_message_expunged_after_the_search_is_skipped(
    make_app: Callable[..., MemoryApp], smtp_sink: SmtpSink, before: str
) -> None:
    app = make_app()
    vanishing = app.mail = Vanishing()
    vanishing.victims, vanishing.before = [3], before
    deliver(app, reports_from_distinct_senders(5))

    result = run_cycle(app)

    assert result.errors == []
    assert counts(app)["messages"] == 4
    assert located(app) == [1, 2, 4, 5]
    assert flagged(vanishing) == vanishing.uids() == [1, 2, 4, 5]
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == sorted(
        f"r{i}@lab{i}.example" for i in (0, 1, 3, 4)
    )
    assert run_cycle(app).errors == []
    assert counts(app)["messages"] == 4


def test_a_resend_under_a_new_uid_is_a_duplicate(
    make_app: Callable[..., MemoryApp], smtp_sink: SmtpSink
) -> None:
    app = make_app()
    ada = "Ada Researcher <ada@example.org>"
    original = simple("XSS in search", sender=ada, message_id="<xss-1@example.org>")
    deliver(app, [original])
    assert run_cycle(app).errors == []
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("ada@example.org",)]

    # The same bytes again, and a resend with the same Message-ID and sender but new words.
    again = simple("XSS in search", "Resent.\n", sender=ada, message_id="<xss-1@example.org>")
    deliver(app, [original, again])
    assert run_cycle(app).errors == []

    stored = counts(app)
    assert (stored["messages"], stored["reports"], stored["outbox_sent"]) == (1, 1, 1)
    assert located(app) == [1, 2, 3]
    assert flagged(app.mail) == [1, 2, 3]
    assert len(smtp_sink.messages) == 1  # no second acknowledgement


@pytest.mark.parametrize(
    ("call", "after"),
    [("connect", 0), ("fetch", 1), ("add_flag", 0)],
    ids=["at-connect", "second-fetch", "first-flag"],
)
def test_an_outage_mid_pass_loses_and_doubles_nothing(
    make_app: Callable[..., MemoryApp], smtp_sink: SmtpSink, call: str, after: int
) -> None:
    app = make_app(imap={"batch_size": 10})
    deliver(app, reports_from_distinct_senders(30))
    app.mail.fail_next(1, on=call, after=after)

    first = run_cycle(app)

    assert [e.split(":")[0] for e in first.errors] == ["intake"]
    assert set(flagged(app.mail)) <= set(located(app))  # nothing flagged that is not stored
    assert len(smtp_sink.messages) == counts(app)["reports"]

    assert run_cycle(app).errors == []
    stored = counts(app)
    assert (stored["messages"], stored["reports"], stored["outbox_sent"]) == (30, 30, 30)
    assert located(app) == flagged(app.mail) == list(range(1, 31))
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == sorted(
        f"r{i}@lab{i}.example" for i in range(30)
    )


def test_quarantine_copies_and_processed_moves_and_nothing_is_deleted(
    make_app: Callable[..., MemoryApp],
) -> None:
    app = make_app(
        storage={"max_message_bytes": 2048},
        imap={"quarantine_folder": "Quarantine", "processed_folder": "Processed"},
    )
    deliver(app, [simple("one"), simple("huge", body="B" * 10_000), simple("three")])

    intake_pass(app)

    stored = counts(app)
    assert (stored["messages"], stored["reports"], stored["quarantined"]) == (3, 2, 1)
    assert app.mail.uids("INBOX") == []
    assert flagged(app.mail, "Processed") == [1, 2, 3]
    assert app.mail.uids("Quarantine") == [1]
    intake_pass(app)
    assert counts(app) == stored


class Meanwhile:
    """A planner that stores one more message through another intake the first time it is
    asked, as a command or another process would between the batch's look-up and its write."""

    def __init__(self, inner: Any, other: Any, raw: RawMessage) -> None:
        self.inner, self.other, self.raw, self.fired = inner, other, raw, False

    def plan(self, writes: Any, found: Any, now: datetime) -> None:
        if not self.fired:
            self.fired = True
            self.other.ingest([self.raw], now)
        self.inner.plan(writes, found, now)


def test_a_message_stored_between_look_up_and_write_is_decided_again(
    make_app: Callable[..., MemoryApp], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    raws = reports_from_distinct_senders(3)
    deliver(app, raws)
    intake = app.intake()
    elsewhere = RawMessage("Elsewhere", 7, 1, raws[0], NOW, len(raws[0]))
    intake.planner = Meanwhile(intake.planner, app.intake(), elsewhere)

    mailbox = app.open_mailbox()
    try:
        result = intake.run(mailbox, NOW)
    finally:
        mailbox.close()

    # Decided again inside the write: the same bytes are a duplicate, the numbers go on.
    assert (result.reports, result.duplicates, result.failed) == (2, 1, 0)
    assert "message by message" not in caplog.text
    with app.store.engine.connect() as conn:
        refs = [r for (r,) in conn.execute(text("SELECT ref FROM reports ORDER BY id"))]
    assert refs == ["MIO-2026-0001", "MIO-2026-0002", "MIO-2026-0003"]
    assert counts(app)["reports"] == 3
    assert flagged(app.mail) == [1, 2, 3]


OUT_OF_OFFICE = simple(
    "Automatic reply: XSS",
    "I am away until Monday.\n",
    sender="Tomas <tomas@example.net>",
    message_id="<ooo@example.net>",
    headers={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"},
)
DSN = (
    b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
    b"To: soc@m.io\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <dsn@mx.example.com>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com"
    b"\r\n\r\nFinal-Recipient: rfc822; sam@example.com\r\nAction: failed\r\n"
    b"Status: 5.1.1\r\n\r\n--b--\r\n"
)
NEWSLETTER = simple(
    "Issue #148: 5 CVEs you can't ignore",
    sender="Threat Brief <hello@news.example.com>",
    message_id="<issue-148@news.example.com>",
    headers={
        "List-Id": "Threat Brief Weekly <weekly.news.example.com>",
        "List-Unsubscribe": "<mailto:unsubscribe@news.example.com>",
        "Precedence": "bulk",
    },
)


def stored_rows(app: App, sql: str) -> list[Any]:
    with app.store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql))]


def test_machine_mail_in_no_thread_is_unfiled_with_no_reference_clock_or_answer(
    make_app: Callable[..., MemoryApp], smtp_sink: SmtpSink
) -> None:
    app = make_app()
    person = simple("XSS in search", message_id="<xss@example.org>")
    deliver(app, [OUT_OF_OFFICE, DSN, NEWSLETTER, person])

    result = run_cycle(app)

    assert result.errors == []
    assert (result.intake.unfiled, result.intake.reports) == (3, 1)
    assert "3 unfiled" in result.summary()
    rows = stored_rows(
        app,
        "SELECT m.message_id, m.outcome, m.report_id, a.detail FROM messages m "
        "LEFT JOIN audit a ON a.message_pk = m.id AND a.action = 'unfiled' "
        "WHERE m.direction = 'inbound' ORDER BY m.id",
    )
    rules = [
        (mid, outcome, rid, _detail(detail).get("rule") if detail else None)
        for mid, outcome, rid, detail in rows
    ]
    assert rules[:3] == [
        ("<ooo@example.net>", "unfiled", None, "auto-submitted"),
        ("<dsn@mx.example.com>", "unfiled", None, "mailer-daemon"),
        ("<issue-148@news.example.com>", "unfiled", None, "precedence"),
    ]
    assert rules[3][:2] == ("<xss@example.org>", "report")
    # The person's report took the first number; the machine mail took none, no clock and
    # no mail.
    assert [r for (r,) in stored_rows(app, "SELECT ref FROM reports")] == ["MIO-2026-0001"]
    assert stored_rows(app, "SELECT count(*) FROM clocks") == [(1,)]
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("ada@example.org",)]
    assert stored_rows(app, "SELECT count(*) FROM outbox") == [(1,)]
    assert counts(app)["unfiled"] == 3
    assert flagged(app.mail) == [1, 2, 3, 4]
    assert stored_rows(app, "SELECT count(*) FROM audit WHERE action = 'ack-suppressed'") == [(0,)]


def test_filing_an_unfiled_message_makes_the_next_report_with_a_clock_from_now(
    make_app: Callable[..., MemoryApp], smtp_sink: SmtpSink
) -> None:
    app = make_app()
    deliver(app, [simple("first report"), OUT_OF_OFFICE])
    assert run_cycle(app).errors == []
    filed_at = datetime(2026, 7, 3, 9, 30, tzinfo=UTC)  # a Friday, two days after receipt

    filed = file_message(app.store, app.settings, "ooo@example.net", actor="kim", now=filed_at)

    assert (filed.ref, filed.message_id) == ("MIO-2026-0002", "<ooo@example.net>")
    # Five business days from the filing (Friday 3 July): Friday 10 July, end of the day.
    assert filed.due_at == datetime(2026, 7, 10, 23, 59, 59, tzinfo=UTC)
    [(outcome, ref, status)] = stored_rows(
        app,
        "SELECT m.outcome, r.ref, r.status FROM messages m JOIN reports r ON r.id = m.report_id "
        "WHERE m.message_id = '<ooo@example.net>'",
    )
    assert (outcome, ref, status) == ("report", "MIO-2026-0002", "new")
    [(started, stopped)] = stored_rows(
        app,
        "SELECT c.started_at, c.stopped_at FROM clocks c JOIN reports r ON r.id = c.report_id "
        "WHERE r.ref = 'MIO-2026-0002' AND c.name = 'acknowledgement'",
    )
    assert (_utc(started), stopped) == (filed_at, None)
    [(actor, detail)] = stored_rows(app, "SELECT actor, detail FROM audit WHERE action = 'filed'")
    assert actor == "kim"
    assert _detail(detail) == {
        "ref": "MIO-2026-0002",
        "message_id": "<ooo@example.net>",
        "rule": "auto-submitted",
    }
    # Nothing is sent for it, now or on the next cycle.
    assert run_cycle(app).errors == []
    assert [m.rcpt_tos for m in smtp_sink.messages] == [("ada@example.org",)]
    assert stored_rows(app, "SELECT count(*) FROM outbox") == [(1,)]
    assert (counts(app)["unfiled"], counts(app)["reports"]) == (0, 2)
    with pytest.raises(UsageError, match="is not unfiled"):
        file_message(app.store, app.settings, "<ooo@example.net>", actor="kim", now=filed_at)
    with pytest.raises(NotFound):
        file_message(app.store, app.settings, "<nothing@example.net>", actor="kim", now=filed_at)


def _detail(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else json.loads(value)


def _utc(value: Any) -> datetime:
    """A stored date-time as an aware UTC value (SQLite hands back a naive one or text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
