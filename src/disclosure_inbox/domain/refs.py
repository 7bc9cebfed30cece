"""Report references such as ``MIO-2026-0001`` and the ``[MIO-2026-0001]`` subject tag."""

from __future__ import annotations

import re


def format_ref(prefix: str, year: int, seq: int) -> str:
    return f"{prefix}-{year:04d}-{seq:04d}"


def tag_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(r"\[(" + re.escape(prefix) + r"-\d{4}-\d{4,})\]")


def refs_in_subject(prefix: str, subject: str) -> list[str]:
    """Every bracketed reference tag in a subject, in order."""
    return tag_pattern(prefix).findall(subject)


_REPLY_PREFIXES = re.compile(r"^(?:(?:re|aw|sv|fwd?)\s*:\s*)+", re.IGNORECASE)


def _without_tag(tag: str, subject: str) -> str:
    """``subject`` with each ``tag`` and the white space around it made one space (found
    with ``str.find``: a pattern per reference would be compiled anew for every message)."""
    parts, start = [], 0
    while (at := subject.find(tag, start)) >= 0:
        parts += [subject[start:at].rstrip(), " "]
        start = at + len(tag)
        while start < len(subject) and subject[start].isspace():
            start += 1
    return "".join(parts) + subject[start:]


def tagged_subject(ref: str, subject: str) -> str:
    """``[REF] Re: subject``, without stacking tags or ``Re:`` prefixes."""
    base = _without_tag(f"[{ref}]", subject).strip()
    base = _REPLY_PREFIXES.sub("", base).strip()
    return f"[{ref}] Re: {base}" if base else f"[{ref}] Your report"
