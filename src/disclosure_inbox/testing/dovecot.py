"""A private Dovecot IMAP server, owned by the calling process.

`DovecotServer` writes its own configuration, passwd-file, maildirs, state and log under one
root directory and runs ``dovecot -F`` as a child process. It never reads /etc/dovecot and
never talks to a system Dovecot. The server listens on 127.0.0.1 only; its ports are chosen
once and kept across `stop()` / `start()`, so a test can take the server away (an outage) and
bring it back with the same mail on the same address.

`ImapAccount` (``imap_account``) is the client side: one user's login plus helpers that load
mail into the server and read back what a user would see. What the server needs from the
machine (binaries, directories, ports, processes) is in ``dovecot_host``.

Facts this module is built around (Dovecot 2.3.19, Debian 12):

- Dovecot refuses uid 0 for mail: as root, every user gets the uid/gid of ``nobody``.
- Every directory above the passwd-file and the maildirs must be searchable by the mail user,
  hence the 0711 directories and the check in `DovecotServer.__init__`.
- Unix socket paths are limited to about 108 bytes, so ``base_dir`` lives in its own short
  directory under /tmp, made fresh at every start and removed at every stop.
- The passwd-file is re-read when it changes, but at most once per second. `new_account`
  therefore hands out users registered ahead of time, in batches.
- A failed login costs 0.5 s even with ``auth_failure_delay = 0`` (2.3.19 flushes failures
  every 500 ms), plus a per-IP penalty that doubles up to 15 s unless turned off, as here.
- IDLE reports new mail about 0.5 s after it arrives (inotify, then Dovecot's own delay).
- Start takes about 0.04 s; a graceful stop about 1 s, as the master waits up to 1 s for
  its services.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from disclosure_inbox.testing.dovecot_config import config_text, make_certificate
from disclosure_inbox.testing.dovecot_host import (
    HOST,
    DovecotError,
    check_searchable,
    descendants,
    dovecot_installed,
    find_binary,
    free_port,
    greets,
    mail_ids,
    make_dirs,
    start_time,
    wait_exited,
)
from disclosure_inbox.testing.imap_account import ImapAccount

# Tests and the benchmark import these from here.
__all__ = ["HOST", "DovecotError", "DovecotServer", "ImapAccount", "dovecot_installed"]

DEFAULT_USER = "soc"
DEFAULT_PASSWORD = "secret"

_ACCOUNT_BATCH = 50  # users added to the passwd-file at a time by new_account()
_STOP_TIMEOUT = 10.0


class DovecotServer:
    """A standalone Dovecot on 127.0.0.1; see the module docstring.

    ``root`` holds everything except the sockets; when None, a directory under /tmp is made
    and `close()` removes it. With ``tls=True`` a self-signed certificate (`cert_path`) is
    made with the openssl command: the plain port then offers STARTTLS and `tls_port` speaks
    implicit TLS. ``extra_config`` is appended to the generated dovecot.conf.
    """

    def __init__(
        self,
        root: Path | str | None = None,
        *,
        user: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        tls: bool = False,
        start_timeout: float = 10.0,
        extra_config: str = "",
    ) -> None:
        self._dovecot = find_binary("dovecot")
        self._owns_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="di-dovecot-")) if root is None else Path(root)
        make_dirs(self.root)
        check_searchable(self.root)
        self.tls = tls
        self.start_timeout = start_timeout
        self.extra_config = extra_config
        self.config_path = self.root / "dovecot.conf"
        self.passwd_path = self.root / "passwd"
        self.mail_dir = self.root / "mail"
        self.state_dir = self.root / "state"
        self.log_path = self.root / "dovecot.log"
        self._stderr_path = self.root / "dovecot.stderr"
        self.cert_path: Path | None = None
        self.key_path: Path | None = None
        self._uid, self._gid = mail_ids()
        for directory in (self.mail_dir, self.state_dir):
            make_dirs(directory)
        if os.geteuid() == 0:
            # Dovecot creates each user's home and maildir as that user.
            os.chown(self.mail_dir, self._uid, self._gid)
        self._users: dict[str, str] = {}
        self._spare: list[str] = []
        self._account_serial = 0
        self._port: int | None = None
        self._tls_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._base_dir: Path | None = None
        if tls:
            self.cert_path, self.key_path = make_certificate(self.root / "tls")
        self.user = user
        self.password = password
        self.add_user(user, password)
        self._register_spare_accounts()
        # A Dovecot left running would outlive this process: stop it at exit at the latest.
        atexit.register(self.close)

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> DovecotServer:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start Dovecot and return once it greets on its IMAP port.

        The first start picks free ports (and picks again if another process takes one in
        the meantime); later starts reuse them.
        """
        if self.running:
            raise DovecotError("Dovecot is already running")
        self.stop()  # clean up after a master that died on its own
        pinned = self._port is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if not pinned:
                self._port = free_port()
                self._tls_port = free_port() if self.tls else None
            failure = self._start_once(deadline)
            if failure is None:
                return
            clash = "Address already in use" in failure
            if not clash or time.monotonic() >= deadline:
                if not pinned:
                    self._port = self._tls_port = None
                raise DovecotError(f"Dovecot did not start on {HOST}:{self._port}:\n{failure}")
            if pinned:
                time.sleep(0.1)  # wait for the port to be free again

    def stop(self) -> None:
        """SIGTERM the master, wait for it and its processes to exit, SIGKILL after 10 s."""
        proc = self._proc
        if proc is None:
            return
        children = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # The master's services outlive it for a moment; they hold the listening sockets.
        if not wait_exited(children, _STOP_TIMEOUT):
            for pid, started in children:
                if start_time(pid) == started:  # still ours, not a reused pid
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            wait_exited(children, _STOP_TIMEOUT)
        self._proc = None
        if self._base_dir is not None:
            shutil.rmtree(self._base_dir, ignore_errors=True)
            self._base_dir = None

    def close(self) -> None:
        """Stop, and remove the root directory if this object made it."""
        atexit.unregister(self.close)
        self.stop()
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- addresses and accounts --------------------------------------------------------------

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._port is None:
            raise DovecotError("the port is chosen by the first start()")
        return self._port

    @property
    def tls_port(self) -> int:
        """The implicit-TLS (imaps) port; only with ``tls=True``."""
        if self._tls_port is None:
            raise DovecotError("no TLS port: not started, or made without tls=True")
        return self._tls_port

    def add_user(self, name: str, password: str) -> ImapAccount:
        """Register a user; on a running server, return once the user can log in (<= ~1 s)."""
        self._register({name: password})
        if self.running:
            self._wait_until_visible(name)
        return self.account(name)

    def account(self, name: str | None = None) -> ImapAccount:
        """A registered user's account; the default user's when ``name`` is None."""
        name = self.user if name is None else name
        return ImapAccount(self, name, self._users[name])

    def new_account(self) -> ImapAccount:
        """A user nobody has used before, with an empty mailbox: one per test isolates tests.

        Users are registered 50 at a time (the first 50 before the server starts), so that
        only one call in 50 waits for Dovecot to re-read its passwd-file.
        """
        if not self._spare:
            self._register_spare_accounts()
            if self.running:
                self._wait_until_visible(self._spare[-1])
        return self.account(self._spare.pop())

    def doveadm(self, *args: str, accept: tuple[int, ...] = (0,)) -> str:
        """Run ``doveadm`` against this server's configuration and return its output."""
        command = [find_binary("doveadm"), "-c", str(self.config_path), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode not in accept:
            raise DovecotError(
                f"{' '.join(command)} exited with {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()}"
            )
        return done.stdout

    def forget_inbox_uids(self, user: str) -> None:
        """End ``user``'s sessions, then remove their INBOX's UID list and indexes."""
        self.doveadm("kick", user, accept=(0, 68))  # 68: there was no session to end
        deadline = time.monotonic() + 10.0
        while len(self.doveadm("who", "-1", user).splitlines()) > 1:  # a line below the header
            if time.monotonic() > deadline:
                raise DovecotError(f"{user}'s IMAP sessions did not end")
            time.sleep(0.02)
        maildir = self.mail_dir / user / "Maildir"
        for path in maildir.iterdir():
            if path.name == "dovecot-uidlist" or path.name.startswith("dovecot.index"):
                path.unlink()

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for path in (self._stderr_path, self.log_path):
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- the default account's helpers ------------------------------------------------------

    def connect(self) -> IMAPClient:
        return self.account().connect()

    def append(
        self,
        messages: Iterable[bytes],
        mailbox: str = "INBOX",
        internaldates: Iterable[datetime | None] | None = None,
        flags: Iterable[bytes | str] = (),
    ) -> list[int]:
        return self.account().append(messages, mailbox, internaldates, flags)

    def create_mailbox(self, name: str) -> None:
        self.account().create_mailbox(name)

    def delete_mailbox(self, name: str) -> None:
        self.account().delete_mailbox(name)

    def recreate_mailbox(self, name: str = "INBOX") -> int:
        return self.account().recreate_mailbox(name)

    def list_uids(self, mailbox: str = "INBOX") -> list[int]:
        return self.account().list_uids(mailbox)

    def fetch_flags(self, mailbox: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        return self.account().fetch_flags(mailbox)

    def uidvalidity(self, mailbox: str = "INBOX") -> int:
        return self.account().uidvalidity(mailbox)

    def message_count(self, mailbox: str = "INBOX") -> int:
        return self.account().message_count(mailbox)

    # -- internals ---------------------------------------------------------------------------

    def _start_once(self, deadline: float) -> str | None:
        """Start one master process; None when it greets, else what went wrong."""
        self._write_config()
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self._stderr_path, "wb") as stderr:
            proc = subprocess.Popen(
                [self._dovecot, "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        self._proc = proc
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if greets(self.port) and proc.poll() is None:
                return None
            time.sleep(0.02)
        self.stop()
        new_log = ""
        if self.log_path.exists():
            with open(self.log_path, "rb") as log:
                log.seek(log_offset)
                new_log = log.read().decode(errors="replace")
        stderr_text = self._stderr_path.read_text(errors="replace")
        return (stderr_text + new_log).strip()[-3000:] or "no greeting and nothing logged"

    def _write_config(self) -> None:
        self._base_dir = Path(tempfile.mkdtemp(prefix="dvc-", dir="/tmp"))
        self._base_dir.chmod(0o755)
        tls_files = None
        if self.cert_path is not None and self.key_path is not None:  # made when tls=True
            tls_files = (self.cert_path, self.key_path)
        text = config_text(
            base_dir=self._base_dir,
            state_dir=self.state_dir,
            log_path=self.log_path,
            passwd_path=self.passwd_path,
            uid=self._uid,
            gid=self._gid,
            port=self.port,
            tls_port=self._tls_port,
            tls_files=tls_files,
            extra=self.extra_config,
        )
        self.config_path.write_text(text)

    def _register(self, users: dict[str, str]) -> None:
        for name, password in users.items():
            for field in (name, password):
                if not field or any(c in field for c in ":\n\r\t ") or field.startswith("{"):
                    raise ValueError(f"not usable in a passwd-file: {field!r}")
        self._users.update(users)
        text = "".join(
            f"{name}:{{PLAIN}}{password}:{self._uid}:{self._gid}::{self.mail_dir / name}::\n"
            for name, password in self._users.items()
        )
        # Replaced in one step so that Dovecot never reads half a file. Readable by the
        # dovecot user, which runs the auth process; these are throwaway test passwords.
        temporary = self.passwd_path.with_suffix(".new")
        temporary.write_text(text)
        temporary.chmod(0o644)
        os.replace(temporary, self.passwd_path)

    def _register_spare_accounts(self) -> None:
        batch = {}
        for _ in range(_ACCOUNT_BATCH):
            self._account_serial += 1
            batch[f"user{self._account_serial:05d}"] = secrets.token_hex(8)
        self._register(batch)
        self._spare = sorted(batch, reverse=True)

    def _wait_until_visible(self, name: str) -> None:
        # Dovecot re-reads a changed passwd-file only at the first lookup in a new second of
        # its clock, so a login from the next whole second on sees the file just written.
        # Failed logins to find out would cost more: each one raises the per-IP penalty.
        now = time.time()
        time.sleep(math.ceil(now) - now + 0.05)
        deadline = time.monotonic() + 5.0
        while True:
            try:
                with self.account(name).connect():
                    return
            except LoginError:
                if time.monotonic() > deadline:
                    raise DovecotError(f"user {name} cannot log in:\n{self.log_tail()}") from None
                time.sleep(0.1)
