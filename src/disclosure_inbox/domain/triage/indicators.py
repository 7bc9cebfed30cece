"""What a report names: links, hosts, IP and e-mail addresses, CVE and CWE ids, CVSS vectors
and HTTP request lines; and which of the hosts the policy's scope covers.

Worked example. A report reads::

    IDOR on hxxps://api.m[.]io/v2/users?id=2 (see CVE-2023-1234, CWE-639)
    CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N
    > GET /v2/users?id=2 HTTP/1.1
    > Host: api.m.io
    The PoC (poc.py) ran from 203.0.113.7 against www.example.pl, on nginx version 1.25.3.4;
    reply to alice@reporter.example.

``extract`` finds:

    urls      https://api.m.io/v2/users?id=2  (re-fanged: "hxxps" and "[.]" undone)
    hosts     api.m.io, www.example.pl
    ips       203.0.113.7                     (1.25.3.4 follows "version": not an address)
    emails    alice@reporter.example          (its domain is not a host: it is the reporter's)
    cves      CVE-2023-1234        cwes  CWE-639
    cvss      CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N, base score 6.5
    requests  GET /v2/users?id=2 HTTP/1.1

With the scope ``("m.io", "*.m.io")``, ``scope.split_scope`` gives ``(("api.m.io",),
("www.example.pl", "203.0.113.7"))``.

A host comes from a URL (``http``, ``https``, ``ftp``, also a URL nested in another's query,
as in ``?next=https://evil.example/``), from a ``Host:`` header line, or from a bare name in
the text. Code and file names look like bare names, so a bare name counts only when:

- its last label is a top-level domain in ``_TLDS`` (every country code and the common
  generic ones): "1.2.3", "e.g." and "config.json" are not hosts;
- it does not start with a word code uses for an object or a package (``_CODE_ROOTS``):
  "self.app", "com.example.app" and "org.apache.commons.io" are not hosts;
- its last label is not one of ``_AMBIGUOUS``, country codes that far more often end a file
  name or a member ("poc.py", "main.rs", "MANIFEST.in", "user.id", "login.do"), unless the
  name starts with "www." or the label before is a registry's ("example.co.id").

Values are kept live (re-fanged), so they compare with scope entries and stored reports:
pass what staff read through ``sanitize.defang``. Each list keeps at most ``MAX_ITEMS`` entries
in order of first appearance, and a scan stops after ``MAX_CANDIDATES`` candidates, so a
hostile message costs bounded time and memory. Every pattern starts only at the start of a
token and uses possessive or bounded repeats, so each runs in linear time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import islice
from urllib.parse import unquote

from cvss import CVSS2, CVSS3, CVSS4, CVSSError

from disclosure_inbox.domain.triage.model import Cvss, Indicators, Source


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MAX_ITEMS = 50  # per list
MAX_CANDIDATES = 20_000  # matches examined per ``extract`` call, over all sources
_MAX_URL_CHARS = 2048  # a longer URL still gives its host, but is not listed
_MAX_NESTED_URLS = 5  # hosts of URLs nested in one URL's path or query

# Every two-letter country-code TLD delegated in the root zone (IANA), and the generic TLDs
# reports name most often. A bare name with another last label is not taken for a host.
_TLDS = _words(
    """
    ac ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bm bn bo bq
    br bs bt bw by bz ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do
    dz ec ee eg er es et eu fi fj fk fm fo fr ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt
    gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ke kg kh ki km kn kp
    kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mg mh mk ml mm mn mo mp mq mr ms
    mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr
    ps pt pw py qa re ro rs ru rw sa sb sc sd se sg sh si sk sl sm sn so sr ss st su sv sx sy
    sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug uk us uy uz va vc ve vg vi vn vu
    wf ws ye yt za zm zw
    com net org edu gov mil int arpa info biz pro mobi asia app dev cloud xyz online tech top
    """
)
# Country codes that end file names (.py Python, .rs Rust, .md Markdown, .pl and .pm Perl,
# .sh shell, .so libraries, .ps PostScript, .tf Terraform, .mk and .am make, .in templates,
# ...) or common member names and Java Struts actions (.id, .at, .do, .as).
_AMBIGUOUS = _words("ac am as at cc do gs id in md mk ml mm mo pl pm ps py rs sc sh so st sv tf")
# Second-level labels registries use under a country code: "example.co.id", "uni.ac.at".
_REGISTRY_LABELS = _words("ac co com edu go gov gv ne net or org")
# First labels of member accesses and Java or Kotlin package names.
_CODE_ROOTS = _words(
    """
    this self cls window document navigator location console math json object array string
    req res request response os sys process android java javax kotlin com org net
    """
)

# The forms people use to defang links and addresses ("hxxps://a[.]b", "x[at]y(dot)z"),
# undone before anything is matched: first the marks in brackets, then the scheme, which
# changes only where "://" follows, so the word "hxxp" in prose stays. Each pattern starts
# with a character set, so the engine skips to candidates without trying every position.
_DEFANGED_MARK = re.compile(
    r"[\[({](?:(?P<dot>\.|(?i:dot))|(?P<at>@|(?i:at))|(?P<sep>://|:(?=[\])}]//)))[\])}]"
)
_DEFANGED_SCHEME = re.compile(
    r"[hHfF](?<![A-Za-z].)(?:(?<=[hH])[xX]{2}[pP][sS]?|(?<=[fF])[xX][pP])(?=://)"
)

_NAME = r"[\w-]{1,63}+(?:\.[\w-]{1,63}+){1,126}+"  # two or more dotted labels
_METRIC = r"[A-Za-z]{1,4}+:[A-Za-z0-9]{1,6}+"  # one CVSS metric, e.g. "AV:N" or "U:Clear"
# One pass over a text. Nothing starts inside a word, and all but a Host header start with
# a word character or ":", which is checked once for all alternatives; each alternative then
# looks at the first character before anything else. The first alternative that matches at
# a position wins, so a URL or an e-mail address is consumed whole and its host is not seen
# again as a bare name.
_TOKEN = re.compile(
    r"(?<!\w)(?=[\w:])(?:"
    r"(?=[hHfF])(?<![+.-])(?P<url>(?i:https?|ftp)://[^\s<>\"'`\x00-\x1f\x7f]++)"
    r"|(?=[cC])(?<!/)"
    rf"(?P<cvss>(?i:cvss):(?:2\.0|3\.[01]|4\.0)/{_METRIC}(?:/{_METRIC}){{0,63}}+)(?![\w:])"
    rf"|(?<![/:])(?P<bare_cvss>AV:[A-Z]/{_METRIC}(?:/{_METRIC}){{0,63}}+)(?![\w:])"
    r"|(?=[cC])(?<!-)(?P<cve>(?i:cve)-\d{4}-\d{4,19}+)(?!\w)"
    r"|(?=[cC])(?<!-)(?P<cwe>(?i:cwe)-\d{1,6}+)(?!\w)"
    r"|(?=[\dA-Fa-f:])(?<![:.])"
    r"(?P<ipv6>(?:[0-9A-Fa-f]{0,4}+:){2,7}+[0-9A-Fa-f.]{0,15}+)(?![\w:])"
    # Not a version: "version 1.2.3.4", "Version: 1.2.3.4", "v 1.2.3.4" (and "v1.2.3.4" is
    # inside a word).
    r"|(?=\d)(?<!\.)(?<!(?i:version)[ :])(?<!(?i:version): )(?<!\b[vV] )"
    r"(?P<ipv4>\d{1,3}+(?:\.\d{1,3}+){3})(?!\w|\.\w)"
    # A dotted name or an e-mail address, told apart by the "@": one scan of each word.
    r"|(?<![.+%@-])(?P<name>[\w+%-]{1,64}+(?:(?:\.[\w+%-]{1,63}+){1,126}+(?:@"
    rf"{_NAME})?|@{_NAME}))(?![\w@-]|\.[\w-])"
    r")"
    r"|(?m:^)[ \t>]*+(?i:host):[ \t]*+(?P<host_header>[\w.:\[\]-]{1,260}+)"
    r"(?m:(?=[ \t]*+\r?$))"
)
# A request line as sent, as curl -v prints it ("> GET / HTTP/2") or as an access log
# quotes it ('"GET /x HTTP/1.1" 200'). Methods in upper case only, so prose does not match.
_REQUEST = re.compile(
    r"(?:GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|TRACE|CONNECT)"
    r" [^\s\"`<>]{1,8192}+ HTTP/(?:0\.9|1\.[01]|2(?:\.0)?|3(?:\.0)?)(?![\w.])"
)
# What may come before a request line's method; checked after a match, since a pattern that
# starts with the methods lets the engine skip straight to their first letters.
_REQUEST_AFTER = frozenset(' \t\r\n"`>')
_SCHEME_ANYWHERE = re.compile(r"(?i)(?:https?|ftp)://")
_AUTHORITY_END = re.compile(r"[/?#\\]")
_URL_TRAILING = ".,;:!?*"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
# Dot-separated labels of at most 63 letters, digits, "-" and "_", neither first nor last a
# hyphen. A URL's host may hold "_" ("_dmarc.m.io"); a bare name may not.
_LABELS = re.compile(r"(?:\w(?:[\w-]{0,61}\w)?\.)*+\w(?:[\w-]{0,61}\w)?")


@dataclass(slots=True)
class _Found:
    """The lists being filled, each a dict for ordered de-duplication."""

    lists: dict[str, dict[str, None]] = field(default_factory=dict)
    scores: dict[str, Cvss] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # the matches read so far
    candidates: int = 0

    def add(self, kind: str, value: str) -> None:
        items = self.lists.setdefault(kind, {})
        if len(items) < MAX_ITEMS:
            items.setdefault(value, None)

    def full(self, kind: str) -> bool:
        if kind == "cvss":
            return len(self.scores) >= MAX_ITEMS
        return len(self.lists.get(kind, ())) >= MAX_ITEMS

    def result(self, kind: str) -> tuple[str, ...]:
        return tuple(self.lists.get(kind, ()))


def _refang(text: str) -> str:
    def mark(match: re.Match[str]) -> str:
        return match.group("sep") or ("." if match.group("dot") else "@")

    def scheme(match: re.Match[str]) -> str:
        written = match.group().lower()
        return "http" + written[4:] if written.startswith("h") else "ftp"

    return _DEFANGED_SCHEME.sub(scheme, _DEFANGED_MARK.sub(mark, text))


def ip_of(text: str) -> str | None:
    """The address in canonical form, or None when ``text`` is not one."""
    if not (text[:1].isdigit() or ":" in text):
        return None  # most candidates are names: skip the exception
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _valid_labels(name: str, *, underscore: bool) -> bool:
    return (
        len(name) <= 253 and (underscore or "_" not in name) and _LABELS.fullmatch(name) is not None
    )


def _bare_host(name: str) -> bool:
    """Whether a bare dotted name in prose is a host (the rules in the module docstring)."""
    labels = name.split(".")
    last, first = labels[-1], labels[0]
    if last not in _TLDS or first in _CODE_ROOTS:
        return False
    if last in _AMBIGUOUS and first != "www" and labels[-2] not in _REGISTRY_LABELS:
        return False
    return _valid_labels(name, underscore=False)


def host_of(text: str) -> str:
    """A host as compared: lower case, no trailing dot, no brackets around an IPv6 address."""
    host = text.strip().lower().rstrip(".")
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _add_host(found: _Found, text: str) -> bool:
    """A host named by a URL or a Host header: any valid name counts, "localhost" too.
    False when ``text`` is neither an address nor a valid name."""
    host = host_of(text)
    ip = ip_of(host)
    if ip is not None:
        found.add("ips", ip)
    elif host and _valid_labels(host, underscore=True):
        found.add("hosts", host)
    else:
        return False
    return True


def _split_authority(rest: str) -> tuple[str, str]:
    """What follows a URL's "://" as its host (no userinfo, no port) and the path, query
    and fragment after the authority."""
    end = _AUTHORITY_END.search(rest)
    authority, path = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):
        return authority.partition("]")[0] + "]", path
    return authority.partition(":")[0], path


def _trim_url(url: str) -> str:
    """``url`` without the punctuation of the sentence or markup around it: "(see
    https://a.io/x)." ends at "x", while "https://a.io/f(1)" keeps its bracket."""
    while url:
        last = url[-1]
        if last in _URL_TRAILING or (
            last in _CLOSERS and url.count(_CLOSERS[last]) < url.count(last)
        ):
            url = url[:-1]
        else:
            break
    return url


def _on_url(found: _Found, match: re.Match[str]) -> None:
    url = _trim_url(match.group())
    host, path = _split_authority(url.partition("://")[2])
    if not _add_host(found, host):
        return
    if len(url) <= _MAX_URL_CHARS:
        found.add("urls", url)
    # An open redirect or an SSRF names its target inside the URL, often percent-encoded.
    path = unquote(path)
    for nested in islice(_SCHEME_ANYWHERE.finditer(path), _MAX_NESTED_URLS):
        _add_host(found, _split_authority(path[nested.end() :])[0])


def _on_email(found: _Found, address: str) -> None:
    local, _, domain = address.rpartition("@")
    tld = domain.rsplit(".", 1)[-1]
    if (
        len(local) <= 64
        and not local.startswith(".")
        and not local.endswith(".")
        and ".." not in local
        and tld.isalpha()
        and len(tld) >= 2
        and _valid_labels(domain, underscore=False)
    ):
        found.add("emails", address)


def _score(vector: str) -> Cvss | None:
    """The vector scored by the ``cvss`` package, or None when it is not a valid vector.

    A bare vector with ``Au`` is CVSS v2 (which has no prefix); any other bare vector has
    v3 metrics and is read as 3.1, the version such reports nearly always mean.
    """
    head, _, body = vector.partition("/")
    version = head.upper()
    try:
        if version == "CVSS:4.0":
            parsed: CVSS2 | CVSS3 | CVSS4 = CVSS4("CVSS:4.0/" + body)
        elif version in ("CVSS:3.0", "CVSS:3.1"):
            parsed = CVSS3(f"{version}/{body}")
        elif version == "CVSS:2.0":
            parsed = CVSS2(body)
        elif "/Au:" in vector:
            parsed = CVSS2(vector)
        else:
            parsed = CVSS3("CVSS:3.1/" + vector)
        return Cvss(vector=parsed.clean_vector(), score=float(parsed.base_score))
    except (CVSSError, ValueError, LookupError, ArithmeticError):
        # CVSSError is what the package raises for a vector it rejects; the others guard
        # against a corner of its parser that a hostile vector might still reach.
        return None


def _on_cvss(found: _Found, match: re.Match[str]) -> None:
    scored = _score(match.group())
    if scored is not None and len(found.scores) < MAX_ITEMS:
        found.scores.setdefault(scored.vector, scored)


def _on_cve(found: _Found, match: re.Match[str]) -> None:
    cve = match.group().upper()
    if int(cve[4:8]) >= 1999:  # the first CVE ids date from 1999
        found.add("cves", cve)


def _on_cwe(found: _Found, match: re.Match[str]) -> None:
    found.add("cwes", f"CWE-{int(match.group()[4:])}")


def _on_ip(found: _Found, match: re.Match[str]) -> None:
    candidate = match.group().rstrip(".")
    groups = [group for group in candidate.split(":") if group]
    # "::" alone, or a slice such as "[::2]", is not an address a report names.
    if ":" in candidate and len(groups) < 2 and candidate != "::1":
        return
    ip = ip_of(candidate)
    if ip is not None:
        found.add("ips", ip)


def _on_host_header(found: _Found, match: re.Match[str]) -> None:
    _add_host(found, _split_authority(match.group("host_header"))[0])


def _on_name(found: _Found, match: re.Match[str]) -> None:
    name = match.group().lower()
    if "@" in name:
        _on_email(found, name)
    elif _bare_host(name):
        found.add("hosts", name)


# Which list each alternative of ``_TOKEN`` fills (None: it depends), and the function that
# reads the match.
_HANDLERS: dict[str, tuple[str | None, Callable[[_Found, re.Match[str]], None]]] = {
    "url": ("urls", _on_url),
    "cvss": ("cvss", _on_cvss),
    "bare_cvss": ("cvss", _on_cvss),
    "cve": ("cves", _on_cve),
    "cwe": ("cwes", _on_cwe),
    "ipv6": ("ips", _on_ip),
    "ipv4": ("ips", _on_ip),
    "host_header": ("hosts", _on_host_header),
    "name": (None, _on_name),  # a host or an e-mail address
}


def extract(sources: Sequence[Source]) -> Indicators:
    """Everything the texts name, each list de-duplicated in order of first appearance
    (subject first, then the body, then attachments, as ``sources`` lists them)."""
    found = _Found()
    for source in sources:
        text = _refang(source.text)
        for match in _TOKEN.finditer(text):
            found.candidates += 1
            if found.candidates > MAX_CANDIDATES:
                break
            # Every rule reads the match alone, so a repeat is judged once.
            value = match.group()
            if value in found.seen:
                continue
            found.seen.add(value)
            kind, handle = _HANDLERS[str(match.lastgroup)]
            # A URL also fills hosts and ips, so it is read while any of them has room.
            if kind is None or kind == "urls" or not found.full(kind):
                handle(found, match)
        if " HTTP/" not in text:
            continue
        for match in _REQUEST.finditer(text):
            found.candidates += 1
            if found.candidates > MAX_CANDIDATES:
                break
            if match.start() == 0 or text[match.start() - 1] in _REQUEST_AFTER:
                found.add("requests", match.group())
    return Indicators(
        urls=found.result("urls"),
        hosts=found.result("hosts"),
        ips=found.result("ips"),
        emails=found.result("emails"),
        cves=found.result("cves"),
        cwes=found.result("cwes"),
        cvss=tuple(found.scores.values()),
        requests=found.result("requests"),
    )
