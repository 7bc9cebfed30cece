"""Staff are told of each new report and each later message, in one thread per report, against
a real Dovecot and a real SMTP server."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from disclosure_inbox.testing.mailgen import simple

STAFF = {"notify": True, "token_secret": "k" * 32}
TWO = {"staff_addresses": ["lead@m.io", "Oncall@M.io"]}
ROOT = r"<MIO-2026-0001\.notification\.[0-9a-f]{12}@m\.io>"


def to(d, address: str) -> list[EmailMessage]:
    return [m.message for m in d.sink.messages if list(m.rcpt_tos) == [address]]


def text_of(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


@pytest.fixture
def staffed(make_deployment):
    return make_deployment(staff=STAFF, organization=TWO)


def with_attachment(subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ada Researcher <ada@example.org>"
    msg["To"] = "soc@m.io"
    msg["Subject"] = subject
    msg["Message-ID"] = "<r1@example.org>"
    msg.set_content(body)
    msg.add_attachment(
        b"GET /admin HTTP/1.1\r\n", maintype="text", subtype="plain", filename="poc.txt"
    )
    return msg.as_bytes()


def test_a_new_report_tells_each_staff_member_once_with_what_the_reporter_wrote(staffed):
    d = staffed
    d.account.append(
        [with_attachment("XSS on profile", "Open https://m.io/profile?q=<script> to see it.\n")]
    )
    d.run_once()
    [ack] = to(d, "ada@example.org")
    [lead] = to(d, "lead@m.io")
    [oncall] = to(d, "oncall@m.io")
    assert ack["Subject"] == "[MIO-2026-0001] Re: XSS on profile"
    for msg in (lead, oncall):
        assert msg["Subject"] == "[MIO-2026-0001] New report: XSS on profile"
        assert re.fullmatch(ROOT, msg["Message-ID"])
        assert msg["Auto-Submitted"] == "auto-generated"
        body = text_of(msg)
        assert "hxxps://m[.]io/profile?q=<script>" in body  # defanged, shown as text
        assert "https://" not in body.split("-----", 1)[1].split("-----")[0]
        assert "ada[@]example[.]org" in body
        assert "acknowledgement by Wednesday" in body or "acknowledgement by" in body
        assert "poc.txt (text/plain, 21 bytes)" in body
        assert re.search(r"sha256 [0-9a-f]{64}", body)
    # Each staff member's thread and reply token are their own.
    assert lead["Message-ID"] != oncall["Message-ID"]
    assert lead["Reply-To"].startswith("soc+") and lead["Reply-To"].endswith("@m.io")
    assert lead["Reply-To"] != oncall["Reply-To"]
    # The reporter sees no staff address and no token.
    assert "lead@m.io" not in ack.as_string() and "soc+" not in ack.as_string()

    d.run_once()
    assert len(d.sink.messages) == 3  # nothing twice
    assert d.scalar("SELECT count(*) FROM outbox WHERE kind = 'notification'") == 2
    assert d.scalar("SELECT count(*) FROM audit WHERE action = 'staff-notified'") == 1


def test_a_follow_up_joins_the_staff_thread_and_machine_mail_does_not(staffed):
    d = staffed
    d.account.append([simple("SQLi in search", message_id="<r1@example.org>")])
    d.run_once()
    [root] = to(d, "lead@m.io")
    d.account.append(
        [
            simple(
                "Re: SQLi in search",
                "Here is a second payload.\n",
                message_id="<r2@example.org>",
                headers={"In-Reply-To": "<r1@example.org>"},
            ),
            simple(
                "Out of office",
                "I am away.\n",
                headers={"In-Reply-To": "<r1@example.org>", "Auto-Submitted": "auto-replied"},
            ),
            simple(
                "Re: [MIO-2026-0001] New report: SQLi in search",
                "Looking at it.\n",
                sender="Lead <lead@m.io>",
                headers={"In-Reply-To": root["Message-ID"]},
            ),
        ]
    )
    d.run_once()
    assert d.counts()["reports"] == 1
    # The auto-reply tells no one; the lead's own mail, which nothing authenticates (no
    # reply token, no DKIM), is no staff reply: the thread is warned of it.
    [_, followup, warning] = to(d, "lead@m.io")
    assert "claims to be from staff (lead@m.io) but was not authenticated" in text_of(warning)
    assert followup["Subject"] == "[MIO-2026-0001] Re: SQLi in search"
    assert followup["In-Reply-To"] == root["Message-ID"]
    assert followup["References"] == root["Message-ID"]
    assert "Here is a second payload." in text_of(followup)
    assert "wrote again about MIO-2026-0001" in text_of(followup)
    assert len(to(d, "oncall@m.io")) == 3


def test_a_bounce_of_the_acknowledgement_tells_staff_the_reporter_is_unreachable(staffed):
    d = staffed
    d.account.append([simple("Report", sender="Ada <ada@nowhere.example>")])
    d.run_once()
    [ack] = to(d, "ada@nowhere.example")
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\nTo: soc@m.io\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
        "Final-Recipient: rfc822; ada@nowhere.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {ack['Message-ID']}\r\n"
        "Subject: [MIO-2026-0001] Re: Report\r\n\r\n--b--\r\n"
    ).encode()
    d.account.append([bounce])
    d.run_once()
    [_, notice] = to(d, "lead@m.io")
    assert "bounced: they could not be reached" in text_of(notice)
    assert len(to(d, "ada@nowhere.example")) == 1


def test_a_long_report_is_cut_with_a_note_of_how_much(staffed):
    d = staffed
    d.account.append([simple("Long", "A" * 25_000 + "\n")])
    d.run_once()
    [lead] = to(d, "lead@m.io")
    body = text_of(lead)
    assert "A" * 20_000 in body and "A" * 20_001 not in body
    assert "[5,001 more characters not shown: disclosure-inbox reports show MIO-2026-0001]" in body


def test_without_a_token_key_staff_mail_has_no_reply_token(make_deployment):
    d = make_deployment(staff={"notify": True}, organization=TWO)
    d.account.append([simple("One")])
    d.run_once()
    [lead] = to(d, "lead@m.io")
    assert lead["Reply-To"] is None
    assert "disclosure-inbox reports set MIO-2026-0001 triaged" in text_of(lead)


def test_staff_recipients_can_differ_from_the_staff_addresses(make_deployment):
    d = make_deployment(staff={**STAFF, "recipients": ["team@m.io"]}, organization=TWO)
    d.account.append([simple("One")])
    d.run_once()
    assert len(to(d, "team@m.io")) == 1
    assert to(d, "lead@m.io") == []


def test_notify_off_tells_no_one(make_deployment):
    d = make_deployment(staff={"notify": False}, organization=TWO)
    d.account.append([simple("One")])
    d.run_once()
    assert [list(m.rcpt_tos) for m in d.sink.messages] == [["ada@example.org"]]


def test_an_escalation_of_one_report_joins_its_staff_thread(staffed):
    from datetime import UTC, datetime

    d = staffed
    d.account.append([simple("One")], internaldates=[datetime(2026, 7, 1, 10, 0, tzinfo=UTC)])
    d.run_once()
    [root] = to(d, "lead@m.io")
    d.clock.set(datetime(2026, 7, 8, 0, 5, tzinfo=UTC))  # due-soon fired at the end of 07-07
    d.run_once()
    [_, escalation] = to(d, "lead@m.io")
    assert "due-soon" in escalation["Subject"]
    assert escalation["In-Reply-To"] == root["Message-ID"]
