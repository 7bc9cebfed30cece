"""``security-txt`` and ``check-config`` as an operator runs them: a real subprocess, Mio's
configuration from config.example.toml, exit codes and what is printed.

These commands read the clock and nothing else: no server is started. Dates are set
relative to the real time, since the subprocess reads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from disclosure_inbox.testing.config import write_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def cli(*args: str, config: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DISCLOSURE_INBOX_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "disclosure_inbox", "--config", str(config), *args],
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def mio(tmp_path: Path, expires_in: timedelta, **security_txt: Any) -> Path:
    """Mio's [organization] and [security_txt] from config.example.toml, with an Expires
    ``expires_in`` from now; IMAP is named but never reached."""
    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    section = dict(example["security_txt"])
    expires = datetime.now(UTC).replace(microsecond=0) + expires_in
    section.update(expires=expires.isoformat(), **security_txt)
    sections = {
        "organization": example["organization"],
        "imap": {"host": "imap.m.io", "username": "soc@m.io", "password": "unused"},
        "storage": {"dir": str(tmp_path / "var")},
        "security_txt": section,
    }
    return write_config(tmp_path / "config.toml", sections)


def test_the_file_printed_from_mios_configuration_passes_its_check(tmp_path):
    config = mio(tmp_path, timedelta(days=180))
    printed = cli("security-txt", config=config)
    assert printed.returncode == 0, printed.stderr
    assert printed.stderr == ""
    lines = printed.stdout.splitlines()
    assert lines[0] == "Contact: mailto:soc@m.io"
    assert lines[1].startswith("Expires: ") and lines[1].endswith("Z")
    assert lines[2:] == [
        "Encryption: https://m.io/pgp-key.txt",
        "Policy: https://m.io/disclosure",
        "Preferred-Languages: en",
        "Canonical: https://m.io/.well-known/security.txt",
    ]

    path = tmp_path / "security.txt"
    path.write_text(printed.stdout, encoding="utf-8")
    checked = cli("security-txt", "--check", str(path), config=config)
    assert (checked.returncode, checked.stdout) == (0, f"{path}: ok\n"), checked.stderr
    served = cli(
        "security-txt",
        "--check",
        "-",
        "--content-type",
        "text/plain; charset=utf-8",
        "--format",
        "json",
        config=config,
        stdin=printed.stdout,
    )
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout) == {
        "file": "(stdin)",
        "signed": False,
        "signature": None,
        "findings": [],
        "errors": 0,
        "warnings": 0,
        "problems": 0,
    }


def test_a_file_with_an_expired_expires_fails_the_check(tmp_path):
    config = mio(tmp_path, timedelta(days=180))
    path = tmp_path / "security.txt"
    path.write_text(
        "Contact: mailto:soc@m.io\r\nExpires: 2021-12-31T18:37:07z\r\n", encoding="utf-8"
    )
    checked = cli("security-txt", "--check", str(path), config=config)
    assert checked.returncode == 1, checked.stderr
    first, summary = checked.stdout.splitlines()
    assert first.startswith("ERROR Expires: 2021-12-31T18:37:07z has passed (")
    assert summary == f"{path}: 1 error, 0 warnings (fails the check)"

    as_json = json.loads(
        cli("security-txt", "--check", str(path), "--format", "json", config=config).stdout
    )
    assert [(f["level"], f["where"], f["rule"]) for f in as_json["findings"]] == [
        ("error", "Expires", "expires-past")
    ]


def test_expires_within_30_days_fails_the_check_and_check_config_warns(tmp_path):
    config = mio(tmp_path, timedelta(days=12))
    printed = cli("security-txt", config=config)
    assert printed.returncode == 0
    assert "warning: Expires: " in printed.stderr and "within 30 days" in printed.stderr
    path = tmp_path / "security.txt"
    path.write_text(printed.stdout, encoding="utf-8")
    checked = cli("security-txt", "--check", str(path), config=config)
    assert checked.returncode == 1
    assert checked.stdout.splitlines()[-1].endswith("0 errors, 1 warning (fails the check)")

    checked_config = cli("check-config", config=config)
    assert checked_config.returncode == 0, checked_config.stderr
    warning = checked_config.stderr.splitlines()[-1]
    assert warning.startswith("warning: security_txt: Expires: ")
    assert warning.endswith("within 30 days: renew it")

    quiet = cli("check-config", config=mio(tmp_path, timedelta(days=90)))
    assert quiet.returncode == 0 and "warning" not in quiet.stderr


def test_a_file_expired_in_the_configuration_is_not_printed(tmp_path):
    config = mio(tmp_path, timedelta(days=-1))
    printed = cli("security-txt", config=config)
    assert printed.returncode == 2
    assert printed.stdout == ""
    assert "configuration error: security_txt: the file would fail its check: Expires:" in (
        printed.stderr
    )


def test_sign_without_openpgp_and_a_signed_file_without_a_verifier(tmp_path):
    config = mio(tmp_path, timedelta(days=180))
    signing = cli("security-txt", "--sign", config=config)
    assert signing.returncode == 2
    assert signing.stdout == ""
    assert signing.stderr.strip() == (
        "disclosure-inbox: configuration error: --sign needs the organisation's OpenPGP key, "
        "and no [openpgp] section is configured"
    )

    body = cli("security-txt", config=config).stdout
    path = tmp_path / "signed.txt"
    path.write_text(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n"
        f"{body}-----BEGIN PGP SIGNATURE-----\n\niHUEARYKAB0WIQ==\n=h1Zy\n"
        "-----END PGP SIGNATURE-----\n",
        encoding="utf-8",
    )
    checked = cli("security-txt", "--check", str(path), config=config)
    assert checked.returncode == 0, checked.stdout
    assert checked.stdout.splitlines() == [
        "WARNING file: signature not checked: no [openpgp] configured",
        f"{path}: 0 errors, 1 warning (passes the check)",
    ]


def test_usage_errors(tmp_path):
    config = mio(tmp_path, timedelta(days=180))
    for args in (
        ["--sign", "--check", "x"],
        ["--format", "json"],
        ["--content-type", "text/plain"],
    ):
        done = cli("security-txt", *args, config=config)
        assert done.returncode == 2 and done.stdout == "", args
    missing = cli("security-txt", "--check", str(tmp_path / "absent.txt"), config=config)
    assert missing.returncode == 2
    assert "cannot read" in missing.stderr and "absent.txt" in missing.stderr
