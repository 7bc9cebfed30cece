"""Anchors: a text without any of a pattern's anchors never matches it."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest

from disclosure_inbox.domain.triage.anchors import anchors, line_starts, present, regions, trigrams
from disclosure_inbox.domain.triage.cues import CUES, REPRODUCTION

SETS = [Path(__file__).parents[1] / "triage" / name for name in ("set", "set2", "set3")]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (r"\b(no|missing) rate[- ]?limit|sin l[ií]mite", (" rate", "sin l")),
        (r"(?-i:\bD?DoS\b)|denial", ("denial", "dos")),
        (r"サービス(拒否|妨害)", ("サービス",)),
        (r"(ab)?c|x", None),  # a branch with no run of three: always searched
        (r"\bi (could|can)\b", ("could", "can")),
    ],
)
def test_anchors_of_a_pattern(pattern: str, expected: tuple[str, ...] | None) -> None:
    assert anchors(re.compile(pattern, re.IGNORECASE)) == (
        tuple(sorted(expected)) if expected else None
    )


def _texts() -> list[str]:
    texts = [
        "Hi, the site m.io is MISSING the X-Frame-Options header.",
        "DoS: I took down api.m.io with 10,000 requests.",
        "Steps to reproduce: 1. log in 2. change the id. I was able to read her invoices.",
        "再現手順：1. ログイン 2. IDを変更すると他人の請求書が見えました。",
        "Fehlende Sicherheits-Header; keine Rate-Limit; Schritte zur Reproduktion",
    ]
    for folder in SETS:
        for path in sorted(folder.glob("*.eml")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            texts.append(str(message.get("subject", "")))
            for part in message.walk():
                if part.get_content_maintype() == "text":
                    try:
                        texts.append(part.get_content())
                    except (LookupError, ValueError):
                        continue
    return texts


def test_no_cue_matches_a_text_without_its_anchors() -> None:
    texts = _texts()
    checked = 0
    for cue in [*CUES, *REPRODUCTION]:
        assert cue.anchors is None or all(a == a.lower() for a in cue.anchors)
        for text in texts:
            if cue.pattern.search(text):
                assert present(text.lower(), cue.anchors), (cue.pattern.pattern, text[:80])
                checked += 1
    assert checked > 100  # the texts do match cues: the check is not empty


def test_most_cues_have_anchors() -> None:
    rows = [*CUES, *REPRODUCTION]
    assert sum(c.anchors is not None for c in rows) >= 0.8 * len(rows)


def test_searching_the_regions_finds_what_searching_the_text_finds() -> None:
    texts = _texts()
    texts.append("\n".join(texts[:40]))  # a long text: trigrams are used
    checked = 0
    for text in texts:
        lowered, starts = text.lower(), line_starts(text)
        if len(lowered) != len(text):
            continue
        grams = trigrams(lowered)
        for cue in [*CUES, *REPRODUCTION]:
            whole = cue.pattern.search(text)
            found = any(
                cue.pattern.search(text, begin, end)
                for begin, end in regions(lowered, cue.anchors, starts, grams)
            )
            assert found == (whole is not None), (cue.pattern.pattern[:60], text[:80])
            checked += whole is not None
    assert checked > 100
