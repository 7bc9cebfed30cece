"""Near-duplicate text: a MinHash signature of a report, and the band keys that index it.

A report's text becomes a set of shingles (runs of three words; for Japanese and Chinese,
where words are not separated, runs of three characters). Two texts are alike by the share
of shingles they have in common (Jaccard similarity). A signature estimates it in constant
space: one-permutation MinHash with ``BINS`` bins. Each shingle is hashed once (blake2b, 8
bytes: stable across processes and versions, unlike ``hash()``); the low bits pick its bin and
the bin keeps the smallest of the rest. Empty bins borrow from the next filled one
("densification", Shrivastava 2017), so that two signatures always compare bin by bin, and
the share of equal bins estimates the similarity.

The index: the signature is cut into ``BANDS`` bands of ``ROWS`` bins; each band is one key
in the store. Two texts meet on at least one key with probability 1 - (1 - s^ROWS)^BANDS for a
similarity s: 0.64 at s = 0.5, 0.99 at s = 0.7, 0.18 at s = 0.3. A new report looks up only
its 16 keys, not every report: the cost stays bounded as the store grows.

Worked example: "Stored XSS in the profile name on app.m.io" gives the shingles "stored xss
in", "xss in the", "in the profile", ... A resend with one word changed shares most of them,
so most bins (and so most bands) agree, and the two reports meet in the index.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

BINS = 64
BANDS = 16
ROWS = BINS // BANDS
SHINGLE = 3
MIN_SHINGLES = 8  # fewer: too little text to compare (a signature would match by chance)
MOST_TEXT = 20_000  # characters read at most: the start of a report says what it is about
_TOKEN = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_QUOTED_LINE = re.compile(r"^\s*>.*$", re.MULTILINE)
_EMPTY = (1 << 64) - 1


def shingles(text: str) -> set[str]:
    """The shingles of ``text``: lower-cased, NFKC-normalised, quoted lines left out."""
    text = unicodedata.normalize("NFKC", _QUOTED_LINE.sub("", text[:MOST_TEXT])).lower()
    tokens: list[str] = []
    for token in _TOKEN.findall(text):
        if _CJK.search(token):
            tokens.extend(token)  # one token a character
        else:
            tokens.append(token)
    if len(tokens) < SHINGLE:
        return set()
    return {" ".join(tokens[i : i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1)}


def signature(text: str) -> tuple[int, ...]:
    """The MinHash signature of ``text``; empty when it has fewer than ``MIN_SHINGLES``."""
    found = shingles(text)
    if len(found) < MIN_SHINGLES:
        return ()
    bins = [_EMPTY] * BINS
    for shingle in found:
        h = int.from_bytes(hashlib.blake2b(shingle.encode(), digest_size=8).digest(), "big")
        b, value = h % BINS, h // BINS
        if value < bins[b]:
            bins[b] = value
    return _densified(bins)


def _densified(bins: list[int]) -> tuple[int, ...]:
    out = list(bins)
    for i, value in enumerate(bins):
        if value != _EMPTY:
            continue
        for step in range(1, BINS):
            borrowed = bins[(i + step) % BINS]
            if borrowed != _EMPTY:
                out[i] = (borrowed + step * 0x9E3779B97F4A7C15) % (1 << 58)
                break
    return tuple(out)


def bands(sig: Sequence[int]) -> tuple[str, ...]:
    """The index keys of a signature: ``mh:<band>:<hash of its rows>``."""
    if not sig:
        return ()
    keys = []
    for band in range(BANDS):
        rows = ",".join(str(v) for v in sig[band * ROWS : (band + 1) * ROWS])
        keys.append(f"mh:{band}:{hashlib.blake2b(rows.encode(), digest_size=8).hexdigest()}")
    return tuple(keys)


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """The estimated Jaccard similarity of two signatures, 0..1."""
    if not a or not b or len(a) != len(b):
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def encode(sig: Sequence[int]) -> str:
    return "".join(f"{v:015x}" for v in sig)


def decode(text: str) -> tuple[int, ...]:
    if not text or len(text) % 15:
        return ()
    return tuple(int(text[i : i + 15], 16) for i in range(0, len(text), 15))
