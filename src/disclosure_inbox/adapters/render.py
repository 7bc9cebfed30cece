"""Templates: Jinja2, sandboxed, strict about undefined names.

Reporter-controlled text (subject, names, body) is only ever a value passed to a template,
never part of one, so ``{{7*7}}`` in a subject comes back literally. The environment is
sandboxed anyway, so an operator's template cannot reach Python internals either.

Lookup: ``<audience>/<event>.<locale>.txt.j2``, then ``<audience>/<event>.txt.j2`` (English),
first in the operator's ``[templates] dir``, then in the bundled templates. An ``.html.j2``
twin, where one exists, becomes the HTML alternative (autoescaped).

A template is code the operator wrote, and can fail. ``Renderer.check`` renders every one the
service uses with the sample contexts below before a renderer is put to work (start-up,
reload, ``check-config``), and each file is read once: what was checked is what renders until
the next reload, whatever happens to the files meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.sandbox import SandboxedEnvironment

from disclosure_inbox.config import ConfigError
from disclosure_inbox.paths import templates_dir


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    html: str | None


class _ReadOnce(FileSystemLoader):
    """A ``FileSystemLoader`` that looks each name up once, and never again: a file edited,
    added or removed after the check cannot change what renders before the next reload."""

    def __init__(self, searchpath: list[str]) -> None:
        super().__init__(searchpath)
        self._seen: dict[str, tuple[str, str] | None] = {}

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        if template not in self._seen:
            try:
                source, filename, _ = super().get_source(environment, template)
            except TemplateNotFound:
                self._seen[template] = None
            else:
                self._seen[template] = (source, filename)
        found = self._seen[template]
        if found is None:
            raise TemplateNotFound(template)
        return found[0], found[1], lambda: True


class Renderer:
    def __init__(self, operator_dir: str = "", locale: str = "en") -> None:
        self._search = [str(Path(operator_dir))] if operator_dir else []
        self._search.append(str(templates_dir()))
        self.locale = locale
        self._bundled: Renderer | None = None if operator_dir else self
        self._env = SandboxedEnvironment(
            loader=_ReadOnce(self._search),
            undefined=StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(".html.j2")),
            keep_trailing_newline=True,
        )

    def _names(self, audience: str, event: str, kind: str, locale: str | None) -> list[str]:
        locale = locale or self.locale
        names = [f"{audience}/{event}.{locale}.{kind}.j2"] if locale != "en" else []
        return names + [f"{audience}/{event}.{kind}.j2"]

    def render(
        self, audience: str, event: str, context: dict[str, Any], locale: str | None = None
    ) -> Rendered:
        text_template = self._env.select_template(self._names(audience, event, "txt", locale))
        try:
            html_template = self._env.select_template(self._names(audience, event, "html", locale))
        except TemplateNotFound:
            html_template = None
        return Rendered(
            text=text_template.render(**context),
            html=html_template.render(**context) if html_template is not None else None,
        )

    def bundled(self) -> Renderer:
        """The bundled templates alone, in the same locale: what a failed template of the
        operator's is replaced with."""
        if self._bundled is None:
            self._bundled = Renderer("", self.locale)
        return self._bundled

    def render_or_bundled(
        self, audience: str, event: str, context: dict[str, Any]
    ) -> tuple[Rendered, str | None]:
        """Staff mail must go out even when the operator's template fails at run time: the
        bundled one instead, with the failure described (``None`` when there was none)."""
        try:
            return self.render(audience, event, context), None
        except Exception as exc:  # a template is the operator's code; any error is its own
            return self.bundled().render(audience, event, context), describe_failure(exc)

    def variants(self, audience: str, event: str) -> list[str]:
        """Every file that can render ``audience/event``: text and HTML, every locale found
        in the operator's directory or the bundled set, the English text always."""
        pattern = re.compile(rf"{re.escape(event)}(?:\.[A-Za-z0-9_-]+)?\.(?:txt|html)\.j2")
        names = {f"{audience}/{event}.txt.j2"}
        for root in self._search:
            folder = Path(root) / audience
            if folder.is_dir():
                names.update(
                    f"{audience}/{path.name}"
                    for path in folder.iterdir()
                    if pattern.fullmatch(path.name)
                )
        return sorted(names)

    def check(self) -> None:
        """Render every template in ``TEMPLATES`` with each of its sample contexts: as the
        service does (in the configured locale), then each file that could stand in for it
        (see ``variants``). ConfigError naming the first broken file and line."""
        for (audience, event), samples in SAMPLES.items():
            names = self.variants(audience, event)
            for sample in samples:
                for name in [None, *names]:
                    try:
                        if name is None:
                            self.render(audience, event, dict(sample))
                        else:
                            self._env.get_template(name).render(**sample)
                    except Exception as exc:  # any error an operator's template can raise
                        where = describe_failure(exc, name or f"{audience}/{event}")
                        raise ConfigError(f"template {where}") from exc


def describe_failure(exc: BaseException, name: str = "") -> str:
    """Where a template failed and why, in one line: ``PATH, line N: MESSAGE``.

    The line comes from the error itself (a syntax error) or from the innermost template
    frame of its traceback, which Jinja rewrites to point into the template.
    """
    where, line = name or "template", None
    if isinstance(exc, TemplateSyntaxError):
        where, line = exc.filename or exc.name or where, exc.lineno
    else:
        tb = exc.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if not filename.endswith(".py") and not filename.startswith("<"):
                where, line = filename, tb.tb_lineno
            tb = tb.tb_next
    if isinstance(exc, TemplateNotFound):
        message = f"template not found: {exc.name}"
    elif isinstance(exc, TemplateSyntaxError):
        message = f"syntax error: {exc.message}"
    elif isinstance(exc, UndefinedError):
        message = str(exc.message)
    else:
        message = f"{type(exc).__name__}: {exc}"
    message = " ".join(message.split())  # one line, for the log, last_error and stderr
    return f"{where}, line {line}: {message}" if line else f"{where}: {message}"


# --- what the templates are rendered with --------------------------------------------------

# Every template the service renders, and sample contexts with every key the service passes
# and values of the kinds it passes; one variant fills every optional value and one leaves
# them empty, so both sides of an ``{% if %}`` are rendered by the check.
# tests/service/test_template_checks.py fails if a context the service builds has keys these
# lack, or lacks keys these have.
_ESCALATION_ITEM: Mapping[str, Any] = {
    "ref": "SEC-2026-0001",
    "severity": "high",
    "status": "new",
    "clock": "acknowledgement",
    "tier": "overdue",
    "occurrence": 0,
    "due_at": "Wed 2026-07-08 23:59 UTC",
    "fire_at": "Wed 2026-07-08 23:59 UTC",
    "lateness": "due today",
    "late": False,
    "subject": "Stored XSS in hxxps://example[.]com/profile",
    "reporter": "ada@example.org",
}
_LATE_ITEM = {**_ESCALATION_ITEM, "ref": "SEC-2026-0002", "late": True, "severity": "not set"}
_STAFF = {"organization": "Example", "mailbox": "security@example.com"}

_NOTICE: Mapping[str, Any] = {
    **_STAFF,
    "ref": "SEC-2026-0001",
    "subject": "Stored XSS in hxxps://example[.]com/profile",
    "reporter": "ada[@]example[.]org",
    "reporter_name": "Ada Researcher",
    "received_at": "Wednesday 01 July 2026, 14:00 UTC",
    "status": "new",
    "severity": "not set",
    "clocks": [{"name": "acknowledgement", "due_at": "Wednesday 08 July 2026, 23:59 UTC"}],
    "body": "The profile page renders the name unescaped:\n<script>alert(1)</script>",
    "omitted": 1234,
    "attachments": [
        {
            "filename": "poc.html",
            "content_type": "text/html",
            "size": 2048,
            "sha256": "0" * 64,
        }
    ],
    "bounced": False,
    "replies": True,
    "warning": "This message claims to be from staff (lead@example.com) but was not "
    "authenticated (no-authentication): nothing in it was sent to the reporter.",
    "triage": [
        "Possibly out of scope: best_practice (confidence 0.90) — 'The site is missing the "
        "X-Frame-Options header.' (policy: Reports based solely on best practices, missing "
        "security headers, or other non-exploitable configurations)",
        "Possible duplicate of SEC-2026-0001 (0.82): near-duplicate text (0.82)",
    ],
    "encryption": "Encrypted report: its text is not in this mail. Read it with "
    "`disclosure-inbox reports show SEC-2026-0001`.\nOpenPGP signature by "
    + "0123456789ABCDEF" * 2
    + "01234567: valid",
}
_QUIET_NOTICE = {
    **_NOTICE,
    "reporter_name": "",
    "clocks": [],
    "body": "",
    "omitted": 0,
    "attachments": [],
    "replies": False,
    "warning": "",
    "triage": [],
    "encryption": "",
}

SAMPLES: Mapping[tuple[str, str], tuple[Mapping[str, Any], ...]] = {
    ("reporter", "ack"): (
        {
            **_STAFF,
            "policy_url": "https://example.com/security",
            "ref": "SEC-2026-0001",
            "reporter_name": "Ada Researcher",
            "subject": "Stored XSS in the profile page",
            "received_at": "Wednesday 01 July 2026, 14:00 UTC",
            "due_at": "Wednesday 08 July 2026, 23:59 UTC",
        },
        {
            **_STAFF,
            "policy_url": "",
            "ref": "SEC-2026-0001",
            "reporter_name": "",
            "subject": "(no subject)",
            "received_at": "Wednesday 01 July 2026, 14:00 UTC",
            "due_at": None,
        },
    ),
    ("staff", "escalation"): (
        {**_STAFF, "items": [_ESCALATION_ITEM], "count": 1},
        {**_STAFF, "items": [_LATE_ITEM], "count": 1},
    ),
    ("staff", "digest"): ({**_STAFF, "items": [_ESCALATION_ITEM, _LATE_ITEM], "count": 2},),
    ("staff", "new-report"): (_NOTICE, _QUIET_NOTICE),
    ("staff", "followup"): (
        {**_NOTICE, "status": "", "clocks": [], "bounced": True},
        {**_QUIET_NOTICE, "status": ""},
    ),
    ("reporter", "status"): (
        {
            **_STAFF,
            "ref": "SEC-2026-0001",
            "status": "triaged",
            "severity": "not set",
            "clocks": [
                {
                    "name": "acknowledgement",
                    "state": "running",
                    "due": "due in 2 business days (Wed 2026-07-08 23:59 UTC)",
                }
            ],
        },
    ),
    ("reporter", "out-of-scope"): (
        {
            **_STAFF,
            "policy_url": "https://example.com/security",
            "ref": "SEC-2026-0001",
            "reporter_name": "Ada Researcher",
            "subject": "Missing X-Frame-Options header",
            "category": "best_practice",
            "policy": "Reports based solely on best practices, missing security headers, or "
            "other non-exploitable configurations",
            "evidence": "The site is missing the X-Frame-Options header.",
        },
        {
            **_STAFF,
            "policy_url": "",
            "ref": "SEC-2026-0001",
            "reporter_name": "",
            "subject": "(no subject)",
            "category": "dos",
            "policy": "Distributed Denial of Service (DoS/DDoS) attacks",
            "evidence": "",
        },
    ),
    ("reporter", "relay"): (
        {**_STAFF, "ref": "SEC-2026-0001", "text": "Thank you, we can reproduce it."},
    ),
    ("staff", "command-result"): (
        {
            **_STAFF,
            "ref": "SEC-2026-0001",
            "actor": "lead@example.com",
            "status": "verified",
            "severity": "critical",
            "results": ["Sent to the reporter.", "/verify critical: triaged -> verified"],
            "relayed": "Thank you, we can reproduce it.",
        },
        {
            **_STAFF,
            "ref": "SEC-2026-0001",
            "actor": "lead@example.com",
            "status": "new",
            "severity": "not set",
            "results": ["/close: refused: cannot move from new to closed"],
            "relayed": "",
        },
    ),
    ("staff", "template-failed"): (
        {
            **_STAFF,
            "count": 2,
            "since": "2026-07-01T14:00:00+00:00",
            "error": "reporter/ack.txt.j2, line 3: 'no_such_variable' is undefined",
            "repeat": "6 hours",
        },
    ),
    ("staff", "alert"): (
        {
            **_STAFF,
            "imap": "imap.example.com:993",
            "last_success": "2026-07-01T14:00:00+00:00",
            "failing_since": "2026-07-01T14:00:00+00:00",
            "error": "connection refused",
            "repeat": "6 hours",
        },
        {
            **_STAFF,
            "imap": "imap.example.com:993",
            "last_success": "not since start",
            "failing_since": "2026-07-01T14:00:00+00:00",
            "error": "unknown",
            "repeat": "6 hours",
        },
    ),
}

TEMPLATES = tuple(SAMPLES)
