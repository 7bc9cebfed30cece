"""gpg's status lines, as gpg 2.2 writes them, read into verdicts and failure reasons."""

from __future__ import annotations

import pytest

from disclosure_inbox.adapters import gpg_status
from disclosure_inbox.adapters.gpg_status import Statuses, Verdict

ORG = "C12F8A679576052EC765FF8423022B1DE22C5EA3"
RITA = "166DC4B2A7A9D71F451B0129C3CB8E154134D6B5"
SAM = "127EC166AF2A0C2F9875273F7FCF0BBA6C8B261F"


def _statuses(*lines: str) -> Statuses:
    text = "gpg: some human-readable message\n"
    return Statuses.parse(text + "".join(f"[GNUPG:] {line}\n" for line in lines))


GOOD = (
    "NEWSIG",
    "SIG_ID XDMiLdXYh1vtjE3pxCVgb3qTls8 2026-12-03 1796307536",
    "GOODSIG C3CB8E154134D6B5 Rita Reporter <rita@example.org>",
    f"VALIDSIG {'A' * 40} 2026-12-03 1796307536 0 4 0 22 8 00 {RITA}",
    "TRUST_UNDEFINED 0 pgp",
)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(GOOD, Verdict("valid", RITA, None), id="good-by-subkey"),
        pytest.param(
            ("NEWSIG", "BADSIG C3CB8E154134D6B5 Rita Reporter <rita@example.org>"),
            Verdict("invalid", None, "C3CB8E154134D6B5"),
            id="bad",
        ),
        pytest.param(
            ("NEWSIG", f"ERRSIG 7FCF0BBA6C8B261F 22 8 00 1796307536 9 {SAM}", "NO_PUBKEY 7F"),
            Verdict("unknown-key", SAM, "7FCF0BBA6C8B261F"),
            id="no-public-key",
        ),
        pytest.param(
            ("NEWSIG", "ERRSIG 7FCF0BBA6C8B261F 99 8 00 1796307536 4"),
            Verdict("invalid", None, "7FCF0BBA6C8B261F"),
            id="unknown-algorithm",
        ),
        pytest.param(
            (
                "NEWSIG",
                "EXPKEYSIG C3CB8E154134D6B5 Rita",
                f"VALIDSIG {RITA} x x x x x x x x {RITA}",
            ),
            Verdict("invalid", RITA, None),
            id="expired-key",
        ),
        pytest.param((*GOOD, "NEWSIG", "BADSIG 00 x"), Verdict("valid", RITA, None), id="first"),
    ],
)
def test_signature_verdicts(lines: tuple[str, ...], expected: Verdict) -> None:
    assert gpg_status.signature(_statuses(*lines)) == expected


def test_no_signature_no_verdict() -> None:
    assert gpg_status.signature(_statuses("NODATA 1", "NODATA 2")) is None


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        pytest.param(
            ("ENC_TO 50CBA28EED6236DC 18 0", "NO_SECKEY 50CBA28EED6236DC", "DECRYPTION_FAILED"),
            "no-secret-key",
            id="not-for-us",
        ),
        pytest.param(
            (
                "ENC_TO DD7AC02E80C4AF54 18 0",
                "ERROR pkdecrypt_failed 67108875",
                "DECRYPTION_FAILED",
            ),
            "bad-passphrase",
            id="wrong-passphrase",
        ),
        pytest.param(
            ("ENC_TO DD7AC02E80C4AF54 18 0", "NEED_PASSPHRASE DD7AC02E80C4AF54 2302 18 0"),
            "bad-passphrase",
            id="no-passphrase",
        ),
        pytest.param(
            ("NO_SECKEY 50CBA28EED6236DC", "ERROR pkdecrypt_failed 67108875", "DECRYPTION_FAILED"),
            "bad-passphrase",
            id="ours-among-others",
        ),
        pytest.param(
            ("NEED_PASSPHRASE_SYM 9 3 2", "ERROR symkey_decrypt.maybe_error 11_BAD_PASSPHRASE"),
            "no-secret-key",
            id="symmetric",
        ),
        pytest.param(("NODATA 1", "NODATA 2", "FAILURE decrypt 4294967295"), "corrupt", id="junk"),
        pytest.param((), "corrupt", id="crc-error-says-nothing"),
        pytest.param(("BEGIN_DECRYPTION", "BADMDC", "DECRYPTION_FAILED"), "corrupt", id="mdc"),
    ],
)
def test_decryption_failures(lines: tuple[str, ...], reason: str) -> None:
    statuses = _statuses(*lines)
    assert not gpg_status.decrypted(statuses)
    assert gpg_status.failure(statuses) == reason


def test_decrypted_only_with_okay_and_no_failed_check() -> None:
    assert gpg_status.decrypted(_statuses("BEGIN_DECRYPTION", "DECRYPTION_OKAY", "GOODMDC"))
    assert not gpg_status.decrypted(_statuses("DECRYPTION_OKAY", "BADMDC"))


def test_only_signed_is_plaintext_without_decryption() -> None:
    assert gpg_status.only_signed(_statuses("PLAINTEXT 62 1796307528", *GOOD))
    assert not gpg_status.only_signed(_statuses("BEGIN_DECRYPTION", "PLAINTEXT 62 1"))


def test_error_codes_drop_the_error_source() -> None:
    statuses = _statuses("FAILURE sign 67108875", "ERROR x 11_BAD_PASSPHRASE", "ERROR y")
    assert statuses.error_codes() == {11}
    assert gpg_status.locked(statuses)
    assert not gpg_status.locked(_statuses("FAILURE encrypt 167772380"))
