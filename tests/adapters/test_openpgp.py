"""The OpenPGP adapter against the real gpg, with throwaway keys made by the fixtures."""

from __future__ import annotations

import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from disclosure_inbox.adapters.openpgp import MAX_OUTPUT_BYTES, OpenPGP
from disclosure_inbox.config import ConfigError
from disclosure_inbox.domain.errors import KeyUnusable, OpenPGPUnavailable
from disclosure_inbox.domain.openpgp import Signature
from disclosure_inbox.testing.openpgp_keys import ThrowawayKey, ThrowawayKeys, stop_agent

Homes = Callable[[ThrowawayKey], Path]
REPORT = b"Heap overflow in the PDF parser.\nSteps to reproduce: ...\n"


def _open(
    home: Path, key: ThrowawayKey, *others: ThrowawayKey, max_output_bytes: int = MAX_OUTPUT_BYTES
) -> OpenPGP:
    pgp = OpenPGP(home, passphrase=key.passphrase, max_output_bytes=max_output_bytes)
    for other in others:
        pgp.import_keys(other.public)
    return pgp


@pytest.fixture
def org(pgp_keys: ThrowawayKeys, pgp_home: Homes) -> OpenPGP:
    """The organisation: its own secret key, and the reporter's public key kept earlier."""
    return _open(pgp_home(pgp_keys.org), pgp_keys.org, pgp_keys.reporter)


@pytest.fixture
def reporter(pgp_keys: ThrowawayKeys, pgp_home: Homes) -> OpenPGP:
    return _open(pgp_home(pgp_keys.reporter), pgp_keys.reporter, pgp_keys.org, pgp_keys.stranger)


@pytest.fixture
def stranger(pgp_keys: ThrowawayKeys, pgp_home: Homes) -> OpenPGP:
    return _open(pgp_home(pgp_keys.stranger), pgp_keys.stranger, pgp_keys.org)


def test_encrypted_report_round_trips(
    org: OpenPGP, reporter: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    ciphertext = reporter.encrypt(REPORT, [pgp_keys.org.fingerprint])

    assert ciphertext.startswith(b"-----BEGIN PGP MESSAGE-----")
    assert REPORT not in ciphertext
    outcome = org.decrypt(ciphertext)
    assert outcome.ok and outcome.encrypted
    assert outcome.plaintext == REPORT
    assert outcome.signature is None


def test_signed_and_encrypted_report_names_its_signer(
    org: OpenPGP, reporter: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    outcome = org.decrypt(reporter.encrypt(REPORT, [pgp_keys.org.fingerprint], sign=True))

    assert outcome.plaintext == REPORT
    assert outcome.signature == Signature("valid", pgp_keys.reporter.fingerprint)


def test_signer_we_have_no_key_for_is_unknown_but_the_text_is_read(
    org: OpenPGP, stranger: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    outcome = org.decrypt(stranger.encrypt(REPORT, [pgp_keys.org.fingerprint], sign=True))

    assert outcome.plaintext == REPORT
    assert outcome.signature == Signature("unknown-key", pgp_keys.stranger.fingerprint)


def test_message_encrypted_to_another_key_has_no_secret_key(
    org: OpenPGP, reporter: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    outcome = org.decrypt(reporter.encrypt(REPORT, [pgp_keys.stranger.fingerprint]))

    assert outcome.plaintext is None
    assert outcome.failure == "no-secret-key"


def test_message_encrypted_to_a_passphrase_is_not_for_our_key(
    org: OpenPGP, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = tmp_path_factory.mktemp("sym")
    try:
        symmetric = subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
            + ["--passphrase", "shared secret", "--s2k-count", "65536", "--symmetric", "--armor"],
            input=REPORT,
            capture_output=True,
            check=True,
        ).stdout
    finally:
        stop_agent(home)

    assert org.decrypt(symmetric).failure == "no-secret-key"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda c: c[:60] + b"AAAA" + c[64:], id="altered"),
        pytest.param(lambda c: c[: len(c) // 2] + b"\n-----END PGP MESSAGE-----\n", id="truncated"),
        pytest.param(lambda c: b"this is no OpenPGP message\n", id="not-openpgp"),
    ],
)
def test_damaged_ciphertext_is_corrupt(
    org: OpenPGP,
    reporter: OpenPGP,
    pgp_keys: ThrowawayKeys,
    damage: Callable[[bytes], bytes],
) -> None:
    ciphertext = reporter.encrypt(REPORT * 20, [pgp_keys.org.fingerprint])

    outcome = org.decrypt(damage(ciphertext))

    assert (outcome.plaintext, outcome.failure) == (None, "corrupt")


def test_plaintext_over_the_limit_is_too_large(
    pgp_keys: ThrowawayKeys, pgp_home: Homes, reporter: OpenPGP
) -> None:
    small = _open(pgp_home(pgp_keys.org), pgp_keys.org, max_output_bytes=100_000)
    bomb = reporter.encrypt(b"A" * 1_000_000, [pgp_keys.org.fingerprint])  # compresses well

    assert len(bomb) < 10_000
    assert small.decrypt(bomb).failure == "too-large"
    assert small.decrypt(reporter.encrypt(REPORT, [pgp_keys.org.fingerprint])).ok


def test_wrong_passphrase_is_a_configuration_error_even_after_a_right_one(
    org: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    org.check_passphrase()  # unlocks the key: the agent caches the passphrase
    wrong = OpenPGP(org.home, passphrase="not the org pass")

    with pytest.raises(ConfigError, match="passphrase does not unlock") as raised:
        wrong.check_passphrase()

    assert "not the org pass" not in str(raised.value)
    assert "not the org pass" not in repr(wrong)
    assert wrong.decrypt(org.encrypt(REPORT, [pgp_keys.org.fingerprint])).failure == (
        "bad-passphrase"
    )


def test_missing_passphrase_reads_as_a_bad_one(
    pgp_keys: ThrowawayKeys, pgp_home: Homes, reporter: OpenPGP
) -> None:
    none = OpenPGP(pgp_home(pgp_keys.org))

    outcome = none.decrypt(reporter.encrypt(REPORT, [pgp_keys.org.fingerprint]))

    assert outcome.failure == "bad-passphrase"
    with pytest.raises(ConfigError):
        none.check_passphrase()


def test_home_without_secret_key_fails_the_check(tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("empty") / "gnupg"
    pgp = OpenPGP(home)

    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    with pytest.raises(ConfigError, match="no secret key"):
        pgp.check_passphrase()
    pgp.close()


def test_detached_signature_valid_altered_and_unknown(
    org: OpenPGP, reporter: OpenPGP, stranger: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    data = b"Content-Type: text/plain\r\n\r\nFixed in 2.4.1.\r\n"
    by_reporter = reporter.sign_detached(data)
    by_stranger = stranger.sign_detached(data)

    assert by_reporter.micalg == "pgp-sha256"
    assert org.verify_detached(data, by_reporter.data) == Signature(
        "valid", pgp_keys.reporter.fingerprint
    )
    assert org.verify_detached(data.replace(b"2.4.1", b"2.4.2"), by_reporter.data) == Signature(
        "invalid", pgp_keys.reporter.fingerprint
    )
    assert org.verify_detached(data, by_stranger.data) == Signature(
        "unknown-key", pgp_keys.stranger.fingerprint
    )
    assert org.verify_detached(data, b"not a signature").status == "invalid"


def test_clearsigned_text_valid_altered_and_read(
    org: OpenPGP, reporter: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    text = b"Contact: mailto:security@example.com\nExpires: 2030-01-01T00:00:00Z\n"
    signed = org.clearsign(text)

    assert signed.startswith(b"-----BEGIN PGP SIGNED MESSAGE-----")
    assert reporter.verify_clearsigned(signed) == Signature("valid", pgp_keys.org.fingerprint)
    assert reporter.verify_clearsigned(signed.replace(b"2030", b"2031")).status == "invalid"
    assert reporter.verify_clearsigned(text).status == "invalid"
    read = reporter.decrypt(signed)
    assert (read.plaintext, read.encrypted) == (text, False)
    assert read.signature == Signature("valid", pgp_keys.org.fingerprint)


def test_keys_are_scanned_and_imported_but_secret_keys_refused(
    org: OpenPGP, pgp_keys: ThrowawayKeys
) -> None:
    (scanned,) = org.scan_keys(pgp_keys.stranger.public)

    assert scanned.fingerprint == pgp_keys.stranger.fingerprint
    assert scanned.addresses == {"sam@example.net"}
    assert org.import_keys(pgp_keys.stranger.secret) == []
    assert org.import_keys(pgp_keys.stranger.public) == [pgp_keys.stranger.fingerprint]
    assert [k.fingerprint for k in org.secret_keys()] == [pgp_keys.org.fingerprint]
    assert org.import_keys(b"no key here") == []


def test_encrypting_to_a_key_we_do_not_have_is_refused(org: OpenPGP) -> None:
    with pytest.raises(KeyUnusable, match="cannot encrypt to"):
        org.encrypt(REPORT, ["0123456789ABCDEF0123456789ABCDEF01234567"])
    with pytest.raises(KeyUnusable):
        org.encrypt(REPORT, [])


def test_gpg_past_its_time_limit_is_stopped(
    pgp_keys: ThrowawayKeys, pgp_home: Homes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A gpg that answers python-gnupg's version probe, then hangs on any real work.
    slow = tmp_path_factory.mktemp("bin") / "slow-gpg"
    slow.write_text(
        '#!/bin/sh\ncase "$*" in *--list-config*) exec gpg "$@";; esac\nexec sleep 30\n'
    )
    slow.chmod(0o755)
    pgp = OpenPGP(pgp_home(pgp_keys.org), timeout_seconds=0.5, gpg_binary=str(slow))

    with pytest.raises(OpenPGPUnavailable, match="stopped after 0.5 s"):
        pgp.decrypt(b"-----BEGIN PGP MESSAGE-----\n")


def test_passphrase_with_a_line_break_is_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    with pytest.raises(ConfigError, match="line break") as raised:
        OpenPGP(tmp_path_factory.mktemp("g"), passphrase="first\nsecond")
    assert "first" not in str(raised.value)
