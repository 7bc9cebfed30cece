"""What the private Dovecot needs from this machine: its binaries, the mail user, directories
every user can search, free ports, and the processes it leaves behind (read from /proc)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import time
from pathlib import Path

HOST = "127.0.0.1"


class DovecotError(RuntimeError):
    """The private Dovecot could not be started, stopped or administered."""


def dovecot_installed() -> bool:
    """Whether the dovecot and doveadm commands can be found."""
    return all(which(name) is not None for name in ("dovecot", "doveadm"))


def which(name: str) -> str | None:
    # /usr/sbin is often missing from a non-root PATH.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")


def find_binary(name: str) -> str:
    found = which(name)
    if found is None:
        raise DovecotError(
            f"{name} not found: install Debian's dovecot-imapd "
            "(apt-get install -y --no-install-recommends dovecot-imapd)"
        )
    return found


def mail_ids() -> tuple[int, int]:
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid
    return os.geteuid(), os.getegid()


def make_dirs(path: Path) -> None:
    """mkdir -p, leaving every directory made here at 0711 (searchable, not listable)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    path.mkdir(parents=True, exist_ok=True)
    for made in missing:
        made.chmod(0o711)
    if path.stat().st_uid == os.geteuid():
        path.chmod(0o711)


def check_searchable(path: Path) -> None:
    if os.geteuid() != 0:
        return  # the mail user is this user
    for directory in (path, *path.parents):
        if not directory.stat().st_mode & 0o001:
            raise DovecotError(
                f"{directory} is not searchable by others (chmod o+x), so Dovecot's users "
                f"cannot reach {path}; choose a root elsewhere, or pass root=None"
            )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def greets(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as conn:
            return conn.recv(256).startswith(b"* OK")
    except OSError:
        return False


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> str | None:
    fields = stat_fields(pid)
    return None if fields is None else fields[19]


def descendants(root_pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every live process below ``root_pid``."""
    parents: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := stat_fields(int(entry))) is not None:
            parents.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
    found: list[tuple[int, str]] = []
    pending = [root_pid]
    while pending:
        for child in parents.get(pending.pop(), []):
            found.append(child)
            pending.append(child[0])
    return found


def wait_exited(processes: list[tuple[int, str]], timeout: float) -> bool:
    """Wait until each process is gone or a zombie. `kill -0` cannot tell: PID 1 here reaps
    orphans slowly, and a zombie still answers it."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid, started in processes:
            fields = stat_fields(pid)
            if fields is not None and fields[19] == started and fields[0] != "Z":
                alive.append(pid)
        if not alive:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
