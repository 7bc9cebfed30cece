"""PGP/MIME around a composed message: encrypted (RFC 3156 section 4) or signed (section 5).

The message's own header fields (From, To, Subject, Date, Message-ID, In-Reply-To, ...) stay
outside, as delivery and threading need them; its content fields (``Content-*``) and body
become the part that is encrypted or signed, byte for byte as composed, with CRLF line ends.
The Subject stays readable: it carries the report reference that threads replies.

Signed alone, the part must reach the reader unchanged, so it must be 7bit (RFC 3156 section
3): ``adapters.compose`` writes such bodies (quoted-printable beyond ASCII); a part with 8bit
data is refused with ``ValueError``. Relays that strip trailing spaces (the ``-- `` before a
signature) or quote a line that starts with ``From `` still break such a signature, one reason
to prefer encryption, signed inside. Encrypted, the part travels inside the armor and may be
anything. Signing and encrypting is one OpenPGP message signed inside its encryption (RFC 3156
section 6.2), which is what ``encrypt(..., sign=True)`` makes.

Worked example: a message with ``Subject: [VULN-12] Thanks`` and a text/plain body becomes
``Subject: [VULN-12] Thanks``, ``Content-Type: multipart/encrypted;
protocol="application/pgp-encrypted"``, a ``Version: 1`` part and an ``encrypted.asc`` part
whose plaintext is ``Content-Type: text/plain; charset="utf-8"`` and the body.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP
from typing import Protocol

from disclosure_inbox.domain.openpgp import DetachedSignature

CRLF = b"\r\n"
LINE_LIMIT = 998  # RFC 5322 section 2.1.1


class Signer(Protocol):
    def sign_detached(self, data: bytes) -> DetachedSignature: ...


class Encrypter(Protocol):
    def encrypt(self, data: bytes, recipients: list[str], *, sign: bool = False) -> bytes: ...


def split(message: EmailMessage | bytes) -> tuple[list[bytes], bytes]:
    """The outer header fields (each unfolded into one item, folding kept), and the inner
    entity: the content fields, an empty line and the body. MIME-Version goes to neither."""
    raw = message.as_bytes(policy=SMTP) if isinstance(message, EmailMessage) else message
    raw = re.sub(rb"\r?\n", CRLF, raw)
    head, _, body = raw.partition(CRLF + CRLF)
    fields: list[bytes] = []
    for line in head.split(CRLF):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += CRLF + line
        elif line:
            fields.append(line)
    outer, content = [], []
    for item in fields:
        name = item.split(b":", 1)[0].strip().lower()
        if name.startswith(b"content-"):
            content.append(item)
        elif name != b"mime-version":
            outer.append(item)
    return outer, b"".join(item + CRLF for item in content) + CRLF + body


def encrypted(
    message: EmailMessage | bytes,
    encrypter: Encrypter,
    recipients: list[str],
    *,
    sign: bool = False,
) -> bytes:
    """``message`` encrypted to ``recipients`` (and signed inside, if ``sign``) as PGP/MIME."""
    outer, inner = split(message)
    armored = encrypter.encrypt(inner, recipients, sign=sign)
    version = _entity(
        [
            b"Content-Type: application/pgp-encrypted",
            b"Content-Description: PGP/MIME version identification",
        ],
        b"Version: 1" + CRLF,
    )
    payload = _entity(
        [
            b'Content-Type: application/octet-stream; name="encrypted.asc"',
            b"Content-Description: OpenPGP encrypted message",
            b'Content-Disposition: inline; filename="encrypted.asc"',
        ],
        _crlf(armored),
    )
    params = ['protocol="application/pgp-encrypted"']
    return _multipart(outer, "encrypted", params, [version, payload])


def signed(message: EmailMessage | bytes, signer: Signer) -> bytes:
    """``message`` signed as PGP/MIME ``multipart/signed``, ``micalg`` as gpg reports it."""
    outer, inner = split(message)
    if not inner.isascii() or any(len(line) > LINE_LIMIT for line in inner.split(CRLF)):
        raise ValueError("a part to sign must be 7bit: quoted-printable or base64 beyond ASCII")
    signature = signer.sign_detached(inner)
    part = _entity(
        [
            b'Content-Type: application/pgp-signature; name="signature.asc"',
            b"Content-Description: OpenPGP digital signature",
            b'Content-Disposition: attachment; filename="signature.asc"',
        ],
        _crlf(signature.data),
    )
    params = [f'micalg="{signature.micalg}"', 'protocol="application/pgp-signature"']
    return _multipart(outer, "signed", params, [inner, part])


def _crlf(data: bytes) -> bytes:
    return re.sub(rb"\r?\n", CRLF, data)


def _entity(fields: Sequence[bytes], body: bytes) -> bytes:
    return b"".join(item + CRLF for item in fields) + CRLF + body


def _multipart(
    outer: Sequence[bytes], subtype: str, params: Sequence[str], parts: Sequence[bytes]
) -> bytes:
    boundary = f"=_{secrets.token_hex(16)}"
    while any(boundary.encode() in part for part in parts):  # 128 random bits: never, but cheap
        boundary = f"=_{secrets.token_hex(16)}"
    content_type = ";\r\n ".join(
        [f"Content-Type: multipart/{subtype}", *params, f'boundary="{boundary}"']
    )
    head = [*outer, b"MIME-Version: 1.0", content_type.encode("ascii")]
    # Each delimiter line begins with the CRLF before it (RFC 2046 section 5.1.1), so a part's
    # bytes, and for multipart/signed the signed bytes, end where the part does.
    delimiter = b"--" + boundary.encode()
    body = b"".join(delimiter + CRLF + part + CRLF for part in parts)
    return CRLF.join(head) + CRLF + CRLF + body + delimiter + b"--" + CRLF
