"""``security-txt``: print the organisation's RFC 9116 file from ``[security_txt]``, or check
one; and the warnings ``check-config`` gives about that section.

The file is made from the configuration and checked by the same lint as any other before it
is printed: a file that would fail (an Expires that has passed, a Policy taken from an
``http://`` policy_url) is a configuration error and nothing is printed; warnings go to
stderr with the file. ``--sign`` hands the text to the organisation's key (``ClearSigner``);
``--check`` hands a clearsigned file's text to ``ClearsignVerifier``. Without ``[openpgp]``
there is neither: ``--sign`` is a configuration error, and a signed file is checked all the
same, with the warning that its signature was not.

``make_file``, ``check_file`` and ``config_warnings`` take the time and the keys as
arguments; ``print_file`` and ``check`` get them from ``App`` for the command line.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from disclosure_inbox.config import ConfigError, Settings
from disclosure_inbox.domain.errors import UsageError
from disclosure_inbox.domain.securitytxt import (
    Fields,
    Finding,
    Level,
    lint,
    mailto,
    parse,
    render,
)
from disclosure_inbox.domain.securitytxt.fields import mailto_addresses
from disclosure_inbox.logs import say
from disclosure_inbox.ports import ClearSigner, ClearsignVerifier
from disclosure_inbox.service.app import App

# Far more than any security.txt (readers may refuse 32 KB): a bound on what is read.
MAX_READ_BYTES = 1024 * 1024
NO_SECTION = "no [security_txt] section: security-txt prints the file from it"
NO_SIGNER = "--sign needs the organisation's OpenPGP key, and no [openpgp] section is configured"


@dataclass(frozen=True, slots=True)
class Made:
    text: str
    warnings: list[Finding]


def fields_of(settings: Settings) -> Fields:
    """The fields ``[security_txt]`` gives, with the mailbox as the first Contact."""
    s = settings.security_txt
    if s is None:
        raise ConfigError(NO_SECTION)
    mailbox = settings.organization.mailbox_address
    more = tuple(c for c in s.contact if mailbox.lower() not in mailto_addresses(c))
    policy = s.policy or settings.organization.policy_url
    try:
        return Fields(
            contacts=(mailto(mailbox), *more),
            expires=s.expires,
            encryption=(s.encryption,) if s.encryption else (),
            policy=(policy,) if policy else (),
            preferred_languages=s.preferred_languages,
            canonical=s.canonical,
            acknowledgments=(s.acknowledgments,) if s.acknowledgments else (),
            hiring=(s.hiring,) if s.hiring else (),
        )
    except ValueError as exc:  # a policy_url of several lines, say
        raise ConfigError(f"security_txt: {exc}") from None


def _findings(settings: Settings, now: datetime) -> tuple[str, list[Finding]]:
    text = render(fields_of(settings))
    return text, lint(text, mailbox=settings.organization.mailbox_address, now=now)


def make_file(
    settings: Settings, *, now: datetime, sign: bool = False, signer: ClearSigner | None = None
) -> Made:
    """The file, clearsigned with ``sign``; ConfigError when it would fail its own check."""
    if sign and signer is None:
        raise ConfigError(NO_SIGNER)
    text, findings = _findings(settings, now)
    errors = [f for f in findings if f.level is Level.ERROR]
    if errors:
        raise ConfigError(
            f"security_txt: the file would fail its check: {errors[0].where}: {errors[0].message}"
        )
    if sign and signer is not None:
        text = signer.clearsign(text)
    return Made(text, findings)


def config_warnings(settings: Settings, *, now: datetime) -> list[str]:
    """What ``check-config`` says about ``[security_txt]``: every finding of the file it makes
    (an Expires within 30 days among them), as warnings; the daemon runs regardless."""
    if settings.security_txt is None:
        return []
    try:
        _, findings = _findings(settings, now)
    except ConfigError as exc:
        return [str(exc)]
    return [f"security_txt: {f.where}: {f.message}" for f in findings]


def check_file(
    data: bytes,
    settings: Settings,
    *,
    now: datetime,
    name: str,
    verifier: ClearsignVerifier | None = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    """The findings of the lint on ``data``, with counts; ``problems`` > 0 fails the check."""
    text = data.decode("utf-8", errors="replace")
    signed = parse(text.removeprefix("\ufeff")).signed
    signature = verifier.verify_clearsigned(text) if signed and verifier is not None else None
    findings = lint(
        data,
        mailbox=settings.organization.mailbox_address,
        now=now,
        signature=signature,
        content_type=content_type,
    )
    return {
        "file": name,
        "signed": signed,
        "signature": None
        if signature is None
        else {"status": signature.status, "fingerprint": signature.fingerprint},
        "findings": [
            {
                "level": str(f.level),
                "where": f.where,
                "message": f.message,
                "rule": f.rule,
                "problem": f.problem,
            }
            for f in findings
        ],
        "errors": sum(f.level is Level.ERROR for f in findings),
        "warnings": sum(f.level is Level.WARNING for f in findings),
        "problems": sum(f.problem for f in findings),
    }


def check_table(data: dict[str, Any]) -> str:
    """One line a finding, ``LEVEL where: message``, and a summary line."""
    lines = [f"{f['level'].upper()} {f['where']}: {f['message']}" for f in data["findings"]]
    if not data["findings"]:
        lines.append(f"{data['file']}: ok")
    else:
        e, w = data["errors"], data["warnings"]
        verdict = "fails the check" if data["problems"] else "passes the check"
        lines.append(
            f"{data['file']}: {e} error{'s' * (e != 1)}, {w} warning{'s' * (w != 1)} ({verdict})"
        )
    return "\n".join(lines) + "\n"


# --- the command line ------------------------------------------------------------------------


def print_file(settings: Settings, *, sign: bool) -> str:
    made = make_file(
        settings,
        now=App.command_clock().now(),
        sign=sign,
        signer=App.clearsigner(settings) if sign else None,
    )
    for finding in made.warnings:
        say(f"warning: {finding.where}: {finding.message}", level=logging.WARNING)
    return made.text


def _read(source: str) -> tuple[bytes, str]:
    if source == "-":
        return sys.stdin.buffer.read(MAX_READ_BYTES + 1), "(stdin)"
    try:
        with Path(source).open("rb") as f:
            data = f.read(MAX_READ_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None
    return data, source


def check(settings: Settings, source: str, *, content_type: str | None) -> dict[str, Any]:
    data, name = _read(source)
    if len(data) > MAX_READ_BYTES:
        raise UsageError(f"{name} is larger than {MAX_READ_BYTES} bytes: not a security.txt")
    return check_file(
        data,
        settings,
        now=App.command_clock().now(),
        name=name,
        verifier=App.clearsign_verifier(settings),
        content_type=content_type,
    )
