"""Encrypted and signed reports at intake: PGP/MIME and inline, decrypted and read like any
message; signatures checked; a reporter's key kept; what cannot be decrypted is stored as it
came and staff are told. Real Dovecot, SMTP sink, gpg with throwaway keys, both stores."""

from __future__ import annotations

import json
import subprocess
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from disclosure_inbox.adapters.compose_pgp import signed
from disclosure_inbox.adapters.openpgp import OpenPGP
from disclosure_inbox.testing.mailgen import simple

RITA = "Rita Reporter <rita@example.org>"
STAFF = {"notify": True, "token_secret": "k" * 32}
SECRET_TEXT = "Stored XSS in the profile name field: <script>alert(document.domain)</script>"


@pytest.fixture
def org_config(tmp_path, pgp_keys):
    """[openpgp] with the organisation's throwaway key file and passphrase."""
    key = tmp_path / "org.asc"
    key.write_bytes(pgp_keys.org.secret)
    yield {"key_file": str(key), "passphrase": "org pass"}
    home = tmp_path / "var" / "gnupg"
    if home.is_dir():
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


@pytest.fixture
def rita(pgp_keys, pgp_home) -> OpenPGP:
    """The reporter's own gpg, with the organisation's public key."""
    pgp = OpenPGP(pgp_home(pgp_keys.reporter))
    pgp.import_keys(pgp_keys.org.public)
    return pgp


def _report(subject: str, text: str, *, key: bytes | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = RITA
    msg["To"] = "soc@m.io"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash(subject + text))}@example.org>"
    msg["Date"] = "Wed, 01 Jul 2026 14:00:00 +0000"
    msg.set_content(text)
    msg.add_attachment(b"<html>poc</html>", maintype="text", subtype="html", filename="poc.html")
    if key is not None:
        msg.add_attachment(key, maintype="application", subtype="pgp-keys", filename="rita.asc")
    return msg


def _inner(text: str, *, key: bytes, subject: str) -> bytes:
    """What goes inside the encryption: a MIME entity with a protected Subject."""
    inner = EmailMessage()
    inner["Subject"] = subject
    inner.set_content(text)
    inner.add_attachment(b"<html>poc</html>", maintype="text", subtype="html", filename="poc.html")
    inner.add_attachment(key, maintype="application", subtype="pgp-keys", filename="rita.asc")
    return inner.as_bytes(policy=SMTP)


def _outer(subject: str, message_id: str) -> list[bytes]:
    return [
        f"From: {RITA}".encode(),
        b"To: soc@m.io",
        f"Subject: {subject}".encode(),
        f"Message-ID: <{message_id}>".encode(),
        b"Date: Wed, 01 Jul 2026 14:00:00 +0000",
    ]


def _pgp_mime(rita: OpenPGP, org: str, subject: str, text: str, key: bytes, mid: str) -> bytes:
    """A PGP/MIME report (RFC 3156 section 4), encrypted to ``org`` and signed by Rita, whose
    public key and a proof of concept travel inside, with the real subject protected inside
    too (the outer one is "...")."""
    armored = rita.encrypt(_inner(text, key=key, subject=subject), [org], sign=True)
    boundary = "enc-boundary-1"
    head = b"\r\n".join(
        [
            *_outer("...", mid),
            b"MIME-Version: 1.0",
            b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";',
            f' boundary="{boundary}"'.encode(),
        ]
    )
    body = b"\r\n".join(
        [
            f"--{boundary}".encode(),
            b"Content-Type: application/pgp-encrypted",
            b"",
            b"Version: 1",
            f"--{boundary}".encode(),
            b'Content-Type: application/octet-stream; name="encrypted.asc"',
            b"",
            armored.replace(b"\n", b"\r\n").rstrip(),
            f"--{boundary}--".encode(),
            b"",
        ]
    )
    return head + b"\r\n\r\n" + body


def _show(d, ref: str = "MIO-2026-0001") -> dict:
    shown = d.cli("reports", "show", ref, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def _first(d, ref: str = "MIO-2026-0001") -> dict:
    """The report's first inbound message, as ``reports show`` gives it."""
    return next(m for m in _show(d, ref)["messages"] if m["direction"] == "inbound")


def test_pgp_mime_report_is_decrypted_verified_and_its_key_kept(
    make_deployment, org_config, pgp_keys, rita
):
    d = make_deployment(openpgp=org_config, staff=STAFF)
    raw = _pgp_mime(
        rita,
        pgp_keys.org.fingerprint,
        "Stored XSS on app.m.io",
        SECRET_TEXT,
        pgp_keys.reporter.public,
        "enc1@example.org",
    )
    d.account.append([raw])
    d.run_once()

    shown = _show(d)
    [message] = [m for m in shown["messages"] if m["direction"] == "inbound"]
    assert message["encryption"] == "decrypted"
    assert message["signature"] == {
        "fingerprint": pgp_keys.reporter.fingerprint,
        "status": "valid",
    }
    assert SECRET_TEXT in message["body_text"]
    assert message["body_text"].startswith("Subject: Stored XSS on app.m.io")
    assert shown["subject"] == "..."  # the protected subject never goes into a header
    assert [a["filename"] for a in shown["attachments"]] == ["poc.html", "rita.asc"]
    assert shown["triage"] is not None  # triage read the plaintext
    table = d.cli("reports", "show", "MIO-2026-0001")
    assert table.returncode == 0, table.stderr
    assert "decrypted" in table.stdout and pgp_keys.reporter.fingerprint in table.stdout
    assert (
        d.scalar("SELECT fingerprint FROM reporter_keys WHERE address = 'rita@example.org'")
        == pgp_keys.reporter.fingerprint
    )
    # The record is the ciphertext as it came.
    original = d.cli("reports", "raw", "MIO-2026-0001", "<enc1@example.org>")
    if original.returncode == 0:
        assert "multipart/encrypted" in original.stdout and SECRET_TEXT not in original.stdout

    notices = [m.message for m in d.sink.messages if list(m.rcpt_tos) == ["lead@m.io"]]
    [notice] = notices
    body = notice.get_body(preferencelist=("plain",)).get_content()
    assert "Encrypted report: its text is not in this mail" in body
    assert "alert(document.domain)" not in notice.as_string()
    assert "poc.html" not in notice.as_string()


def test_inline_blocks_in_the_body_and_in_an_attachment_are_decrypted(
    make_deployment, org_config, pgp_keys, rita
):
    d = make_deployment(openpgp=org_config)
    block = rita.encrypt(SECRET_TEXT.encode(), [pgp_keys.org.fingerprint]).decode()
    inline = simple(
        "Encrypted finding",
        body=f"Hello,\n\n{block}\n\nRita\n",
        sender=RITA,
        to="soc@m.io",
        message_id="<inline1@example.org>",
    )
    attached = _report("Encrypted finding, as a file", "The report is attached.\n")
    attached.add_attachment(
        rita.encrypt(b"SQL injection in /search?q=", [pgp_keys.org.fingerprint]),
        maintype="application",
        subtype="pgp-encrypted",
        filename="report.asc",
    )
    del attached["From"]
    attached["From"] = "Other Reporter <other@example.net>"
    d.account.append([inline, attached.as_bytes(policy=SMTP)])
    d.run_once()

    first = _first(d, "MIO-2026-0001")
    assert first["encryption"] == "decrypted"
    assert SECRET_TEXT in first["body_text"] and "BEGIN PGP MESSAGE" not in first["body_text"]
    assert first["body_text"].startswith("Hello,") and first["body_text"].rstrip().endswith("Rita")
    second = _first(d, "MIO-2026-0002")
    assert second["encryption"] == "decrypted"
    assert "[report.asc, decrypted]\nSQL injection in /search?q=" in second["body_text"]


def test_mail_encrypted_to_another_key_is_stored_unreadable_and_staff_are_told(
    make_deployment, org_config, pgp_keys, rita
):
    d = make_deployment(openpgp=org_config, staff=STAFF)
    rita.import_keys(pgp_keys.stranger.public)
    block = rita.encrypt(SECRET_TEXT.encode(), [pgp_keys.stranger.fingerprint]).decode()
    d.account.append(
        [
            simple("For the wrong key", body=block, sender=RITA, to="soc@m.io"),
            simple("A plain report", body="Plain text.\n", to="soc@m.io"),
        ]
    )
    d.run_once()

    first = _first(d, "MIO-2026-0001")
    assert (first["encryption"], first["encryption_problem"]) == ("unreadable", "no-secret-key")
    assert "BEGIN PGP MESSAGE" in first["body_text"]  # the ciphertext, as it came
    assert _first(d, "MIO-2026-0002")["encryption"] == "none"  # intake went on
    notices = [m.message for m in d.sink.messages if list(m.rcpt_tos) == ["lead@m.io"]]
    text = "\n".join(n.get_body(preferencelist=("plain",)).get_content() for n in notices)
    assert "could not be decrypted (no-secret-key)" in text


def test_signatures_are_checked_and_an_altered_message_is_invalid(
    make_deployment, org_config, pgp_keys, rita
):
    d = make_deployment(openpgp=org_config)
    good = signed(_report("Signed report", "Signed text.\n", key=pgp_keys.reporter.public), rita)
    altered = signed(
        _report("Signed, altered", "Signed text.\n", key=pgp_keys.reporter.public), rita
    )
    altered = altered.replace(b"Signed text.", b"Signed TEXT.")
    clear = rita.clearsign(b"Clearsigned finding: IDOR on /api/v2/orders.\n").decode()
    stranger = OpenPGP(Path(pgp_keys.stranger.home))
    unknown = stranger.clearsign(b"From a key nobody gave us.\n").decode()
    d.account.append(
        [
            good,
            altered,
            simple("Clearsigned", body=clear, sender=RITA, to="soc@m.io"),
            simple("Unknown signer", body=unknown, sender="sam@example.net", to="soc@m.io"),
        ]
    )
    d.run_once()

    verdicts = [_first(d, f"MIO-2026-000{n}") for n in (1, 2, 3, 4)]
    assert [v["encryption"] for v in verdicts] == ["none"] * 4
    assert [v["signature"]["status"] for v in verdicts] == [
        "valid",
        "invalid",
        "valid",
        "unknown-key",
    ]
    assert verdicts[0]["signature"]["fingerprint"] == pgp_keys.reporter.fingerprint
    assert verdicts[2]["body_text"].strip() == "Clearsigned finding: IDOR on /api/v2/orders."


def test_without_openpgp_an_encrypted_report_is_stored_as_unreadable(
    make_deployment, pgp_keys, rita
):
    d = make_deployment()
    block = rita.encrypt(SECRET_TEXT.encode(), [pgp_keys.org.fingerprint]).decode()
    d.account.append([simple("Encrypted", body=block, sender=RITA, to="soc@m.io")])
    d.run_once()
    message = _first(d)
    assert (message["encryption"], message["encryption_problem"]) == (
        "unreadable",
        "no-openpgp-configured",
    )


def test_a_new_key_for_an_address_is_taken_only_when_its_owner_proves_it(
    make_deployment, org_config, pgp_keys, rita, tmp_path
):
    from disclosure_inbox.testing.openpgp_keys import make_key, stop_agent

    d = make_deployment(openpgp=org_config)
    other = make_key(tmp_path / "b", RITA)  # another key naming Rita's address
    try:
        first = signed(_report("First", "Text.\n", key=pgp_keys.reporter.public), rita)
        forged = _report("Forged key", "Use this key from now on.\n", key=other.public)
        rotated = signed(_report("Rotation", "My new key.\n", key=other.public), rita)
        d.account.append([first])
        d.run_once()
        d.account.append([forged.as_bytes(policy=SMTP)])
        d.run_once()
        stored = d.rows("SELECT fingerprint FROM reporter_keys ORDER BY id")
        assert [r[0] for r in stored] == [pgp_keys.reporter.fingerprint]  # not replaced
        d.account.append([rotated])
        d.run_once()
        stored = d.rows("SELECT fingerprint FROM reporter_keys ORDER BY id")
        assert [r[0] for r in stored] == [pgp_keys.reporter.fingerprint, other.fingerprint]
        rules = [
            json.loads(r[0]) if isinstance(r[0], str) else r[0]
            for r in d.rows("SELECT detail FROM audit WHERE action LIKE 'key-%' ORDER BY id")
        ]
        assert [r["rule"] for r in rules] == [
            "first-key",
            "unverified-replacement",
            "signed-by-stored-key",
        ]
    finally:
        stop_agent(other.home)
