"""Mail to a reporter whose OpenPGP key is known goes encrypted and signed (PGP/MIME), sealed
right before its first send; real gpg with throwaway keys, a real SMTP server, SQLite and
PostgreSQL. The mail that arrives is opened with the reporter's (or staff member's) secret key."""

from __future__ import annotations

import asyncio
import email
import email.policy
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from test_staff_replies import STAFF, staff_mail

from disclosure_inbox import commands
from disclosure_inbox.adapters.db.engine import make_engine, upgrade
from disclosure_inbox.adapters.db.models import AuditEntry, OutboxRow, ReporterKey
from disclosure_inbox.adapters.db.outbox import OutboxRows
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.openpgp import OpenPGP
from disclosure_inbox.config import parse_settings
from disclosure_inbox.domain.errors import OpenPGPUnavailable
from disclosure_inbox.domain.openpgp import Signature
from disclosure_inbox.domain.pgpmime import detect
from disclosure_inbox.service.keyring import Keyring, open_keyring
from disclosure_inbox.service.outbox import Outbox, Outgoing, enqueue, retry
from disclosure_inbox.service.sealing import Sealer
from disclosure_inbox.testing.config import local_deployment
from disclosure_inbox.testing.mailgen import simple
from disclosure_inbox.testing.openpgp_keys import ThrowawayKey, make_key, stop_agent

RITA = "Rita Reporter <rita@example.org>"
T0 = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
LEASE = timedelta(seconds=120)  # [smtp] lease_seconds' default


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path_factory) -> Iterator[Path]:
    """A short storage directory: the working GnuPG home, and its agent's sockets, live in it."""
    path = tmp_path_factory.mktemp("var")
    yield path
    stop_agent(path / "gnupg")


def openpgp_section(pgp_keys, directory: Path) -> dict[str, object]:
    """The organisation's key from a key file; the stranger's key is the staff key."""
    secret, staff = directory / "org.asc", directory / "staff.asc"
    secret.write_bytes(pgp_keys.org.secret)
    staff.write_bytes(pgp_keys.stranger.public)
    return {"key_file": str(secret), "passphrase": "org pass", "staff_keys": [str(staff)]}


def store_key(store: Store, address: str, key: ThrowawayKey, at: datetime = T0) -> None:
    """A reporter's key, as intake stores one that arrives in a message."""
    with store.transaction() as session:
        session.execute(
            insert(ReporterKey).values(
                address=address,
                fingerprint=key.fingerprint,
                armored=key.public.decode("ascii"),
                uids=[key.uid],
                message_pk=None,
                created_at=at,
            )
        )


def reader(pgp_home, key: ThrowawayKey, org: ThrowawayKey) -> OpenPGP:
    """``key``'s holder, who knows the organisation's public key."""
    pgp = OpenPGP(pgp_home(key))
    pgp.import_keys(org.public)
    return pgp


def opened(raw: bytes, pgp: OpenPGP) -> tuple[EmailMessage, Signature | None]:
    """The message inside a PGP/MIME ``multipart/encrypted``, and the signature on it."""
    assert parse(raw).get_content_type() == "multipart/encrypted"
    [found] = detect(raw)
    assert (found.kind, found.form) == ("encrypted", "pgp-mime")
    outcome = pgp.decrypt(found.data)
    assert outcome.ok, outcome.failure
    return parse(outcome.plaintext or b""), outcome.signature


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content()


def to(d, address: str):
    return [m for m in d.sink.messages if list(m.rcpt_tos) == [address]]


def revoked(tmp_path: Path) -> ThrowawayKey:
    """A key of Rita's that she has revoked: gpg made its revocation certificate with it."""
    key = make_key(tmp_path / "revoked", "Rita Reporter <rita@example.org>")
    certificate = (key.home / "openpgp-revocs.d" / f"{key.fingerprint}.rev").read_text()
    gpg = ["gpg", "--homedir", str(key.home), "--batch"]
    subprocess.run(
        [*gpg, "--import"],
        input=certificate.replace(":-----BEGIN", "-----BEGIN").encode(),
        check=True,
        capture_output=True,
    )
    public = subprocess.run(
        [*gpg, "--armor", "--export", key.fingerprint], check=True, capture_output=True
    ).stdout
    stop_agent(key.home)
    return replace(key, public=public)


# --- end to end: intake, the outbox, the SMTP server -------------------------------------------


@pytest.fixture
def encrypting(make_deployment, pgp_keys, storage, tmp_path):
    def make(**overrides):
        return make_deployment(
            openpgp=openpgp_section(pgp_keys, tmp_path), storage={"dir": str(storage)}, **overrides
        )

    return make


def test_a_reporter_whose_key_is_known_gets_the_acknowledgement_encrypted_and_signed(
    encrypting, pgp_keys, pgp_home
):
    d = encrypting()
    store_key(d.store, "rita@example.org", pgp_keys.reporter)
    d.account.append(
        [
            simple("SQLi in search", sender=RITA, message_id="<r1@example.org>"),
            simple("XSS in profile", message_id="<a1@example.org>"),  # Ada sent no key
        ]
    )
    result = d.run_once()
    assert result.outbox.sent == 2, result.summary()

    [rita] = to(d, "rita@example.org")
    outer = rita.message
    assert outer["Subject"] == "[MIO-2026-0001] Re: SQLi in search"
    assert outer["In-Reply-To"] == "<r1@example.org>"
    assert b"MIO-2026-0001" not in rita.raw.partition(b"\r\n\r\n")[2]  # the text is inside
    inner, signature = opened(rita.raw, reader(pgp_home, pgp_keys.reporter, pgp_keys.org))
    assert "MIO-2026-0001" in text_of(inner)
    assert "https://m.io/disclosure" in text_of(inner)
    assert signature == Signature("valid", pgp_keys.org.fingerprint)

    [ada] = to(d, "ada@example.org")
    assert ada.message.get_content_type() == "multipart/alternative"  # as before
    assert "MIO-2026-0002" in text_of(ada.message)

    # The record keeps the text as written; the outbox row, what was sent.
    body = d.scalar("SELECT body_text FROM messages WHERE outcome = 'ack' AND report_id = 1")
    assert "MIO-2026-0001" in body
    rows = d.rows("SELECT to_address, protect, sealed_at FROM outbox ORDER BY id")
    assert [(r[0], r[1], r[2] is not None) for r in rows] == [
        ("rita@example.org", "reporter", True),
        ("ada@example.org", "reporter", True),
    ]
    raw = commands.report_raw(d.settings, "MIO-2026-0001", outer["Message-ID"])
    assert raw == rita.raw
    with d.store.reading() as session:
        sealed = session.scalars(
            select(AuditEntry.detail)
            .where(AuditEntry.action == "outbox-sealed")
            .order_by(AuditEntry.id)
        ).all()
    assert [(s["rule"], s["encrypted_to"]) for s in sealed] == [
        ("reporter-key", [pgp_keys.reporter.fingerprint]),
        ("no-reporter-key", []),
    ]


def test_a_relayed_staff_reply_is_encrypted_to_the_reporter(encrypting, pgp_keys, pgp_home):
    d = encrypting(staff=STAFF)
    store_key(d.store, "rita@example.org", pgp_keys.reporter)
    d.account.append([simple("SQLi in search", sender=RITA, message_id="<r1@example.org>")])
    d.run_once()
    [notice] = [m.message for m in to(d, "lead@m.io")]
    assert "SQLi in search" in text_of(notice)  # staff mail stays as it was
    d.account.append(
        [
            staff_mail(
                "Thanks Rita, we can reproduce it.\n",
                to_addr=notice["Reply-To"],
                in_reply_to=notice["Message-ID"],
                attachment=b"--- a/search.py\n+++ b/search.py\n",
            )
        ]
    )
    d.run_once()
    [_, relay] = to(d, "rita@example.org")
    assert relay.message["Auto-Submitted"] == "no"
    inner, signature = opened(relay.raw, reader(pgp_home, pgp_keys.reporter, pgp_keys.org))
    assert "we can reproduce it" in text_of(inner)
    [part] = list(inner.iter_attachments())
    assert part.get_filename() == "fix.diff"
    assert signature == Signature("valid", pgp_keys.org.fingerprint)
    assert b"reproduce" not in relay.raw


def test_a_key_that_cannot_encrypt_fails_the_row_and_nothing_goes_in_clear(
    encrypting, pgp_keys, pgp_home, tmp_path
):
    d = encrypting()
    old = revoked(tmp_path)
    store_key(d.store, "rita@example.org", old)
    d.account.append([simple("SQLi in search", sender=RITA)])
    result = d.run_once()
    assert (result.outbox.sent, result.outbox.failed) == (0, 1)
    assert d.sink.messages == []
    [listed] = commands.outbox_list(d.settings, state="failed")
    assert listed["to"] == "rita@example.org"
    assert listed["last_error"].startswith("the reporter's OpenPGP key cannot encrypt: ")
    assert old.fingerprint in listed["last_error"]
    assert d.scalar("SELECT sealed_at FROM outbox") is None

    # Rita sends a key that works; staff put the acknowledgement back in line.
    store_key(d.store, "rita@example.org", pgp_keys.reporter, at=d.clock.advance(hours=1))
    retry(d.store, listed["id"], d.clock.now(), d.settings)
    d.run_once()
    [rita] = to(d, "rita@example.org")
    inner, _ = opened(rita.raw, reader(pgp_home, pgp_keys.reporter, pgp_keys.org))
    assert "MIO-2026-0001" in text_of(inner)


# --- the outbox alone: sealing and resending ----------------------------------------------------


class _Account:  # the IMAP side is not used here; the settings only need its fields
    host, port, user, password = "127.0.0.1", 1, "nobody", "unused"


class _Clock:
    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


@pytest.fixture
def store(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield Store(engine)
    engine.dispose()


@pytest.fixture
def keyring(smtp_sink, database_url, storage, pgp_keys, tmp_path):
    settings = parse_settings(
        local_deployment(
            _Account(),
            smtp_sink,
            database_url,
            storage,
            {"openpgp": openpgp_section(pgp_keys, tmp_path)},
        )
    )
    ring = open_keyring(settings)
    assert ring is not None
    yield settings, ring
    ring.pgp.close()


def _queue(store: Store, settings, *, protect: str, to_address: str) -> int:
    out = Outgoing(
        kind="ack" if protect == "reporter" else "notification",
        report_id=None,
        report_ref=None,
        recipients=[to_address],
        subject="[MIO-2026-0001] Re: SQLi in search",
        text="We received your report MIO-2026-0001.\n",
        protect=protect,
    )
    with store.transaction() as session:
        return enqueue(session, settings, out, T0).id


def _row(store: Store, row_id: int) -> OutboxRow:
    with store.reading() as session:
        row = session.get(OutboxRow, row_id)
        assert row is not None
        session.expunge(row)
        return row


def test_a_resend_after_a_crash_between_sealing_and_sending_is_the_same_bytes(
    store, keyring, smtp_sink, pgp_keys, pgp_home
):
    settings, ring = keyring
    store_key(store, "rita@example.org", pgp_keys.reporter)
    row_id = _queue(store, settings, protect="reporter", to_address="rita@example.org")
    built = _row(store, row_id).raw

    # A sender claims the row and seals it, then dies before sending.
    crashed = OutboxRows(store, "crashed")
    [claimed] = crashed.claim_next(T0, LEASE)
    sealed = Sealer(ring, store, crashed).seal(claimed, T0)
    assert sealed is not None and sealed != built
    stored = _row(store, row_id)
    assert (stored.raw, stored.sealed_at is not None) == (sealed, True)
    assert smtp_sink.messages == []

    # Once the lease has run out, the next sender sends the stored bytes as they are.
    after = _Clock(T0 + LEASE + timedelta(seconds=1))
    result = asyncio.run(Outbox(settings, store, keyring=ring).drain(after))
    assert result.sent == 1
    [mail] = smtp_sink.messages
    assert mail.raw == sealed
    inner, _ = opened(mail.raw, reader(pgp_home, pgp_keys.reporter, pgp_keys.org))
    assert text_of(inner) == "We received your report MIO-2026-0001.\n"
    with store.reading() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("outbox-sealed") == 1


def test_a_notice_marked_for_staff_goes_to_the_staff_keys_and_never_in_clear(
    store, keyring, smtp_sink, pgp_keys, pgp_home
):
    settings, ring = keyring
    row_id = _queue(store, settings, protect="staff", to_address="lead@m.io")

    # Without [openpgp] (its section removed since), the notice is held, not sent in clear.
    result = asyncio.run(Outbox(settings, store).drain(_Clock(T0)))
    assert (result.sent, result.failed, smtp_sink.messages) == (0, 1, [])
    held = _row(store, row_id)
    assert held.state == "failed" and "staff_keys" in held.last_error

    retry(store, row_id, T0, settings)
    result = asyncio.run(Outbox(settings, store, keyring=ring).drain(_Clock(T0)))
    assert result.sent == 1
    [mail] = smtp_sink.messages
    assert list(mail.rcpt_tos) == ["lead@m.io"]
    staff = reader(pgp_home, pgp_keys.stranger, pgp_keys.org)
    inner, signature = opened(mail.raw, staff)
    assert "MIO-2026-0001" in text_of(inner)
    assert signature == Signature("valid", pgp_keys.org.fingerprint)
    assert ring.staff == (pgp_keys.stranger.fingerprint,)


class _GpgDown:
    """An OpenPGP port whose gpg does not start."""

    def __getattr__(self, name: str):
        def fail(*args: object, **kwargs: object):
            raise OpenPGPUnavailable("gpg encrypt in /nowhere failed: [Errno 2] No such file")

        return fail


def test_gpg_that_does_not_run_defers_the_row_like_a_4xx(store, keyring, smtp_sink, pgp_keys):
    settings, ring = keyring
    store_key(store, "rita@example.org", pgp_keys.reporter)
    row_id = _queue(store, settings, protect="reporter", to_address="rita@example.org")
    down: Keyring = replace(ring, pgp=_GpgDown())
    result = asyncio.run(Outbox(settings, store, keyring=down).drain(_Clock(T0)))
    assert (result.sent, result.deferred, result.failed) == (0, 1, 0)
    assert smtp_sink.messages == []
    row = _row(store, row_id)
    assert (row.state, row.attempts, row.sealed_at, row.claimed_by) == ("pending", 1, None, None)
    assert "No such file" in row.last_error
    assert row.next_attempt_at.replace(tzinfo=UTC) > T0
