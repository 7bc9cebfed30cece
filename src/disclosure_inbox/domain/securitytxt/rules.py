"""Is this security.txt right? A lint for RFC 9116 files.

One small function per rule and one table, ``RULES``, that orders them. Unlike the loop
rules, every rule runs: a rule yields ``(where, message)`` for each thing it finds, where
``where`` is a field name, ``line N`` or ``file``, and ``lint`` turns each into a
``Finding`` with the rule's name and level. The table runs from the file as a whole (its
encoding, its line ends, its signature) to the lines, the required fields and then each
field.

An error breaks a MUST of the RFC (or, for Contact, this inbox's own rule that the file
names the mailbox it reads); a warning is a SHOULD or a RECOMMENDED. One warning counts as a
problem all the same (``Rule.problem``): an Expires less than 30 days away, so that a file
is renewed before readers must stop trusting it, not after.

The caller looks up what the text cannot say: ``now``, the mailbox, the signature as the
organisation's key verifier saw it (None when there is none), and the Content-Type the file
was served with (None for a local file). So ``Contact: mailto:soc@m.io`` alone, checked for
soc@m.io, gives one finding: the error ``expires-required``, at ``Expires``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from disclosure_inbox.domain.openpgp import Signature
from disclosure_inbox.domain.securitytxt.document import Document, parse
from disclosure_inbox.domain.securitytxt.fields import (
    contact_problem,
    language_problem,
    mailto_addresses,
    parse_expires,
    uri_problem,
)

SOON = timedelta(days=30)
YEAR = timedelta(days=365)
# RFC 9116 section 5.4: readers may refuse files or fields larger than these.
MAX_BYTES, MAX_LINES, MAX_LINE_CHARS = 32 * 1024, 1000, 2048
# The fields that hold one URI each, besides Contact; Canonical must be https: (the
# locations of the file itself), the others only when they are web URIs.
LINK_FIELDS = ("Encryption", "Policy", "Canonical", "Acknowledgments", "Hiring")
_QUOTE_CHARS = 80


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Context:
    document: Document
    mailbox: str  # bare address, lower-cased
    now: datetime
    signature: Signature | None = None
    content_type: str | None = None
    size: int = 0  # in bytes
    not_utf8: str | None = None  # where decoding failed
    bom: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # stable, kebab-case: shown in JSON output
    level: Level
    check: Callable[[Context], Iterable[tuple[str, str]]]
    problem: bool = False  # a warning that still fails the check (see the module docstring)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    level: Level
    where: str  # a field name, "line N" or "file"
    message: str
    problem: bool  # an error, or a warning that fails the check


def _quote(value: str) -> str:
    """A value from the file, as a finding shows it: short, with controls escaped."""
    short = value if len(value) <= _QUOTE_CHARS else value[: _QUOTE_CHARS - 1] + "…"
    return repr(short)


def _in(delta: timedelta) -> str:
    days = abs(delta).days
    return "less than a day" if days == 0 else f"{days} day{'s' if days != 1 else ''}"


def _expires(ctx: Context) -> tuple[str, datetime] | None:
    """The first Expires that is a date-time, as written and parsed."""
    for field in ctx.document.named("Expires"):
        moment = parse_expires(field.value)
        if moment is not None:
            return field.value, moment
    return None


# --- the rules ----------------------------------------------------------------------------


def utf_8(ctx: Context) -> Iterator[tuple[str, str]]:
    if ctx.not_utf8 is not None:
        yield "file", f"is not UTF-8 (at {ctx.not_utf8})"


def byte_order_mark(ctx: Context) -> Iterator[tuple[str, str]]:
    if ctx.bom:
        yield "file", "starts with a byte order mark, which readers may take for part of a name"


def content_type(ctx: Context) -> Iterator[tuple[str, str]]:
    if ctx.content_type is None:
        return
    media, *params = (p.strip().lower() for p in ctx.content_type.split(";"))
    charset = next((p.partition("=")[2].strip('"') for p in params if p.startswith("charset")), "")
    if media != "text/plain" or charset != "utf-8":
        yield "file", f"served as {_quote(ctx.content_type)}, not text/plain; charset=utf-8"


def line_separator(ctx: Context) -> Iterator[tuple[str, str]]:
    for line in ctx.document.lines:
        if "\r" in line.text:
            yield f"line {line.number}", "holds a carriage return that ends no line (CRLF or LF)"


def final_line_end(ctx: Context) -> Iterator[tuple[str, str]]:
    lines = ctx.document.lines
    if lines and not lines[-1].ended:
        yield f"line {lines[-1].number}", "the last line has no line end (CRLF or LF)"


def size(ctx: Context) -> Iterator[tuple[str, str]]:
    if ctx.size > MAX_BYTES:
        yield "file", f"is {ctx.size} bytes; readers may refuse more than {MAX_BYTES}"
    if len(ctx.document.lines) > MAX_LINES:
        yield "file", f"has {len(ctx.document.lines)} lines; readers may refuse over {MAX_LINES}"
    for line in ctx.document.lines:
        if len(line.text) > MAX_LINE_CHARS:
            yield f"line {line.number}", f"is longer than {MAX_LINE_CHARS} characters"


def clearsign_frame(ctx: Context) -> Iterator[tuple[str, str]]:
    for problem in ctx.document.frame_problems:
        yield "file", f"clearsigned, but {problem}"
    for line in ctx.document.outside:
        yield f"line {line.number}", "is outside the signed message: unsigned, and not read"


def signature(ctx: Context) -> Iterator[tuple[str, str]]:
    if not ctx.document.signed or ctx.signature is None:
        return
    if ctx.signature.status == "invalid":
        yield "file", "signature does not verify: the file changed after signing, or is damaged"
    elif ctx.signature.status == "unknown-key":
        by = ctx.signature.fingerprint or "a key without a fingerprint"
        yield "file", f"signature is by {by}, not by the organisation's key"


def signature_unchecked(ctx: Context) -> Iterator[tuple[str, str]]:
    if ctx.document.signed and ctx.signature is None:
        yield "file", "signature not checked: no [openpgp] configured"


def line_syntax(ctx: Context) -> Iterator[tuple[str, str]]:
    for line in ctx.document.stray:
        shown = _quote(line.text)
        yield f"line {line.number}", f"is not a field (Name: value), a comment or blank: {shown}"
    for line in ctx.document.body:
        if any((c < " " and c not in "\t\r") or c == "\x7f" for c in line.text):
            yield f"line {line.number}", "holds a control character"
    for field in ctx.document.fields:
        if not field.value:
            yield field.name, f"line {field.line}: has no value"


def space_after_colon(ctx: Context) -> Iterator[tuple[str, str]]:
    for field in ctx.document.fields:
        if field.value and not field.spaced:
            yield field.name, f"line {field.line}: no space after the colon"


def contact_required(ctx: Context) -> Iterator[tuple[str, str]]:
    if not ctx.document.named("Contact"):
        yield "Contact", "is missing: a security.txt must name at least one"


def contact_uri(ctx: Context) -> Iterator[tuple[str, str]]:
    for field in ctx.document.named("Contact"):
        problem = contact_problem(field.value) if field.value else None
        if problem is not None:
            yield "Contact", f"line {field.line}: {_quote(field.value)} {problem}"


def contact_mailbox(ctx: Context) -> Iterator[tuple[str, str]]:
    contacts = ctx.document.named("Contact")
    if contacts and not any(ctx.mailbox in mailto_addresses(f.value) for f in contacts):
        yield "Contact", f"none is mailto:{ctx.mailbox}, the mailbox this inbox reads"


def expires_required(ctx: Context) -> Iterator[tuple[str, str]]:
    if not ctx.document.named("Expires"):
        yield "Expires", "is missing: a security.txt must say when it goes stale"


def expires_once(ctx: Context) -> Iterator[tuple[str, str]]:
    fields = ctx.document.named("Expires")
    if len(fields) > 1:
        lines = ", ".join(str(f.line) for f in fields)
        yield "Expires", f"appears {len(fields)} times (lines {lines}); once only"


def expires_format(ctx: Context) -> Iterator[tuple[str, str]]:
    for field in ctx.document.named("Expires"):
        if field.value and parse_expires(field.value) is None:
            yield (
                "Expires",
                (
                    f"line {field.line}: {_quote(field.value)} is not an RFC 3339 date-time "
                    "such as 2027-04-30T00:00:00Z"
                ),
            )


def expires_past(ctx: Context) -> Iterator[tuple[str, str]]:
    found = _expires(ctx)
    if found is not None and found[1] <= ctx.now:
        ago = _in(ctx.now - found[1])
        yield "Expires", f"{found[0]} has passed ({ago} ago): readers treat the file as stale"


def expires_soon(ctx: Context) -> Iterator[tuple[str, str]]:
    found = _expires(ctx)
    if found is not None and ctx.now < found[1] <= ctx.now + SOON:
        yield "Expires", f"{found[0]} is in {_in(found[1] - ctx.now)}, within 30 days: renew it"


def expires_far(ctx: Context) -> Iterator[tuple[str, str]]:
    found = _expires(ctx)
    if found is not None and found[1] > ctx.now + YEAR:
        yield (
            "Expires",
            f"{found[0]} is more than a year away; less is recommended, against staleness",
        )


def languages_once(ctx: Context) -> Iterator[tuple[str, str]]:
    fields = ctx.document.named("Preferred-Languages")
    if len(fields) > 1:
        lines = ", ".join(str(f.line) for f in fields)
        yield "Preferred-Languages", f"appears {len(fields)} times (lines {lines}); once only"


def language_tags(ctx: Context) -> Iterator[tuple[str, str]]:
    for field in ctx.document.named("Preferred-Languages"):
        if not field.value:
            continue  # line_syntax reports an empty value
        for tag in (t.strip() for t in field.value.split(",")):
            problem = language_problem(tag) if tag else "an empty language tag"
            if problem is not None:
                yield "Preferred-Languages", f"line {field.line}: {problem}"


def link_uris(ctx: Context) -> Iterator[tuple[str, str]]:
    for name in LINK_FIELDS:
        for field in ctx.document.named(name):
            problem = uri_problem(field.value, https_only=name == "Canonical")
            if field.value and problem is not None:
                yield name, f"line {field.line}: {_quote(field.value)} {problem}"


def canonical_when_signed(ctx: Context) -> Iterator[tuple[str, str]]:
    if ctx.document.signed and not ctx.document.named("Canonical"):
        yield "Canonical", "is missing: a signed file should name where it is served"


# --- the table ----------------------------------------------------------------------------

E, W = Level.ERROR, Level.WARNING

RULES: tuple[Rule, ...] = (
    # RFC 9116 section 4: the file MUST be UTF-8 (in Net-Unicode form, RFC 5198).
    Rule("utf-8", E, utf_8),
    # Section 4 (RFC 5198 Net-Unicode): a leading U+FEFF is no text, and a reader that keeps
    # it reads the first field's name with it.
    Rule("byte-order-mark", W, byte_order_mark),
    # Section 3: served over HTTPS, the file MUST be Content-Type text/plain, charset utf-8.
    Rule("content-type", E, content_type),
    # Section 2.2: every line MUST end with CRLF or LF; a lone CR is neither.
    Rule("line-separator", E, line_separator),
    # Section 2.2 again, for the last line: harmless to most readers, so a warning.
    Rule("final-line-end", W, final_line_end),
    # Section 5.4: readers may refuse files over 32 KB, over 1,000 lines, or fields over
    # 2,048 characters.
    Rule("size", W, size),
    # Section 2.3 and RFC 4880 section 7: a cleartext signature's frame (Hash: header,
    # dash-escaping, BEGIN/END PGP SIGNATURE), and nothing outside it.
    Rule("clearsign-frame", E, clearsign_frame),
    # Section 2.3: a signature that does not verify with the organisation's key.
    Rule("signature", E, signature),
    # Section 2.3: signed, but no verifier to check it with: said, not failed.
    Rule("signature-unchecked", W, signature_unchecked),
    # Sections 2 and 4: each line is a field ("Name: value", a name and a value), a comment
    # (section 2.1) or blank; no controls. Unknown field names are allowed (section 2.4).
    Rule("line-syntax", E, line_syntax),
    # Section 4: the grammar puts one space after the colon (fs SP); readers are lenient.
    Rule("space-after-colon", W, space_after_colon),
    # Section 2.5.3: Contact MUST always be present.
    Rule("contact-required", E, contact_required),
    # Section 2.5.3: a URI (RFC 3986): mailto: (RFC 6068), tel: (RFC 3966) or https://.
    Rule("contact-uri", E, contact_uri),
    # This inbox's own rule: the file sends reports to the mailbox it reads.
    Rule("contact-mailbox", E, contact_mailbox),
    # Section 2.5.5: Expires MUST always be present, and MUST NOT appear more than once.
    Rule("expires-required", E, expires_required),
    Rule("expires-once", E, expires_once),
    # Section 2.5.5: the value is an RFC 3339 (section 5.6) date-time.
    Rule("expires-format", E, expires_format),
    # Sections 2.5.5 and 5.3: after Expires the file is stale and should not be used.
    Rule("expires-past", E, expires_past),
    # Not the RFC's but ours: a file within 30 days of its Expires is renewed now, while
    # readers still trust the one being served; it fails the check like an error.
    Rule("expires-soon", W, expires_soon, problem=True),
    # Section 2.5.5: RECOMMENDED less than a year into the future, to avoid staleness.
    Rule("expires-far", W, expires_far),
    # Section 2.5.8: Preferred-Languages MUST NOT appear more than once.
    Rule("languages-once", E, languages_once),
    # Section 2.5.8: comma-separated RFC 5646 language tags, at least one.
    Rule("language-tags", E, language_tags),
    # Sections 2.5.1, 2.5.2, 2.5.4, 2.5.6, 2.5.7: one URI a field; a web URI MUST begin
    # with "https://"; Canonical names where the file is served, so https:// only.
    Rule("link-uris", E, link_uris),
    # Section 2.3: a signed file SHOULD carry Canonical, so the signature covers its place.
    Rule("canonical-when-signed", W, canonical_when_signed),
)


def lint(
    data: str | bytes,
    *,
    mailbox: str,
    now: datetime,
    signature: Signature | None = None,
    content_type: str | None = None,
    rules: tuple[Rule, ...] = RULES,
) -> list[Finding]:
    """Every finding of every rule, in the order of ``rules``."""
    not_utf8 = None
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            not_utf8 = f"byte {exc.start}"
            text = data.decode("utf-8", errors="replace")
    else:
        text = data
    ctx = Context(
        document=parse(text.removeprefix("\ufeff")),
        mailbox=mailbox.strip().lower(),
        now=now,
        signature=signature,
        content_type=content_type,
        size=len(data) if isinstance(data, bytes) else len(text.encode("utf-8", "replace")),
        not_utf8=not_utf8,
        bom=text.startswith("\ufeff"),
    )
    return [
        Finding(rule.name, rule.level, where, message, rule.problem or rule.level is E)
        for rule in rules
        for where, message in rule.check(ctx)
    ]
