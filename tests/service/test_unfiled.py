"""Machine mail that threads into no report is stored unfiled, and a person can file it as a
report: against a real Dovecot, a real SMTP server, SQLite and PostgreSQL, through the real
command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from disclosure_inbox.testing.mailgen import simple

JULY_1 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
UNFILED_KEYS = {"id", "message_id", "received_at", "sender", "rule", "subject"}

OUT_OF_OFFICE = simple(
    "Automatic reply: [MIO-2026-0027] Re: CSRF",
    "I am away until 7 December.\n",
    sender="Tomas Ferreira <tomas@example.net>",
    message_id="<ooo.7c3e@example.net>",
    headers={
        # An answer to a note of ours this store never sent: it threads into nothing.
        "In-Reply-To": "<MIO-2026-0027.note.6b0e2d9f41c7a853@m.io>",
        "Auto-Submitted": "auto-replied",
    },
)
BOUNCE = (
    b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
    b"To: soc@m.io\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <dsn.8e41@mx.example.com>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0"
    b'\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com"
    b"\r\n\r\nFinal-Recipient: rfc822; sam@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"\r\n--b--\r\n"
)
NEWSLETTER = simple(
    "Issue #148: 5 CVEs you can't ignore",
    sender="Threat Brief Weekly <hello@news.example.com>",
    message_id="<issue-148.7f3a9c@news.example.com>",
    headers={
        "List-Id": "Threat Brief Weekly <weekly.news.example.com>",
        "List-Unsubscribe": "<https://news.example.com/unsubscribe>",
        "Precedence": "bulk",
    },
)


def deliver_machine_mail_and_a_report(d) -> None:
    person = simple("Stored XSS", sender="Ada <ada@example.org>", message_id="<xss@example.org>")
    d.account.append(
        [person, OUT_OF_OFFICE, BOUNCE, NEWSLETTER],
        internaldates=[JULY_1 + timedelta(hours=h) for h in range(4)],
    )
    result = d.run_once()
    assert result.errors == []
    assert (result.intake.reports, result.intake.unfiled) == (1, 3)


def json_of(d, *args: str):
    done = d.cli(*args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_machine_mail_is_unfiled_with_no_reference_clock_or_acknowledgement(deployment):
    d = deployment
    deliver_machine_mail_and_a_report(d)

    assert [r["ref"] for r in json_of(d, "reports", "list")] == ["MIO-2026-0001"]
    rows = d.rows(
        "SELECT message_id, outcome, report_id, thread_rule FROM messages "
        "WHERE direction = 'inbound' AND outcome = 'unfiled' ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        ("<ooo.7c3e@example.net>", "unfiled", None, None),
        ("<dsn.8e41@mx.example.com>", "unfiled", None, None),
        ("<issue-148.7f3a9c@news.example.com>", "unfiled", None, None),
    ]
    assert d.scalar("SELECT count(*) FROM clocks") == 1  # the person's report's
    assert [m.rcpt_tos for m in d.sink.messages] == [("ada@example.org",)]
    assert d.scalar("SELECT count(*) FROM outbox") == 1
    stats = json_of(d, "stats")
    assert (stats["messages"], stats["reports"], stats["unfiled"]) == (4, 1, 3)
    assert stats["acks_suppressed"] == 0  # no report was made to be left unanswered

    listed = json_of(d, "messages", "list", "--unfiled")
    assert all(set(m) == UNFILED_KEYS for m in listed)
    # Newest first, each with the rule that made it machine mail.
    assert [(m["message_id"], m["sender"], m["rule"]) for m in listed] == [
        ("<issue-148.7f3a9c@news.example.com>", "hello@news.example.com", "precedence"),
        ("<dsn.8e41@mx.example.com>", "mailer-daemon@mx.example.com", "mailer-daemon"),
        ("<ooo.7c3e@example.net>", "tomas@example.net", "auto-submitted"),
    ]
    assert listed[2]["received_at"] == "2026-07-01T13:00:00+00:00"
    assert listed[2]["subject"] == "Automatic reply: [MIO-2026-0027] Re: CSRF"

    table = d.cli("messages", "list", "--unfiled")
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["ID", "MESSAGE_ID", "RECEIVED_AT", "SENDER", "RULE", "SUBJECT"]
    assert len(lines) == 3 and "auto-submitted" in lines[2]

    # The rest of the mailbox's life adds nothing for them.
    assert d.run_once().errors == []
    assert len(d.sink.messages) == 1


def test_a_person_files_an_unfiled_message_as_the_next_report(deployment):
    d = deployment
    deliver_machine_mail_and_a_report(d)
    before = datetime.now(UTC)

    filed = d.cli("reports", "file", "ooo.7c3e@example.net", "--actor", "kim")

    assert filed.returncode == 0, filed.stderr
    assert "MIO-2026-0002" in filed.stderr and "no acknowledgement is sent" in filed.stderr
    report = json_of(d, "reports", "show", "MIO-2026-0002")
    assert (report["status"], report["reporter"]) == ("new", "tomas@example.net")
    assert report["received_at"] == "2026-07-01T13:00:00+00:00"  # when the mail came
    assert [(m["message_id"], m["kind"]) for m in report["messages"]] == [
        ("<ooo.7c3e@example.net>", "report")
    ]
    # The acknowledgement clock runs from the filing: a person decided then.
    [clock] = report["clocks"]
    assert (clock["name"], clock["stopped_at"]) == ("acknowledgement", None)
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(clock["started_at"])
    assert datetime.fromisoformat(clock["started_at"]) <= datetime.now(UTC)
    [(actor, detail)] = d.rows("SELECT actor, detail FROM audit WHERE action = 'filed'")
    detail = detail if isinstance(detail, dict) else json.loads(detail)
    assert (actor, detail["ref"], detail["rule"]) == ("kim", "MIO-2026-0002", "auto-submitted")

    # Nothing goes to the machine, now or later.
    assert d.scalar("SELECT count(*) FROM outbox") == 1
    assert d.run_once().errors == []
    assert [m.rcpt_tos for m in d.sink.messages] == [("ada@example.org",)]
    assert json_of(d, "stats")["unfiled"] == 2
    assert [m["message_id"] for m in json_of(d, "messages", "list", "--unfiled")] == [
        "<issue-148.7f3a9c@news.example.com>",
        "<dsn.8e41@mx.example.com>",
    ]

    # Angle brackets are optional; the next filing takes the next number.
    again = d.cli("reports", "file", "<issue-148.7f3a9c@news.example.com>")
    assert again.returncode == 0, again.stderr
    assert "MIO-2026-0003" in again.stderr


def test_filing_what_is_not_unfiled_is_a_usage_error(deployment):
    d = deployment
    deliver_machine_mail_and_a_report(d)
    for message_id, says in [
        ("<xss@example.org>", "is not unfiled (it is report)"),
        ("nobody@example.org", "no message <nobody@example.org>"),
        ("<>", "not a Message-ID"),
    ]:
        done = d.cli("reports", "file", message_id)
        assert done.returncode == 2, (message_id, done.stderr)
        assert says in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert d.cli("reports", "file", "ooo.7c3e@example.net").returncode == 0
    twice = d.cli("reports", "file", "ooo.7c3e@example.net")
    assert twice.returncode == 2 and "is not unfiled (it is report)" in twice.stderr
    assert d.cli("messages", "list").returncode == 2  # --unfiled is what it lists
    assert json_of(d, "stats")["reports"] == 2


def test_of_unfiled_messages_that_share_a_message_id_the_first_is_filed(deployment):
    d = deployment
    # Two autoresponders that reuse one Message-ID (it takes the sender to tell them apart).
    first, second = (
        simple(
            "Out of office",
            sender=f"Bot <bot@{host}.example>",
            message_id="<same@example.net>",
            headers={"Auto-Submitted": "auto-replied"},
        )
        for host in ("one", "two")
    )
    d.account.append([first, second], internaldates=[JULY_1, JULY_1 + timedelta(hours=1)])
    d.run_once()
    assert json_of(d, "stats")["unfiled"] == 2

    assert d.cli("reports", "file", "same@example.net").returncode == 0

    assert json_of(d, "reports", "show", "MIO-2026-0001")["reporter"] == "bot@one.example"
    [left] = json_of(d, "messages", "list", "--unfiled")
    assert left["sender"] == "bot@two.example"


def test_machine_mail_in_a_thread_stays_a_followup(deployment):
    d = deployment
    d.account.append([simple("Report", message_id="<r1@example.org>")], internaldates=[JULY_1])
    d.run_once()
    ack_id = d.sink.messages[0].message["Message-ID"]
    away_id = "<away@example.org>"
    away = simple(
        "Automatic reply: Report",
        message_id=away_id,
        headers={"In-Reply-To": ack_id, "Auto-Submitted": "auto-replied"},
    )
    d.account.append([away], internaldates=[JULY_1 + timedelta(hours=1)])
    d.run_once()
    [row] = d.rows("SELECT outcome, thread_rule FROM messages WHERE message_id = :m", m=away_id)
    assert tuple(row) == ("followup", "in-reply-to")
    stats = json_of(d, "stats")
    assert (stats["reports"], stats["followups"], stats["unfiled"]) == (1, 1, 0)
    assert len(d.sink.messages) == 1
