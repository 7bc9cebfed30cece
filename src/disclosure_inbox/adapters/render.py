"""Templates: Jinja2, sandboxed, strict about undefined names.

Reporter-controlled text (subject, names, body) is only ever a value passed to a template,
never part of one, so ``{{7*7}}`` in a subject comes back literally. The environment is
sandboxed anyway, so an operator's template cannot reach Python internals either.

Lookup: ``<audience>/<event>.<locale>.txt.j2``, then ``<audience>/<event>.txt.j2`` (English),
first in the operator's ``[templates] dir``, then in the bundled templates. An ``.html.j2``
twin, where one exists, becomes the HTML alternative (autoescaped).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from disclosure_inbox.paths import templates_dir


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    html: str | None


class Renderer:
    def __init__(self, operator_dir: str = "", locale: str = "en") -> None:
        search = [str(Path(operator_dir))] if operator_dir else []
        search.append(str(templates_dir()))
        self.locale = locale
        self._env = SandboxedEnvironment(
            loader=ChoiceLoader([FileSystemLoader(p) for p in search]),
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

    def check(self, audience: str, event: str) -> None:
        """Load (and so compile) a template and its HTML twin; raises if missing or broken."""
        self._env.select_template(self._names(audience, event, "txt", None))
        with contextlib.suppress(TemplateNotFound):  # the HTML twin is optional
            self._env.select_template(self._names(audience, event, "html", None))


# Every template the service renders; checked at start-up and on reload.
TEMPLATES = (("reporter", "ack"), ("staff", "escalation"), ("staff", "digest"), ("staff", "alert"))
