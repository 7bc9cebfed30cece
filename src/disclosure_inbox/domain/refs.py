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


def tagged_subject(ref: str, subject: str) -> str:
    """``[REF] Re: subject``, without stacking tags or ``Re:`` prefixes."""
    base = re.sub(r"\s*\[" + re.escape(ref) + r"\]\s*", " ", subject).strip()
    base = re.sub(r"^(?:(?:re|aw|sv|fwd?)\s*:\s*)+", "", base, flags=re.IGNORECASE).strip()
    return f"[{ref}] Re: {base}" if base else f"[{ref}] Your report"
