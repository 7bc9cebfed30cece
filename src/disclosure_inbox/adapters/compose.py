"""The bytes of the mail we write ourselves, composed directly.

``email.message.EmailMessage`` parses every header value it is given and re-folds it on
output; for our few, known headers that costs more than the rest of storing a report. This
module writes the same kind of message in one pass, with the guarantees the strict policy
gave, each enforced here:

- A header value holding CR, LF or NUL is refused (``HeaderDefect``, a ``ValueError``): no
  value can end its header line and start another.
- A value that is not plain ASCII, or that holds ``=?`` (which a reader would take for the
  start of an encoded word), is written as RFC 2047 encoded words, so that what the reader
  shows is exactly the value, never something decoded from it.
- Every header line is folded at whitespace to at most 78 characters where it can be, and
  never longer than RFC 5322's 998; a long word is written as encoded words instead.
- Message identifiers (``In-Reply-To``, ``References``) are written only when they are
  printable ASCII without spaces: a reporter's malformed identifier is left out, not sent.
- Bodies are UTF-8 with CRLF line ends: 7bit when ASCII with short lines, otherwise
  quoted-printable, so that no relay needs 8BITMIME.

Worked example: ``unstructured("Subject", "Re: Ünïcode")`` gives
``Subject: =?utf-8?q?Re=3A_=C3=9Cn=C3=AFcode?=``; ``unstructured("Subject", "a\\r\\nBcc: x")``
raises ``HeaderDefect``.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Sequence
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.quoprimime import body_encode
from email.utils import format_datetime, formataddr
from urllib.parse import quote

CRLF = "\r\n"
FOLD_AT = 78  # RFC 5322 section 2.1.1: SHOULD be no more than 78 characters
LINE_LIMIT = 998  # and MUST be no more than 998
_FORBIDDEN = re.compile(r"[\r\n\x00]")
_MSG_ID = re.compile(r"<[\x21-\x7e]{1,900}>")
_UTF8_Q = Charset("utf-8")
_UTF8_Q.header_encoding = QP  # readable in raw form, and what mail clients write


class HeaderDefect(ValueError):
    """A value that must not be put in a header line."""


def _checked(name: str, value: str) -> None:
    if _FORBIDDEN.search(value):
        raise HeaderDefect(f"{name}: a header value may not hold CR, LF or NUL")


def _address(name: str, value: str) -> None:
    _checked(name, value)
    if not value or not value.isascii() or " " in value:
        raise HeaderDefect(f"{name}: {value!r} cannot be written as an address")


def _encoded(name: str, value: str) -> str:
    """``value`` as RFC 2047 Q-encoded words, folded."""
    return Header(value, _UTF8_Q, header_name=name, maxlinelen=FOLD_AT).encode(linesep=CRLF)


def _fold(name: str, value: str) -> str | None:
    """``Name: value`` folded at spaces to FOLD_AT; None if a word would pass LINE_LIMIT."""
    line = f"{name}:"
    lines = []
    for word in value.split(" "):
        if word and len(line) + 1 + len(word) > FOLD_AT and not line.endswith(":"):
            lines.append(line)
            line = ""
        line = f"{line} {word}"
        if len(line) > LINE_LIMIT:
            return None
    lines.append(line)
    return CRLF.join(lines)


def unstructured(name: str, value: str) -> str:
    """One header line (folded) for free text such as a subject."""
    _checked(name, value)
    if value.isascii() and "=?" not in value and "\t" not in value:
        folded = _fold(name, value)
        if folded is not None:
            return folded
    return f"{name}: {_encoded(name, value)}"


def mailbox(name: str, display: str, address: str) -> str:
    """``Name: Display <address>``; the display name encoded as needed."""
    _checked(name, display)
    _address(name, address)
    if not display:
        return f"{name}: {address}"
    if display.isascii() and "=?" not in display:
        return f"{name}: {formataddr((display, address))}"
    return f"{name}: {_encoded(name, display)} <{address}>"


def addresses(name: str, values: Sequence[str]) -> str:
    for value in values:
        _address(name, value)
    folded = _fold(name, ", ".join(values))
    if folded is None:
        raise HeaderDefect(f"{name}: an address longer than a header line may be")
    return folded


def message_id(name: str, value: str) -> str:
    """Our own identifier: refused, not left out, when it cannot be written."""
    if not _MSG_ID.fullmatch(value):
        raise HeaderDefect(f"{name}: {value!r} is not a message identifier")
    return f"{name}: {value}"


def message_ids(name: str, values: Sequence[str]) -> str | None:
    """The identifiers that can be written, folded one to a line as needed; None if none."""
    usable = [v for v in values if _MSG_ID.fullmatch(v)]
    return _fold(name, " ".join(usable)) if usable else None


def date(name: str, when: datetime) -> str:
    return f"{name}: {format_datetime(when)}"


def _body(text: str, subtype: str) -> str:
    """One text part's headers and body (CRLF, ending in CRLF)."""
    data = text.encode("utf-8")
    lines = data.splitlines()
    if data.isascii() and all(len(line) <= LINE_LIMIT for line in lines):
        cte, body = "7bit", "".join(line.decode("ascii") + CRLF for line in lines)
    else:
        normal = "".join(line.decode("latin-1") + "\n" for line in lines)
        cte, body = "quoted-printable", body_encode(normal, maxlinelen=76, eol=CRLF)
        body = body if body.endswith(CRLF) else body + CRLF
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: {cte}{CRLF}{CRLF}{body}"
    )


def compose(
    headers: Sequence[str],
    text: str,
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    """The whole message: ``headers`` (already made by the functions above), then a text
    body, or a multipart/alternative of the text and the HTML; with ``attachments``
    ((filename, content type, bytes), each base64), all of that inside a multipart/mixed."""
    head = "".join(header + CRLF for header in headers)
    if html is None:
        body = _body(text, "plain")
    else:
        body = _multipart("alternative", [_body(text, "plain"), _body(html, "html")])
    if attachments:
        body = _multipart("mixed", [body, *(_attachment(*a) for a in attachments)])
    return f"{head}MIME-Version: 1.0{CRLF}{body}".encode("ascii")


def _multipart(subtype: str, parts: Sequence[str]) -> str:
    boundary = f"=_{secrets.token_hex(16)}"
    while any(boundary in part for part in parts):  # 128 random bits: never, but cheap
        boundary = f"=_{secrets.token_hex(16)}"
    # Each delimiter line begins with the CRLF before it (RFC 2046 section 5.1.1).
    body = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts) + f"--{boundary}--{CRLF}"
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"{CRLF}{CRLF}{body}'


_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,127}/[A-Za-z0-9!#$&^_.+-]{1,127}")


def _attachment(filename: str, content_type: str, data: bytes) -> str:
    """One attachment part. The name goes in RFC 2231 form (``filename*=utf-8''...``) unless
    it is plain ASCII; a content type that is not a plain ``type/subtype`` is sent as
    application/octet-stream."""
    _checked("filename", filename)
    kind = content_type.lower() if _TOKEN.fullmatch(content_type) else "application/octet-stream"
    name = filename or "attachment"
    if name.isascii() and not re.search(r'["\\\x00-\x1f\x7f]', name):
        disposition = f'attachment; filename="{name[:200]}"'  # within 998 (RFC 5322 2.1.1)
    else:  # at most 12 octets a character once percent-encoded: 60 stay within 998
        disposition = f"attachment; filename*=utf-8''{quote(name[:60], safe='')}"
    encoded = base64.encodebytes(data).decode("ascii").replace("\n", CRLF)
    return (
        f"Content-Type: {kind}{CRLF}Content-Transfer-Encoding: base64{CRLF}"
        f"Content-Disposition: {disposition}{CRLF}{CRLF}{encoded}"
    )
