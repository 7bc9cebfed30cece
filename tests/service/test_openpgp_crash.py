"""A SIGKILL mid-decryption loses nothing: ``run --once``, a real process, is killed while gpg
decrypts an encrypted report, and the next ``run --once`` stores the report once, decrypted,
and acknowledges it once. Real Dovecot, SMTP sink, gpg with throwaway keys, both stores.

The kill lands during decryption because the killed run finds the test's ``gpg`` first on its
PATH (the parse step runs ``gpg`` from PATH, in the intake process or in a worker, which
inherits it): asked to decrypt the report, it leaves a mark and waits before it runs the real
gpg, and the test kills the run's process group once the mark is there. Start-up decrypts too
(the passphrase check's probe), so the wrapper waits only when its input holds a line of the
report's ciphertext.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from disclosure_inbox.adapters.compose_pgp import encrypted
from disclosure_inbox.adapters.openpgp import OpenPGP

RITA = "Rita Reporter <rita@example.org>"
SECRET_TEXT = "Stored XSS in the profile name field: <script>alert(document.domain)</script>"
HOLD_SECONDS = 30  # how long the wrapper holds the decryption back: far past the kill
MARK_TIMEOUT = 90.0  # how long the killed run may take to reach the decryption

WRAPPER = """\
#!/bin/sh
# gpg, except that a decryption whose input holds the report's ciphertext first leaves a mark
# and waits: the test kills the run meanwhile.
case " $* " in
*" --decrypt "*)
    input=$(mktemp {tmp}/input.XXXXXX)
    cat >"$input"
    if grep -qF -e {line} "$input"; then
        : >{mark}
        sleep {hold}
    fi
    exec 3<"$input"
    rm -f "$input"
    exec {gpg} "$@" <&3 3<&-
    ;;
esac
exec {gpg} "$@"
"""


def _report(rita: OpenPGP, org: str, rita_public: bytes) -> bytes:
    """A PGP/MIME report encrypted to ``org`` and signed by Rita, her public key inside."""
    msg = EmailMessage()
    msg["From"] = RITA
    msg["To"] = "soc@m.io"
    msg["Subject"] = "Encrypted report"
    msg["Message-ID"] = "<crash1@example.org>"
    msg["Date"] = "Wed, 01 Jul 2026 14:00:00 +0000"
    msg.set_content(SECRET_TEXT)
    msg.add_attachment(rita_public, maintype="application", subtype="pgp-keys", filename="rita.asc")
    return encrypted(msg, rita, [org], sign=True)


def _ciphertext_line(raw: bytes) -> str:
    """One line of the armored ciphertext in ``raw``: 64 characters no other input holds."""
    armor = raw.split(b"-----BEGIN PGP MESSAGE-----", 1)[1].split(b"-----END", 1)[0]
    return max(armor.split(), key=len).decode("ascii")


def _wrapper_dir(root: Path, line: str, mark: Path) -> Path:
    """A directory holding the waiting ``gpg``, to put first on PATH."""
    real = shutil.which("gpg")
    assert real is not None, "gpg is not installed: run scripts/setup"
    bin_dir = root / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "gpg"
    wrapper.write_text(
        WRAPPER.format(
            tmp=shlex.quote(str(root)),
            line=shlex.quote(line),
            mark=shlex.quote(str(mark)),
            hold=HOLD_SECONDS,
            gpg=shlex.quote(real),
        ),
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    return bin_dir


def _run_killed_while_decrypting(config: Path, bin_dir: Path, mark: Path, log: Path) -> int:
    """``run --once`` with ``bin_dir`` first on PATH, killed (SIGKILL, its whole process group:
    the command, any parse worker, the wrapper and its sleep) once ``mark`` appears; its exit
    status."""
    env = dict(
        os.environ,
        DISCLOSURE_INBOX_CONFIG=str(config),
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "disclosure_inbox", "run", "--once"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, whose id is its pid
        )
        deadline = time.monotonic() + MARK_TIMEOUT
        while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if proc.poll() is None:  # not reaped, so the group is still the one it leads
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


@pytest.mark.slow
def test_a_sigkill_mid_decryption_loses_nothing(make_deployment, pgp_keys, pgp_home, tmp_path):
    key = tmp_path / "org.asc"
    key.write_bytes(pgp_keys.org.secret)
    d = make_deployment(openpgp={"key_file": str(key), "passphrase": "org pass"})
    rita = OpenPGP(pgp_home(pgp_keys.reporter))
    rita.import_keys(pgp_keys.org.public)
    raw = _report(rita, pgp_keys.org.fingerprint, pgp_keys.reporter.public)
    d.account.append([raw])
    mark = tmp_path / "decrypting"
    bin_dir = _wrapper_dir(tmp_path, _ciphertext_line(raw), mark)
    log = tmp_path / "killed-run.log"
    try:
        status = _run_killed_while_decrypting(d.config_path, bin_dir, mark, log)
        shown = log.read_text(errors="replace")[-4000:]
        assert mark.exists(), f"the run never reached the decryption:\n{shown}"
        assert status == -signal.SIGKILL, shown

        # Nothing of the killed run is in the store, and nothing was sent.
        assert not any(d.counts().values()), d.counts()
        assert d.scalar("SELECT count(*) FROM reporter_keys") == 0
        assert d.scalar("SELECT count(*) FROM messages") == 0
        assert d.sink.messages == []

        again = d.cli("run", "--once")  # gpg as installed
        assert again.returncode == 0, again.stderr

        listed = json.loads(d.cli("reports", "list", "--format", "json").stdout)
        assert [r["reporter"] for r in listed] == ["rita@example.org"]
        shown_report = d.cli("reports", "show", listed[0]["ref"], "--format", "json")
        messages = json.loads(shown_report.stdout)["messages"]
        [message] = [m for m in messages if m["direction"] == "inbound"]
        assert message["encryption"] == "decrypted"
        assert message["signature"] == {
            "fingerprint": pgp_keys.reporter.fingerprint,
            "status": "valid",
        }
        assert SECRET_TEXT in message["body_text"]
        counts = d.counts()
        assert (counts["messages"], counts["reports"], counts["outbox_sent"]) == (1, 1, 1)
        acks = [m for m in d.sink.messages if list(m.rcpt_tos) == ["rita@example.org"]]
        assert len(acks) == 1 and len(d.sink.messages) == 1
        assert acks[0].message.get_content_type() == "multipart/encrypted"
    finally:
        # The agent gpg started for the working home outlives every run.
        home = tmp_path / "var" / "gnupg"
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "all"],
            capture_output=True,
            check=False,
            timeout=60,
        )
