"""A pattern's anchors: literal strings one of which every match of the pattern contains.

Triage looks for about 120 patterns in every text. Most never match, and a regular expression
finds that out only by trying every position of the text, which is what triage's time went
on. A substring test is far cheaper, so each pattern is given its anchors once, when the cue
table is built, and a text that contains none of them (lower-cased) is never searched.

The anchors are read from the pattern's own parse tree, so the table stays the only place a
cue is written. Worked example: ``\\b(no|missing) rate[- ]?limit|sin l[ií]mite`` has two
branches. The first must contain "rate" (its longest run of plain characters outside any
optional part), the second "sin l". A text with neither cannot match, whatever else it holds.
The rule is only ever "cannot match": a branch without a run long enough (or a pattern this
module cannot read) has no anchors, and the pattern is then always searched.

Matching is case-insensitive (``re.IGNORECASE``), so anchors and texts are compared
lower-cased; a case-sensitive part (``(?-i:DoS)``) still contains its anchor lower-cased.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

try:  # the standard library's own parser of patterns (public as sre_parse before 3.11)
    from re import _parser as _sre  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_parse as _sre  # type: ignore[no-redef]

SHORTEST = 2  # characters: "cv" still spares most texts a search
SHORTEST_WIDE = 2  # a run of Japanese (or other non-ASCII) characters says more per character
AROUND = 5  # lines searched before and after an anchor's line (a scanner's layout spans five)
MOST_REGIONS = 64  # anchors found past this: the whole text is searched, once


def anchors(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Lower-cased literals one of which is in every match of ``pattern``; None when the
    pattern has a branch without one (the caller then always searches)."""
    try:
        tree = _sre.parse(pattern.pattern, pattern.flags)
    except Exception:  # pragma: no cover - a compiled pattern always parses
        return None
    found = _required(list(tree))
    return tuple(sorted(found)) if found else None


def present(
    lowered: str, wanted: tuple[str, ...] | None, grams: frozenset[str] | None = None
) -> bool:
    """Whether a lower-cased text may match a pattern with these anchors. ``grams``, the
    text's runs of three characters (``trigrams``), rule most anchors out without a search."""
    if wanted is None:
        return True
    return any(a in lowered for a in wanted if grams is None or _may_hold(grams, a))


def trigrams(lowered: str) -> frozenset[str]:
    """Every run of three characters of a text: for a long text, one pass that spares a
    search of the whole text for each anchor that is not in it (most are not)."""
    return frozenset(lowered[i : i + 3] for i in range(len(lowered) - 2))


def _may_hold(grams: frozenset[str], anchor: str) -> bool:
    return len(anchor) < 3 or all(anchor[i : i + 3] in grams for i in range(len(anchor) - 2))


def regions(
    lowered: str,
    wanted: tuple[str, ...] | None,
    starts: Sequence[int],
    grams: frozenset[str] | None = None,
) -> list[tuple[int, int]]:
    """Where in a text a pattern with these anchors can match: the lines around each anchor
    found (``AROUND`` each way), merged, in order; ``starts`` are the offsets the text's
    lines start at. The whole text when the anchors are unknown or too many to be worth it.

    A cue's match lies within a line or a few (a scanner's field lines): searching the
    regions finds what searching the whole text finds, at the cost of the lines that could
    hold a match rather than of the text."""
    whole = [(0, len(lowered))]
    if wanted is None:
        return whole
    spans: list[tuple[int, int]] = []
    for anchor in wanted:
        if grams is not None and not _may_hold(grams, anchor):
            continue
        at = lowered.find(anchor)
        while at != -1:
            if len(spans) >= MOST_REGIONS:
                return whole
            line = bisect_right(starts, at) - 1
            first = starts[max(0, line - AROUND)]
            after = line + AROUND + 1
            end = starts[after] if after < len(starts) else len(lowered)
            spans.append((first, end))
            at = lowered.find(anchor, end)  # the rest of this region is searched anyway
    spans.sort()
    merged: list[tuple[int, int]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return merged


def line_starts(text: str) -> list[int]:
    return [0, *(i + 1 for i, c in enumerate(text) if c == "\n")]


def _required(items: list[Any]) -> set[str] | None:
    """Literals one of which every match of this sequence contains, or None."""
    options: list[set[str]] = []
    run: list[str] = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            run.append(chr(av))
            continue
        _close(run, options)
        before = [("LITERAL", ord(c)) for c in run]
        run = []
        if name == "BRANCH":
            # The parser moves a common prefix out ("could|can" is "c" then "ould|an"):
            # each branch is read with the characters just before it.
            union: set[str] = set()
            for branch in av[1]:
                found = _required(before + list(branch))
                if found is None:
                    union = set()
                    break
                union |= found
            if union:
                options.append(union)
        elif name == "SUBPATTERN":
            found = _required(list(av[-1]))
            if found:
                options.append(found)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and av[0] >= 1:
            found = _required(list(av[2]))
            if found:
                options.append(found)
    _close(run, options)
    if not options:
        return None
    return max(options, key=lambda s: min(len(a) for a in s))


def _close(run: list[str], options: list[set[str]]) -> None:
    if not run:
        return
    text = "".join(run).lower()
    shortest = SHORTEST if text.isascii() else SHORTEST_WIDE
    if len(text.strip()) >= shortest:
        options.append({text})
