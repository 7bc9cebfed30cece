"""The [security_txt] section, and the file, the check and the check-config warnings made
from it, with the time passed in and the organisation's key substituted at its ports."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from disclosure_inbox.commands_securitytxt import (
    check_file,
    check_table,
    config_warnings,
    fields_of,
    make_file,
)
from disclosure_inbox.config import ConfigError, Settings, parse_settings
from disclosure_inbox.domain.securitytxt import Signature, mailto

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
BASE: dict[str, Any] = {
    "organization": {
        "name": "Mio",
        "mailbox_address": "soc@m.io",
        "policy_url": "https://m.io/disclosure",
    },
    "imap": {"host": "imap.m.io", "username": "soc", "password": "p"},
}
MIO = {
    "expires": datetime(2027, 1, 1, tzinfo=UTC),
    "encryption": "https://m.io/pgp-key.txt",
    "preferred_languages": ["en"],
    "canonical": ["https://m.io/.well-known/security.txt"],
}


def settings(section: dict[str, Any] | None = None, **organization: Any) -> Settings:
    data: dict[str, Any] = {**BASE, "organization": {**BASE["organization"], **organization}}
    if section is not None:
        data["security_txt"] = section
    return parse_settings(data)


class Signer:
    """The organisation's key, as far as the command can tell."""

    def __init__(self) -> None:
        self.signed: list[str] = []

    def clearsign(self, text: str) -> str:
        self.signed.append(text)
        return f"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n{text}-----BEGIN PGP ..."


class Verifier:
    def __init__(self, status: Any) -> None:
        self.status = status
        self.seen: list[str] = []

    def verify_clearsigned(self, text: str) -> Signature:
        self.seen.append(text)
        return Signature(self.status, "5F2DE5521C63A801AB59CCB603D49DE44B29100F")


# --- the section ----------------------------------------------------------------------------


def test_the_section_is_optional():
    assert settings().security_txt is None
    with pytest.raises(ConfigError, match=r"no \[security_txt\] section"):
        make_file(settings(), now=NOW)
    assert config_warnings(settings(), now=NOW) == []


@pytest.mark.parametrize(
    ("expires", "moment"),
    [
        (datetime(2027, 1, 1, 2, 0, tzinfo=UTC), datetime(2027, 1, 1, 2, 0, tzinfo=UTC)),
        (date(2027, 1, 1), datetime(2027, 1, 1, tzinfo=UTC)),  # the start of the day, UTC
        ("2027-01-01T02:00:00+02:00", datetime(2027, 1, 1, tzinfo=UTC)),
        ("2027-01-01", datetime(2027, 1, 1, tzinfo=UTC)),
    ],
)
def test_expires_is_a_date_time_with_an_offset_or_a_date(expires, moment):
    assert settings({**MIO, "expires": expires}).security_txt.expires == moment


@pytest.mark.parametrize(
    ("changes", "key", "why"),
    [
        ({"expires": datetime(2027, 1, 1)}, "security_txt.expires", "offset"),
        ({"expires": "next year"}, "security_txt.expires", "not a date-time"),
        ({"expires": None}, "security_txt.expires", ""),
        ({"contact": ["http://m.io/report"]}, "security_txt.contact", "https://"),
        ({"contact": ["soc@m.io"]}, "security_txt.contact", "mailto:soc@m.io"),
        ({"encryption": "http://m.io/pgp-key.txt"}, "security_txt.encryption", "https://"),
        ({"policy": "m.io/disclosure"}, "security_txt.policy", "not one URI"),
        ({"canonical": ["http://m.io/.well-known/security.txt"]}, "security_txt.canonical", ""),
        ({"preferred_languages": ["english!"]}, "security_txt.preferred_languages", "RFC 5646"),
        ({"acknowledgements": "https://m.io/thanks"}, "security_txt.acknowledgements", "unknown"),
    ],
)
def test_invalid_values_name_their_key(changes, key, why):
    section = {k: v for k, v in {**MIO, **changes}.items() if v is not None}
    with pytest.raises(ConfigError, match=key) as caught:
        settings(section)
    assert why in str(caught.value)


def test_the_mailbox_is_the_first_contact_and_policy_defaults_to_the_policy_url():
    fields = fields_of(
        settings({**MIO, "contact": ["https://m.io/report", "mailto:SOC@m.io", "tel:+1-201"]})
    )
    assert fields.contacts == (mailto("soc@m.io"), "https://m.io/report", "tel:+1-201")
    assert fields.policy == ("https://m.io/disclosure",)
    assert fields_of(settings({**MIO, "policy": "https://m.io/vdp"})).policy == (
        "https://m.io/vdp",
    )
    assert fields_of(settings(MIO, policy_url="")).policy == ()


# --- the file -------------------------------------------------------------------------------


def test_the_file_made_from_the_section():
    made = make_file(settings({**MIO, "hiring": "https://m.io/jobs"}), now=NOW)
    assert made.text == (
        "Contact: mailto:soc@m.io\n"
        "Expires: 2027-01-01T00:00:00Z\n"
        "Encryption: https://m.io/pgp-key.txt\n"
        "Policy: https://m.io/disclosure\n"
        "Preferred-Languages: en\n"
        "Canonical: https://m.io/.well-known/security.txt\n"
        "Hiring: https://m.io/jobs\n"
    )
    assert made.warnings == []


def test_sign_hands_the_file_to_the_organisations_key():
    signer = Signer()
    made = make_file(settings(MIO), now=NOW, sign=True, signer=signer)
    assert signer.signed == [make_file(settings(MIO), now=NOW).text]
    assert made.text.startswith("-----BEGIN PGP SIGNED MESSAGE-----\n")


def test_sign_without_a_key_is_a_configuration_error():
    with pytest.raises(ConfigError, match=r"--sign needs .* no \[openpgp\] section"):
        make_file(settings(MIO), now=NOW, sign=True, signer=None)


def test_a_file_that_would_fail_its_check_is_not_made():
    past = settings({**MIO, "expires": date(2026, 6, 1)})
    with pytest.raises(ConfigError, match="would fail its check: Expires: .* has passed"):
        make_file(past, now=NOW, sign=True, signer=Signer())
    http_policy = settings(MIO, policy_url="http://m.io/disclosure")
    with pytest.raises(ConfigError, match='Policy: .* does not begin with "https://"'):
        make_file(http_policy, now=NOW)


def test_a_file_within_30_days_is_made_with_a_warning():
    made = make_file(settings({**MIO, "expires": NOW + timedelta(days=10)}), now=NOW)
    assert "Expires: 2026-07-11T12:00:00Z\n" in made.text
    assert [(f.rule, f.problem) for f in made.warnings] == [("expires-soon", True)]


# --- check-config ---------------------------------------------------------------------------


def test_check_config_warns_within_30_days_and_after():
    soon = settings({**MIO, "expires": date(2026, 7, 20)})
    assert config_warnings(soon, now=NOW) == [
        "security_txt: Expires: 2026-07-20T00:00:00Z is in 18 days, within 30 days: renew it"
    ]
    assert config_warnings(soon, now=NOW - timedelta(days=30)) == []
    (passed,) = config_warnings(soon, now=datetime(2026, 8, 1, tzinfo=UTC))
    assert "has passed (12 days ago)" in passed
    assert config_warnings(settings(MIO, policy_url="http://m.io/"), now=NOW) == [
        "security_txt: Policy: line 4: 'http://m.io/' is a web URI that does not begin with "
        '"https://"'
    ]


# --- the check ------------------------------------------------------------------------------


def test_check_of_the_file_made_is_clean():
    text = make_file(settings(MIO), now=NOW).text
    checked = check_file(text.encode(), settings(MIO), now=NOW, name="security.txt")
    assert checked == {
        "file": "security.txt",
        "signed": False,
        "signature": None,
        "findings": [],
        "errors": 0,
        "warnings": 0,
        "problems": 0,
    }
    assert check_table(checked) == "security.txt: ok\n"


def test_check_of_an_expired_file():
    data = b"Contact: mailto:soc@m.io\nExpires: 2026-01-01T00:00:00Z\n"
    checked = check_file(data, settings(), now=NOW, name="old.txt")
    assert checked["problems"] == checked["errors"] == 1
    assert check_table(checked) == (
        "ERROR Expires: 2026-01-01T00:00:00Z has passed (181 days ago): readers treat the file "
        "as stale\n"
        "old.txt: 1 error, 0 warnings (fails the check)\n"
    )


def test_check_hands_a_signed_file_to_the_verifier():
    text = make_file(settings(MIO), now=NOW, sign=True, signer=Signer()).text
    text = text.replace("-----BEGIN PGP ...", "-----BEGIN PGP SIGNATURE-----\n\n=x\n")
    text += "-----END PGP SIGNATURE-----\n"
    verifier = Verifier("valid")
    checked = check_file(text.encode(), settings(), now=NOW, name="s.txt", verifier=verifier)
    assert verifier.seen == [text]
    assert checked["signed"] is True
    assert checked["signature"]["status"] == "valid"
    assert checked["findings"] == []

    bad = check_file(text.encode(), settings(), now=NOW, name="s.txt", verifier=Verifier("invalid"))
    assert [f["rule"] for f in bad["findings"]] == ["signature"]
    assert bad["problems"] == 1

    unchecked = check_file(text.encode(), settings(), now=NOW, name="s.txt", verifier=None)
    assert check_table(unchecked) == (
        "WARNING file: signature not checked: no [openpgp] configured\n"
        "s.txt: 0 errors, 1 warning (passes the check)\n"
    )
    assert unchecked["problems"] == 0


def test_an_unsigned_file_is_not_handed_to_the_verifier():
    verifier = Verifier("invalid")
    data = make_file(settings(MIO), now=NOW).text.encode()
    checked = check_file(data, settings(), now=NOW, name="a", verifier=verifier)
    assert verifier.seen == [] and checked["problems"] == 0
