"""Configuration files for test and benchmark deployments."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from disclosure_inbox.testing.dovecot import ImapAccount
    from disclosure_inbox.testing.smtp_sink import SmtpSink


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def local_deployment(
    account: ImapAccount,
    sink: SmtpSink,
    database_url: str,
    storage_dir: Path,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Mio's organisation, the private Dovecot account and SMTP sink, plain text on loopback;
    ``overrides`` replace keys section by section."""
    sections: dict[str, dict[str, Any]] = {
        "organization": {
            "name": "Mio",
            "reference_prefix": "MIO",
            "policy_url": "https://m.io/disclosure",
            "mailbox_address": "soc@m.io",
            "staff_addresses": ["lead@m.io"],
            "timezone": "UTC",
        },
        "imap": {
            "host": account.host,
            "port": account.port,
            "username": account.user,
            "password": account.password,
            "tls": "none",
            "timeout_seconds": 10,
        },
        "database": {"url": database_url},
        "storage": {"dir": str(storage_dir)},
        "smtp": {
            "host": sink.host,
            "port": sink.port,
            "tls": "none",
            "from_name": "Mio Security",
            "timeout_seconds": 5,
        },
        # Staff notices are off unless a test turns them on ({"staff": {"notify": True}}):
        # most tests count the mail the reporters get.
        "staff": {"notify": False},
    }
    for name, values in (overrides or {}).items():
        sections.setdefault(name, {}).update(values)
    return sections


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """Write ``{section: {key: value}}`` as TOML; ``None`` values are left out."""
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items() if v is not None]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
