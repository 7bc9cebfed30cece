"""Finding OpenPGP in raw messages: literal bytes in, ``Found`` values out."""

from __future__ import annotations

import base64

import pytest

from disclosure_inbox.domain.pgpmime import MAX_DEPTH, Found, detect

ARMORED = b"-----BEGIN PGP MESSAGE-----\r\n\r\nhF4DwrRHUoPvp60\r\n-----END PGP MESSAGE-----\r\n"
KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\r\n\r\nmDMEZ\r\n-----END PGP PUBLIC KEY BLOCK-----\r\n"
SIGNATURE = b"-----BEGIN PGP SIGNATURE-----\r\n\r\niHUEARYIAB0\r\n-----END PGP SIGNATURE-----\r\n"


def _message(content_type: bytes, body: bytes) -> bytes:
    return (
        b"From: rita@example.org\r\nSubject: report\r\nContent-Type: "
        + content_type
        + (b"\r\n\r\n" + body)
    )


def test_pgp_mime_encrypted_gives_the_second_part_and_looks_no_further() -> None:
    raw = _message(
        b'multipart/encrypted; protocol="application/pgp-encrypted"; boundary="enc"',
        b"This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n"
        b"--enc\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
        b'--enc\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
        + ARMORED
        + b"\r\n--enc--\r\n",
    )

    assert detect(raw) == (Found("encrypted", "pgp-mime", ARMORED),)


def test_pgp_mime_signed_gives_the_signed_part_exactly_as_sent() -> None:
    signed_part = (
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Line one  =\r\nstill one\r\n"  # ends in CRLF: that one is the data's, not the boundary's
    )
    raw = _message(
        b'multipart/signed; micalg=pgp-sha256;\r\n protocol="application/pgp-signature";'
        b' boundary="sig"',
        b"--sig\r\n"
        + signed_part
        + b"\r\n--sig  \r\n"  # transport padding after a delimiter is allowed
        + b"Content-Type: application/pgp-signature\r\n\r\n"
        + SIGNATURE
        + b"\r\n--sig--\r\nepilogue\r\n",
    )

    (found,) = detect(raw)

    assert found == Found("signed", "pgp-mime", signed_part, signature=SIGNATURE)
    # Stored with Unix line ends, the signed bytes are put back into canonical CRLF form.
    assert detect(raw.replace(b"\r\n", b"\n"))[0].data == signed_part


def test_signed_inside_mixed_and_keys_inside_signed_are_found() -> None:
    inner_signed = (
        b'Content-Type: multipart/mixed; boundary="in"\r\n\r\n'
        b"--in\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--in\r\nContent-Type: application/pgp-keys\r\n\r\n" + KEY + b"\r\n--in--\r\n"
    )
    raw = _message(
        b'multipart/mixed; boundary="out"',
        b'--out\r\nContent-Type: multipart/signed; protocol="application/pgp-signature";'
        b' micalg=pgp-sha512; boundary="sig"\r\n\r\n'
        b"--sig\r\n" + inner_signed + b"\r\n--sig\r\n"
        b"Content-Type: application/pgp-signature\r\n\r\n" + SIGNATURE + b"\r\n--sig--\r\n"
        b"\r\n--out--\r\n",
    )

    found = detect(raw)

    assert [(f.kind, f.form) for f in found] == [("signed", "pgp-mime"), ("keys", "attachment")]
    assert found[0].data == inner_signed
    assert found[1].data == KEY


def test_inline_blocks_in_order_and_only_at_the_start_of_a_line() -> None:
    clearsigned = (
        b"-----BEGIN PGP SIGNED MESSAGE-----\r\nHash: SHA256\r\n\r\n"
        b"- -----BEGIN PGP MESSAGE-----\r\nnot a block: dash-escaped\r\n" + SIGNATURE
    )
    body = (
        b"Hi,\r\n> -----BEGIN PGP MESSAGE-----\r\n> quoted from an earlier mail\r\n"
        + ARMORED
        + b"and signed:\r\n"
        + clearsigned
        + b"my key:\r\n"
        + KEY
        + b"-----BEGIN PGP MESSAGE-----\r\nnever ended\r\n"
    )

    found = detect(_message(b"text/plain; charset=utf-8", body))

    assert found == (
        Found("encrypted", "inline", ARMORED),
        Found("clearsigned", "inline", clearsigned),
        Found("keys", "inline", KEY),
    )


def _attachment(name: str, content_type: str, data: bytes) -> bytes:
    return (
        f'--m\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment; filename="{name}"'
        "\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(data)


def test_attachments_by_name_type_and_first_packet() -> None:
    binary_message = bytes([0x85, 0x01, 0x0C]) + b"\x03" * 20  # legacy format, tag 1 (PKESK)
    binary_key = bytes([0xC6, 0x33, 0x04]) + b"\x00" * 20  # new format, tag 6 (public key)
    parts = [
        _attachment("report.pdf.gpg", "application/octet-stream", binary_message),
        _attachment("key.pgp", "application/octet-stream", binary_key),
        _attachment("report.txt.asc", "text/plain", ARMORED),
        _attachment("report.pdf.sig", "application/pgp-signature", SIGNATURE),  # detached
        _attachment("report.pdf.asc", "application/octet-stream", SIGNATURE),  # detached
        _attachment("photo.gpg", "image/png", b"\x89PNG\r\n"),
        _attachment("notes.txt", "text/plain", KEY),
        _attachment("=?utf-8?q?schl=C3=BCssel.asc?=", "application/octet-stream", KEY),
    ]
    raw = _message(b'multipart/mixed; boundary="m"', b"\r\n".join(parts) + b"\r\n--m--\r\n")

    found = detect(raw)

    assert [(f.kind, f.form, f.filename) for f in found] == [
        ("encrypted", "attachment", "report.pdf.gpg"),
        ("keys", "attachment", "key.pgp"),
        ("encrypted", "attachment", "report.txt.asc"),
        ("keys", "attachment", "notes.txt"),
        ("keys", "attachment", "schlüssel.asc"),
    ]
    assert found[0].data == binary_message


def test_nothing_openpgp_gives_nothing() -> None:
    assert detect(_message(b"text/plain", b"Just a report.\r\n")) == ()
    assert detect(_message(b"text/html", ARMORED)) == ()  # HTML is not looked into
    assert detect(b"") == ()
    # A multipart without its boundary parameter, and one cut short, do not raise.
    assert detect(_message(b"multipart/mixed", b"--x\r\n\r\nhi\r\n")) == ()
    cut = _message(b'multipart/mixed; boundary="x"', b"--x\r\nContent-Type: text/plain\r\n\r\n")
    assert detect(cut + ARMORED[:40]) == ()


def test_nesting_deeper_than_the_limit_is_not_followed() -> None:
    body = _message(b"text/plain", ARMORED)
    for depth in range(MAX_DEPTH + 2):
        boundary = f"b{depth}".encode()
        body = (
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n--'
            + boundary + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n"
        )  # fmt: skip

    assert detect(body) == ()


def test_found_holds_a_signature_only_when_signed() -> None:
    with pytest.raises(ValueError):
        Found("signed", "pgp-mime", b"data")
    with pytest.raises(ValueError):
        Found("encrypted", "inline", b"data", signature=b"sig")


def test_a_part_whose_file_name_cannot_be_decoded_is_passed_over() -> None:
    # RFC 2231 with a charset Python cannot decode with error handling: reading the name
    # raises inside the email package; the message is looked at all the same.
    hostile = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=idna''%FF%FE.asc\r\n\r\n"
        + ARMORED
        + b"\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        + ARMORED
        + b"\r\n--b--\r\n"
    )
    found = detect(_message(b'multipart/mixed; boundary="b"', hostile.split(b"\r\n\r\n", 1)[1]))
    assert [f.form for f in found] == ["inline"]
