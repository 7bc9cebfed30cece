"""PGP/MIME and inline OpenPGP through bytes: built, detected, then decrypted or verified."""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from disclosure_inbox.adapters import compose, compose_pgp
from disclosure_inbox.adapters.openpgp import OpenPGP
from disclosure_inbox.domain.openpgp import Signature
from disclosure_inbox.domain.pgpmime import Found, detect
from disclosure_inbox.testing.openpgp_keys import ThrowawayKey, ThrowawayKeys

Homes = Callable[[ThrowawayKey], Path]
TEXT = "Thanks, we received your report and track it as VULN-12.\nÜbrigens: danke!\n"


@pytest.fixture
def org(pgp_keys: ThrowawayKeys, pgp_home: Homes) -> OpenPGP:
    pgp = OpenPGP(pgp_home(pgp_keys.org), passphrase=pgp_keys.org.passphrase)
    pgp.import_keys(pgp_keys.reporter.public)
    return pgp


@pytest.fixture
def reporter(pgp_keys: ThrowawayKeys, pgp_home: Homes) -> OpenPGP:
    pgp = OpenPGP(pgp_home(pgp_keys.reporter))
    pgp.import_keys(pgp_keys.org.public)
    return pgp


def _acknowledgement() -> bytes:
    """What adapters.compose writes for an acknowledgement, with an attachment."""
    headers = [
        compose.mailbox("From", "Example Security", "security@example.com"),
        compose.addresses("To", ["rita@example.org"]),
        compose.unstructured("Subject", "[VULN-12] Your report"),
        compose.date("Date", datetime(2026, 3, 2, 9, 30, tzinfo=UTC)),
        compose.message_id("Message-ID", "<ack-12@example.com>"),
    ]
    return compose.compose(headers, TEXT, attachments=[("policy.txt", "text/plain", b"Be nice")])


def _parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_encrypted_acknowledgement_round_trips(
    org: OpenPGP, reporter: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    raw = compose_pgp.encrypted(_acknowledgement(), org, [pgp_keys.reporter.fingerprint])

    outer = _parsed(raw)
    assert outer["Subject"] == "[VULN-12] Your report"
    assert outer["Message-ID"] == "<ack-12@example.com>"
    assert outer.get_content_type() == "multipart/encrypted"
    assert b"VULN-12." not in raw and b"policy.txt" not in raw
    (found,) = detect(raw)
    assert (found.kind, found.form) == ("encrypted", "pgp-mime")
    outcome = reporter.decrypt(found.data)
    assert outcome.ok and outcome.signature is None
    inner = _parsed(outcome.plaintext or b"")
    assert inner.get_content_type() == "multipart/mixed"
    body = inner.get_body(("plain",))
    assert body is not None and body.get_content().splitlines() == TEXT.splitlines()
    assert [part.get_filename() for part in inner.iter_attachments()] == ["policy.txt"]


def test_encrypted_and_signed_from_an_email_message(
    org: OpenPGP, reporter: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    message = EmailMessage()
    message["From"] = "security@example.com"
    message["To"] = "rita@example.org"
    message["Subject"] = "[VULN-12] Fixed"
    message.set_content(TEXT)

    raw = compose_pgp.encrypted(message, org, [pgp_keys.reporter.fingerprint], sign=True)

    (found,) = detect(raw)
    outcome = reporter.decrypt(found.data)
    assert outcome.signature == Signature("valid", pgp_keys.org.fingerprint)
    assert _parsed(outcome.plaintext or b"").get_content().splitlines() == TEXT.splitlines()


def test_signed_message_verifies_and_an_altered_one_does_not(
    org: OpenPGP, reporter: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    raw = compose_pgp.signed(_acknowledgement(), org)

    assert _parsed(raw).get_content_type() == "multipart/signed"
    assert b'micalg="pgp-sha256"' in raw
    (found, *_) = detect(raw)
    assert (found.kind, found.form) == ("signed", "pgp-mime")
    assert found.signature is not None
    valid = Signature("valid", pgp_keys.org.fingerprint)
    assert reporter.verify_detached(found.data, found.signature) == valid

    # Stored with Unix line ends, the signed part is still put back into CRLF form.
    (unix, *_) = detect(raw.replace(b"\r\n", b"\n"))
    assert unix.signature is not None
    assert reporter.verify_detached(unix.data, unix.signature) == valid

    (altered, *_) = detect(raw.replace(b"VULN-12.", b"VULN-13."))
    assert altered.signature is not None
    assert reporter.verify_detached(altered.data, altered.signature).status == "invalid"


def test_signing_an_8bit_part_is_refused(org: OpenPGP) -> None:
    message = EmailMessage()
    message["Subject"] = "x"
    message.set_content(TEXT, cte="8bit")

    with pytest.raises(ValueError, match="7bit"):
        compose_pgp.signed(message, org)


def _mixed(*parts: bytes) -> bytes:
    head = b"From: rita@example.org\r\nSubject: report\r\nMIME-Version: 1.0\r\n"
    head += b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\npreamble\r\n'
    return head + b"".join(b"--b1\r\n" + p + b"\r\n" for p in parts) + b"--b1--\r\n"


def _text_part(text: bytes) -> bytes:
    return b'Content-Type: text/plain; charset="us-ascii"\r\n\r\n' + text


def _attachment(name: str, content_type: str, data: bytes) -> bytes:
    return (
        f'Content-Type: {content_type}; name="{name}"\r\n'
        f'Content-Disposition: attachment; filename="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(data).replace(b"\n", b"\r\n")


def test_inline_armor_in_the_body_and_in_an_asc_attachment_decrypts(
    org: OpenPGP, reporter: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    first = reporter.encrypt(b"in the body\n", [pgp_keys.org.fingerprint], sign=True)
    second = reporter.encrypt(b"attached\n", [pgp_keys.org.fingerprint])
    raw = _mixed(
        _text_part(b"Hello, my report:\r\n\r\n" + first.replace(b"\n", b"\r\n") + b"Rita\r\n"),
        _attachment("report.txt.asc", "application/octet-stream", second),
    )

    found = detect(raw)

    assert [(f.kind, f.form, f.filename) for f in found] == [
        ("encrypted", "inline", None),
        ("encrypted", "attachment", "report.txt.asc"),
    ]
    body, attached = (org.decrypt(f.data) for f in found)
    assert body.plaintext == b"in the body\n"
    assert body.signature == Signature("valid", pgp_keys.reporter.fingerprint)
    assert attached.plaintext == b"attached\n"


def test_clearsigned_body_is_found_and_verified(
    org: OpenPGP, reporter: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    signed = reporter.clearsign(b"The bug is in parse_header().\n")
    raw = _mixed(_text_part(signed.replace(b"\n", b"\r\n")))

    (found,) = detect(raw)

    assert (found.kind, found.form) == ("clearsigned", "inline")
    valid = Signature("valid", pgp_keys.reporter.fingerprint)
    assert org.verify_clearsigned(found.data) == valid


@pytest.mark.parametrize("as_part", [True, False], ids=["pgp-keys-part", "armored-in-body"])
def test_reporter_key_is_found_and_imported(
    org: OpenPGP, pgp_keys: ThrowawayKeys, as_part: bool
) -> None:
    key = pgp_keys.stranger.public
    part = (
        _attachment("sam.asc", "application/pgp-keys", key)
        if as_part
        else _text_part(b"My key:\r\n" + key.replace(b"\n", b"\r\n"))
    )

    found = detect(_mixed(_text_part(b"See my key.\r\n"), part))

    assert [(f.kind, f.filename) for f in found] == [
        ("keys", "sam.asc" if as_part else None),
    ]
    assert org.import_keys(found[0].data) == [pgp_keys.stranger.fingerprint]


def test_found_in_decrypted_pgp_mime_too(
    org: OpenPGP, reporter: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    # The key usually travels inside the encryption, as an attachment of the report.
    inner = _mixed(_text_part(b"Report.\r\n"), _attachment("k.asc", "application/pgp-keys", b"K"))
    raw = compose_pgp.encrypted(inner, reporter, [pgp_keys.org.fingerprint])

    plaintext = org.decrypt(detect(raw)[0].data).plaintext or b""

    assert detect(plaintext) == (Found("keys", "attachment", b"K", filename="k.asc"),)
