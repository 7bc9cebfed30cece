"""Acknowledgements, threading and loop defence, against a real Dovecot and a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta

from disclosure_inbox.testing.mailgen import raw, simple

ADA = "Ada Researcher <ada@example.org>"


def acks(d):
    return d.sink.messages


def test_new_report_gets_one_standards_correct_acknowledgement(deployment):
    wednesday = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
    deployment.account.append(
        [simple("Stored XSS in profile", message_id="<r1@example.org>")], internaldates=[wednesday]
    )
    result = deployment.run_once()
    assert result.outbox.sent == 1
    [mail] = acks(deployment)
    msg = mail.message
    assert list(mail.rcpt_tos) == ["ada@example.org"]
    assert mail.mail_from == "soc@m.io"  # RFC 3834 3.3: bounces come back to us, see replies.py
    assert msg["Subject"] == "[MIO-2026-0001] Re: Stored XSS in profile"
    assert msg["In-Reply-To"] == "<r1@example.org>"
    assert msg["References"] == "<r1@example.org>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert re.fullmatch(r"<MIO-2026-0001\.ack\.[0-9a-f]{16}@m\.io>", msg["Message-ID"])
    assert msg["From"] == "Mio Security <soc@m.io>"
    text = msg.get_body(("plain",)).get_content()
    assert "MIO-2026-0001" in text
    assert "https://m.io/disclosure" in text
    # Received Wednesday 2026-07-01 14:00 UTC: five business days end on Wednesday 07-08.
    assert "Wednesday 08 July 2026, 23:59 UTC" in text
    html = msg.get_body(("html",)).get_content()
    assert '<a href="https://m.io/disclosure">' in html

    deployment.run_once()
    assert len(acks(deployment)) == 1


def test_reply_goes_to_return_path(deployment):
    raw = simple("x", headers={"Return-Path": "<bounces+ada@relay.example>"})
    deployment.account.append([raw])
    deployment.run_once()
    [mail] = acks(deployment)
    assert list(mail.rcpt_tos) == ["bounces+ada@relay.example"]


def test_smtp_outage_keeps_acks_pending_then_delivers_each_once(deployment):
    deployment.sink.stop()
    deployment.account.append([simple("one"), simple("two"), simple("three")])
    result = deployment.run_once()
    assert result.errors == [] or all("outbox" in e for e in result.errors)
    assert deployment.counts()["reports"] == 3
    assert deployment.counts()["outbox_pending"] == 3
    [(attempts,)] = deployment.rows("SELECT max(attempts) FROM outbox")
    assert attempts == 1  # the pass stopped at the first failure
    deployment.sink.start()
    deployment.run_once()  # the ones not yet tried go now; the tried one waits for its backoff
    assert len(acks(deployment)) == 2
    deployment.clock.advance(minutes=5)
    deployment.run_once()
    deployment.clock.advance(hours=1)
    deployment.run_once()
    subjects = sorted(m.message["Subject"] for m in acks(deployment))
    assert subjects == [
        "[MIO-2026-0001] Re: one",
        "[MIO-2026-0002] Re: two",
        "[MIO-2026-0003] Re: three",
    ]
    assert deployment.counts()["outbox_sent"] == 3


def test_4xx_then_success_is_delivered_once(deployment):
    deployment.sink.fail_next(1, code=451, message="greylisted")
    deployment.account.append([simple("grey")])
    deployment.run_once()
    assert acks(deployment) == []
    [(state, attempts, error)] = deployment.rows("SELECT state, attempts, last_error FROM outbox")
    assert (state, attempts) == ("pending", 1)
    assert "451" in error
    deployment.clock.advance(minutes=5)
    deployment.run_once()
    deployment.clock.advance(minutes=5)
    deployment.run_once()
    assert len(acks(deployment)) == 1
    assert deployment.scalar("SELECT state FROM outbox") == "sent"


def test_5xx_parks_the_message_with_the_reply_and_retry_sends_it(deployment):
    deployment.sink.reject_next(1, code=550, message="mailbox unavailable")
    deployment.account.append([simple("rejected")])
    deployment.run_once()
    [(state, error)] = deployment.rows("SELECT state, last_error FROM outbox")
    assert state == "failed"
    assert "550" in error and "mailbox unavailable" in error
    listed = deployment.cli("outbox", "list", "--state", "failed", "--format", "json")
    assert listed.returncode == 0
    assert '"state": "failed"' in listed.stdout
    retried = deployment.cli("outbox", "retry", "1")
    assert retried.returncode == 0, retried.stderr
    # The command put it back in line at the real current time.
    deployment.clock.set(datetime.now(UTC) + timedelta(seconds=1))
    deployment.run_once()
    assert len(acks(deployment)) == 1
    again = deployment.cli("outbox", "retry", "1")
    assert again.returncode == 2  # already sent


def test_deadline_expiry_parks_as_failed(make_deployment):
    d = make_deployment(smtp={"retry_deadline_hours": 0.01, "retry_initial_seconds": 30})
    d.sink.stop()
    d.account.append([simple("nobody home")])
    d.run_once()
    d.clock.advance(minutes=1)
    d.run_once()
    [(state, error)] = d.rows("SELECT state, last_error FROM outbox")
    assert state == "failed"
    assert error.startswith("gave up after")


def test_template_and_header_injection_come_back_literally(deployment):
    hostile = [
        simple("{{7*7}} {% raw %} ${{ config }}", sender="{{7*7}} <ada@example.org>"),
        raw(
            [
                ("From", "Bob <bob@example.org>"),
                ("Message-ID", "<h2@example.org>"),
                ("Subject", "=?utf-8?q?hi=0D=0ABcc:_victim@example.net?="),
            ]
        ),
        raw(
            [
                ("From", "=?utf-8?q?Eve=0D=0ABcc:_victim@example.net?= <eve@example.org>"),
                ("Message-ID", "<h3@example.org>"),
                ("Subject", "x"),
            ]
        ),
    ]
    deployment.account.append(hostile)
    deployment.run_once()
    mails = {m.rcpt_tos[0]: m for m in acks(deployment)}
    assert set(mails) == {"ada@example.org", "bob@example.org", "eve@example.org"}
    for mail in mails.values():
        assert mail.rcpt_tos[0] != "victim@example.net"
        parsed = email.message_from_bytes(mail.raw, policy=email.policy.strict)
        assert parsed["Bcc"] is None and parsed["Cc"] is None
        assert "victim" not in str(parsed["To"])
    ada = mails["ada@example.org"].message
    assert ada["Subject"] == "[MIO-2026-0001] Re: {{7*7}} {% raw %} ${{ config }}"
    body = ada.get_body(("plain",)).get_content()
    assert "{{7*7}} {% raw %} ${{ config }}" in body
    assert "49" not in body
    assert "Hello {{7*7}}," in body
    bob = mails["bob@example.org"].message
    assert "\n" not in bob["Subject"] and "Bcc" not in bob


def test_threading_rules(deployment):
    d = deployment
    d.account.append([simple("Report A", message_id="<a1@example.org>")])
    d.run_once()
    ack_id = acks(d)[0].message["Message-ID"]
    replies = [
        # intact References through our acknowledgement
        simple(
            "Re: Report A",
            message_id="<a2@example.org>",
            headers={"In-Reply-To": ack_id, "References": f"<a1@example.org> {ack_id}"},
        ),
        # only In-Reply-To
        simple("more", message_id="<a3@example.org>", headers={"In-Reply-To": "<a1@example.org>"}),
        # neither, but the tag, from the reporter
        simple("[MIO-2026-0001] logs attached", message_id="<a4@example.org>"),
        # broken chain: unknown In-Reply-To, one known ancestor in References
        simple(
            "Re: x",
            message_id="<a5@example.org>",
            headers={"In-Reply-To": "<gone@x>", "References": "<a1@example.org> <gone@x>"},
        ),
        # the tag from someone else: a new report that mentions it
        simple(
            "[MIO-2026-0001] me too",
            sender="Mallory <mallory@evil.example>",
            message_id="<m1@evil.example>",
        ),
    ]
    d.account.append(replies)
    d.run_once()
    rows = dict(d.rows("SELECT message_id, thread_rule FROM messages WHERE direction='inbound'"))
    assert rows["<a2@example.org>"] == "in-reply-to"
    assert rows["<a3@example.org>"] == "in-reply-to"
    assert rows["<a4@example.org>"] == "subject-tag"
    assert rows["<a5@example.org>"] == "references"
    assert rows["<m1@evil.example>"] == "foreign-tag"
    assert d.counts()["reports"] == 2
    assert d.counts()["followups"] == 4
    # Follow-ups get no acknowledgement; the stranger's new report does.
    assert [m.rcpt_tos[0] for m in acks(d)] == ["ada@example.org", "mallory@evil.example"]
    mentioned = d.scalar(
        "SELECT count(*) FROM audit WHERE action = 'report-created' "
        "AND CAST(detail AS TEXT) LIKE '%MIO-2026-0001%'"
    )
    assert mentioned == 1


def test_bounce_of_an_acknowledgement_is_recorded_on_the_outgoing_message(deployment):
    d = deployment
    d.account.append([simple("Report", sender="Ada <ada@nowhere.example>")])
    d.run_once()
    ack_id = acks(d)[0].message["Message-ID"]
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\nTo: soc@m.io\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        "Final-Recipient: rfc822; ada@nowhere.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {ack_id}\r\n"
        "Subject: [MIO-2026-0001] Re: Report\r\n\r\n--b--\r\n"
    ).encode()
    d.account.append([bounce])
    d.run_once()
    assert d.scalar("SELECT bounced_at FROM outbox") is not None
    assert d.counts()["reports"] == 1  # the bounce joined the report
    # Machine mail, but in a thread: a follow-up of the report, not unfiled.
    assert (d.counts()["followups"], d.counts()["unfiled"]) == (1, 0)
    rule = d.scalar("SELECT thread_rule FROM messages WHERE message_id = '<dsn1@mx.example>'")
    assert rule == "references"  # through the acknowledgement's Message-ID it quotes
    assert len(acks(d)) == 1  # and was not answered
    assert d.scalar("SELECT count(*) FROM audit WHERE action = 'outgoing-bounced'") == 1


def test_rate_limit_per_sender(make_deployment):
    d = make_deployment(limits={"acks_per_sender_per_day": 2})
    d.account.append([simple(f"report {i}", message_id=f"<rl{i}@example.org>") for i in range(5)])
    d.run_once()
    assert len(acks(d)) == 2
    assert d.counts()["reports"] == 5
    assert (
        d.scalar(
            "SELECT count(*) FROM audit WHERE action='ack-suppressed' "
            "AND CAST(detail AS TEXT) LIKE '%rate-limit-sender%'"
        )
        == 3
    )
    d.clock.advance(hours=25)
    d.account.append([simple("next day", message_id="<rl9@example.org>")])
    d.run_once()
    assert len(acks(d)) == 3


def test_auto_replier_loop_stays_bounded(make_deployment):
    """A correspondent that answers everything, with and without proper headers."""
    d = make_deployment(limits={"acks_per_sender_per_day": 3})
    d.account.append([simple("first contact", sender="Bot <bot@loop.example>")])
    sent_by_us = 0
    for cycle in range(12):
        d.run_once()
        new = acks(d)[sent_by_us:]
        sent_by_us = len(acks(d))
        # The correspondent answers every mail we sent; every other answer lacks the headers
        # that mark it automatic, and keeps our tag out of the subject.
        answers = []
        for i, mail in enumerate(new):
            headers = {"In-Reply-To": mail.message["Message-ID"]} if i % 2 else {}
            if cycle % 2 == 0:
                headers["Auto-Submitted"] = "auto-replied"
            answers.append(
                simple(
                    f"Automatic reply {cycle}-{i}", sender="Bot <bot@loop.example>", headers=headers
                )
            )
        # Even without anything to answer it starts a fresh thread each cycle.
        answers.append(simple(f"Out of office {cycle}", sender="Bot <bot@loop.example>"))
        d.account.append(answers)
        d.clock.advance(minutes=30)
    assert sent_by_us <= 3
    assert d.counts()["messages"] > 12  # everything it sent is stored


def test_corpus_acknowledgements(deployment, corpus_files):
    """Every new human report in the corpus gets exactly one acknowledgement; machine mail none."""
    deployment.account.append([p.read_bytes() for p in corpus_files])
    deployment.run_once()
    rcpts = [m.rcpt_tos[0] for m in acks(deployment)]
    tags = [
        re.match(r"\[(MIO-\d{4}-\d{4})\]", m.message["Subject"]).group(1) for m in acks(deployment)
    ]
    assert len(tags) == len(set(tags)), "a report was acknowledged twice"
    in_reply_to = [m.message["In-Reply-To"] for m in acks(deployment)]
    reports = deployment.rows(
        "SELECT r.ref, m.headers, m.sender_address, m.message_id FROM reports r "
        "JOIN messages m ON m.report_id = r.id AND m.outcome = 'report'"
    )
    acked_ids = set(in_reply_to)
    for ref, headers, sender, message_id in reports:
        headers = headers if isinstance(headers, dict) else __import__("json").loads(headers)
        machine = (
            headers.get("auto-submitted", "no").split(";")[0].strip().lower() not in ("no", "")
            or headers.get("precedence", "").strip().lower() in ("bulk", "junk", "list")
            or "list-id" in headers
            or "list-unsubscribe" in headers
            or "multipart/report" in headers.get("content-type", "").lower()
            or sender.split("@")[0].lower() in ("mailer-daemon", "postmaster")
        )
        if machine and message_id:
            assert message_id not in acked_ids, f"{ref} is machine mail but was acknowledged"
    # Human reports with an address to answer and a Message-ID: acknowledged once each.
    assert len(rcpts) >= 40
    assert deployment.counts()["acks_suppressed"] + len(rcpts) == deployment.counts()["reports"]


def suppressed_by(d, rule: str) -> int:
    return d.scalar(
        "SELECT count(*) FROM audit WHERE action='ack-suppressed' "
        "AND CAST(detail AS TEXT) LIKE :rule",
        rule=f'%"{rule}"%',
    )


def unfiled_by(d, rule: str) -> int:
    return d.scalar(
        "SELECT count(*) FROM audit WHERE action='unfiled' AND CAST(detail AS TEXT) LIKE :rule",
        rule=f'%"{rule}"%',
    )


def acknowledgement_clocks(d) -> list[str]:
    return [
        ref
        for (ref,) in d.rows(
            "SELECT r.ref FROM clocks c JOIN reports r ON r.id = c.report_id "
            "WHERE c.name = 'acknowledgement' ORDER BY r.ref"
        )
    ]


def test_reports_through_our_own_list_are_acknowledged_and_get_a_deadline(make_deployment):
    """The security address run as a Google Group or a Mailman list ([loops] own_list_ids)."""
    d = make_deployment(loops={"own_list_ids": ["security.m.io"]})
    via_list = {
        "List-Id": "Mio security <security.m.io>",
        "List-Unsubscribe": "<mailto:security+unsubscribe@m.io>",
        "Precedence": "list",
    }
    d.account.append(
        [
            simple("XSS, sent to the list", message_id="<l1@example.org>", headers=via_list),
            simple(
                "Our newsletter",
                sender="News <news@lists.example>",
                headers={"List-Id": "<news.lists.example>", "List-Unsubscribe": "<mailto:x>"},
            ),
            simple(
                "Out of office",
                sender="Bob <bob@example.net>",
                headers={**via_list, "Auto-Submitted": "auto-replied"},
            ),
        ]
    )
    d.run_once()
    [mail] = acks(d)
    assert list(mail.rcpt_tos) == ["ada@example.org"]
    assert mail.message["In-Reply-To"] == "<l1@example.org>"
    # A person's report through our list has a deadline, so it escalates; the others are
    # still machine mail (the other rules apply to the list's mail as to any other). Machine
    # mail in no thread is no report at all: it is unfiled, naming its rule, and no
    # acknowledgement had to be suppressed for it.
    assert acknowledgement_clocks(d) == ["MIO-2026-0001"]
    assert d.counts()["reports"] == 1
    assert unfiled_by(d, "list-headers") == 1
    assert unfiled_by(d, "auto-submitted") == 1
    assert d.counts()["acks_suppressed"] == 0


def test_an_auto_responder_on_new_addresses_of_one_domain_is_bounded(make_deployment):
    """The per-domain daily limit, with its default of 20."""
    d = make_deployment()
    d.account.append(
        [simple(f"Re: round {i}", sender=f"Bot <bot{i}@loop.example>") for i in range(22)]
        + [simple("A real report", sender="Ada <ada@example.org>")]
    )
    d.run_once()
    rcpts = [m.rcpt_tos[0] for m in acks(d)]
    assert len(rcpts) == 21 and "ada@example.org" in rcpts
    assert sum(r.endswith("@loop.example") for r in rcpts) == 20
    assert suppressed_by(d, "rate-limit-domain") == 2
    assert d.counts()["reports"] == 23
    assert len(acknowledgement_clocks(d)) == 23  # rate-limited: still a person's deadline
    d.clock.advance(hours=25)
    d.account.append([simple("next day", sender="Bot <bot99@loop.example>")])
    d.run_once()
    assert acks(d)[-1].rcpt_tos[0] == "bot99@loop.example"


def test_global_hourly_cap_on_acknowledgements(make_deployment):
    d = make_deployment(limits={"acks_per_hour": 3})
    d.account.append([simple(f"r{i}", sender=f"R <r{i}@d{i}.example>") for i in range(5)])
    d.run_once()
    assert len(acks(d)) == 3
    assert suppressed_by(d, "rate-limit-global") == 2
    assert d.counts()["acks_suppressed"] == 2
    assert len(acknowledgement_clocks(d)) == 5
    d.clock.advance(minutes=61)
    d.account.append([simple("later", sender="R <r9@d9.example>")])
    d.run_once()
    assert len(acks(d)) == 4
