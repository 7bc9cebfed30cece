"""The [staff] section: the token keys, the reply address, and the check that a reply token
fits the address it is put in."""

import pytest

from disclosure_inbox.config import ConfigError, parse_settings

BASE = {
    "organization": {"name": "Mio", "mailbox_address": "soc@m.io", "reference_prefix": "MIO"},
    "imap": {"host": "imap.m.io", "username": "soc", "password": "p"},
}


def settings(staff=None, **organization):
    return parse_settings(
        {**BASE, "organization": {**BASE["organization"], **organization}, "staff": staff or {}}
    )


def test_keys_one_a_line_the_first_signs():
    s = settings({"token_secret": "new-key\n  old-key \n\n"})
    assert s.staff.token_keys == (b"new-key", b"old-key")
    assert settings().staff.token_keys == ()


def test_the_reply_address_must_hold_the_token_once():
    with pytest.raises(ConfigError, match="staff.reply_address"):
        settings({"reply_address": "soc@m.io"})
    with pytest.raises(ConfigError, match="staff.reply_address"):
        settings({"reply_address": "soc+{token}{token}@m.io"})
    assert settings({"reply_address": "soc+{token}@m.io"}).staff.reply_address


def test_a_token_that_would_not_fit_the_address_is_a_configuration_error():
    with pytest.raises(ConfigError, match="shorter local part or reference_prefix"):
        settings({"token_secret": "k"}, mailbox_address="security-reports@m.io")
    # Without a key there are no tokens, so nothing to fit.
    assert settings(mailbox_address="security-reports@m.io").staff.token_keys == ()
    assert settings({"token_secret": "k"}).staff.token_days == 30


def test_the_secret_may_come_from_a_file(tmp_path):
    path = tmp_path / "staff-token"
    path.write_text("from-a-file\n", encoding="utf-8")
    assert settings({"token_secret_file": str(path)}).staff.token_keys == (b"from-a-file",)


def test_staff_addresses_and_recipients_are_plain_addresses():
    with pytest.raises(ConfigError, match="not a plain address"):
        settings({"recipients": ["Security Lead <lead@m.io>"]})
    with pytest.raises(ConfigError, match="not a plain address"):
        settings(staff_addresses=["jörg@m.io"])
    assert settings(staff_addresses=[" Lead@M.io "]).organization.staff_addresses == ("lead@m.io",)
