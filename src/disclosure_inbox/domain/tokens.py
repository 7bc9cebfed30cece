"""Reply tokens: the part of a staff Reply-To address that proves a reply answers our mail.

Mail to staff about a report carries a Reply-To such as ``soc+{token}@m.io`` (``[staff]
reply_address``; RFC 5233 subaddressing puts the token after the ``+``). The token names the
report, and is signed for the one staff address the mail went to, until an expiry. A reply
that comes back to that address from that staff member is theirs: nobody else was sent the
token, and nobody without the key can make one.

The token is unpadded base32 (RFC 4648 section 6, lower case) of these bytes::

    tag (10)        HMAC-SHA256 over every byte after it, cut to its first 80 bits: made
                    only with a key, so no byte of the token can change unnoticed
    recipient (6)   HMAC-SHA256 over the lower-cased recipient address, cut to 48 bits
    expiry (4)      seconds since the Unix epoch, unsigned big-endian (until 2106)
    ref             the report reference as ASCII ([A-Za-z0-9-], at most 24 characters)

The recipient is bound by a keyed fingerprint rather than carried: the address stays out of
the token, and ``verify`` can still tell a genuine token sent to someone else
("other-recipient") from a forged or altered one ("bad-signature"). To pass a stolen token off
as another staff member's, an attacker must hit that member's fingerprint under a key they do
not have: a chance of 2**-48 for each staff address they try, one forged mail per try.

Base32 needs only ``[a-z2-7]``, so a token survives an MTA that lower-cases local parts and is
read case-insensitively. Only the canonical encoding of the bytes is accepted, so no two
spellings of one token exist (the last character's unused bits must be zero). Every key in
``keys`` verifies and the first signs: a key rotated out stays at the end of the list for
``[staff] token_days``, until its last token has expired.

A worked example, with the key ``b"k1"``, the reference ``MIO-2026-0001`` sent to
``Bob@M.io`` (signed as ``bob@m.io``) and expiring at 2026-08-01 00:00 UTC (1785542400, bytes
``6a 6d 37 00``): 10 + 6 + 4 + 13 = 33 bytes encode to 53 characters, and the Reply-To is ::

    soc+eadba6tugj7od5iqnnxea53d2nvg2nyajveu6ljsgazdmljqgaydc@m.io

a local part of 57 octets, where RFC 5321 allows 64 (``reply_address`` refuses more).
``verify`` with ``bob@m.io`` at 2026-07-31 23:59:59 UTC gives a valid check naming
MIO-2026-0001; at 2026-08-01 00:00:00 it is ``expired``; with ``carol@m.io`` it is
``other-recipient``; with any one character changed it is ``bad-signature``, or ``malformed``
when it sets an unused bit of the last character (a non-canonical spelling).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import enum
import hashlib
import hmac
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

_TAG_BYTES = 10  # 80 bits
_RECIPIENT_BYTES = 6  # 48 bits
_EXPIRY_BYTES = 4
_HEAD_BYTES = _TAG_BYTES + _RECIPIENT_BYTES + _EXPIRY_BYTES
MAX_REF_CHARS = 24
# A 1-character reference makes the shortest token, a MAX_REF_CHARS one the longest.
MIN_TOKEN_CHARS = math.ceil((_HEAD_BYTES + 1) * 8 / 5)
MAX_TOKEN_CHARS = math.ceil((_HEAD_BYTES + MAX_REF_CHARS) * 8 / 5)
MAX_LOCAL_PART_OCTETS = 64  # RFC 5321 section 4.5.3.1.1
# Addresses looked at per message: a reply names one token, perhaps twice (To and
# Delivered-To); a longer list is not ours and must not cost a MAC per address.
MAX_CANDIDATES = 8

_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_TOKEN_CHARS = re.compile(rf"[a-z2-7]{{{MIN_TOKEN_CHARS},{MAX_TOKEN_CHARS}}}")
_PLACEHOLDER = "{token}"
# Distinct inputs for the two MACs made with one key.
_TAG_CONTEXT = b"disclosure-inbox reply token 1\x00"
_RECIPIENT_CONTEXT = b"disclosure-inbox reply recipient 1\x00"


class TokenProblem(enum.StrEnum):
    """Why a token is not valid; stable names for the audit trail."""

    MALFORMED = "malformed"  # not a token: wrong characters, length or encoding
    BAD_SIGNATURE = "bad-signature"  # no key made it: forged or altered
    OTHER_RECIPIENT = "other-recipient"  # genuine, but sent to another address
    EXPIRED = "expired"  # genuine and for this recipient, but too old


@dataclass(frozen=True, slots=True)
class TokenCheck:
    """The verdict on one token, checked against one address (the reply's From)."""

    token: str  # lower-cased, as checked
    recipient: str  # the address it was checked against, lower-cased
    problem: TokenProblem | None  # None: valid
    report_ref: str | None = None  # only when valid
    # When it expires (UTC); set unless it is malformed or forged (bad-signature).
    expires_at: datetime | None = None

    @property
    def valid(self) -> bool:
        return self.problem is None


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")


def _require_keys(keys: Sequence[bytes]) -> None:
    if not keys or not all(keys):
        raise ValueError("reply tokens need at least one key, and no key may be empty")


def _normal_address(address: str) -> str:
    return address.strip().lower()


def _encode(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def _mac(key: bytes, message: bytes, size: int) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()[:size]


def _tag(key: bytes, signed: bytes) -> bytes:
    return _mac(key, _TAG_CONTEXT + signed, _TAG_BYTES)


def _recipient(key: bytes, recipient: str) -> bytes:
    return _mac(
        key, _RECIPIENT_CONTEXT + recipient.encode("utf-8", "surrogatepass"), _RECIPIENT_BYTES
    )


def issue(keys: Sequence[bytes], report_ref: str, recipient: str, expires_at: datetime) -> str:
    """A token for ``report_ref``, sent to ``recipient``, valid until ``expires_at``.

    Signed with ``keys[0]``. ``expires_at`` is cut to the whole second below it (a token
    never lives longer than asked). Raises ``ValueError`` for a reference outside
    ``[A-Za-z0-9-]`` or longer than ``MAX_REF_CHARS``, an empty recipient, a naive or
    out-of-range expiry, or no key.
    """
    _require_keys(keys)
    _require_aware(expires_at, "expires_at")
    if len(report_ref) > MAX_REF_CHARS or not _REF.fullmatch(report_ref):
        raise ValueError(f"{report_ref!r} is not a report reference a token can carry")
    recipient = _normal_address(recipient)
    if not recipient:
        raise ValueError("a token needs a recipient")
    seconds = math.floor(expires_at.timestamp())
    if not 0 <= seconds < 2**32:
        raise ValueError(f"expiry {expires_at.isoformat()} is out of range")
    ref = report_ref.encode("ascii")
    expiry = seconds.to_bytes(_EXPIRY_BYTES, "big")
    signed = _recipient(keys[0], recipient) + expiry + ref
    return _encode(_tag(keys[0], signed) + signed)


def _decode(token: str) -> bytes | None:
    """The token's bytes, or None when it is not the canonical encoding of a token."""
    if not _TOKEN_CHARS.fullmatch(token):
        return None
    try:
        raw = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
    except (binascii.Error, ValueError):
        return None  # a length base32 cannot produce
    if _encode(raw) != token or len(raw) <= _HEAD_BYTES:
        return None  # unused bits set, or no reference
    return raw  # the reference is checked by the tag: only ``issue`` writes one


def verify(keys: Sequence[bytes], token: str, recipient: str, now: datetime) -> TokenCheck:
    """Check ``token`` for a reply from ``recipient`` (the From address) at ``now``.

    Valid when some key made it for this reference, this recipient (case-insensitive) and an
    expiry after ``now``. The checks run in this order, and the first that fails names the
    problem: malformed, bad-signature, other-recipient, expired. MACs are compared with
    ``hmac.compare_digest``.
    """
    _require_keys(keys)
    _require_aware(now, "now")
    token = token.strip().lower()
    recipient = _normal_address(recipient)

    raw = _decode(token)
    if raw is None:
        return TokenCheck(token, recipient, TokenProblem.MALFORMED)
    tag, signed = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
    key = next((k for k in keys if hmac.compare_digest(_tag(k, signed), tag)), None)
    if key is None:
        return TokenCheck(token, recipient, TokenProblem.BAD_SIGNATURE)
    bound_to = signed[:_RECIPIENT_BYTES]
    expiry = int.from_bytes(signed[_RECIPIENT_BYTES : _RECIPIENT_BYTES + _EXPIRY_BYTES], "big")
    ref = signed[_RECIPIENT_BYTES + _EXPIRY_BYTES :]
    when = datetime.fromtimestamp(expiry, UTC)
    if not hmac.compare_digest(_recipient(key, recipient), bound_to):
        return TokenCheck(token, recipient, TokenProblem.OTHER_RECIPIENT, expires_at=when)
    if now >= when:
        return TokenCheck(token, recipient, TokenProblem.EXPIRED, expires_at=when)
    return TokenCheck(token, recipient, None, ref.decode("ascii", "replace"), when)


def _template_parts(template: str) -> tuple[str, str]:
    if template.count(_PLACEHOLDER) != 1 or "@" not in template:
        raise ValueError(f'{template!r} must be an address holding "{_PLACEHOLDER}" once')
    prefix, _, suffix = template.partition(_PLACEHOLDER)
    return prefix, suffix


def reply_address(template: str, token: str) -> str:
    """The template (``[staff] reply_address``) with its ``{token}`` replaced by ``token``.

    Raises ``ValueError`` when the template has no single ``{token}``, or when the local
    part would exceed the 64 octets RFC 5321 section 4.5.3.1.1 allows (a long prefix, or a
    long reference: shorten ``[staff] reply_address``).
    """
    prefix, suffix = _template_parts(template)
    address = prefix + token.lower() + suffix
    local = address.rpartition("@")[0]
    if len(local.encode()) > MAX_LOCAL_PART_OCTETS:
        raise ValueError(
            f"the reply address's local part has {len(local.encode())} octets "
            f"(RFC 5321 allows {MAX_LOCAL_PART_OCTETS}): {address}"
        )
    return address


def find_tokens(addresses: Iterable[str], template: str) -> list[str]:
    """Candidate tokens in recipient addresses (To, Cc, Delivered-To, X-Original-To).

    Each item is an address or a header value listing several (``"Sec <soc+t@m.io>, b@m.io"``).
    An address yields a candidate when, compared case-insensitively, it starts with the text
    before ``{token}`` in ``template``, ends with the text after it (so the domain must be
    the template's), and holds only token characters of a token's length in between. The
    candidates are lower-cased, each once, in order, at most ``MAX_CANDIDATES``; ``verify``
    says whether they are valid.
    """
    prefix, suffix = (part.lower() for part in _template_parts(template))
    found: list[str] = []
    for value in addresses:
        for _, address in email.utils.getaddresses([value]):
            address = address.strip().lower()
            if len(address) <= len(prefix) + len(suffix):
                continue
            if not (address.startswith(prefix) and address.endswith(suffix)):
                continue
            middle = address[len(prefix) : len(address) - len(suffix)]
            if _TOKEN_CHARS.fullmatch(middle) and middle not in found:
                found.append(middle)
                if len(found) == MAX_CANDIDATES:
                    return found
    return found
