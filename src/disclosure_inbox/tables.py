"""Plain-text tables for ``--format table``: what a person reads in a terminal."""

from __future__ import annotations

import re
from typing import Any

# C0 and C1 controls (ESC starts terminal sequences), DEL, and bidi overrides: text from
# reports must not move the cursor, retitle the terminal or reorder what the operator reads.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Line breaks of every kind. A lone CR must not reach the terminal: it returns the cursor, and
# the rest of the line is printed over what came before it.
_LINE_BREAK = re.compile("\r\n?|[\n\v\f\x1c-\x1e\x85\u2028\u2029]")
TEXT_INDENT = "    "


def _cell(value: Any, width: int = 60) -> str:
    text = "" if value is None else str(value)
    text = " ".join(_UNSAFE.sub(" ", text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _grid(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    columns = [k for k in rows[0] if not isinstance(rows[0][k], list | dict)]
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def text_block(text: str) -> str:
    """Text from a report as lines for a terminal: every kind of line break ends a line, tabs
    become spaces, and controls (ESC included) and bidi characters become a space, as in a
    cell. Each line is indented, so that no line of the text can pass for a line of the
    output around it."""
    lines = [_UNSAFE.sub(" ", line.expandtabs(8)).rstrip() for line in _LINE_BREAK.split(text)]
    while lines and not lines[-1]:
        lines.pop()
    return "".join(f"{TEXT_INDENT}{line}".rstrip() + "\n" for line in lines)


def render_report(data: dict[str, Any]) -> str:
    """``reports show``: the report as ``render`` shows it, with the messages' texts not in
    their grid but after it all, each under a line that names its message, and each message's
    signature in one cell of the grid: ``valid 62CF...226E``, or empty."""
    messages = data.get("messages", [])
    rows = [
        {k: _signature_cell(v) if k == "signature" else v for k, v in m.items() if k != "body_text"}
        for m in messages
    ]
    out = render({**data, "messages": rows})
    for m in messages:
        about = ", ".join(_cell(m.get(k), 200) for k in ("direction", "sender", "received_at"))
        named = _cell(m.get("message_id") or "(no Message-ID)", 200)
        out += f"\ntext of {named} ({about}):\n" + (
            text_block(m.get("body_text") or "") or f"{TEXT_INDENT}(none)\n"
        )
    return out


def _signature_cell(signature: dict[str, Any] | None) -> str:
    if not signature:
        return ""
    return " ".join(str(v) for v in (signature.get("status"), signature.get("fingerprint")) if v)


def render(data: Any) -> str:
    if isinstance(data, list):
        return _grid(data)
    if isinstance(data, dict):
        scalars = {k: v for k, v in data.items() if not isinstance(v, list | dict)}
        width = max((len(k) for k in scalars), default=0)
        out = "".join(f"{k.ljust(width)}  {_cell(v, 200)}\n" for k, v in scalars.items())
        for key, value in data.items():
            if isinstance(value, list) and value and not isinstance(value[0], dict):
                out += f"\n{key}: " + ", ".join(_cell(v, 200) for v in value) + "\n"
            elif isinstance(value, list):
                out += f"\n{key}:\n" + _grid(value)
            elif isinstance(value, dict):
                out += f"\n{key}:\n" + render(value)
        return out
    return f"{data}\n"
