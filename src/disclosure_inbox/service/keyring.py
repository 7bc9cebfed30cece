"""The organisation's OpenPGP keyring, made from ``[openpgp]`` (``config_openpgp.py``).

``open_keyring`` returns None when no ``[openpgp]`` section is configured: then nothing is
decrypted, signed or encrypted, and an encrypted report is stored as it came. Otherwise it
opens the GnuPG home, imports ``key_file`` (into the working home under ``[storage] dir``)
and each of ``staff_keys``, and says which keys are the organisation's and the staff's.
``check`` is what start-up runs: a passphrase that does not unlock the key is a
``ConfigError`` there, never a message that cannot be read later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from disclosure_inbox.adapters.openpgp import OpenPGP
from disclosure_inbox.config import ConfigError, Settings


@dataclass(frozen=True)
class Keyring:
    pgp: OpenPGP = field(repr=False)
    home: Path
    own: str  # the organisation's key: the one that signs and decrypts
    staff: tuple[str, ...]  # fingerprints a staff notice of an encrypted report is sent to
    sign: bool
    encrypt_replies: bool

    def check(self) -> None:
        """ConfigError when the passphrase does not unlock the organisation's key."""
        self.pgp.check_passphrase()


def open_keyring(settings: Settings) -> Keyring | None:
    cfg = settings.openpgp
    if cfg is None:
        return None
    home = cfg.working_home(settings.storage.path)
    if cfg.home is not None and not cfg.home.is_dir():
        raise ConfigError(f"openpgp.home: {cfg.home} is not a directory")
    pgp = OpenPGP(
        home, passphrase=cfg.secret(), signer=cfg.key, timeout_seconds=cfg.timeout_seconds
    )
    key_file = cfg.key_file
    if key_file is not None and not pgp.import_keys(_read(key_file, "key_file"), secret=True):
        raise ConfigError(f"openpgp.key_file: {key_file} holds no secret key")
    own = [k.fingerprint for k in pgp.secret_keys()]
    if not own:
        raise ConfigError(f"openpgp: the GnuPG home {home} holds no secret key")
    if cfg.key is not None and cfg.key not in own:
        raise ConfigError(f"openpgp.key: {cfg.key} is not a secret key in {home}")
    staff: list[str] = []
    for path in cfg.staff_keys:
        found = pgp.import_keys(_read(path, "staff_keys"))
        if not found:
            raise ConfigError(f"openpgp.staff_keys: {path} holds no public key")
        staff.extend(found)
    return Keyring(
        pgp=pgp,
        home=home,
        own=cfg.key or own[0],
        staff=tuple(dict.fromkeys(staff)),
        sign=cfg.sign,
        encrypt_replies=cfg.encrypt_replies,
    )


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"openpgp.{key}: cannot read {path}: {exc.strerror}") from exc
