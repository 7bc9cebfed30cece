"""Reply tokens: issued for one report, one staff address and an expiry; checked on the way back."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone

import pytest

from disclosure_inbox.domain.tokens import (
    MAX_CANDIDATES,
    TokenProblem,
    find_tokens,
    issue,
    reply_address,
    verify,
)

KEY = b"first key, from [staff] token_secret"
OLD_KEY = b"the key before it"
REF = "MIO-2026-0001"
BOB = "bob@m.io"
EXPIRES = datetime(2026, 8, 1, tzinfo=UTC)
BEFORE = EXPIRES - timedelta(days=3)
TEMPLATE = "soc+{token}@m.io"
ALPHABET = string.ascii_lowercase + "234567"


def token(**changes: object) -> str:
    fields: dict[str, object] = {
        "keys": [KEY],
        "report_ref": REF,
        "recipient": BOB,
        "expires_at": EXPIRES,
    }
    fields.update(changes)
    return issue(**fields)  # type: ignore[arg-type]


def test_the_worked_example_in_the_docstring() -> None:
    t = issue([b"k1"], "MIO-2026-0001", "Bob@M.io", datetime(2026, 8, 1, tzinfo=UTC))
    assert t == "eadba6tugj7od5iqnnxea53d2nvg2nyajveu6ljsgazdmljqgaydc"
    assert reply_address(TEMPLATE, t) == f"soc+{t}@m.io"
    assert len(reply_address(TEMPLATE, t).partition("@")[0]) == 57


def test_round_trip_names_the_report() -> None:
    check = verify([KEY], token(), BOB, BEFORE)
    assert check.valid
    assert check.problem is None
    assert check.report_ref == REF
    assert check.expires_at == EXPIRES
    assert check.recipient == BOB


def test_a_token_is_only_lower_case_letters_and_digits_2_to_7() -> None:
    t = token(report_ref="abc-XYZ-0009")
    assert set(t) <= set(ALPHABET)
    assert verify([KEY], t, BOB, BEFORE).report_ref == "abc-XYZ-0009"  # the case is kept


def test_case_insensitive_in_the_token_and_the_recipient() -> None:
    t = token(recipient="Bob@M.IO")
    check = verify([KEY], t.upper(), " BOB@m.io ", BEFORE)
    assert check.valid and check.report_ref == REF


def test_expiry_boundary() -> None:
    t = token()
    assert verify([KEY], t, BOB, EXPIRES - timedelta(seconds=1)).valid
    expired = verify([KEY], t, BOB, EXPIRES)
    assert expired.problem is TokenProblem.EXPIRED
    assert expired.report_ref is None
    assert expired.expires_at == EXPIRES


def test_expiry_in_another_time_zone_is_the_same_instant() -> None:
    berlin = timezone(timedelta(hours=2))
    t = token(expires_at=datetime(2026, 8, 1, 2, 0, tzinfo=berlin))
    assert verify([KEY], t, BOB, datetime(2026, 7, 31, 23, 59, 59, tzinfo=UTC)).valid
    assert not verify([KEY], t, BOB, EXPIRES).valid


def test_a_token_for_another_recipient() -> None:
    check = verify([KEY], token(recipient="carol@m.io"), BOB, BEFORE)
    assert check.problem is TokenProblem.OTHER_RECIPIENT
    assert check.report_ref is None


def test_other_recipient_comes_before_expired() -> None:
    check = verify([KEY], token(recipient="carol@m.io"), BOB, EXPIRES + timedelta(days=1))
    assert check.problem is TokenProblem.OTHER_RECIPIENT


def test_a_key_we_do_not_hold() -> None:
    check = verify([KEY], token(keys=[b"someone else's key"]), BOB, BEFORE)
    assert check.problem is TokenProblem.BAD_SIGNATURE
    assert check.expires_at is None  # what a forgery claims is not repeated


def test_every_single_character_change_is_refused() -> None:
    t = token()
    for index, original in enumerate(t):
        for replacement in ALPHABET.replace(original, ""):
            changed = t[:index] + replacement + t[index + 1 :]
            check = verify([KEY], changed, BOB, BEFORE)
            assert not check.valid, (index, replacement)
            assert check.problem in (TokenProblem.BAD_SIGNATURE, TokenProblem.MALFORMED)


def test_one_character_changed_in_the_middle_is_a_bad_signature() -> None:
    t = token()
    middle = len(t) // 2
    changed = t[:middle] + ("a" if t[middle] != "a" else "b") + t[middle + 1 :]
    assert verify([KEY], changed, BOB, BEFORE).problem is TokenProblem.BAD_SIGNATURE


def test_rotation_the_first_key_signs_and_every_key_verifies() -> None:
    old = token(keys=[OLD_KEY])
    new = token(keys=[KEY, OLD_KEY])
    assert new == token(keys=[KEY])
    assert verify([KEY, OLD_KEY], old, BOB, BEFORE).valid
    assert verify([KEY, OLD_KEY], new, BOB, BEFORE).valid
    # Once the old key is gone, so are its tokens.
    assert verify([KEY], old, BOB, BEFORE).problem is TokenProblem.BAD_SIGNATURE
    # Another recipient is still told apart under the old key.
    other = token(keys=[OLD_KEY], recipient="carol@m.io")
    assert verify([KEY, OLD_KEY], other, BOB, BEFORE).problem is TokenProblem.OTHER_RECIPIENT


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "a" * 200,
        "not-a-token-at-all-but-long-enough-to-look-like-one-xx",
        "0189" * 14,  # digits outside base32
    ],
)
def test_malformed(text: str) -> None:
    check = verify([KEY], text, BOB, BEFORE)
    assert check.problem is TokenProblem.MALFORMED
    assert check.report_ref is None and check.expires_at is None


def test_a_non_canonical_spelling_is_malformed() -> None:
    t = token()  # 33 bytes in 53 characters: the last character has one unused bit
    last = ALPHABET.index(t[-1])
    assert last % 2 == 0
    respelled = t[:-1] + ALPHABET[last + 1]
    assert verify([KEY], respelled, BOB, BEFORE).problem is TokenProblem.MALFORMED


def test_a_truncated_token_is_refused() -> None:
    t = token()
    for cut in (1, 2, 8, 20):
        assert not verify([KEY], t[:-cut], BOB, BEFORE).valid


@pytest.mark.parametrize("ref", ["", "MIO 2026", "MIO_2026", "-MIO", "É-2026-1", "A" * 25])
def test_issue_refuses_what_a_token_cannot_carry(ref: str) -> None:
    with pytest.raises(ValueError):
        token(report_ref=ref)


def test_issue_and_verify_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError):
        token(keys=[])
    with pytest.raises(ValueError):
        token(keys=[b""])
    with pytest.raises(ValueError):
        token(recipient="  ")
    with pytest.raises(ValueError):
        token(expires_at=datetime(2026, 8, 1))
    with pytest.raises(ValueError):
        verify([KEY], token(), BOB, datetime(2026, 7, 1))
    with pytest.raises(ValueError):
        verify([], token(), BOB, BEFORE)


def test_reply_address_keeps_the_local_part_within_64_octets() -> None:
    t = token()
    assert reply_address("Soc+{token}@M.io", t.upper()) == f"Soc+{t}@M.io"
    with pytest.raises(ValueError, match="64"):
        reply_address("security-disclosures+{token}@m.io", t)
    with pytest.raises(ValueError):
        reply_address("soc@m.io", t)
    with pytest.raises(ValueError):
        reply_address("soc+{token}{token}@m.io", t)


def test_find_tokens_in_recipient_headers() -> None:
    t = token()
    other = token(report_ref="MIO-2026-0002")
    found = find_tokens(
        [
            f'"Security" <SOC+{t.upper()}@M.IO>, alice@example.com',  # To
            f"soc+{t}@m.io",  # Delivered-To: the same token once
            f"soc+{other}@m.io",  # X-Original-To
            "soc@m.io",  # the plain mailbox
            f"soc+{t}@evil.example",  # another domain
            f"xsoc+{other}@m.io",  # another local part
            "soc+abuse@m.io",  # another subaddress, not a token
            f"soc-{t}@m.io",
        ],
        TEMPLATE,
    )
    assert found == [t, other]


def test_find_tokens_with_text_after_the_token() -> None:
    t = token()
    assert find_tokens([f"reply.{t}.soc@m.io"], "reply.{token}.soc@m.io") == [t]
    assert find_tokens([f"reply.{t}@m.io"], "reply.{token}.soc@m.io") == []


def test_find_tokens_is_bounded() -> None:
    many = [f"soc+{token(report_ref=f'MIO-2026-{n:04d}')}@m.io" for n in range(20)]
    assert len(find_tokens([", ".join(many)], TEMPLATE)) == MAX_CANDIDATES


def test_found_tokens_verify() -> None:
    address = reply_address(TEMPLATE, token())
    [found] = find_tokens([address], TEMPLATE)
    assert verify([KEY], found, BOB, BEFORE).report_ref == REF
