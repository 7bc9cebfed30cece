"""The configuration's ``[openpgp]`` section: the organisation's key, and who else reads.

    [openpgp]
    home = "/var/lib/disclosure-inbox/gnupg"   # a GnuPG home holding the secret key, or:
    key_file = "/etc/disclosure-inbox/org-secret.asc"
    passphrase_file = "/etc/disclosure-inbox/org-passphrase"   # or passphrase_env, passphrase
    key = "0123...ABCD"                        # which secret key, when the home holds several
    staff_keys = ["/etc/disclosure-inbox/staff/alice.asc"]
    sign = true                                # sign what is sent (PGP/MIME)
    encrypt_replies = true                     # encrypt to a reporter whose key is known

With ``home``, that directory is used as it is: reporters' keys are imported into it as they
arrive. With ``key_file``, the working home is ``[storage] dir``/gnupg, made at start-up
with the key imported. Either way the passphrase is checked at start-up (``check-config``
and the daemon), so a wrong one is a configuration error, not a message that cannot be read.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_HEX = frozenset("0123456789ABCDEF")


class OpenPGP(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path | None = None
    key_file: Path | None = None
    passphrase: SecretStr | None = None
    key: str | None = None  # the fingerprint of the organisation's key
    staff_keys: tuple[Path, ...] = ()
    sign: bool = True
    encrypt_replies: bool = True
    timeout_seconds: float = Field(default=60.0, gt=0)

    @field_validator("key")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fpr = value.replace(" ", "").upper()
        if len(fpr) not in (40, 64) or not set(fpr) <= _HEX:
            raise ValueError(f"not a key fingerprint: {value!r} (40 or 64 hex digits)")
        return fpr

    @model_validator(mode="after")
    def _one_key_source(self) -> OpenPGP:
        if (self.home is None) == (self.key_file is None):
            raise ValueError("give exactly one of home (a GnuPG home) and key_file")
        return self

    def working_home(self, storage: Path) -> Path:
        """The GnuPG home in use: ``home``, or one under the storage directory."""
        return self.home if self.home is not None else storage / "gnupg"

    def secret(self) -> str | None:
        return self.passphrase.get_secret_value() if self.passphrase is not None else None
