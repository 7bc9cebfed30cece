"""Hints: which out-of-scope clause of the policy a report may fall under, and why.

Rules with quoted evidence, not a trained model: every hint must point at the sentence that
made it, so that the person reading it can check it at a glance, and a rule can be read,
argued about and changed by a security team in a pull request. A shipped model would bring a
large dependency, explain nothing and still need the quote. The cues are in ``cues.py``.

How a report is scored, in order:

1. every cue of ``cues.CUES`` is looked for in every source (subject, text, text
   attachments); a cue counts once, at its first match, and its sentence is the evidence;
2. a category's confidence combines its cues as independent signals ("noisy or"):
   1 - (1 - w1)(1 - w2)...; a vague claim in a short mail with nothing to reproduce adds a
   ``no_report`` cue;
3. the target: hosts outside ``[scope] domains`` (and none inside, or only outside ones
   linked, or only outside ones in the subject) add a ``third_party`` cue of 0.7, which a
   reproduction strengthens rather than weakens: the proof is against someone else's host;
4. a reproduction (``cues.REPRODUCTION``) has a strength r: its form (a "Steps to
   reproduce" heading, a numbered list, a CVSS vector) counts once, by its strongest cue,
   and what it shows (a request sent, a payload, "I was able to...") adds up; r is halved
   where the report says it did not exploit or test anything. It scales
   the confidences (``_shown``): by 1 - r/2, ``no_report`` by 1 - 0.8 x the concrete part,
   scanner output and third parties by 1 - concrete/4, and the policy's exclusions (dos,
   spam, social engineering, physical) not at all when no host in scope is named: a report
   of what the researcher did is proved, not answered, by its steps;
5. a report that names a host in scope with a reproduction of 0.65 or more is what an
   in-scope report looks like: it gets no hint, unless one category is argued in three
   sentences or more (a report template with "Steps to reproduce" around missing headers;
   scanner output too, unless the report says it was checked by hand);
6. scanner output found (0.7 or more) scales the other categories by 0.75, and a scanner
   finding the report says was checked by hand (``cues.MANUALLY_CHECKED``) by 0.4;
7. categories at or over the threshold are hints, highest first, three at most.

Worked example: "The site m.io is missing the X-Frame-Options header, which allows
clickjacking." matches the missing-header cue (0.85), the header-name cue (0.6) and the
clickjacking cue (0.75) of ``best_practice``: 1 - 0.15 * 0.4 * 0.25 = 0.985. Nothing
reproduces anything (r = 0), so the hint is ``best_practice`` at 0.98 (rounded down), quoting
that sentence. Had the mail gone on "Steps to reproduce: 1. ... I was able to change the
victim's e-mail address", r would pass 0.65 with m.io in scope, and there would be no hint.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from disclosure_inbox.domain.triage.anchors import line_starts, present, regions, trigrams
from disclosure_inbox.domain.triage.cues import (
    CUES,
    MANUALLY_CHECKED,
    NOT_REPRODUCED,
    REPRODUCTION,
    Step,
)
from disclosure_inbox.domain.triage.model import Hint, Source

THRESHOLD = 0.5  # the default of [scope] hint_threshold
MOST_HINTS = 3
# Characters of each text the cues read: what a report argues is at its start, and a long
# log or pasted output past this adds cost, not sense (the benchmark measures triage).
READ_CHARS = 6_000
GRAMS_FROM = 1_500  # characters from which a text's trigrams are worth making
QUOTE_LIMIT = 240  # characters of evidence at most: a window of the sentence around the cue
IN_SCOPE_REPRODUCTION = 0.65
OUTSIDE_HOST = 0.7  # the third_party cue of a report whose targets are all outside the scope
# The policy's exclusions: activities, which a reproduction shows were done.
EXCLUSIONS = ("dos", "spam", "social_engineering", "physical")
# Sentences quoted by cues of one category that outweigh a reproduction on a host in scope.
# Not for scanner output (its requests look like a reproduction) nor third parties (a
# library's bug shown on the organisation's host is the organisation's).
ARGUED_CUES = 3
_ARGUED = (*EXCLUSIONS, "best_practice", "theoretical", "outdated_version", "no_report")
# ... and scanner output, unless the report says the finding was checked by hand.
_ARGUED_UNCHECKED = (*_ARGUED, "scanner_unvalidated")

# Hosts a report cites rather than targets: references, advisories, the researcher's own
# collaborator and paste services. They never make a report a third-party one.
REFERENCE_HOSTS: tuple[str, ...] = (
    "nvd.nist.gov",
    "cve.mitre.org",
    "cwe.mitre.org",
    "cve.org",
    "owasp.org",
    "portswigger.net",
    "developer.mozilla.org",
    "mozilla.org",
    "wikipedia.org",
    "github.com",
    "githubusercontent.com",
    "gitlab.com",
    "hackerone.com",
    "bugcrowd.com",
    "intigriti.com",
    "securityheaders.com",
    "ssllabs.com",
    "mxtoolbox.com",
    "first.org",
    "cisa.gov",
    "exploit-db.com",
    "google.com",
    "youtube.com",
    "youtu.be",
    "imgur.com",
    "drive.google.com",
    "pastebin.com",
    "gist.github.com",
    "burpcollaborator.net",
    "oastify.com",
    "interact.sh",
    "webhook.site",
    "ngrok.io",
    "ngrok.app",
    "requestbin.net",
    "linkedin.com",
    "twitter.com",
    "x.com",
    "medium.com",
    "localhost",
    "w3.org",
    "ietf.org",
    "rfc-editor.org",
    "cvedetails.com",
    "snyk.io",
    "attacker.com",
    "evil.com",
)

_SENTENCE_END = re.compile(r"[.!?](?=\s)|[。！？]|\n")
_WORDS = re.compile(r"\w+")
# A negation just before a cue: "this is not hypothetical", "not just a missing header".
_NEGATED = re.compile(
    r"\b(not|no|never|isn't|wasn't|nicht|kein\w*|nunca)\s+(just |only |merely |purely |a |an |"
    r"about |nur |solo |s[oó]lo |un |una )?$",
    re.IGNORECASE,
)
_CLAIM = re.compile(
    r"\b(found|discovered|identified|detected|spotted)\b[^\n.]{0,60}\b(vulnerabilit\w*|bug"
    r"|issue|flaw|loophole|weakness|security (hole|problem))|Schwachstelle|Sicherheitslücke"
    r"|vulnerabilidad|fallo de seguridad|脆弱性|faille",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Found:
    weight: float
    evidence: str
    where: str


def hints(
    sources: Sequence[Source],
    in_scope_hosts: Sequence[str],
    out_of_scope_hosts: Sequence[str],
    *,
    threshold: float = THRESHOLD,
    categories: Sequence[str] | None = None,
    url_hosts: Sequence[str] = (),
) -> tuple[Hint, ...]:
    """The hints of one message, highest confidence first (see the module docstring)."""
    texts = _Texts(sources)
    found: dict[str, list[_Found]] = {}
    for cue in CUES:
        hit = texts.first(cue.pattern, cue.anchors)
        if hit is not None:
            found.setdefault(cue.category, []).append(_Found(cue.weight, *hit))
    targets = [h for h in out_of_scope_hosts if not _reference(h)]
    linked = [h for h in url_hosts if not _reference(h)]
    inside = {h.lower() for h in in_scope_hosts}
    only_outside = bool(linked) and not any(h.lower() in inside for h in linked)
    elsewhere = None
    subject = " ".join(src.text.lower() for src in sources if src.where == "subject")
    named = [h for h in targets if h.lower() in subject]
    if named and not any(h.lower() in subject for h in in_scope_hosts):
        # The subject names the target, and it is outside the scope ("XSS on help.example"):
        # hosts in scope further down are context, not the target.
        in_scope_hosts, targets, only_outside = (), named, True
    if targets and (not in_scope_hosts or only_outside):
        hit = texts.first(re.compile(re.escape(targets[0]), re.IGNORECASE))
        if hit is not None:
            elsewhere = _Found(OUTSIDE_HOST, *hit)
    repro, concrete = texts.reproduction()
    if in_scope_hosts and repro >= IN_SCOPE_REPRODUCTION:
        # What an in-scope report looks like, unless a category is argued at length: a
        # template with "Steps to reproduce" around missing headers is still about headers.
        argued = _ARGUED if texts.first(MANUALLY_CHECKED) else _ARGUED_UNCHECKED
        found = {
            k: v
            for k, v in found.items()
            if k in argued and len({c.evidence for c in v}) >= ARGUED_CUES
        }
        if not found:
            return ()
    claim = _vague_claim(texts, repro, in_scope_hosts)
    if claim is not None:
        found.setdefault("no_report", []).append(claim)
    allowed = set(categories) if categories is not None else None
    manual = texts.first(MANUALLY_CHECKED) is not None
    scanner = (
        "scanner_unvalidated" in found
        and _combine(c.weight for c in found["scanner_unvalidated"]) >= 0.7
    )
    if elsewhere is not None:
        found.setdefault("third_party", [])
    out: list[Hint] = []
    for category, cues in found.items():
        if allowed is not None and category not in allowed:
            continue
        confidence = _combine(c.weight for c in cues) * _shown(
            category, repro, concrete, bool(in_scope_hosts)
        )
        if category == "third_party" and elsewhere is not None:
            # A host outside the scope is the target: a reproduction against it proves the
            # point rather than weakening it.
            cues = [*cues, elsewhere]
            confidence = 1 - (1 - confidence) * (1 - elsewhere.weight)
        if scanner and category not in ("scanner_unvalidated", "no_report"):
            confidence *= 0.75  # what a scanner reports (headers, versions) is its output
        if category == "scanner_unvalidated" and manual:
            confidence *= 0.4  # the policy excludes scan output "not manually validated"
        if confidence >= threshold:
            best = max(cues, key=lambda c: c.weight)
            out.append(Hint(category, _floor(confidence), best.evidence, best.where))
    out.sort(key=lambda h: -h.confidence)
    return tuple(out[:MOST_HINTS])


def _shown(category: str, repro: float, concrete: float, in_scope: bool) -> float:
    """How much of a category's confidence a reproduction leaves (step 3 of the docstring).

    Worked example: a best-practice report with a numbered list (r = 0.3) keeps 85 % of
    its confidence; with a host in scope and a reproduction of r = 0.65 or more, none is left
    (``hints`` returns nothing). A report that says it flooded a host outside the scope keeps
    all of its ``dos`` confidence, whatever it shows.
    """
    if category == "no_report":
        return 1 - 0.8 * concrete if repro < IN_SCOPE_REPRODUCTION else 1 - repro / 2
    if category in ("scanner_unvalidated", "third_party"):
        # Scanner output holds requests and payloads itself; a third party's bug comes with
        # its own proof of concept.
        return 1 - concrete / 4
    if category in EXCLUSIONS and not in_scope:
        return 1.0  # what the researcher did (flooded, phoned, walked in) is the finding
    return 1 - repro / 2


def reproduction(sources: Sequence[Source]) -> tuple[float, float]:
    """How strongly the body shows a reproduction, 0..1 (the subject never does): all the
    cues, and only the concrete ones (steps, requests, payloads, what the researcher saw)."""
    return _Texts(sources).reproduction()


@dataclass(frozen=True, slots=True)
class _Read:
    """One text as the cues read it: lower-cased for the anchors, and its lines' starts."""

    source: Source
    lowered: str
    starts: list[int]
    grams: frozenset[str] | None  # a long text's trigrams (``anchors.trigrams``)

    @classmethod
    def of(cls, source: Source) -> _Read:
        lowered = source.text.lower()
        grams = trigrams(lowered) if len(lowered) > GRAMS_FROM else None
        return cls(source, lowered, line_starts(source.text), grams)

    def regions(self, anchors: tuple[str, ...] | None) -> list[tuple[int, int]]:
        if len(self.lowered) != len(self.source.text):  # lower() changed a length: rare
            found = present(self.lowered, anchors, self.grams)
            return [(0, len(self.source.text))] if found else []
        return regions(self.lowered, anchors, self.starts, self.grams)


class _Texts:
    """The sources in quoting order (the body before the subject, which says less), each
    with its lower-cased copy for the anchors' test (``anchors.py``)."""

    def __init__(self, sources: Sequence[Source]) -> None:
        ordered = sorted(
            (Source(s.where, s.text[:READ_CHARS]) for s in sources),
            key=lambda s: s.where == "subject",
        )
        self.sources = [_Read.of(s) for s in ordered]
        # What the body shows, without the lines it quotes ("> ..."): a follow-up asking
        # for news quotes the report it follows, which reproduces nothing anew.
        self.body = [_Read.of(_unquoted(s)) for s in ordered if s.where != "subject"]

    def first(
        self, pattern: re.Pattern[str], anchors: tuple[str, ...] | None = None
    ) -> tuple[str, str] | None:
        """The first match that is not negated ("not hypothetical", "nicht veraltet"),
        quoted."""
        for read in self.sources:
            source = read.source
            for begin, end in read.regions(anchors):
                for match in pattern.finditer(source.text, begin, end):
                    start = match.start()
                    if not _NEGATED.search(source.text, max(0, start - 16), start):
                        return quote(source.text, start, match.end()), source.where
        return None

    def reproduction(self) -> tuple[float, float]:
        """The reproduction's strength, halved where the report says it did not exploit or
        test anything ("I did not attempt exploitation")."""
        found = [
            step
            for step in REPRODUCTION
            if any(
                step.pattern.search(read.source.text, begin, end)
                for read in self.body
                for begin, end in read.regions(step.anchors)
            )
        ]
        doubt = 0.5 if any(NOT_REPRODUCED.search(r.source.text) for r in self.body) else 1.0
        return doubt * _strength(found), doubt * _strength([s for s in found if s.concrete])

    def words(self) -> tuple[int, int]:
        """Words of the body, and its characters when it has few (Japanese has few breaks)."""
        words = sum(len(_WORDS.findall(r.source.text)) for r in self.body)
        return words, (sum(len(r.source.text) for r in self.body) if words < 10 else 0)


def _unquoted(source: Source) -> Source:
    if ">" not in source.text:
        return source
    kept = [line for line in source.text.split("\n") if not line.lstrip().startswith(">")]
    return Source(source.where, "\n".join(kept))


def _vague_claim(texts: _Texts, repro: float, in_scope: Sequence[str]) -> _Found | None:
    """A short mail that claims a finding and shows nothing (no host, no step): the usual
    opening of a request for money before any detail."""
    words, cjk = texts.words()
    if repro >= 0.3 or in_scope or words > 90 or cjk > 300:
        return None
    hit = texts.first(_CLAIM)
    return _Found(0.45, *hit) if hit is not None else None


def quote(text: str, start: int, end: int) -> str:
    """The sentence (or line) of ``text`` around ``start:end``, verbatim, stripped of the
    surrounding white space; a longer one is cut to a window around the match."""
    while start < end and text[start].isspace():
        start += 1
    newline = text.find("\n", start, end)
    if newline != -1:
        end = newline  # a match across lines (a scanner's layout) is quoted by its first
    begin = 0
    for m in _SENTENCE_END.finditer(text, 0, start):
        begin = m.end()
    after = _SENTENCE_END.search(text, end)
    finish = len(text) if after is None else after.end()
    if after is not None and after.group() == "\n":
        finish = after.start()
    if finish - begin > QUOTE_LIMIT:
        begin = max(begin, start - QUOTE_LIMIT // 3)
        finish = min(finish, begin + QUOTE_LIMIT)
    return text[begin:finish].strip()


def _strength(found: Sequence[Step]) -> float:
    """A reproduction's strength: its form (steps, a list, a vector) counts once, by its
    strongest cue, and what it shows (requests, payloads, results) adds up ("noisy or").
    A template's headings alone stay below the in-scope mark; a heading and "I was able
    to" pass it: 1 - (1 - 0.45)(1 - 0.6) = 0.78."""
    form = max((s.weight for s in found if s.form), default=0.0)
    return 1 - (1 - form) * (1 - _combine(s.weight for s in found if not s.form))


def _combine(weights: object) -> float:
    miss = 1.0
    for w in weights:  # type: ignore[attr-defined]
        miss *= 1 - w
    return 1 - miss


def _floor(value: float) -> float:
    return int(value * 100) / 100


def _reference(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == r or host.endswith("." + r) for r in REFERENCE_HOSTS)
