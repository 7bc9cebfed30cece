"""What OpenPGP work on a message comes to: value objects, validated when built.

A signature's ``status`` is one of three words, recorded as they are:

- ``valid``: the signature checks out against a key in our keyring. It says nothing about who
  holds that key; that a key belongs to a reporter's address is what the store records.
- ``invalid``: the data or the signature was altered, the signature cannot be checked, or it
  was made by a key that has expired or been revoked (gpg itself calls none of these good).
- ``unknown-key``: the signer's public key is not in our keyring, so nothing can be said.

A decryption that fails gives one of four reasons instead of plaintext:

- ``no-secret-key``: the message is encrypted to keys we do not hold (or to a passphrase);
- ``bad-passphrase``: our key is there but the configured passphrase does not unlock it;
- ``corrupt``: not OpenPGP, truncated, altered (a checksum or integrity check failed);
- ``too-large``: the plaintext passed the size limit, so what was written is incomplete.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from typing import Literal, get_args

SignatureStatus = Literal["valid", "invalid", "unknown-key"]
DecryptFailure = Literal["no-secret-key", "bad-passphrase", "corrupt", "too-large"]
SIGNATURE_STATUSES: frozenset[str] = frozenset(get_args(SignatureStatus))
DECRYPT_FAILURES: frozenset[str] = frozenset(get_args(DecryptFailure))

# A v4 key's fingerprint is 40 hex digits, a v5 or v6 key's 64 (RFC 9580 section 5.5.4).
_FINGERPRINT = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")


def _check_fingerprint(value: str) -> None:
    if not _FINGERPRINT.fullmatch(value):
        raise ValueError(f"not an OpenPGP fingerprint: {value!r}")


@dataclass(frozen=True, slots=True)
class Signature:
    """One signature's verdict; ``fingerprint`` is the signer's primary key when known. For
    ``unknown-key`` it is the fingerprint the signature names, if it names one (gpg 2.2.7 and
    later report it), which is the signing subkey's when a subkey signed."""

    status: SignatureStatus
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.status not in SIGNATURE_STATUSES:
            raise ValueError(f"not a signature status: {self.status!r}")
        if self.fingerprint is not None:
            _check_fingerprint(self.fingerprint)


@dataclass(frozen=True, slots=True)
class Decrypted:
    """Plaintext (and the signature inside, if any), or the reason there is none.

    ``encrypted`` is False for OpenPGP data that was only signed: its plaintext is read and its
    signature checked all the same."""

    plaintext: bytes | None
    signature: Signature | None = None
    failure: DecryptFailure | None = None
    encrypted: bool = True

    def __post_init__(self) -> None:
        if (self.plaintext is None) == (self.failure is None):
            raise ValueError("a decryption has either plaintext or a failure, not both")
        if self.failure is not None and self.failure not in DECRYPT_FAILURES:
            raise ValueError(f"not a decryption failure: {self.failure!r}")

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True, slots=True)
class DetachedSignature:
    """An armored detached signature and its ``micalg`` for PGP/MIME (RFC 3156 section 5)."""

    data: bytes
    micalg: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"pgp-[a-z0-9-]{1,20}", self.micalg):
            raise ValueError(f"not a PGP/MIME micalg: {self.micalg!r}")


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A public key as found in key data: its fingerprint and user IDs (names as given)."""

    fingerprint: str
    uids: tuple[str, ...]

    def __post_init__(self) -> None:
        _check_fingerprint(self.fingerprint)

    @property
    def addresses(self) -> frozenset[str]:
        """The e-mail addresses of the user IDs, lower-cased: what a key may be stored for."""
        found = set()
        for uid in self.uids:
            _, address = email.utils.parseaddr(uid)
            if "@" in address:
                found.add(address.lower())
        return frozenset(found)
