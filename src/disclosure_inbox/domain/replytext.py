"""The new part of a staff reply: the text above the quoted message and the signature.

``mail-parser-reply`` finds where a mail client's quote begins (Gmail's "On ... wrote:",
Outlook's "-----Original Message-----" or its "From: / Sent:" block, their German, French and
other translations) and where a signature begins ("-- ", "Sent from my ...", a closing such
as "Best regards"). It reads text only, no I/O. Around it:

* the text returned is the sender's own lines, indentation kept (the library compares lines
  with their white space stripped; we map its answer back onto the lines as written);
* a line quoted with ``>`` ends the reply too, with or without a header above it: inline
  answers below a quote are not part of it, so commands must be written above the quote;
* a message that begins with a quote header has no reply text at all ("").

Quoted text must never reach ``commands.parse_commands``: a ``/close`` quoted from an earlier
mail would run again.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailMessage

# Mail clients' quote headers in these languages: every one the library knows but Swedish,
# whose signature patterns include "/word" (a Swedish way to sign), which would take our
# commands for a signature, and its test entry.
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "da", "pl", "cs", "ja", "ko", "zh")
# The library's patterns are not linear: a quote header's cost grows with the square of its
# line, and a run of blank lines costs the square of its length. The library therefore sees
# a view of the text: the first MAX_CHARS characters, each line stripped and cut to
# MAX_LINE_CHARS (a quote header is shorter), and no two blank lines in a row. That keeps the
# worst case near 0.2 s; the reply that comes back is cut from the lines as written.
MAX_CHARS = 20_000
MAX_LINE_CHARS = 200
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _view_line(line: str) -> str:
    return line.strip()[:MAX_LINE_CHARS].rstrip()


def _view(lines: list[str]) -> str:
    shown: list[str] = []
    for line in map(_view_line, lines):
        if line or (shown and shown[-1]):
            shown.append(line)
    return "\n".join(shown)


def _library_reply(view: str) -> list[str]:
    """The lines of the library's latest reply without its signature (stripped, blank ones
    left out); none when the message starts with a quote header."""
    message = EmailMessage(text=view, languages=list(LANGUAGES), keep_hyphen_lists=True)
    replies = message.read().replies
    if not replies or replies[0].headers:
        return []
    first = replies[0]
    content = first.content
    if first.signatures:
        at = content.find(first.signatures)
        content = content[: max(at, 0)]
    return [line.strip() for line in content.split("\n") if line.strip()]


def _as_written(lines: list[str], kept: list[str]) -> list[str]:
    """``lines`` up to the last one that ``kept`` (their views, in order, blank ones and the
    quote and signature left out) still holds."""
    end = position = 0
    for wanted in kept:
        while position < len(lines) and _view_line(lines[position]) != wanted:
            position += 1
        if position == len(lines):
            break
        position += 1
        end = position
    return lines[:end]


def latest_reply(text: str) -> str:
    """The reply above the quote and the signature, as written (indentation kept), without
    blank lines at either end; at most MAX_CHARS. See the module docstring for what ends it."""
    lines = _LINE_BREAK.split(text[:MAX_CHARS])
    lines = _as_written(lines, _library_reply(_view(lines)))
    for index, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            lines = lines[:index]
            break
    while lines and not lines[-1].strip():
        lines.pop()
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    return "\n".join(lines[start:])
