"""What OpenPGP a message carries, found in its raw bytes: one pure function, ``detect``.

Four kinds, each with the bytes that the OpenPGP adapter is handed:

- ``encrypted``: an OpenPGP message, for ``decrypt`` (which also reads one that is only
  signed): the second part of a PGP/MIME ``multipart/encrypted`` (RFC 3156 section 4), an
  armored ``-----BEGIN PGP MESSAGE-----`` block in a text part, or an ``.asc``/``.gpg``/``.pgp``
  attachment holding one.
- ``signed``: a PGP/MIME ``multipart/signed`` (RFC 3156 section 5), for ``verify_detached``:
  the first part's bytes exactly as on the wire, headers and all, with CRLF line ends, and the
  signature from the second part.
- ``clearsigned``: a ``-----BEGIN PGP SIGNED MESSAGE-----`` block (RFC 9580 section 7), for
  ``verify_clearsigned``, and ``decrypt`` for the text it vouches for.
- ``keys``: an ``application/pgp-keys`` part (RFC 3156 section 7) or an armored
  ``-----BEGIN PGP PUBLIC KEY BLOCK-----``, for ``import_keys``.

The parts are cut from the raw bytes at their boundaries (RFC 2046 section 5.1.1), not
re-serialised by the email package, so that signed bytes stay the bytes that were signed. The
inside of ``multipart/encrypted`` is ciphertext and is not looked into: ``detect`` the
plaintext after decryption. Forwarded messages (``message/rfc822``) and HTML are not looked
into either. Armor is found only at the start of a line, so a quoted block (``> -----BEGIN``)
in a reply is not taken for a new one.

Worked example: a ``multipart/mixed`` with a text part holding an armored message and an
attachment ``rita.asc`` holding her public key gives
``(Found("encrypted", "inline", b"-----BEGIN PGP MESSAGE-----..."),
Found("keys", "attachment", b"-----BEGIN PGP PUBLIC KEY BLOCK-----...", filename="rita.asc"))``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from typing import Literal

Kind = Literal["encrypted", "signed", "clearsigned", "keys"]
Form = Literal["pgp-mime", "inline", "attachment"]

MAX_DEPTH = 16  # nested multiparts looked into
MAX_ENTITIES = 500  # MIME entities looked at in one message
_ATTACHMENT_SUFFIXES = (".asc", ".gpg", ".pgp")
_PGP_TYPES = frozenset({"application/pgp-encrypted", "application/pgp-keys", "application/pgp"})
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LINE = re.compile(rb"[^\n]*\n|[^\n]+")

# Armor header line -> (kind, the armor tail line that ends the block). RFC 9580 section 6.2.
_ARMOR: dict[bytes, tuple[Kind, bytes]] = {
    b"-----BEGIN PGP MESSAGE-----": ("encrypted", b"-----END PGP MESSAGE-----"),
    b"-----BEGIN PGP SIGNED MESSAGE-----": ("clearsigned", b"-----END PGP SIGNATURE-----"),
    b"-----BEGIN PGP PUBLIC KEY BLOCK-----": ("keys", b"-----END PGP PUBLIC KEY BLOCK-----"),
}

# The first packet's tag, for binary (.gpg) attachments (RFC 9580 sections 4.2 and 5): session
# keys, or a message that is compressed, one-pass signed or literal, are an OpenPGP message; a
# lone signature packet (tag 2) is a detached signature of something else, and a secret key
# (tag 5) is not ours to take: both are left alone.
_PACKET_KINDS: dict[int, Kind] = {
    1: "encrypted",  # public-key encrypted session key
    3: "encrypted",  # symmetric-key encrypted session key
    4: "encrypted",  # one-pass signature
    8: "encrypted",  # compressed data
    11: "encrypted",  # literal data
    6: "keys",  # public key
}


@dataclass(frozen=True, slots=True)
class Found:
    kind: Kind
    form: Form
    data: bytes
    signature: bytes | None = None  # "signed" only: the detached signature
    filename: str | None = None  # "attachment" only

    def __post_init__(self) -> None:
        if (self.kind == "signed") != (self.signature is not None):
            raise ValueError("a detached signature goes with kind 'signed', and only with it")


def detect(raw: bytes) -> tuple[Found, ...]:
    """Everything OpenPGP in ``raw`` (a message, or a MIME entity such as decrypted
    PGP/MIME), in the order it appears."""
    walk = _Walk()
    walk.entity(raw, depth=0)
    return tuple(walk.found)


@dataclass
class _Walk:
    found: list[Found] = field(default_factory=list)
    budget: int = MAX_ENTITIES

    def entity(self, raw: bytes, depth: int) -> None:
        self.budget -= 1
        if self.budget < 0 or depth > MAX_DEPTH:
            return
        try:
            self._entity(raw, depth)
        except (ValueError, LookupError, UnicodeError):
            return  # a part whose headers cannot be read (a hostile charset) holds no OpenPGP

    def _entity(self, raw: bytes, depth: int) -> None:
        head, body = _split(raw)
        headers = BytesParser(policy=compat32).parsebytes(head, headersonly=True)
        ctype = headers.get_content_type()
        boundary = headers.get_boundary()
        protocol = str(headers.get_param("protocol") or "").lower()
        if ctype.startswith("multipart/") and boundary:
            parts = _parts(body, boundary)
            if ctype == "multipart/encrypted" and protocol == "application/pgp-encrypted":
                if len(parts) >= 2:  # RFC 3156 section 4: the second part holds the armor
                    self.found.append(Found("encrypted", "pgp-mime", _payload(parts[1])))
                return
            if ctype == "multipart/signed" and protocol == "application/pgp-signature":
                if len(parts) >= 2:
                    # RFC 3156 section 5: the signed data is the first part as sent, with its
                    # headers, in canonical CRLF form; the CRLF before a boundary is not in it.
                    signed = re.sub(rb"\r?\n", b"\r\n", parts[0])
                    signature = _payload(parts[1])
                    self.found.append(Found("signed", "pgp-mime", signed, signature))
                    self.entity(parts[0], depth + 1)  # keys may travel inside
                return
            for part in parts:
                self.entity(part, depth + 1)
            return
        self.leaf(raw, headers, ctype)

    def leaf(self, raw: bytes, headers: Message, ctype: str) -> None:
        filename = _filename(headers)
        if ctype == "application/pgp-keys":
            self.found.append(Found("keys", "attachment", _payload(raw), filename=filename))
            return
        named = filename is not None and filename.lower().endswith(_ATTACHMENT_SUFFIXES)
        if named or ctype in _PGP_TYPES:
            data = _payload(raw)
            blocks = _armored(data)
            if blocks:
                self.found.extend(
                    Found(kind, "attachment", block, filename=filename) for kind, block in blocks
                )
            elif data[:1] and data[0] & 0x80 and _packet_tag(data[0]) in _PACKET_KINDS:
                kind = _PACKET_KINDS[_packet_tag(data[0])]
                self.found.append(Found(kind, "attachment", data, filename=filename))
            return
        if ctype == "text/plain":
            form: Form = "inline" if filename is None else "attachment"
            blocks = _armored(_payload(raw))
            self.found.extend(Found(k, form, b, filename=filename) for k, b in blocks)


def _split(raw: bytes) -> tuple[bytes, bytes]:
    """Header block and body; an entity that starts with an empty line has no headers."""
    if raw.startswith((b"\r\n", b"\n")):
        return b"", raw[2 if raw.startswith(b"\r\n") else 1 :]
    end = _HEAD_END.search(raw)
    if end is None:
        return raw, b""
    return raw[: end.start()] + b"\r\n", raw[end.end() :]


def _parts(body: bytes, boundary: str) -> list[bytes]:
    """The parts of a multipart body, cut at its delimiter lines (RFC 2046 section 5.1.1):
    each part without the line end before the next delimiter, which belongs to the
    delimiter. A body cut short keeps its last part."""
    delimiter = re.compile(
        rb"(?:\A|\r?\n)--" + re.escape(boundary.encode("latin-1", "replace")) + rb"(--)?[ \t]*"
        rb"(?:\r?\n|\Z)"
    )
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            parts.append(body[start : match.start()])
        if match.group(1):  # the close delimiter
            return parts
        start = match.end()
    if start is not None and start < len(body):
        parts.append(body[start:])
    return parts


def _payload(raw: bytes) -> bytes:
    """An entity's body with its transfer encoding (base64, quoted-printable) undone."""
    message = BytesParser(policy=compat32).parsebytes(raw)
    payload = message.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _filename(headers: Message) -> str | None:
    try:
        name = headers.get_filename()  # RFC 2231 decoding can fail on a hostile charset
    except (ValueError, LookupError, UnicodeError):
        return None
    if name is None:
        return None
    try:
        return str(make_header(decode_header(name)))  # an RFC 2047 encoded word, if one
    except (ValueError, LookupError, UnicodeError):
        return name


def _armored(data: bytes) -> list[tuple[Kind, bytes]]:
    """Each armored block that starts at the start of a line, with its kind, in order: one pass
    over the lines, so a header line without its tail costs no more than any other line."""
    blocks: list[tuple[Kind, bytes]] = []
    begin: int | None = None
    tail = b""
    kind: Kind = "encrypted"
    for line in _LINE.finditer(data):
        text = line.group().rstrip()
        if begin is None and text in _ARMOR:
            begin, (kind, tail) = line.start(), _ARMOR[text]
        elif begin is not None and text == tail:
            blocks.append((kind, data[begin : line.end()]))
            begin = None
    return blocks


def _packet_tag(first: int) -> int:
    # RFC 9580 section 4.2: bit 6 set is the new format (tag in bits 0-5), else the legacy
    # format (tag in bits 2-5).
    return first & 0x3F if first & 0x40 else (first >> 2) & 0x0F
