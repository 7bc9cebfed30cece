"""The real-server helpers do what the other tests rely on."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage

import aiosmtplib
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from sqlalchemy import inspect, text

from disclosure_inbox.adapters.db.engine import make_engine
from disclosure_inbox.testing.dovecot import DovecotServer, ImapAccount
from disclosure_inbox.testing.smtp_sink import SmtpSink

ServerFactory = Callable[..., DovecotServer]


def raw_message(subject: str) -> bytes:
    return (
        f"From: Ada <ada@example.org>\r\nTo: soc@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@example.org>\r\n\r\nDetails.\r\n"
    ).encode()


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


# -- Dovecot ----------------------------------------------------------------------------------


def test_append_sets_internaldate_and_flags(imap_account: ImapAccount) -> None:
    dates = [
        datetime(2024, 3, 2, 9, 15, 0, tzinfo=UTC),  # a Saturday
        datetime(2023, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2025, 1, 1, 0, 0, 1, tzinfo=timezone(timedelta(hours=9))),
    ]
    uids = imap_account.append(
        [raw_message(f"report {i}") for i in range(3)], internaldates=dates, flags=[b"\\Flagged"]
    )

    assert uids == imap_account.list_uids() == [1, 2, 3]
    with imap_account.connect() as client:
        client.normalise_times = False  # keep the server's offsets
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(uids, ["INTERNALDATE", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    assert [fetched[uid][b"INTERNALDATE"] for uid in uids] == dates
    assert b"report 2" in fetched[3][b"BODY[HEADER.FIELDS (SUBJECT)]"]
    assert imap_account.fetch_flags() == {uid: (b"\\Flagged",) for uid in uids}


def test_accounts_are_isolated(dovecot: DovecotServer, imap_account: ImapAccount) -> None:
    imap_account.append([raw_message("mine")])
    other = dovecot.new_account()
    assert other.user != imap_account.user
    assert other.message_count() == 0
    assert imap_account.message_count() == 1


def test_user_added_while_running_can_log_in(dovecot: DovecotServer) -> None:
    account = dovecot.add_user("latecomer", "pa55word")
    assert account.message_count() == 0
    with pytest.raises(LoginError):
        IMAPClient(dovecot.host, dovecot.port, ssl=False).login(account.user, "wrong")


@pytest.mark.parametrize("mailbox", ["INBOX", "Reports"])
def test_recreate_mailbox_changes_uidvalidity_and_restarts_uids(
    imap_account: ImapAccount, mailbox: str
) -> None:
    if mailbox != "INBOX":
        imap_account.create_mailbox(mailbox)
    imap_account.append([raw_message("before"), raw_message("before too")], mailbox)
    old = imap_account.uidvalidity(mailbox)

    new = imap_account.recreate_mailbox(mailbox)

    assert new != old
    assert imap_account.uidvalidity(mailbox) == new
    assert imap_account.message_count(mailbox) == 0
    assert imap_account.append([raw_message("after")], mailbox) == [1]


def test_idle_wakes_when_mail_arrives(imap_account: ImapAccount) -> None:
    with imap_account.connect() as watcher:
        watcher.select_folder("INBOX")
        watcher.idle()
        threading.Timer(0.2, imap_account.append, [[raw_message("wake up")]]).start()
        responses = watcher.idle_check(timeout=5)
        watcher.idle_done()
    assert (1, b"EXISTS") in responses


def test_stop_and_start_keep_port_and_mail(dovecot_factory: ServerFactory) -> None:
    server = dovecot_factory()
    uids = server.append([raw_message("survives the outage")])
    port, uidvalidity = server.port, server.uidvalidity()

    server.stop()
    assert refuses_connections(port)
    server.start()

    assert server.port == port
    assert server.uidvalidity() == uidvalidity
    assert server.list_uids() == uids


def test_tls_verifies_against_the_servers_certificate(dovecot_factory: ServerFactory) -> None:
    server = dovecot_factory(tls=True)
    assert server.cert_path is not None
    untrusted = ssl.create_default_context()
    trusted = ssl.create_default_context(cafile=str(server.cert_path))

    plain = IMAPClient(server.host, server.port, ssl=False, timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):
        plain.starttls(untrusted)
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(server.host, server.tls_port, ssl=True, ssl_context=untrusted, timeout=5)

    starttls = IMAPClient(server.host, server.port, ssl=False, timeout=5)
    starttls.starttls(trusted)
    assert starttls.login(server.user, server.password) == b"Logged in"
    starttls.logout()
    implicit = IMAPClient(server.host, server.tls_port, ssl=True, ssl_context=trusted, timeout=5)
    assert implicit.login(server.user, server.password) == b"Logged in"
    implicit.logout()


# -- SMTP sink --------------------------------------------------------------------------------


def acknowledgement(subject: str = "Your report MIO-2026-0001") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "security@example.com"
    message["To"] = "ada@example.org"
    message["Subject"] = subject
    message.set_content("Thank you.")
    return message


def send(sink: SmtpSink, message: EmailMessage) -> None:
    asyncio.run(
        aiosmtplib.send(
            message,
            hostname=sink.host,
            port=sink.port,
            local_hostname="localhost",
            start_tls=False,
            timeout=5,
        )
    )


def test_sink_keeps_what_it_receives(smtp_sink: SmtpSink) -> None:
    send(smtp_sink, acknowledgement())

    [received] = smtp_sink.wait_for(1, timeout=5)
    assert received.mail_from == "security@example.com"
    assert received.rcpt_tos == ("ada@example.org",)
    assert received.message["Subject"] == "Your report MIO-2026-0001"
    assert received.message.get_content() == "Thank you.\n"
    assert received.raw.startswith(b"From: security@example.com")


@pytest.mark.parametrize(
    ("arrange", "code"),
    [
        (lambda sink: sink.fail_next(1, code=451, message="try later"), 451),
        (lambda sink: sink.reject_next(1, code=550, message="no such user"), 550),
    ],
    ids=["temporary", "permanent"],
)
def test_sink_answers_the_next_message_with_the_chosen_reply(
    smtp_sink: SmtpSink, arrange: Callable[[SmtpSink], None], code: int
) -> None:
    arrange(smtp_sink)

    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        send(smtp_sink, acknowledgement("first"))
    send(smtp_sink, acknowledgement("second"))

    assert refused.value.code == code
    assert [m.message["Subject"] for m in smtp_sink.wait_for(1)] == ["second"]
    assert [m.reply[:3] for m in smtp_sink.refused] == [str(code)]


def test_sink_restarts_on_the_same_port(smtp_sink: SmtpSink) -> None:
    send(smtp_sink, acknowledgement("before"))
    port = smtp_sink.port

    smtp_sink.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        send(smtp_sink, acknowledgement("during"))
    smtp_sink.start()
    send(smtp_sink, acknowledgement("after"))

    assert smtp_sink.port == port
    assert [m.message["Subject"] for m in smtp_sink.wait_for(2)] == ["before", "after"]


def test_wait_for_gives_up_after_its_timeout(smtp_sink: SmtpSink) -> None:
    with pytest.raises(TimeoutError, match="0 of 1"):
        smtp_sink.wait_for(1, timeout=0.05)


# -- databases --------------------------------------------------------------------------------


def test_database_url_is_an_empty_working_database(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert inspect(engine).get_table_names() == []
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, note TEXT)"))
            conn.execute(text("INSERT INTO probe (id, note) VALUES (1, 'written')"))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT note FROM probe")).scalar_one() == "written"
    finally:
        engine.dispose()
