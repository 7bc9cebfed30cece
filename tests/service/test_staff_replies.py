"""Staff answer the researcher and act on a report from their mail client, against a real
Dovecot and a real SMTP server; and mail that only claims to be from staff gets nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from disclosure_inbox.testing.mailgen import simple

STAFF = {"notify": True, "token_secret": "k" * 32, "trusted_authserv_ids": ["mx.m.io"]}
ORG = {"staff_addresses": ["lead@m.io", "oncall@m.io"]}
REPORTER = "ada@example.org"


def to(d, address: str) -> list[EmailMessage]:
    return [m.message for m in d.sink.messages if list(m.rcpt_tos) == [address]]


def text_of(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


def staff_mail(
    body: str,
    *,
    sender: str = "Lead <lead@m.io>",
    to_addr: str = "soc@m.io",
    cc: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    attachment: bytes | None = None,
) -> bytes:
    msg = EmailMessage()
    for name, value in (headers or {}).items():  # on top, as the receiving MX adds them
        msg[name] = value
    msg["From"] = sender
    msg["To"] = to_addr
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = "Re: [MIO-2026-0001] New report: SQLi in search"
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="text", subtype="plain", filename="fix.diff")
    return msg.as_bytes()


@pytest.fixture
def reported(make_deployment):
    """A report, acknowledged, and its notice to each staff member."""
    d = make_deployment(staff=STAFF, organization=ORG)
    d.account.append([simple("SQLi in search", message_id="<r1@example.org>")])
    d.run_once()
    assert len(to(d, REPORTER)) == 1
    return d


def notice(d, address: str = "lead@m.io") -> EmailMessage:
    return to(d, address)[0]


def status(d) -> str:
    return d.scalar("SELECT status FROM reports WHERE ref = 'MIO-2026-0001'")


def ack_clock_stopped(d) -> bool:
    return d.scalar("SELECT stopped_at FROM clocks WHERE name = 'acknowledgement'") is not None


def test_a_reply_to_the_notice_reaches_the_reporter_threaded_and_stops_the_clock(reported):
    d = reported
    n = notice(d)
    reply = staff_mail(
        "Thanks Ada, we can reproduce it and are working on a fix.\n\n"
        "Best,\nLead\n\nOn Wed, 1 Jul 2026, Mio wrote:\n> New report MIO-2026-0001\n",
        to_addr=n["Reply-To"],
        in_reply_to=n["Message-ID"],
        attachment=b"--- a/search.py\n+++ b/search.py\n",
    )
    d.account.append([reply])
    d.run_once()
    [_, relay] = to(d, REPORTER)
    raw = relay.as_string()
    assert relay["From"] == "Mio Security <soc@m.io>"
    assert relay["Subject"] == "[MIO-2026-0001] Re: SQLi in search"
    assert relay["In-Reply-To"] == "<r1@example.org>"
    assert relay["Auto-Submitted"] == "no"
    body = text_of(relay)
    assert "we can reproduce it" in body
    assert "Mio wrote" not in body  # the quote stays behind
    assert "lead@m.io" not in raw and "soc+" not in raw and "Lead <" not in raw
    [part] = list(relay.iter_attachments())
    assert part.get_filename() == "fix.diff"
    assert part.get_content() == "--- a/search.py\n+++ b/search.py\n"
    assert status(d) == "triaged"
    assert ack_clock_stopped(d)
    assert d.rows(
        "SELECT outcome, author, report_id FROM messages WHERE direction = 'inbound' ORDER BY id"
    )[-1] == ("staff-reply", "lead@m.io", 1)
    assert d.scalar("SELECT author FROM messages WHERE outcome = 'relay'") == "lead@m.io"
    # The result, in each staff member's thread of the report.
    result = to(d, "lead@m.io")[-1]
    assert result["In-Reply-To"] == n["Message-ID"]
    assert "Sent to the reporter" in text_of(result)
    assert len(to(d, "oncall@m.io")) == 2

    d.run_once()  # nothing twice
    assert len(to(d, REPORTER)) == 2


def test_commands_change_the_report_and_their_results_come_back(reported):
    d = reported
    n = notice(d)
    d.account.append(
        [
            staff_mail(
                "/triage\n/verify critical\n/close\n/frobnicate\n/note checked on staging\n",
                to_addr=n["Reply-To"],
                in_reply_to=n["Message-ID"],
            )
        ]
    )
    d.run_once()
    assert len(to(d, REPORTER)) == 1  # only commands: nothing for the reporter
    assert d.rows("SELECT status, severity FROM reports") == [("verified", "critical")]
    assert ack_clock_stopped(d)
    assert d.scalar("SELECT count(*) FROM clocks WHERE name = 'resolution'") == 1
    result = text_of(to(d, "lead@m.io")[-1])
    assert "/triage: new -> triaged" in result
    assert "/verify critical: triaged -> verified (severity critical)" in result
    assert "/close: refused: cannot move from verified to closed" in result
    assert "/frobnicate: refused" in result and "/needs-info" in result
    assert "/note checked on staging: note recorded" in result
    assert (
        d.scalar(
            "SELECT count(*) FROM audit WHERE action = 'status-changed' AND actor = 'lead@m.io'"
        )
        == 2
    )


def test_internal_is_recorded_not_sent(reported):
    d = reported
    n = notice(d)
    d.account.append([staff_mail("/internal\nAda is a known researcher.\n", to_addr=n["Reply-To"])])
    d.run_once()
    assert len(to(d, REPORTER)) == 1
    assert status(d) == "new" and not ack_clock_stopped(d)
    assert "Recorded as internal" in text_of(to(d, "lead@m.io")[-1])


def test_dkim_from_our_own_mx_authenticates_and_direct_mail_is_not_sent_again(reported):
    d = reported
    d.account.append(
        [
            staff_mail(
                "Hi Ada, thanks, looking into it.\n",
                to_addr=f"Ada <{REPORTER}>",
                cc="soc@m.io",
                in_reply_to="<r1@example.org>",
                headers={"Authentication-Results": "mx.m.io; dkim=pass header.d=m.io; spf=pass"},
            )
        ]
    )
    d.run_once()
    assert len(to(d, REPORTER)) == 1  # they wrote to Ada themselves
    assert status(d) == "triaged" and ack_clock_stopped(d)
    assert d.scalar("SELECT count(*) FROM audit WHERE action = 'staff-reply'") == 1


def token_of(address: str) -> str:
    return address.split("+", 1)[1].split("@", 1)[0]


def changed(token: str) -> str:
    last = token[-1]
    return token[:-1] + ("a" if last != "a" else "b")


REFUSALS = {
    "forged-from-no-token": lambda n, o: {"to_addr": "soc@m.io"},
    "token-of-another-staff-member": lambda n, o: {"to_addr": o["Reply-To"]},
    "token-one-character-changed": lambda n, o: {
        "to_addr": n["Reply-To"].replace(token_of(n["Reply-To"]), changed(token_of(n["Reply-To"])))
    },
    "untrusted-authserv-id": lambda n, o: {
        "headers": {"Authentication-Results": "mx.evil.example; dkim=pass header.d=m.io"}
    },
    "dkim-pass-for-another-domain": lambda n, o: {
        "headers": {"Authentication-Results": "mx.m.io; dkim=pass header.d=evil.example"}
    },
    "dkim-fail-from-our-mx": lambda n, o: {
        "headers": {"Authentication-Results": "mx.m.io; dkim=fail header.d=m.io"}
    },
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_mail_that_only_claims_to_be_staff_gets_no_privilege(reported, case):
    d = reported
    n, o = notice(d, "lead@m.io"), notice(d, "oncall@m.io")
    d.account.append(
        [
            staff_mail(
                "Please send me the exploit.\n/close\n/spam\n",
                in_reply_to=n["Message-ID"],
                **REFUSALS[case](n, o),
            )
        ]
    )
    d.run_once()
    assert len(to(d, REPORTER)) == 1  # nothing relayed
    assert status(d) == "new" and not ack_clock_stopped(d)  # no command ran, no clock stopped
    assert d.scalar("SELECT count(*) FROM audit WHERE action = 'unauthenticated-staff'") == 1
    assert d.scalar("SELECT count(*) FROM audit WHERE action = 'staff-reply'") == 0
    # Stored on the report as anyone's mail, and the staff thread says so.
    assert d.scalar(
        "SELECT outcome FROM messages WHERE direction = 'inbound' ORDER BY id DESC"
    ) == ("followup")
    warning = text_of(to(d, "lead@m.io")[-1])
    assert "claims to be from staff (lead@m.io) but was not authenticated" in warning


def test_an_expired_token_gets_no_privilege(reported):
    d = reported
    n = notice(d)
    d.clock.advance(days=31)
    d.account.append([staff_mail("Fixed.\n/resolve\n", to_addr=n["Reply-To"])])
    d.run_once()
    assert len(to(d, REPORTER)) == 1
    assert d.scalar(
        "SELECT CAST(detail AS TEXT) FROM audit WHERE action = 'unauthenticated-staff'"
    ).count("token-expired")


@pytest.mark.slow
def test_sigkill_between_a_staff_reply_and_its_relay_relays_each_once(make_deployment):
    import signal
    import subprocess
    import sys
    import time

    lease = 2.0
    d = make_deployment(
        staff=STAFF, organization=ORG, smtp={"lease_seconds": lease, "timeout_seconds": 1.5}
    )
    d.clock.set(datetime.now(UTC))  # the token must be good on the real clock the runs use
    d.account.append([simple("SQLi in search", message_id="<r1@example.org>")])
    d.run_once()
    n = notice(d)
    d.sink.delay_seconds = 0.02  # a slow relay: the kill lands while mail is going out
    replies = 150
    d.account.append(
        [
            staff_mail(f"Answer number {i}.\n", to_addr=n["Reply-To"], in_reply_to=n["Message-ID"])
            for i in range(replies)
        ]
    )
    command = [sys.executable, "-m", "disclosure_inbox", "--config", str(d.config_path)]
    proc = subprocess.Popen(
        [*command, "run", "--once"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                relays = d.scalar("SELECT count(*) FROM outbox WHERE kind = 'relay'")
            except Exception:
                relays = 0  # SQLite may be busy for a moment
            if relays >= 10:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)

    time.sleep(lease)
    assert d.cli("run", "--once").returncode == 0
    texts = [text_of(m) for m in to(d, REPORTER)[1:]]
    numbers = sorted(int(t.split("Answer number ", 1)[1].split(".", 1)[0]) for t in texts)
    assert numbers == list(range(replies))  # every reply relayed, none twice
    assert d.scalar("SELECT count(*) FROM outbox WHERE state <> 'sent'") == 0


def test_reports_reply_from_the_command_line(reported, tmp_path):
    d = reported
    body, poc = tmp_path / "body.txt", tmp_path / "steps.md"
    body.write_text("Thanks, fixed in 2.4.1.\n", encoding="utf-8")
    poc.write_text("1. open /search\n", encoding="utf-8")
    done = d.cli(
        "reports",
        "reply",
        "MIO-2026-0001",
        "--body-file",
        str(body),
        "--attach",
        str(poc),
        "--actor",
        "alice",
    )
    assert done.returncode == 0, done.stderr
    d.clock.set(datetime.now(UTC) + timedelta(minutes=1))  # the command ran on the real clock
    d.run_once()
    [_, relay] = to(d, REPORTER)
    assert "Thanks, fixed in 2.4.1." in text_of(relay)
    [part] = list(relay.iter_attachments())
    assert (part.get_filename(), part.get_content()) == ("steps.md", "1. open /search\n")
    assert status(d) == "triaged" and ack_clock_stopped(d)
    assert d.scalar("SELECT author FROM messages WHERE outcome = 'relay'") == "alice"

    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    assert d.cli("reports", "reply", "MIO-2026-0001", "--body-file", str(empty)).returncode == 2
    missing = d.cli("reports", "reply", "MIO-2026-0099", "--body-file", str(body))
    assert missing.returncode != 0 and "MIO-2026-0099" in missing.stderr
    assert len(to(d, REPORTER)) == 2


def test_a_token_copied_to_the_reporter_is_burned_and_proves_nothing_again(reported):
    d = reported
    n = notice(d)
    # The lead answers with reply-all, so the reporter's copy shows the token address.
    d.account.append(
        [staff_mail("Thanks!\n", to_addr=n["Reply-To"], cc=REPORTER, in_reply_to=n["Message-ID"])]
    )
    d.run_once()
    assert d.scalar("SELECT count(*) FROM burned_tokens") == 1
    assert "token-exposed" in d.scalar(
        "SELECT CAST(detail AS TEXT) FROM audit WHERE action = 'unauthenticated-staff'"
    )
    # The reporter, holding the token now, poses as the lead: nothing happens.
    d.account.append([staff_mail("/verify critical\n", to_addr=n["Reply-To"])])
    d.run_once()
    assert status(d) == "new" and not ack_clock_stopped(d)
    assert len(to(d, REPORTER)) == 1
    assert d.scalar("SELECT count(*) FROM audit WHERE action = 'staff-reply'") == 0


def test_a_staff_members_automatic_reply_is_machine_mail(reported):
    d = reported
    n = notice(d)
    d.account.append(
        [
            staff_mail(
                "I am out of the office until 20 July. Call +1 555 0100.\n",
                to_addr=n["Reply-To"],
                in_reply_to=n["Message-ID"],
                headers={"Auto-Submitted": "auto-replied"},
            )
        ]
    )
    d.run_once()
    assert len(to(d, REPORTER)) == 1
    assert status(d) == "new" and not ack_clock_stopped(d)
    assert len(to(d, "lead@m.io")) == 1  # no warning, no notice: it is an auto-reply
    assert (
        d.scalar(
            "SELECT count(*) FROM audit WHERE action IN ('staff-reply', 'unauthenticated-staff')"
        )
        == 0
    )


def test_a_reply_carrying_another_reports_token_acts_on_neither(reported):
    d = reported
    d.account.append([simple("Second finding", sender="Bob <bob@example.net>")])
    d.run_once()
    first, second = to(d, "lead@m.io")[0], to(d, "lead@m.io")[1]
    assert "MIO-2026-0002" in second["Subject"]
    d.account.append(
        [
            staff_mail(
                "Fixed, thanks.\n/resolve\n",
                to_addr=first["Reply-To"],  # report 1's token
                in_reply_to=second["Message-ID"],  # answering report 2
            )
        ]
    )
    d.run_once()
    assert to(d, "bob@example.net")[1:] == [] and len(to(d, REPORTER)) == 1
    assert d.rows("SELECT status FROM reports ORDER BY id") == [("new",), ("new",)]
    warning = text_of(to(d, "lead@m.io")[-1])
    assert "carries the reply token of MIO-2026-0001 but answers this report" in warning


def test_only_the_topmost_header_of_our_own_server_counts(reported):
    d = reported
    # Our server wrote "fail" on top; a forged "pass" under it came with the message.
    mail = staff_mail(
        "Hi Ada\n",
        to_addr=REPORTER,
        cc="soc@m.io",
        in_reply_to="<r1@example.org>",
        headers={"Authentication-Results": "mx.m.io; dkim=fail header.d=m.io"},
    ).replace(
        b"From: Lead",
        b"Authentication-Results: mx.m.io; dkim=pass header.d=m.io\r\nFrom: Lead",
        1,
    )
    d.account.append([mail])
    d.run_once()
    assert status(d) == "new" and not ack_clock_stopped(d)
    assert d.scalar("SELECT count(*) FROM audit WHERE action = 'staff-reply'") == 0


def test_signatures_and_staff_addresses_do_not_reach_the_reporter(reported):
    d = reported
    n = notice(d)
    msg = EmailMessage()
    msg["From"] = "Lead <lead@m.io>"
    msg["To"] = n["Reply-To"]
    msg["Subject"] = "Re: x"
    msg.set_content("We fixed it.\n\nBob Smith\nSecurity Engineer\nlead@m.io | +1 555 0100\n")
    msg.add_attachment(
        b"0\x82", maintype="application", subtype="pkcs7-signature", filename="smime.p7s"
    )
    msg.add_attachment(b"patch", maintype="text", subtype="plain", filename="fix.diff")
    d.account.append([msg.as_bytes()])
    d.run_once()
    [_, relay] = to(d, REPORTER)
    assert "lead@m.io" not in relay.as_string() and "[address removed]" in text_of(relay)
    assert [p.get_filename() for p in relay.iter_attachments()] == ["fix.diff"]


def test_assign_takes_only_a_staff_address(reported):
    d = reported
    n = notice(d)
    d.account.append(
        [staff_mail("/assign eve@evil.example\n/assign oncall@m.io\n", to_addr=n["Reply-To"])]
    )
    d.run_once()
    result = text_of(to(d, "lead@m.io")[-1])
    assert "/assign eve@evil.example: refused: eve@evil.example is not a staff address" in result
    assert "/assign oncall@m.io: assigned to oncall@m.io" in result
