"""Generated reports for the triage look-up: texts from word lists, with the URLs and CVE ids
they name, the same for the same seed and report number.

A text is a greeting, 40 to 120 words drawn from a security vocabulary, the URLs and CVE ids
it names and a sign-off: unrelated texts share almost no runs of three words, so their
MinHash bands spread over the index as real reports' do. What reports name is skewed, as in
a real programme, where many reports are about the login page or last month's CVE: URLs are
drawn from ``PATHS`` host-and-path pairs on the programme's hosts and CVE ids from ``CVES``,
both with Zipf weights (the k-th most named has weight 1/k). Seven reports in ten name one
to three URLs (one URL in ten is on a host out of scope, which is not indexed); one in four
names a CVE.

Stored report ``i`` is, with probability ``RESEND``, an earlier report sent again with
``CHANGED`` of its words replaced (same URLs and CVEs). One new report in ``NEW_RESENDS`` is
such a resend of a stored report of the last year: the look-up should find its original.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from disclosure_inbox.domain.triage import minhash
from disclosure_inbox.domain.triage.model import Assessment, Indicators


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


VOCAB = _words(
    """
    access account admin administrator api application attacker authentication authorization
    bearer browser bypass cache callback certificate client code cookie credentials cross csrf
    customer data database debug default delete deserialization directory disclosure domain
    download email encoded endpoint error escalation exploit exposed external field file filter
    form header hidden host html id identifier image impact injection input internal invoice
    javascript json key leak link local log login malicious method missing mobile object open
    order origin parameter password path payload permission personal phone plugin policy port
    post privilege profile proof proxy public query read redirect reference reflected remote
    request reset response role script search secret server service session settings shell
    signature site sql ssrf stored string subdomain template tenant token traversal upload url
    user validation value version victim web webhook write xml xss able allows another any
    arbitrary attached because before between both can could does each every first following
    found from get have here how into issue just leads like may more must new not now only
    other our own possible same see seems sent should show since some steps still such take
    than that their then there these this through time under until using when where which
    while with without would your
    """
)
GREETINGS = ("Hello,", "Hi team,", "Dear Mio security team,", "Good morning,", "Hi there,")
SIGN_OFFS = ("Regards", "Best regards", "Thanks", "Cheers", "Kind regards")
HOSTS = ("m.io", "www.m.io", "app.m.io", "api.m.io", "auth.m.io", "shop.m.io", "status.m.io")
OUTSIDE = ("cdn.example.net", "webhook.site", "attacker.example")
SEGMENTS = _words(
    "api v1 v2 users invoices orders login reset search profile avatar upload export admin "
    "settings graphql oauth callback billing files reports share preview download webhooks"
)
PATHS = 600
CVES = 400
RESEND = 0.03
CHANGED = 0.10
NEW_RESENDS = 10  # one new report in this many resends a stored one
SPAN = timedelta(days=730)  # stored reports were received over the last two years


@dataclass(frozen=True)
class Draft:
    text: str
    urls: tuple[str, ...]
    cves: tuple[str, ...]


@dataclass(frozen=True)
class Arrival:
    """A new report, and the stored report it sends again, if any."""

    draft: Draft
    resends: int | None


def _zipf(n: int) -> list[float]:
    return list(itertools.accumulate(1 / k for k in range(1, n + 1)))


class Corpus:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        rng = random.Random(f"{seed}:pools")
        paths: dict[str, None] = {}
        while len(paths) < PATHS:
            segments = rng.sample(SEGMENTS, rng.randint(1, 3))
            paths[f"https://{rng.choice(HOSTS)}/{'/'.join(segments)}"] = None
        self.paths = list(paths)
        cves: dict[str, None] = {}
        while len(cves) < CVES:
            cves[f"CVE-{rng.randint(2018, 2026)}-{rng.randint(1000, 49999)}"] = None
        self.cves = list(cves)
        self._path_weights = _zipf(len(self.paths))
        self._cve_weights = _zipf(len(self.cves))

    def stored(self, i: int) -> Draft:
        """Stored report number ``i`` (from 1)."""
        rng = random.Random(f"{self.seed}:stored:{i}")
        if i > 1 and rng.random() < RESEND:
            return _resent(self.stored(rng.randint(1, i - 1)), rng)
        return self._fresh(rng)

    def new(self, k: int, stored: int) -> Arrival:
        """New report number ``k`` (from 0) to a store of ``stored`` reports received evenly
        over ``SPAN``: a resend's original is in the newer half, within the year."""
        rng = random.Random(f"{self.seed}:new:{k}")
        if k % NEW_RESENDS == NEW_RESENDS - 1:
            original = min(stored, int(stored * (0.55 + 0.45 * rng.random())) + 1)
            return Arrival(_resent(self.stored(original), rng), original)
        return Arrival(self._fresh(rng), None)

    def _fresh(self, rng: random.Random) -> Draft:
        count = rng.choices((0, 1, 2, 3), (3, 4, 2, 1))[0]
        urls = rng.choices(self.paths, cum_weights=self._path_weights, k=count)
        urls = [
            u.replace(urlsplit(u).netloc, rng.choice(OUTSIDE)) if rng.random() < 0.1 else u
            for u in urls
        ]
        cves = rng.choices(self.cves, cum_weights=self._cve_weights, k=_cve_count(rng))
        words = rng.choices(VOCAB, k=rng.randint(40, 120))
        for named in (*urls, *cves):
            words.insert(rng.randrange(len(words) + 1), named)
        text = f"{rng.choice(GREETINGS)}\n\n{' '.join(words)}\n\n{rng.choice(SIGN_OFFS)}\n"
        return Draft(text, tuple(dict.fromkeys(urls)), tuple(dict.fromkeys(cves)))


def _cve_count(rng: random.Random) -> int:
    return bisect.bisect((0.75, 0.95), rng.random())  # 0: 75%, 1: 20%, 2: 5%


def _resent(original: Draft, rng: random.Random) -> Draft:
    words = original.text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(len(words) * CHANGED))):
        if words[i] not in original.urls and words[i] not in original.cves:
            words[i] = rng.choice(VOCAB)
    return Draft(" ".join(words), original.urls, original.cves)


def assessment(draft: Draft) -> Assessment:
    """What the parse step's assessment says of a draft, as far as the index reads it."""
    hosts = tuple(dict.fromkeys((urlsplit(u).hostname or "") for u in draft.urls))
    return Assessment(
        indicators=Indicators(urls=draft.urls, hosts=hosts, cves=draft.cves),
        in_scope_hosts=tuple(h for h in hosts if h in HOSTS),
        out_of_scope_hosts=tuple(h for h in hosts if h not in HOSTS),
        signature=minhash.signature(draft.text),
    )


def received(i: int, stored: int, now: datetime) -> datetime:
    """When stored report ``i`` of ``stored`` arrived: evenly over ``SPAN`` before ``now``."""
    return now - SPAN * (stored - i + 1) / stored
