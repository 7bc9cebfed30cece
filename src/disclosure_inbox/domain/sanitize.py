"""Make text chosen by a reporter safe to put into mail we build and into what staff read.

- ``header_safe`` and ``display_name_safe``: one short line for a header (no line breaks, so
  no header injection, including through RFC 2047 encoded words).
- ``defang``: links and addresses in reporter text stop being clickable.
- ``quote_for_text``: a bounded excerpt of a body for a plain-text mail.

None of them treats braces, ``{{ }}`` or ``{% %}`` specially: they are plain text here, and
templates receive these values as data, never as template source.

Every pattern is a character class, possessive or bounded, so each runs in linear time on
hostile input (a megabyte of ``@``, ``=?`` or dots).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

ELLIPSIS = "…"
TRUNCATION_MARKER = "\n[…]"

# Characters that must never reach a header: C0 and C1 controls and DEL, the Unicode line and
# paragraph separators, the bidirectional embeddings, overrides and isolates that can make a
# name read differently from what it is, and lone surrogates (which cannot be encoded). Runs
# of them, or of any whitespace, become one space.
_HEADER_UNSAFE = re.compile(
    r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]+"
)

# An RFC 2047 encoded word. RFC 2047 caps a word at 75 characters; the bounds are looser so
# sloppy senders still decode, and tight enough that a failed match costs little.
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]{0,1000})\?=")
_DECODE_ROUNDS = 4
_HEX = frozenset("0123456789abcdefABCDEF")

# Characters in a display name that could make it look like, or parse as, an address.
_NAME_ADDRESS_SYNTAX = re.compile(r"[<>\"\\]+")

# For text bodies: line breaks of every kind become "\n"; other controls, bidi overrides and
# lone surrogates are dropped. Tab stays.
_LINE_BREAK = re.compile(r"\r\n?|[\v\f\x1c-\x1e\x85\u2028\u2029]")
_TEXT_UNSAFE = re.compile(
    r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]+"
)

# defang runs two passes, each over patterns anchored on a rare character or word.
# First every "http://", "https://" and "ftp://" anywhere loses its scheme, even one glued to
# other text ("xhttps://", "a.com,https://b.com"), since viewers link those too. Then:
#  url:   a (defanged) scheme, "://", optional userinfo and the host, whose dots change; the
#         path is not matched, so its dots stay, while links and addresses inside it are
#         defanged in their own right
#  www:   www.host without a scheme, which many viewers turn into a link as well
#  email: the "@" of an address and its domain; the local part is left as written, so the
#         pattern never has to scan backwards over it
_SCHEME = re.compile(r"(?i:https?|ftp)(?=://)")
_HOST_CHARS = r"[^\s/?#:@<>\"'\\()\[\]{}|^`]"
_DEFANG = re.compile(
    r"(?P<scheme>(?i:hxxps?|fxp)://)"
    r"(?P<userinfo>[^\s/?#@<>\"]*+@)?"
    rf"(?P<host>{_HOST_CHARS}*+)"
    rf"|(?<![\w.@-])(?P<www>(?i:www)\d{{0,3}}[.]{_HOST_CHARS}++)"
    r"|(?<=[\w.%+\-])@(?P<domain>[\w\-]++(?:\.[\w\-]++)++)"
)
# Browsers treat the ideographic and full-width full stops in a host as dots.
_HOST_DOTS = re.compile(r"[.\u3002\uff0e\uff61]")


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")


def _decode_word(charset: str, encoding: str, text: str) -> str:
    # RFC 2231 lets a charset carry a language: "utf-8*en".
    charset = charset.partition("*")[0]
    if encoding in "bB":
        try:
            raw = base64.b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return text
    else:
        raw = _decode_q(text)
    try:
        return raw.decode(charset, "replace")
    except (LookupError, UnicodeError, ValueError):
        # Unknown, not a text encoding ("rot13", "hex"), or one that cannot replace
        # ("idna", "punycode", "undefined"): read it as UTF-8.
        return raw.decode("utf-8", "replace")


def _decode_q(text: str) -> bytes:
    # RFC 2047 section 4.2: "_" is a space, "=XX" a byte; anything else stands for itself.
    out = bytearray()
    i = 0
    while i < len(text):
        pair = text[i + 1 : i + 3]
        if text[i] == "=" and len(pair) == 2 and all(c in _HEX for c in pair):
            out.append(int(pair, 16))
            i += 3
            continue
        out.extend(b" " if text[i] == "_" else text[i].encode("utf-8", "replace"))
        i += 1
    return bytes(out)


def decode_encoded_words(text: str) -> str:
    """One round of RFC 2047 decoding; whitespace between adjacent words disappears."""
    parts: list[str] = []
    end = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(text):
        gap = text[end : match.start()]
        if not (previous_was_word and gap and not gap.strip()):
            parts.append(gap)
        parts.append(_decode_word(*match.groups()))
        end = match.end()
        previous_was_word = True
    parts.append(text[end:])
    return "".join(parts)


def _one_line(text: str) -> str:
    return _HEADER_UNSAFE.sub(" ", text).strip()


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def header_safe(value: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters, safe as (part of) a header value.

    Encoded words are decoded first (a few rounds, for words hidden inside words), so
    ``=?utf-8?q?a=0D=0ABcc:_x?=`` becomes ``a Bcc: x`` on the same line. Controls, line and
    paragraph separators, bidi overrides and whitespace runs become one space; the ends are
    stripped. A longer value is cut and ends with "…". The result may be "".
    """
    _check_limit(limit)
    # Collapse first: a megabyte of whitespace must not push the text past the cap below.
    text = _one_line(value)
    # An encoded word is never shorter than what it decodes to, and about twelve characters
    # per decoded character at worst; nothing past this cap can reach the result.
    text = text[: limit * 16 + 256]
    for _ in range(_DECODE_ROUNDS):
        if "=?" not in text:
            break
        decoded = decode_encoded_words(text)
        if decoded == text:
            break
        text = _one_line(decoded)
    return _truncate(text, limit)


def display_name_safe(name: str, limit: int = 200) -> str:
    """``header_safe`` for the display name of an address we write.

    A name like ``"security@example.com" <x@evil>`` must not read as someone else's address,
    so after NFKC normalisation (which maps look-alikes such as the full-width "＠" and "＜"
    to ASCII) "@" becomes " at " and ``< > " \\`` are removed. Commas and other specials are
    kept for names like "Doe, Jane": build the header with ``email.headerregistry.Address``
    or ``email.utils.formataddr``, which quote them.
    """
    _check_limit(limit)
    text = unicodedata.normalize("NFKC", header_safe(name, limit))
    text = _NAME_ADDRESS_SYNTAX.sub(" ", text).replace("@", " at ")
    return _truncate(_one_line(text), limit)


def _defang_host(host: str) -> str:
    core = host.rstrip(".")
    return _HOST_DOTS.sub("[.]", core) + host[len(core) :]


def _defang_scheme(match: re.Match[str]) -> str:
    # "http" -> "hxxp", "HTTPS" -> "HXXPS", "ftp" -> "fxp": the case is kept.
    scheme = match.group()
    x = "X" if scheme[1].isupper() else "x"
    if scheme.lower() == "ftp":
        return scheme[0] + x + scheme[2]
    return scheme[0] + x + x + scheme[3:]


def _defang_match(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    if scheme is not None:
        return scheme + (match.group("userinfo") or "") + _defang_host(match.group("host"))
    www = match.group("www")
    if www is not None:
        return _defang_host(www)
    return "[@]" + _defang_host(match.group("domain"))


def defang(text: str) -> str:
    """Reporter text with its links and addresses made non-clickable, for staff to read.

    ``https://example.com/x`` -> ``hxxps://example[.]com/x`` (also ``http`` -> ``hxxp`` and
    ``ftp`` -> ``fxp``); ``www.example.com`` -> ``www[.]example[.]com``; ``a@b.com`` ->
    ``a[@]b[.]com``. Dots change only in the host of a URL, never in its path or query;
    a link or an address inside a path is defanged like any other. Nothing else is touched
    (no HTML handling): render the result as text. Defanging defanged text changes nothing.
    """
    return _DEFANG.sub(_defang_match, _SCHEME.sub(_defang_scheme, text))


def defang_host(host: str) -> str:
    """A bare host or address, which ``defang`` leaves alone outside a link, made
    non-clickable: ``api.m.io`` -> ``api[.]m[.]io``, ``203.0.113.7`` -> ``203[.]0[.]113[.]7``.
    Defanging a defanged host changes nothing."""
    return host.replace("[.]", ".").replace(".", "[.]")


def quote_for_text(text: str, limit: int) -> str:
    """An excerpt of reporter text for a plain-text mail: at most ``limit`` characters.

    Line breaks of any kind become "\\n"; other controls (NUL included) and bidi overrides
    are removed; tab stays. A longer text is cut and ends with ``TRUNCATION_MARKER``, which
    counts towards ``limit``. Defang first, ``quote_for_text(defang(body), n)``, so the
    limit holds for what is shown.
    """
    if limit <= len(TRUNCATION_MARKER):
        raise ValueError(f"limit must exceed {len(TRUNCATION_MARKER)}, got {limit}")
    cleaned = _TEXT_UNSAFE.sub("", _LINE_BREAK.sub("\n", text))
    if len(cleaned) <= limit:
        return cleaned
    return cleaned[: limit - len(TRUNCATION_MARKER)].rstrip() + TRUNCATION_MARKER
