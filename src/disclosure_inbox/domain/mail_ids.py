"""Our own Message-IDs. Each encodes the report it belongs to, so that a reply or a bounce that
quotes it finds the report even when nothing else in it does:

    <MIO-2026-0001.ack.5f2c9a1e@m.io>
"""

from __future__ import annotations

import re


def make_message_id(ref: str | None, kind: str, token: str, domain: str) -> str:
    return f"<{ref or 'none'}.{kind}.{token}@{domain}>"


def our_message_ids(text: str, domain: str) -> list[str]:
    """Every Message-ID of ours quoted anywhere in ``text`` (a bounce quotes the original)."""
    pattern = re.compile(
        r"<([A-Za-z0-9][A-Za-z0-9.\-]{0,80}\.[a-z]+\.[0-9a-f]{8,64})@" + re.escape(domain) + r">",
        re.IGNORECASE,
    )
    return list(dict.fromkeys(f"<{m}@{domain}>" for m in pattern.findall(text)))


def is_ours(message_id: str | None, domain: str) -> bool:
    if not message_id:
        return False
    return message_id.lower().endswith("@" + domain.lower() + ">")


def as_message_id(text: str) -> str:
    """A Message-ID as someone typed it, with or without its angle brackets: ``a@b`` and
    ``<a@b>`` are both ``<a@b>``, the form stored and shown."""
    return "<" + text.strip().removeprefix("<").removesuffix(">") + ">"
