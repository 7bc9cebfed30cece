"""The configuration: one TOML file, validated once at start-up into a frozen object.

The path comes from ``--config`` or ``DISCLOSURE_INBOX_CONFIG``. A secret (a password) may be
written in the file, named by ``*_env`` (an environment variable), or read from ``*_file`` (a
systemd credential); it is held as a ``SecretStr`` so it never reaches a log line or a repr.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from disclosure_inbox.config_openpgp import OpenPGP
from disclosure_inbox.config_policy import (
    Calendar,
    Escalation,
    Limits,
    Loops,
    Sla,
    Staff,
    Tier,
    _Section,
    plain_addresses,
)
from disclosure_inbox.config_scope import Scope
from disclosure_inbox.config_securitytxt import SecurityTxt

__all__ = [
    "Calendar",
    "ConfigError",
    "Escalation",
    "Limits",
    "Loops",
    "SecurityTxt",
    "Settings",
    "Sla",
    "Staff",
    "Tier",
    "load_settings",
    "parse_settings",
]

ENV_VAR = "DISCLOSURE_INBOX_CONFIG"


class ConfigError(Exception):
    """The configuration is missing or invalid; the message names the key."""


def _read_secret(section: dict[str, Any], key: str, where: str) -> None:
    """Resolve ``key``, ``key_env`` and ``key_file`` into ``key`` (in place)."""
    sources = [k for k in (key, f"{key}_env", f"{key}_file") if section.get(k) not in (None, "")]
    if len(sources) > 1:
        raise ConfigError(f"{where}: give only one of {', '.join(sources)}")
    env_name = section.pop(f"{key}_env", None)
    file_name = section.pop(f"{key}_file", None)
    if env_name:
        if env_name not in os.environ:
            raise ConfigError(f"{where}.{key}_env: environment variable {env_name} is not set")
        section[key] = os.environ[env_name]
    elif file_name:
        path = Path(os.path.expandvars(str(file_name)))
        try:
            section[key] = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{where}.{key}_file: cannot read {path}: {exc.strerror}") from exc


TlsMode = Literal["ssl", "starttls", "none"]


class Organization(_Section):
    name: str = Field(min_length=1)
    reference_prefix: str = Field(default="SEC", pattern=r"^[A-Z][A-Z0-9]{0,15}$")
    policy_url: str = ""
    mailbox_address: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    # Addresses of staff: mail from them never gets an acknowledgement.
    staff_addresses: tuple[str, ...] = ()
    # Domain used for our own Message-IDs; defaults to the mailbox's domain.
    message_id_domain: str = ""
    timezone: str = "UTC"

    @field_validator("staff_addresses")
    @classmethod
    def _bare_addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return plain_addresses(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _default_domain(self) -> Organization:
        if not self.message_id_domain:
            object.__setattr__(self, "message_id_domain", self.mailbox_address.rsplit("@", 1)[1])
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Imap(_Section):
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    username: str
    password: SecretStr
    tls: TlsMode = "ssl"
    verify_certificates: bool = True
    ca_file: str | None = None
    mailbox: str = "INBOX"
    # Where messages that could not be processed are copied (optional; never deleted).
    quarantine_folder: str | None = None
    # Optionally move processed messages here after they are stored and flagged.
    processed_folder: str | None = None
    processed_flag: str = "$Processed"
    batch_size: int = Field(default=100, ge=1, le=5000)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=3, ge=1, le=100)


# The SQLAlchemy dialects and drivers the store is built and tested for (adapters/db/engine.py,
# service/leader.py). Any other would fail later, and less clearly: a missing driver module,
# or no leadership lock.
DATABASE_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")


class Intake(_Section):
    # Processes that parse a fetched batch; 1 parses in the intake thread itself. Empty: one
    # per CPU. A batch of one message (what IDLE usually brings) never uses the pool.
    workers: int | None = Field(default=None, ge=1, le=64)
    # A message whose parsing takes longer than this (or kills its worker) counts as a failed
    # attempt; after [imap] max_attempts it is quarantined.
    parse_timeout_seconds: float = Field(default=60.0, gt=0)

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


class Database(_Section):
    # Empty means a SQLite file inside [storage] dir.
    url: str = ""

    @field_validator("url")
    @classmethod
    def _supported_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        if not value:
            return value
        try:
            url = make_url(value)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            # The text is not repeated: it may hold a password.
            raise ValueError("not a database URL (dialect+driver://...)") from None
        if url.drivername not in DATABASE_DRIVERS:
            raise ValueError(
                f"unsupported database driver {url.drivername!r}; use sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST/DATABASE"
            )
        return value


class Storage(_Section):
    dir: str = "./var"
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)

    @property
    def path(self) -> Path:
        return Path(self.dir)


class Smtp(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: TlsMode = "starttls"
    verify_certificates: bool = True
    ca_file: str | None = None
    from_address: str = ""
    from_name: str = ""
    # Envelope sender (MAIL FROM). Empty means from_address.
    envelope_sender: str = ""
    timeout_seconds: float = Field(default=30.0, gt=0)
    batch_size: int = Field(default=50, ge=1, le=10000)
    # How long a temporarily failing message is retried before it is parked as failed.
    retry_deadline_hours: float = Field(default=48.0, gt=0)
    retry_initial_seconds: float = Field(default=30.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    # How long a sender holds a message it is about to send: no other sender (another
    # instance, or a leader that was deposed) may take it meanwhile. A sender that died holds
    # it until then, so this also bounds how late its message goes out after a crash.
    lease_seconds: float = Field(default=120.0, ge=0.5)

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Smtp:
        if self.lease_seconds <= self.timeout_seconds:
            raise ValueError(
                f"lease_seconds ({self.lease_seconds:g}) must be longer than timeout_seconds "
                f"({self.timeout_seconds:g}): a send must end before its claim does"
            )
        return self


class Templates(_Section):
    # Operators may point this at their own copies; empty means the bundled templates.
    dir: str = ""
    locale: str = "en"

    @field_validator("dir")
    @classmethod
    def _existing_dir(cls, value: str) -> str:
        # A typo here would otherwise fall back to the bundled set without a word.
        if value and not Path(value).is_dir():
            raise ValueError(f"{value} is not a directory")
        return value


class Daemon(_Section):
    # Polling is the safety net; with IDLE, new mail is taken within seconds.
    poll_interval_seconds: float = Field(default=60.0, ge=1.0)
    idle: bool = True
    # Re-issue IDLE before servers drop it (RFC 2177: at most 29 minutes).
    idle_renew_seconds: float = Field(default=1500.0, ge=5.0, le=1740.0)
    outbox_interval_seconds: float = Field(default=15.0, ge=0.5)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0.5, le=600.0)
    # How often a standby instance tries to take over (PostgreSQL).
    leader_check_seconds: float = Field(default=5.0, ge=0.5, le=300.0)
    # No successful intake for this long: an error, unhealthy, and a mail to the alert list.
    alert_after_seconds: float = Field(default=900.0, ge=10.0)
    alert_repeat_seconds: float = Field(default=21600.0, ge=60.0)
    # Empty: [organization] staff_addresses.
    alert_recipients: tuple[str, ...] = ()
    backoff_max_seconds: float = Field(default=300.0, ge=1.0)


class Health(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # A loop (intake, outbox, scan) that has not succeeded for its interval plus this long
    # makes /healthz answer 503. 0: one more interval plus a minute.
    max_age_seconds: float = Field(default=0.0, ge=0.0)


class Settings(_Section):
    organization: Organization
    imap: Imap
    intake: Intake = Intake()
    database: Database = Database()
    storage: Storage = Storage()
    smtp: Smtp = Smtp()
    templates: Templates = Templates()
    limits: Limits = Limits()
    loops: Loops = Loops()
    calendar: Calendar = Calendar()
    sla: Sla = Sla()
    escalation: Escalation = Escalation()
    daemon: Daemon = Daemon()
    health: Health = Health()
    staff: Staff = Staff()
    scope: Scope = Scope()
    # The RFC 9116 file `security-txt` prints; None: no such file is configured.
    security_txt: SecurityTxt | None = None
    # The organisation's OpenPGP key; None: mail is neither decrypted nor encrypted.
    openpgp: OpenPGP | None = None
    source: str = ""

    @model_validator(mode="after")
    def _reply_tokens_fit(self) -> Settings:
        """A reply address with a token must stay a valid address (a local part of at most
        64 octets, RFC 5321 4.5.3.1.1) for the longest reference this prefix makes."""
        keys = self.staff.token_keys
        if not keys:
            return self
        from datetime import UTC, datetime

        from disclosure_inbox.domain import tokens

        template = self.staff.reply_address
        if not template:
            local, _, domain = self.organization.mailbox_address.partition("@")
            template = f"{local}+{{token}}@{domain}"
        longest = f"{self.organization.reference_prefix}-2026-99999"
        try:
            expires = datetime(2099, 1, 1, tzinfo=UTC)
            tokens.reply_address(template, tokens.issue(keys, longest, "a@b", expires))
        except ValueError as exc:
            raise ValueError(
                f"staff.reply_address: {template!r} cannot carry a reply token for references "
                f"like {longest} ({exc}); use a shorter local part or reference_prefix"
            ) from None
        return self

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.storage.path / 'disclosure-inbox.sqlite3').resolve()}"

    @property
    def scope_domains(self) -> tuple[str, ...]:
        return self.scope.owned(self.organization.mailbox_address)

    @property
    def smtp_from(self) -> str:
        return self.smtp.from_address or self.organization.mailbox_address


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    if err["type"] == "missing":
        msg = "required key is missing"
    if not err["loc"]:
        return msg  # a check across sections names its own key
    return f"{key}: {msg}"


def parse_settings(data: dict[str, Any], source: str = "") -> Settings:
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for section, key in (
        ("imap", "password"),
        ("smtp", "password"),
        ("staff", "token_secret"),
        ("openpgp", "passphrase"),
    ):
        if isinstance(data.get(section), dict):
            _read_secret(data[section], key, section)
    try:
        return Settings.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise ConfigError(_first_error(exc)) from None


def config_path(explicit: str | None) -> Path:
    value = explicit or os.environ.get(ENV_VAR)
    if not value:
        raise ConfigError(f"no configuration file: pass --config or set {ENV_VAR}")
    return Path(value)


def load_settings(explicit: str | None = None) -> Settings:
    path = config_path(explicit)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_settings(data, source=str(path))
