"""A private Dovecot IMAP server, owned by the calling process.

`DovecotServer` writes its own configuration, passwd-file, maildirs, state and log under one
root directory and runs ``dovecot -F`` as a child process. It never reads /etc/dovecot and
never talks to a system Dovecot. The server listens on 127.0.0.1 only; its ports are chosen
once and kept across `stop()` / `start()`, so a test can take the server away (an outage) and
bring it back with the same mail on the same address.

`ImapAccount` is the client side: one user's login plus helpers that load mail into the
server (MULTIAPPEND with chosen INTERNALDATEs) and read back what a user would see (UIDs,
flags, UIDVALIDITY).

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
import grp
import math
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

DEFAULT_USER = "soc"
DEFAULT_PASSWORD = "secret"
HOST = "127.0.0.1"

_APPEND_CHUNK = 100  # messages per MULTIAPPEND command
_ACCOUNT_BATCH = 50  # users added to the passwd-file at a time by new_account()
_STOP_TIMEOUT = 10.0
_APPENDUID = re.compile(rb"\[APPENDUID \d+ ([0-9:,]+)\]")


class DovecotError(RuntimeError):
    """The private Dovecot could not be started, stopped or administered."""


class ImapAccount:
    """One user on a `DovecotServer`, with helpers that each use a fresh connection."""

    def __init__(self, server: DovecotServer, user: str, password: str) -> None:
        self.server = server
        self.user = user
        self.password = password

    def __repr__(self) -> str:
        return f"ImapAccount({self.user!r} on {self.host}:{self.port})"

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def connect(self, timeout: float = 10.0) -> IMAPClient:
        """A logged-in plain-text client; use it as a context manager to log out."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        # imapclient sets imaplib's debug level to 5, which makes imaplib format a text copy
        # of every response even when nothing is logged: FETCH runs several times slower.
        client._imap.debug = 0
        try:
            client.login(self.user, self.password)
        except Exception:
            client.shutdown()
            raise
        return client

    def append(
        self,
        messages: Iterable[bytes],
        mailbox: str = "INBOX",
        internaldates: Iterable[datetime | None] | None = None,
        flags: Iterable[bytes | str] = (),
    ) -> list[int]:
        """Append raw messages and return the UIDs the server gave them, in order.

        ``internaldates``, when given, pairs one date (or None for "now") with each message;
        use timezone-aware datetimes (imapclient reads naive ones as local time). ``flags``
        are set on every message. Uses MULTIAPPEND, 100 messages a command, when offered.
        """
        flag_list = list(flags)
        if internaldates is None:
            pairs: Iterator[tuple[bytes, datetime | None]] = ((m, None) for m in messages)
        else:
            pairs = zip(messages, internaldates, strict=True)
        uids: list[int] = []
        with self.connect() as client:
            multi = client.has_capability("MULTIAPPEND")
            while chunk := list(islice(pairs, _APPEND_CHUNK if multi else 1)):
                if multi:
                    items = [_append_item(raw, date, flag_list) for raw, date in chunk]
                    response = client.multiappend(mailbox, items)
                else:
                    raw, date = chunk[0]
                    response = client.append(mailbox, raw, flag_list, date)
                uids.extend(_appended_uids(response))
        return uids

    def create_mailbox(self, name: str) -> None:
        with self.connect() as client:
            client.create_folder(name)

    def delete_mailbox(self, name: str) -> None:
        with self.connect() as client:
            client.delete_folder(name)

    def recreate_mailbox(self, name: str = "INBOX") -> int:
        """Replace ``name`` by an empty mailbox, as a restore from backup would, and return
        its new UIDVALIDITY. UIDs start from 1 again.

        Any other mailbox is deleted and created again over IMAP. INBOX cannot be deleted
        over IMAP, so its messages are expunged, this user's sessions are ended (a session
        that kept INBOX open would see its index vanish), and the UID list and indexes of
        INBOX are removed; Dovecot makes new ones at the next access.

        Dovecot draws a new mailbox's UIDVALIDITY from a per-user counter
        (dovecot-uidvalidity) that only moves forward, even within one second; should it
        ever hand back the old value, it is raised by one with ``doveadm mailbox update``.
        """
        old = self.uidvalidity(name)
        with self.connect() as client:
            if name.upper() == "INBOX":
                client.select_folder(name)
                if uids := client.search("ALL"):
                    client.delete_messages(uids)
                    client.expunge()
            else:
                client.delete_folder(name)
                client.create_folder(name)
        if name.upper() == "INBOX":
            self.server.forget_inbox_uids(self.user)
        new = self.uidvalidity(name)
        if new == old:
            self.server.doveadm(
                "mailbox", "update", "-u", self.user, "--uid-validity", str(old + 1), name
            )
            new = self.uidvalidity(name)
        if new == old:
            raise DovecotError(f"UIDVALIDITY of {name!r} stayed {old}")
        return new

    def list_uids(self, mailbox: str = "INBOX") -> list[int]:
        with self.connect() as client:
            client.select_folder(mailbox, readonly=True)
            return sorted(client.search("ALL"))

    def fetch_flags(self, mailbox: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        r"""Stored flags by UID. ``\Recent`` is left out: it belongs to a session, not to mail."""
        with self.connect() as client:
            client.select_folder(mailbox, readonly=True)
            fetched = client.fetch(client.search("ALL"), ["FLAGS"])
        return {
            uid: tuple(f for f in data[b"FLAGS"] if f != b"\\Recent")
            for uid, data in fetched.items()
        }

    def uidvalidity(self, mailbox: str = "INBOX") -> int:
        with self.connect() as client:
            return int(client.folder_status(mailbox, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def message_count(self, mailbox: str = "INBOX") -> int:
        with self.connect() as client:
            return int(client.folder_status(mailbox, [b"MESSAGES"])[b"MESSAGES"])


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
        self._dovecot = _find_binary("dovecot")
        self._owns_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="di-dovecot-")) if root is None else Path(root)
        _make_dirs(self.root)
        _check_searchable(self.root)
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
        self._uid, self._gid = _mail_ids()
        for directory in (self.mail_dir, self.state_dir):
            _make_dirs(directory)
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
            self._make_certificate()
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
                self._port = _free_port()
                self._tls_port = _free_port() if self.tls else None
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
        children = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        # The master's services outlive it for a moment; they hold the listening sockets.
        if not _wait_exited(children, _STOP_TIMEOUT):
            for pid, started in children:
                if _start_time(pid) == started:  # still ours, not a reused pid
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            _wait_exited(children, _STOP_TIMEOUT)
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
        command = [_find_binary("doveadm"), "-c", str(self.config_path), *args]
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
            if _greets(self.port) and proc.poll() is None:
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
        self.config_path.write_text(self._config_text())

    def _config_text(self) -> str:
        if self.tls:
            ssl = f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{self.key_path}"
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
base_dir = {self._base_dir}
state_dir = {self.state_dir}
log_path = {self.log_path}
{ssl}
{unprivileged}\
first_valid_uid = {self._uid}
first_valid_gid = {self._gid}
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
  args = scheme=PLAIN username_format=%u {self.passwd_path}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.passwd_path}
}}
service imap-login {{
{chroot}\
  inet_listener imap {{
    port = {self._port}
  }}
  inet_listener imaps {{
    port = {self._tls_port or 0}
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
{self.extra_config}
"""

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

    def _make_certificate(self) -> None:
        openssl = shutil.which("openssl")
        if openssl is None:
            raise DovecotError("tls=True needs the openssl command (Debian package openssl)")
        tls_dir = self.root / "tls"
        _make_dirs(tls_dir)
        self.cert_path = tls_dir / "cert.pem"
        self.key_path = tls_dir / "key.pem"
        command = [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(self.key_path), "-out", str(self.cert_path),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise DovecotError(f"openssl could not make a certificate: {done.stderr.strip()}")


def _append_item(raw: bytes, date: datetime | None, flags: list[bytes | str]) -> dict[str, object]:
    item: dict[str, object] = {"msg": raw}
    if flags:
        item["flags"] = flags
    if date is not None:
        item["date"] = date
    return item


def _appended_uids(response: object) -> list[int]:
    # APPEND answers with bytes, MULTIAPPEND with (typ, [data...]): both carry APPENDUID.
    if isinstance(response, tuple):
        response = b" ".join(part for part in response[1] if isinstance(part, bytes))
    match = _APPENDUID.search(response) if isinstance(response, bytes) else None
    if match is None:
        return []
    uids: list[int] = []
    for part in match.group(1).split(b","):
        first, _, last = part.partition(b":")
        uids.extend(range(int(first), int(last or first) + 1))
    return uids


def dovecot_installed() -> bool:
    """Whether the dovecot and doveadm commands can be found."""
    return all(_which(name) is not None for name in ("dovecot", "doveadm"))


def _which(name: str) -> str | None:
    # /usr/sbin is often missing from a non-root PATH.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def _find_binary(name: str) -> str:
    found = _which(name)
    if found is None:
        raise DovecotError(
            f"{name} not found: install Debian's dovecot-imapd "
            "(apt-get install -y --no-install-recommends dovecot-imapd)"
        )
    return found


def _mail_ids() -> tuple[int, int]:
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid
    return os.geteuid(), os.getegid()


def _make_dirs(path: Path) -> None:
    """mkdir -p, leaving every directory made here at 0711 (searchable, not listable)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for made in missing:
        made.chmod(0o711)
    if path.stat().st_uid == os.geteuid():
        path.chmod(0o711)


def _check_searchable(path: Path) -> None:
    if os.geteuid() != 0:
        return  # the mail user is this user
    for directory in (path, *path.parents):
        if not directory.stat().st_mode & 0o001:
            raise DovecotError(
                f"{directory} is not searchable by others (chmod o+x), so Dovecot's users "
                f"cannot reach {path}; choose a root elsewhere, or pass root=None"
            )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _greets(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as conn:
            return conn.recv(256).startswith(b"* OK")
    except OSError:
        return False


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return None if fields is None else fields[19]


def _descendants(root_pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every live process below ``root_pid``."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            parents.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
    found: list[tuple[int, str]] = []
    pending = [root_pid]
    while pending:
        for child in parents.get(pending.pop(), []):
            found.append(child)
            pending.append(child[0])
    return found


def _wait_exited(processes: list[tuple[int, str]], timeout: float) -> bool:
    """Wait until each process is gone or a zombie. `kill -0` cannot tell: PID 1 here reaps
    orphans slowly, and a zombie still answers it."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid, started in processes:
            fields = _stat_fields(pid)
            if fields is not None and fields[19] == started and fields[0] != "Z":
                alive.append(pid)
        if not alive:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
