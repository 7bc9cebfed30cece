"""``[openpgp]`` as an operator configures it: the key file imported, the passphrase checked
at start-up (``check-config``), security.txt clearsigned with the key and checked against it.
Real gpg with throwaway keys; the commands run as subprocesses, no server is reached."""

from __future__ import annotations

import subprocess
from pathlib import Path

from test_security_txt_cli import cli, mio

from disclosure_inbox.testing.config import write_config


def _with_openpgp(tmp_path: Path, config: Path, pgp_keys, passphrase: str) -> Path:
    import tomllib

    sections = tomllib.loads(config.read_text(encoding="utf-8"))
    secret = tmp_path / "org.asc"
    secret.write_bytes(pgp_keys.org.secret)
    phrase = tmp_path / "passphrase"
    phrase.write_text(passphrase + "\n", encoding="utf-8")
    staff = tmp_path / "staff.asc"
    staff.write_bytes(pgp_keys.stranger.public)
    sections["openpgp"] = {
        "key_file": str(secret),
        "passphrase_file": str(phrase),
        "staff_keys": [str(staff)],
    }
    return write_config(config, sections)


def _stop_agent(tmp_path: Path) -> None:
    home = tmp_path / "var" / "gnupg"
    if home.is_dir():
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)


def test_check_config_imports_the_key_and_checks_its_passphrase(tmp_path, pgp_keys):
    from datetime import timedelta

    config = _with_openpgp(tmp_path, mio(tmp_path, timedelta(days=180)), pgp_keys, "org pass")
    try:
        done = cli("check-config", config=config)
        assert done.returncode == 0, done.stderr
        assert f"OpenPGP key {pgp_keys.org.fingerprint}" in done.stderr + done.stdout
        assert "(1 staff keys)" in done.stderr + done.stdout
        assert (tmp_path / "var" / "gnupg").is_dir()

        wrong = _with_openpgp(tmp_path, config, pgp_keys, "not the passphrase")
        failed = cli("check-config", config=wrong)
        assert failed.returncode == 2
        assert "passphrase" in failed.stderr
        assert "not the passphrase" not in failed.stderr + failed.stdout  # never shown
    finally:
        _stop_agent(tmp_path)


def test_security_txt_is_clearsigned_with_the_key_and_checked_against_it(tmp_path, pgp_keys):
    from datetime import timedelta

    config = _with_openpgp(tmp_path, mio(tmp_path, timedelta(days=180)), pgp_keys, "org pass")
    try:
        signed = cli("security-txt", "--sign", config=config)
        assert signed.returncode == 0, signed.stderr
        assert signed.stdout.startswith("-----BEGIN PGP SIGNED MESSAGE-----")
        assert "Contact: mailto:soc@m.io" in signed.stdout
        path = tmp_path / "security.txt"
        path.write_text(signed.stdout, encoding="utf-8")
        checked = cli("security-txt", "--check", str(path), config=config)
        assert checked.returncode == 0, checked.stdout + checked.stderr

        path.write_text(signed.stdout.replace("Preferred-Languages: en", "Preferred-Languages: de"))
        altered = cli("security-txt", "--check", str(path), config=config)
        assert altered.returncode == 1
        assert "signature does not verify" in altered.stdout
    finally:
        _stop_agent(tmp_path)
