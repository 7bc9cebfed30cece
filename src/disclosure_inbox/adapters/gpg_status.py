"""What gpg's status lines (``--status-fd``) say, mapped once into ``domain.openpgp`` words.

gpg writes one ``[GNUPG:] KEYWORD args...`` line per event; GnuPG's ``doc/DETAILS`` is the
reference. Exit codes and the human-readable messages are not used: a signed-and-encrypted
message whose signer we do not know exits 2 with its plaintext intact, and the messages are
translated.

Worked example (gpg 2.2, a message for our key, signed by a key we lack)::

    ENC_TO DD7AC02E80C4AF54 18 0
    BEGIN_DECRYPTION
    PLAINTEXT 62 1796307536
    NEWSIG
    ERRSIG 7FCF0BBA6C8B261F 22 10 00 1796307536 9 127EC166AF2A0C2F9875273F7FCF0BBA6C8B261F
    NO_PUBKEY 7FCF0BBA6C8B261F
    DECRYPTION_OKAY
    GOODMDC

reads as: decrypted, with ``Signature("unknown-key", "127EC166...")`` (ERRSIG's rc 9 is "no
public key", and gpg 2.2.7 and later append the fingerprint the signature names).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from disclosure_inbox.domain.openpgp import DecryptFailure, SignatureStatus

_FINGERPRINT = re.compile(r"[0-9A-F]{40}|[0-9A-F]{64}")
GPG_ERR_BAD_PASSPHRASE = 11  # libgpg-error's code, in the low 16 bits of an error value

# One signature's verdict: gpg writes exactly one of these after each NEWSIG.
_VERDICTS: Mapping[str, SignatureStatus] = {
    "GOODSIG": "valid",
    "BADSIG": "invalid",  # the data or the signature was altered
    "EXPSIG": "invalid",  # good, but the signature itself has expired
    "EXPKEYSIG": "invalid",  # good, but made by a key that has since expired
    "REVKEYSIG": "invalid",  # good, but made by a key that has since been revoked
    "ERRSIG": "invalid",  # not checked: rc 9 (no public key) is told apart in `signature`
}
_ERRSIG_NO_PUBKEY = "9"

# Reason codes of INV_RECP and INV_SGNR (doc/DETAILS), for the message of KeyUnusable.
INVALID_KEY_REASONS: Mapping[str, str] = {
    "0": "no usable key",
    "1": "no such key",
    "2": "ambiguous",
    "3": "wrong key usage (no encryption or signing subkey)",
    "4": "key revoked",
    "5": "key expired",
    "9": "not a secret key",
    "10": "key not trusted",
    "13": "key disabled",
}

# RFC 4880 section 9.4 hash algorithm ids, named as RFC 3156 section 5 wants them in micalg.
HASH_NAMES: Mapping[str, str] = {
    "1": "md5",
    "2": "sha1",
    "3": "ripemd160",
    "8": "sha256",
    "9": "sha384",
    "10": "sha512",
    "11": "sha224",
}


@dataclass(frozen=True, slots=True)
class Statuses:
    """The status lines of one gpg run, in order."""

    lines: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def parse(cls, stderr: str) -> Statuses:
        lines = []
        for line in stderr.splitlines():
            if line.startswith("[GNUPG:] "):
                words = line[9:].split()
                if words:
                    lines.append((words[0], tuple(words[1:])))
        return cls(tuple(lines))

    def has(self, *keywords: str) -> bool:
        return any(key in keywords for key, _ in self.lines)

    def first(self, keyword: str) -> tuple[str, ...] | None:
        return next((args for key, args in self.lines if key == keyword), None)

    def error_codes(self) -> set[int]:
        """The libgpg-error codes of ERROR and FAILURE lines (``ERROR where 67108875``)."""
        codes = set()
        for key, args in self.lines:
            if key in ("ERROR", "FAILURE") and len(args) >= 2:
                digits = re.match(r"\d+", args[1])
                if digits:
                    codes.add(int(digits.group()) & 0xFFFF)
        return codes


def fingerprint(value: str | None) -> str | None:
    return value if value is not None and _FINGERPRINT.fullmatch(value) else None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The first signature's verdict, and what names its key: a fingerprint if gpg gave one,
    else the long key id (BADSIG gives only that)."""

    status: SignatureStatus
    fingerprint: str | None
    key_id: str | None


def signature(statuses: Statuses) -> Verdict | None:
    """The first signature's verdict; None if gpg reported no signature. (Reporters sign with
    one key; a second signature, rare, is not reported.)"""
    verdict: tuple[str, tuple[str, ...]] | None = None
    for key, args in statuses.lines:
        if verdict is None and key in _VERDICTS:
            verdict = (key, args)
        elif verdict is not None and key == "VALIDSIG":
            # VALIDSIG <signing key fpr> ... <primary key fpr> (the tenth field)
            primary = args[9] if len(args) > 9 else args[0] if args else None
            return Verdict(_VERDICTS[verdict[0]], fingerprint(primary), None)
        elif verdict is not None and key == "NEWSIG":
            break
    if verdict is None:
        return None
    key, args = verdict
    if key == "ERRSIG":
        # ERRSIG <keyid> <pkalgo> <hashalgo> <class> <time> <rc> [<fpr>]
        status: SignatureStatus = (
            "unknown-key" if len(args) > 5 and args[5] == _ERRSIG_NO_PUBKEY else "invalid"
        )
        return Verdict(status, fingerprint(args[6] if len(args) > 6 else None), args[0])
    return Verdict(_VERDICTS[key], None, args[0] if args else None)


def locked(statuses: Statuses) -> bool:
    """The passphrase did not unlock our key. gpg 2.2 with loopback pinentry reports a wrong
    one as ERROR or FAILURE with code 11, not as BAD_PASSPHRASE; with none at all it asks
    (NEED_PASSPHRASE) and stops when nothing comes."""
    return (
        statuses.has("BAD_PASSPHRASE", "MISSING_PASSPHRASE", "NEED_PASSPHRASE")
        or GPG_ERR_BAD_PASSPHRASE in statuses.error_codes()
    )


# Why a decryption failed: the first rule that fires decides. The order matters because one
# run can report several things (a message for two keys, one of which we lack); whatever no
# rule names (a checksum, a failed integrity check, no OpenPGP data at all) is "corrupt".
_FAILURE_RULES: tuple[tuple[Callable[[Statuses], bool], DecryptFailure], ...] = (
    # Encrypted to a passphrase, not a key: gpg tried ours on it, so "bad passphrase" would
    # point staff at the configuration for nothing.
    (lambda s: s.has("NEED_PASSPHRASE_SYM"), "no-secret-key"),
    # Before NO_SECKEY: for a message to two keys, one of them ours, ours is what matters.
    (locked, "bad-passphrase"),
    (lambda s: s.has("NO_SECKEY"), "no-secret-key"),
)


def decrypted(statuses: Statuses) -> bool:
    """gpg decrypted and the integrity check passed. gpg writes plaintext as it goes, so output
    without DECRYPTION_OKAY (or with a failed check after it) is never plaintext to keep."""
    return statuses.has("DECRYPTION_OKAY") and not statuses.has("DECRYPTION_FAILED", "BADMDC")


def only_signed(statuses: Statuses) -> bool:
    """OpenPGP data that was not encrypted (signed, or a bare literal): its plaintext stands."""
    return statuses.has("PLAINTEXT") and not statuses.has(
        "BEGIN_DECRYPTION", "DECRYPTION_FAILED", "NODATA", "ENC_TO", "NEED_PASSPHRASE_SYM"
    )


def failure(statuses: Statuses) -> DecryptFailure:
    return next((reason for rule, reason in _FAILURE_RULES if rule(statuses)), "corrupt")


def signature_trouble(statuses: Statuses) -> bool:
    """A signature problem, which alone makes gpg exit non-zero after a good decryption."""
    return statuses.has("BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "NO_PUBKEY")
