"""Parse raw RFC 5322 bytes into a ParsedMessage.

mail-parser first; when it raises, the standard library's ``email`` (compat32, which tolerates
nearly anything). Both read the ``Message`` that the standard library's feed parser builds, so
what that parser gets wrong (a bad byte in a header name) is mended before it, once, for both.
Neither path may raise for any input: the caller quarantines only when even the fallback
fails, which would be a bug.
"""

from __future__ import annotations

import base64
import email
import email.errors
import email.header
import email.parser
import email.policy
import email.utils
import logging
import re
import unicodedata
from datetime import datetime
from email.message import Message
from typing import Any

import mailparser

from disclosure_inbox.adapters.html_text import html_to_text
from disclosure_inbox.domain.model import Attachment, ParsedMessage
from disclosure_inbox.domain.sanitize import decode_encoded_words

log = logging.getLogger(__name__)
# mail-parser warns about every part it does not handle (PGP, delivery reports): noise here.
logging.getLogger("mailparser").setLevel(logging.ERROR)

MAX_HEADER_CHARS = 4000
_MSGID = re.compile(r"<([^<>\s]{1,900})>")
_FOLD = re.compile(r"\r?\n[ \t]+")


def clean_text(value: str) -> str:
    """Make text storable anywhere: no NUL (PostgreSQL rejects it), no lone surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value.encode("utf-8", "replace").decode("utf-8")


def _undo_surrogates(text: str) -> str:
    """Raw 8-bit header bytes reach us surrogate-escaped (compat32). Most are UTF-8 (RFC 6532);
    anything else is read as latin-1 rather than lost."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def decode_header(value: Any) -> str:
    """Decode RFC 2047 words; never raise. Folding becomes one space."""
    if value is None:
        return ""
    text = _undo_surrogates(str(value))
    try:
        text = str(email.header.make_header(email.header.decode_header(text)))
    except Exception:
        # An unknown charset, a broken word, or words mixed with raw 8-bit text: decode each
        # word on its own and keep the rest as written.
        text = decode_encoded_words(text)
    return clean_text(_FOLD.sub(" ", text)).strip()[:MAX_HEADER_CHARS]


def message_ids(value: str) -> tuple[str, ...]:
    """The ``<id>`` tokens of a Message-ID, In-Reply-To or References header, brackets kept."""
    return tuple(f"<{m}>" for m in _MSGID.findall(value or ""))


def safe_filename(name: str | None, index: int) -> str:
    """A file name that is safe to show and to write: no path, no controls, bounded."""
    name = unicodedata.normalize("NFKC", clean_text(name or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[^\w.\-+() ]", "_", name).strip(" .")
    if not name:
        name = f"attachment-{index}.bin"
    if len(name) > 150:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:140] + dot + ext[:9]) if dot and len(ext) <= 9 else name[:150]
    return name


def _raw_items(msg: Message) -> list[tuple[str, str]]:
    """Headers as written. ``items()`` would turn raw 8-bit bytes (RFC 6532 UTF-8) into U+FFFD
    before we could decode them; the raw values keep them surrogate-escaped."""
    return [(str(name), str(value)) for name, value in msg.raw_items()]


def _raw_header(msg: Message, name: str) -> str:
    wanted = name.lower()
    for key, value in _raw_items(msg):
        if key.strip().lower() == wanted:
            return value
    return ""


def header_map(msg: Message) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in _raw_items(msg):
        key = name.strip().lower()
        if key and key not in out:
            out[key] = decode_header(value)
    return out


_ANGLE_ADDR = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")


def _sender(msg: Message, headers: dict[str, str]) -> tuple[str, str]:
    """The author's address and display name.

    The address inside the one angle-addr wins over anything in the display name: a name such
    as ``victim@example.net <attacker@evil.example>`` or an encoded word that decodes to an
    address must never make us answer someone else. Only without exactly one angle-addr
    does the general address-list parser decide.
    """
    raw = _undo_surrogates(_raw_header(msg, "From") or _raw_header(msg, "Sender"))
    angles = _ANGLE_ADDR.findall(raw)
    if len(angles) == 1:
        name = decode_header(raw[: raw.rfind("<")]).strip().strip('"').strip()
        return clean_text(angles[0].strip().lower())[:320], name[:200]
    try:
        pairs = email.utils.getaddresses([raw])
    except Exception:
        pairs = []
    for name, addr in pairs:
        if "@" in addr:
            return clean_text(addr.strip().lower())[:320], decode_header(name)[:200]
    return "", decode_header(raw)[:200] if raw else ""


_RECIPIENT_HEADERS = ("to", "cc", "delivered-to", "x-original-to")


def _recipients(msg: Message) -> tuple[str, ...]:
    """Every address the message was sent to (To, Cc, and the Delivered-To and X-Original-To
    that the receiving server adds), lower-cased: where a reply token may be."""
    raw = [
        _undo_surrogates(v) for k, v in _raw_items(msg) if k.strip().lower() in _RECIPIENT_HEADERS
    ]
    try:
        pairs = email.utils.getaddresses(raw)
    except Exception:
        pairs = []
    found = (clean_text(addr.strip().lower())[:320] for _, addr in pairs if "@" in addr)
    return tuple(dict.fromkeys(found))[:50]


def _date(msg: Message) -> datetime | None:
    try:
        value = email.utils.parsedate_to_datetime(str(msg.get("Date", "")))
    except Exception:
        return None
    return value if value.tzinfo is not None else None


def header_fields(msg: Message, headers: dict[str, str]) -> dict[str, Any]:
    address, name = _sender(msg, headers)

    def ids(name: str) -> tuple[str, ...]:
        # From the undecoded header: the decoded copy is cut at MAX_HEADER_CHARS, and a long
        # References chain keeps its newest ids at the end.
        return message_ids(clean_text(_undo_surrogates(_raw_header(msg, name))))

    mids = ids("Message-ID")
    return {
        "recipients": _recipients(msg),
        "auth_results": tuple(
            clean_text(_undo_surrogates(v))[:2000]
            for k, v in _raw_items(msg)
            if k.strip().lower() == "authentication-results"
        )[:10],
        "message_id": mids[0] if mids else None,
        "sender_address": address,
        "sender_name": name,
        "subject": headers.get("subject", ""),
        "date_header": _date(msg),
        "in_reply_to": ids("In-Reply-To")[:10],
        "references": ids("References")[-50:],
        "headers": headers,
        "content_type": clean_text(msg.get_content_type())[:200],
        "defects": tuple(type(d).__name__ for d in getattr(msg, "defects", ()))[:20],
    }


_FEED_SLICE = 1 << 20


def _message_from_bytes(raw: bytes) -> Message:
    """What ``email.message_from_bytes`` does, fed in slices: it decodes the whole message into
    one string first, which costs several times a large message's size in memory."""
    raw, repaired = _repair_header_names(raw)
    parser = email.parser.BytesFeedParser(policy=email.policy.compat32)
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED_SLICE):
        parser.feed(bytes(view[start : start + _FEED_SLICE]))
    return _note_repairs(parser.close(), repaired)


def _header_block(raw: bytes) -> bytes:
    """The headers and the blank line after them, without reading into the body."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(separator, 0, 1 << 20)
        if end >= 0:
            return raw[: end + len(separator)]
    return raw[: 1 << 20]


# Bytes that may not appear in a header field name (RFC 5322 ftext is printable US-ASCII
# without the colon), other than the white space that makes a line something else.
_NOT_FTEXT = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\xff]")


def _repair_header_names(raw: bytes) -> tuple[bytes, int]:
    """The message with "?" for each byte that a header name may not hold, and how many names
    were mended. The raw bytes themselves are stored unchanged; this is the copy we parse.

    The standard library's feed parser (whatever the policy) takes the first line that does
    not look like a header for the start of the body: one 0xFF in a name (``X-Bad\xffName:``)
    would make the Subject and Message-ID below it body text. A line with such a name is
    still a header; a line without a colon, or with white space in its name, ends the block
    as before.
    """
    head = _header_block(raw)
    if not _NOT_FTEXT.search(head):
        return raw, 0
    lines = head.splitlines(keepends=True)
    repaired = 0
    for index, line in enumerate(lines):
        if not line.rstrip(b"\r\n"):
            break  # the blank line: the body follows
        if line[:1] in (b" ", b"\t") or (index == 0 and line.startswith(b"From ")):
            continue  # a folded continuation, or an mbox From_ line
        name, colon, rest = line.partition(b":")
        if not colon or not name or b" " in name or b"\t" in name:
            break  # not a header: the feed parser ends the block here, and so do we
        mended = _NOT_FTEXT.sub(b"?", name)
        if mended != name:
            lines[index] = mended + colon + rest
            repaired += 1
    if not repaired:
        return raw, 0
    return b"".join(lines) + raw[len(head) :], repaired


def _note_repairs(msg: Message, repaired: int) -> Message:
    if repaired:
        msg.defects.append(
            email.errors.InvalidHeaderDefect(
                f"{repaired} header name(s) with bytes outside printable US-ASCII"
            )
        )
    return msg


def _parse_with_mailparser(raw: bytes) -> ParsedMessage:
    mp = mailparser.MailParser(_message_from_bytes(raw))
    msg = mp.message
    headers = header_map(msg)
    attachments = []
    for index, item in enumerate(mp.attachments, start=1):
        payload = item.get("payload") or ""
        if item.get("binary"):
            content = base64.b64decode(payload)
        else:
            content = (
                payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else payload
            )
        attachments.append(
            Attachment(
                filename=safe_filename(item.get("filename"), index),
                content_type=clean_text(str(item.get("mail_content_type") or ""))[:200]
                or "application/octet-stream",
                content=content,
            )
        )
    html = clean_text("\n".join(mp.text_html))
    text = clean_text("\n".join(mp.text_plain)) or (html_to_text(html) if html else "")
    return ParsedMessage(
        **header_fields(msg, headers),
        text=text,
        html=html,
        attachments=tuple(attachments),
        parser="mail-parser",
    )


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        charset = part.get_content_charset() or "utf-8"
        return payload.decode(charset, "replace")
    except (LookupError, UnicodeError, ValueError):
        # An unknown charset, or a codec that cannot replace ("idna", "undefined").
        return payload.decode("latin-1")


def _parse_with_stdlib(raw: bytes) -> ParsedMessage:
    msg = _message_from_bytes(raw)
    headers = header_map(msg)
    texts: list[str] = []
    htmls: list[str] = []
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = clean_text(part.get_content_type())[:200]
        disposition = str(part.get("Content-Disposition") or "").lower()
        try:
            filename = part.get_filename()
        except Exception:  # a broken RFC 2231 parameter
            filename = "attachment"
        filename = None if filename is None else str(filename)
        if filename or "attachment" in disposition or not ctype.startswith("text/"):
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
            attachments.append(
                Attachment(
                    safe_filename(decode_header(filename), len(attachments) + 1), ctype, content
                )
            )
        elif ctype == "text/html":
            htmls.append(_part_text(part))
        else:
            texts.append(_part_text(part))
    html = clean_text("\n".join(htmls))
    text = clean_text("\n".join(texts)) or (html_to_text(html) if html else "")
    return ParsedMessage(
        **header_fields(msg, headers),
        text=text,
        html=html,
        attachments=tuple(attachments),
        parser="email",
    )


def parse_headers_only(raw: bytes) -> ParsedMessage:
    """What the headers say, for a message too large (or too broken) to parse whole."""
    head, repaired = _repair_header_names(_header_block(raw))
    msg = _note_repairs(
        email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head), repaired
    )
    headers = header_map(msg)
    return ParsedMessage(
        **header_fields(msg, headers), text="", html="", attachments=(), parser="headers-only"
    )


_MESSAGE_ID_LINE = re.compile(rb"^Message-ID:[ \t]*(<[^<>\r\n]{1,250}>)", re.I | re.M)


def sniff_message_id(raw: bytes) -> str:
    """The Message-ID as written, for log lines about a message that did not parse."""
    head = raw[: raw.find(b"\r\n\r\n") if b"\r\n\r\n" in raw[:65536] else 65536]
    match = _MESSAGE_ID_LINE.search(head)
    return match.group(1).decode("ascii", "replace") if match else "(no Message-ID)"


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse one message. Raises only if the standard library fallback fails as well."""
    try:
        return _parse_with_mailparser(raw)
    except Exception as exc:
        log.info(
            "%s: mail-parser failed (%s: %s); using the standard library",
            sniff_message_id(raw),
            type(exc).__name__,
            exc,
        )
    return _parse_with_stdlib(raw)
