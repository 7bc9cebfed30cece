"""Throwaway OpenPGP keys for the tests and the demo, made by gpg itself.

``make_key(home, uid, passphrase)`` generates gpg's "future-default" key, an ed25519 primary
key that signs with a cv25519 subkey that decrypts, in a GnuPG home of its own. Each home's
agent protects keys with the smallest S2K count, so that making and unlocking a key takes
milliseconds rather than the second the agent's own calibration would choose.

``copy_home`` gives a test its own copy of a home to change; ``stop_agent`` ends the gpg-agent
that gpg started for a home (each home has one, started on first use). Homes should have
short paths: the agent's sockets live in them, and a Unix socket path is limited to 107 bytes.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_TIMEOUT = 60


@dataclass(frozen=True, slots=True)
class ThrowawayKey:
    uid: str  # "Name <address>"
    fingerprint: str
    passphrase: str | None
    home: Path  # holds the secret key
    public: bytes  # armored
    secret: bytes  # armored, protected by the passphrase


@dataclass(frozen=True, slots=True)
class ThrowawayKeys:
    """The organisation's key (with a passphrase), a reporter's and a stranger's (without)."""

    org: ThrowawayKey
    reporter: ThrowawayKey
    stranger: ThrowawayKey

    @classmethod
    def make(cls, root: Path) -> ThrowawayKeys:
        return cls(
            org=make_key(root / "org", "Example Security <security@example.com>", "org pass"),
            reporter=make_key(root / "reporter", "Rita Reporter <rita@example.org>"),
            stranger=make_key(root / "stranger", "Sam Stranger <sam@example.net>"),
        )

    def close(self) -> None:
        for key in (self.org, self.reporter, self.stranger):
            stop_agent(key.home)


def _gpg(home: Path, *args: str, passphrase: str | None = None) -> bytes:
    secret = ["--pinentry-mode", "loopback", "--passphrase", passphrase or ""]
    command = ["gpg", "--homedir", str(home), "--batch", *secret, *args]
    done = subprocess.run(command, capture_output=True, check=False, timeout=_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.decode(errors='replace')}")
    return done.stdout


def make_key(home: Path, uid: str, passphrase: str | None = None) -> ThrowawayKey:
    home.mkdir(mode=0o700, parents=True)
    (home / "gpg-agent.conf").write_text("s2k-count 65536\n", encoding="ascii")
    _gpg(home, "--quick-gen-key", uid, "future-default", "default", "never", passphrase=passphrase)
    listing = _gpg(home, "--with-colons", "--list-secret-keys").decode()
    fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line[:4] == "fpr:")
    return ThrowawayKey(
        uid=uid,
        fingerprint=fingerprint,
        passphrase=passphrase,
        home=home,
        public=_gpg(home, "--armor", "--export", fingerprint),
        secret=_gpg(home, "--armor", "--export-secret-keys", fingerprint, passphrase=passphrase),
    )


def copy_home(source: Path, target: Path) -> Path:
    """``source``'s keys and settings in ``target`` (made, or empty), without the sockets and
    locks of ``source``'s agent."""
    ignore = shutil.ignore_patterns("S.*", "*.lock", ".#lk*")
    shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)
    target.chmod(0o700)
    return target


def stop_agent(home: Path) -> None:
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
        capture_output=True,
        check=False,
        timeout=_TIMEOUT,
    )
