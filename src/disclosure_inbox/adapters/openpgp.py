"""OpenPGP over one GnuPG home directory: decrypt, verify, encrypt and sign.

Why python-gnupg and Debian's gpg rather than a self-contained binding such as pysequoia: gpg
comes from Debian's packages, with Debian's security updates, and is the implementation most
audited and most used for mail; the home directory is the keyring format staff already use, so
the organisation's key can be managed with the tools they know, and read by ``gpg`` on the same
machine when something needs looking into. python-gnupg is one small, long-maintained module
that runs gpg and reads its status lines; it has no compiled parts.

Every run is ``--batch`` with ``--pinentry-mode loopback``: gpg never asks anyone anything. The
passphrase goes to gpg's standard input, never on a command line; it is never logged and never
in a repr or an exception. Keys are never fetched from the network (``--no-auto-key-retrieve``).

Errors are mapped once, here:

- decryption problems are outcomes, not exceptions: ``Decrypted.failure`` names the reason;
- a signature that does not check out is a ``Signature`` with status ``invalid`` or
  ``unknown-key``;
- a key that cannot encrypt or sign is ``KeyUnusable`` (``RecipientKeyUnusable`` for a key to
  encrypt to);
- gpg that cannot be started, that fails without saying why, or that runs past
  ``timeout_seconds`` (it is then killed) is ``OpenPGPUnavailable``;
- a passphrase that does not unlock the key is a ``ConfigError`` from ``check_passphrase``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import gnupg

from disclosure_inbox.adapters import gpg_status
from disclosure_inbox.adapters.gpg_status import Statuses
from disclosure_inbox.config import ConfigError
from disclosure_inbox.domain.errors import KeyUnusable, OpenPGPUnavailable, RecipientKeyUnusable
from disclosure_inbox.domain.openpgp import (
    Decrypted,
    DetachedSignature,
    PublicKey,
    Signature,
)

log = logging.getLogger(__name__)

# Plaintext beyond this is refused as "too-large": OpenPGP data is compressed, so a small
# message can unpack to any size (a compression bomb), and gpg's output is kept in memory.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
# gpg writes plaintext in buffers of up to 64 KiB and stops before the one that would pass
# --max-output; giving it this much more than our limit makes a cut-off output pass the limit.
_OUTPUT_BUFFER = 64 * 1024
_OPTIONS = ["--pinentry-mode", "loopback", "--no-auto-key-retrieve", "--no-auto-key-locate"]


class _BoundedGPG(gnupg.GPG):
    """``gnupg.GPG`` that kills each gpg it starts once that has run ``timeout`` seconds.

    python-gnupg waits for gpg without a limit, and ``_open_subprocess`` is the one place where
    it starts one; a watcher thread per run ends with the run."""

    def __init__(self, *, timeout: float, **kwargs: Any) -> None:
        self.timeout = timeout  # before super(), which runs gpg once for its version
        super().__init__(**kwargs)

    def _open_subprocess(self, args: Any, passphrase: bool = False) -> subprocess.Popen[bytes]:
        process: subprocess.Popen[bytes] = super()._open_subprocess(args, passphrase)
        watcher = threading.Thread(target=_kill_after, args=(process, self.timeout), daemon=True)
        watcher.start()
        return process


def _kill_after(process: subprocess.Popen[bytes], seconds: float) -> None:
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()


class OpenPGP:
    """``OpenPGP(home, passphrase=...)``. Each call runs gpg once (or twice) and keeps nothing
    between calls but the home, so threads may share one instance."""

    def __init__(
        self,
        home: Path,
        *,
        passphrase: str | None = None,
        signer: str | None = None,
        timeout_seconds: float = 60.0,
        max_output_bytes: int = MAX_OUTPUT_BYTES,
        gpg_binary: str = "gpg",
    ) -> None:
        if passphrase and any(c in passphrase for c in "\r\n\x00"):
            raise ConfigError("the OpenPGP passphrase may not hold a line break or NUL")
        self.home = home
        self._signer = signer  # None: gpg's default, the first secret key in the home
        self._timeout = timeout_seconds
        self._max_output = max_output_bytes
        # python-gnupg writes the passphrase in its `encoding`, Latin-1 (so that reading gpg's
        # output never fails); gpg wants UTF-8, so the passphrase goes as its UTF-8 bytes.
        self._passphrase = passphrase.encode().decode("latin-1") if passphrase else None
        try:
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._gpg = _BoundedGPG(
                timeout=timeout_seconds, gpgbinary=gpg_binary, gnupghome=str(home), options=_OPTIONS
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot use {home} as a GnuPG home: {exc}") from exc

    def __repr__(self) -> str:
        return f"OpenPGP({str(self.home)!r})"

    # -- keys ------------------------------------------------------------------------------

    def scan_keys(self, armored: bytes) -> list[PublicKey]:
        """The public keys in ``armored`` (or binary) key data, without importing them."""
        found = self._run("scan keys", lambda: self._gpg.scan_keys_mem(armored))
        return [_public_key(k) for k in found if k.get("type") == "pub"]

    def import_keys(self, armored: bytes, *, secret: bool = False) -> list[str]:
        """Import key data; the fingerprints imported (or already there). Only public keys
        unless ``secret`` (the organisation's own key): a secret key that arrives in a message
        has leaked, and is not taken."""
        if not secret:
            found = self._run("scan keys", lambda: self._gpg.scan_keys_mem(armored))
            if any(k.get("type") == "sec" for k in found):
                log.warning("key data holds a secret key; nothing imported into %s", self.home)
                return []
        # import-minimal keeps each user ID's newest self-signature only: a key flooded with
        # third-party signatures cannot bloat or slow the keyring.
        args = ["--import-options", "import-minimal"]
        result = self._run("import", lambda: self._gpg.import_keys(armored, extra_args=args))
        return list(dict.fromkeys(result.fingerprints))

    def has_public_key(self, fingerprint: str) -> bool:
        """Whether the home holds the public key with this (primary) fingerprint."""
        found = self._run("list keys", lambda: self._gpg.list_keys(keys=[fingerprint]))
        return any(k.get("fingerprint") == fingerprint for k in found)

    def secret_keys(self) -> list[PublicKey]:
        """The keys in the home whose secret part is there: ours."""
        found = self._run("list secret keys", lambda: self._gpg.list_keys(secret=True))
        return [_public_key(k) for k in found]

    # -- inbound ---------------------------------------------------------------------------

    def decrypt(self, data: bytes) -> Decrypted:
        """Decrypt (armored or binary); the signature inside is checked when there is one.
        Data that was only signed comes back as plaintext with ``encrypted=False``."""
        limit = ["--max-output", str(self._max_output + _OUTPUT_BUFFER)]
        result = self._run(
            "decrypt",
            lambda: self._gpg.decrypt(data, passphrase=self._passphrase, extra_args=limit),
        )
        statuses = Statuses.parse(result.stderr)
        encrypted = gpg_status.decrypted(statuses)
        if not encrypted and not gpg_status.only_signed(statuses):
            return Decrypted(None, failure=gpg_status.failure(statuses))
        plaintext: bytes = result.data
        # gpg exits non-zero after a good decryption only for a signature problem, or when it
        # stopped writing (--max-output); the length catches the cut-off in any case.
        stopped = result.returncode != 0 and not gpg_status.signature_trouble(statuses)
        if len(plaintext) > self._max_output or stopped:
            return Decrypted(None, failure="too-large")
        return Decrypted(plaintext, self._signature(statuses), encrypted=encrypted)

    def verify_detached(self, data: bytes, signature: bytes) -> Signature:
        """Check a detached signature over ``data`` (for PGP/MIME, the signed part's bytes as
        on the wire with CRLF line ends, RFC 3156 section 5)."""
        # gpg reads a detached signature from a file, and the data from its standard input.
        try:
            fd, name = tempfile.mkstemp(dir=self.home, prefix=".signature-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(signature)
        except OSError as exc:
            raise OpenPGPUnavailable(f"cannot write to {self.home}: {exc.strerror}") from exc
        try:
            result = self._run("verify", lambda: self._gpg.verify_data(name, data))
        finally:
            Path(name).unlink(missing_ok=True)
        return self._signature(Statuses.parse(result.stderr)) or Signature("invalid")

    def verify_clearsigned(self, data: bytes) -> Signature:
        """Check a clearsigned text. Its verified text is ``decrypt(data).plaintext``: read the
        text from there, not from around the armor lines."""
        result = self._run("verify", lambda: self._gpg.verify(data))
        return self._signature(Statuses.parse(result.stderr)) or Signature("invalid")

    # -- outbound --------------------------------------------------------------------------

    def encrypt(self, data: bytes, recipients: list[str], *, sign: bool = False) -> bytes:
        """Armored ciphertext for ``recipients`` (fingerprints), signed with our key if
        ``sign``. Imported keys are used as they are (``--trust-model always``): that a key
        belongs to its address is what the store decided when it kept the key."""
        if not recipients:
            raise KeyUnusable("no recipient to encrypt to")
        signer = (self._signer or True) if sign else None
        result = self._run(
            "encrypt",
            lambda: self._gpg.encrypt(
                data,
                recipients,
                sign=signer,
                always_trust=True,
                armor=True,
                passphrase=self._passphrase if sign else None,
            ),
        )
        statuses = Statuses.parse(result.stderr)
        if not statuses.has("END_ENCRYPTION"):
            invalid = statuses.first("INV_RECP")
            if invalid:
                raise RecipientKeyUnusable(f"cannot encrypt to {_invalid_key(invalid)}")
            self._sign_failed(statuses, "encrypt")
        data_out: bytes = result.data
        return data_out

    def sign_detached(self, data: bytes) -> DetachedSignature:
        """An armored detached signature over ``data``, with the hash named for PGP/MIME."""
        result = self._sign(data, detach=True)
        created = Statuses.parse(result.stderr).first("SIG_CREATED") or ()
        # SIG_CREATED <type> <pkalgo> <hashalgo> <class> <time> <fpr>
        hash_name = gpg_status.HASH_NAMES.get(created[2] if len(created) > 2 else "")
        if hash_name is None:
            raise KeyUnusable(f"gpg signed with a hash PGP/MIME cannot name: {created!r}")
        return DetachedSignature(result.data, f"pgp-{hash_name}")

    def clearsign(self, text: bytes) -> bytes:
        """``text`` clearsigned (as security.txt is, RFC 9116 section 2.3)."""
        signed: bytes = self._sign(text, detach=False).data
        return signed

    def check_passphrase(self) -> None:
        """At start-up: our key signs, and decrypts what is encrypted to it, with the configured
        passphrase. ConfigError if not. The agent's cache of passphrases is emptied first, or a
        wrong passphrase would pass for as long as a right one stayed cached."""
        own = self.secret_keys()
        if not own:
            raise ConfigError(f"the GnuPG home {self.home} holds no secret key")
        key = self._signer or own[0].fingerprint
        self._gpgconf("--reload")
        try:
            probe = self.encrypt(b"passphrase check\n", [key], sign=True)
        except KeyUnusable as exc:
            raise ConfigError(f"the OpenPGP key {key}: {exc}") from exc
        outcome = self.decrypt(probe)
        if outcome.failure == "bad-passphrase":
            raise ConfigError(f"the OpenPGP passphrase does not unlock the key {key}")
        if outcome.failure is not None:
            raise ConfigError(f"the key {key} cannot decrypt: {outcome.failure}")

    def close(self) -> None:
        """Stop the gpg-agent that gpg started for this home (it is started again on demand)."""
        self._gpgconf("--kill")

    # -- the one place gpg's results become ours --------------------------------------------

    def _run(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            result = call()
        except (OSError, ValueError) as exc:
            raise OpenPGPUnavailable(f"gpg {what} in {self.home} failed: {exc}") from exc
        if result.returncode is not None and result.returncode < 0:
            raise OpenPGPUnavailable(
                f"gpg {what} in {self.home} was stopped after {self._timeout:g} s"
                f" (signal {-result.returncode})"
            )
        return result

    def _sign(self, data: bytes, *, detach: bool) -> Any:
        result = self._run(
            "sign",
            lambda: self._gpg.sign(
                data,
                keyid=self._signer,
                passphrase=self._passphrase,
                detach=detach,
                clearsign=not detach,
            ),
        )
        statuses = Statuses.parse(result.stderr)
        if not statuses.has("SIG_CREATED"):
            self._sign_failed(statuses, "sign")
        return result

    def _sign_failed(self, statuses: Statuses, what: str) -> NoReturn:
        invalid = statuses.first("INV_SGNR")
        if invalid:
            raise KeyUnusable(f"cannot sign with {_invalid_key(invalid)}")
        if gpg_status.locked(statuses):
            raise KeyUnusable("the passphrase does not unlock the signing key")
        failure = statuses.first("FAILURE")
        raise OpenPGPUnavailable(f"gpg {what} in {self.home} failed: {' '.join(failure or ())}")

    def _signature(self, statuses: Statuses) -> Signature | None:
        verdict = gpg_status.signature(statuses)
        if verdict is None:
            return None
        fingerprint = verdict.fingerprint
        if fingerprint is None and verdict.key_id and verdict.status != "unknown-key":
            fingerprint = self._primary_of(verdict.key_id)
        return Signature(verdict.status, fingerprint)

    def _primary_of(self, key_id: str) -> str | None:
        """The primary fingerprint of a key in the keyring, from its (sub)key id."""
        found = self._run("list keys", lambda: self._gpg.list_keys(keys=[key_id]))
        return gpg_status.fingerprint(found[0].get("fingerprint")) if len(found) == 1 else None

    def _gpgconf(self, action: str) -> None:
        gpgconf = shutil.which("gpgconf")
        if gpgconf is None:
            raise OpenPGPUnavailable("gpgconf is not installed (Debian's gpgconf package)")
        try:
            subprocess.run(
                [gpgconf, "--homedir", str(self.home), action, "gpg-agent"],
                capture_output=True,
                check=True,
                timeout=self._timeout,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise OpenPGPUnavailable(f"gpgconf {action} gpg-agent failed: {exc}") from exc


def _public_key(found: dict[str, Any]) -> PublicKey:
    # python-gnupg reads gpg's output as Latin-1; user IDs are UTF-8.
    uids = tuple(uid.encode("latin-1").decode("utf-8", "replace") for uid in found["uids"])
    return PublicKey(found["fingerprint"], uids)


def _invalid_key(args: tuple[str, ...]) -> str:
    """``INV_RECP 5 <name>`` as ``<name> (key expired)``."""
    reason = gpg_status.INVALID_KEY_REASONS.get(args[0] if args else "", "unusable")
    return f"{' '.join(args[1:]) or 'the key'} ({reason})"
