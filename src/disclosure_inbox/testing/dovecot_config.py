"""The private Dovecot's configuration file, and the self-signed certificate it serves with
``tls=True``."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from disclosure_inbox.testing.dovecot_host import HOST, DovecotError, make_dirs


def config_text(
    *,
    base_dir: Path,
    state_dir: Path,
    log_path: Path,
    passwd_path: Path,
    uid: int,
    gid: int,
    port: int,
    tls_port: int | None,
    tls_files: tuple[Path, Path] | None,
    extra: str,
) -> str:
    """dovecot.conf for one private server; ``tls_files`` is (certificate, key) or None."""
    if tls_files is not None:
        cert, key = tls_files
        ssl = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"
    else:
        ssl = "ssl = no"
    if os.geteuid() == 0:
        unprivileged, chroot = "", ""
    else:
        # Without root, every process runs as this user and none can chroot.
        me = pwd.getpwuid(os.geteuid())
        unprivileged = (
            f"default_internal_user = {me.pw_name}\n"
            f"default_internal_group = {grp.getgrgid(me.pw_gid).gr_name}\n"
            f"default_login_user = {me.pw_name}\n"
            "service ipc {\n  chroot =\n}\n"
        )
        chroot = "  chroot =\n"
    return f"""\
protocols = imap
listen = {HOST}
base_dir = {base_dir}
state_dir = {state_dir}
log_path = {log_path}
{ssl}
{unprivileged}\
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:~/Maildir
auth_mechanisms = plain login
disable_plaintext_auth = no
# Tests try wrong passwords on purpose: no 2 s delay per failure ...
auth_failure_delay = 0
# Tests open many short connections per user at once.
mail_max_userip_connections = 50
# A test server's mail need not survive a power cut.
mail_fsync = never
# IDLE learns of new mail through inotify; this is the fallback poll.
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd_path}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {passwd_path}
}}
service imap-login {{
{chroot}\
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {tls_port or 0}
    ssl = yes
  }}
}}
service anvil {{
{chroot}\
  # ... and no growing per-IP wait after failures: the auth process cannot reach the
  # penalty socket, so it turns the penalty off.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{extra}
"""


def make_certificate(tls_dir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, valid two days: (cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise DovecotError("tls=True needs the openssl command (Debian package openssl)")
    make_dirs(tls_dir)
    cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
    command = [
        openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if done.returncode != 0:
        raise DovecotError(f"openssl could not make a certificate: {done.stderr.strip()}")
    return cert, key
