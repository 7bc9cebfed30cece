"""One message's triage, from its texts alone: indicators, hosts in and out of scope, hints
and the MinHash signature. Pure, and cheap enough to run in the parse step for every message
(the benchmark measures it): the comparison with stored reports comes later, in intake's
look-up (``duplicates.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from disclosure_inbox.domain.triage import indicators, minhash
from disclosure_inbox.domain.triage.hints import THRESHOLD, hints
from disclosure_inbox.domain.triage.model import CATEGORIES, Assessment, Source
from disclosure_inbox.domain.triage.scope import split_scope

SIGNED_TEXT = 20_000  # characters of subject and body the signature reads


@dataclass(frozen=True, slots=True)
class ScopeRules:
    """What triage needs of ``[scope]``: small and picklable, for the parse workers."""

    domains: tuple[str, ...]
    threshold: float = THRESHOLD
    categories: tuple[str, ...] = CATEGORIES


def assess(sources: Sequence[Source], scope: ScopeRules) -> Assessment:
    found = indicators.extract(sources)
    inside, outside = split_scope(found, scope.domains)
    body = "\n".join(s.text for s in sources if not s.where.startswith("attachment:"))
    return Assessment(
        hints=hints(
            sources,
            inside,
            outside,
            threshold=scope.threshold,
            categories=scope.categories,
            url_hosts=_hosts_of(found.urls),
        ),
        indicators=found,
        in_scope_hosts=inside,
        out_of_scope_hosts=outside,
        signature=minhash.signature(body[:SIGNED_TEXT]),
    )


def _hosts_of(urls: Sequence[str]) -> tuple[str, ...]:
    """The hosts of the links a report gives: the pages it is about, more than names in prose."""
    return tuple(dict.fromkeys(h for h in (urlsplit(u).hostname for u in urls) if h))
