"""Authentication-Results header values (RFC 8601) into the tuples ``domain.staff`` reads.

The ``authres`` library parses; its errors are mapped here, once: a header it cannot read is
left out and named in ``AuthResultsRead.unreadable``, and the other headers still count. A
header that is left out can only cost a staff member their authentication, never grant one.

Pass every Authentication-Results header of the message, in order, not only the first: the
organisation's MTA often adds one per check (SPF, DKIM, DMARC), each under its authserv-id.
Which authserv-ids to believe is ``domain.staff``'s decision; this module reads them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import authres

from disclosure_inbox.domain.sanitize import header_safe
from disclosure_inbox.domain.staff import AuthResult

# A real header is a few hundred characters with a comment or two. The library rewrites the
# rest of the text after every token it reads (quadratic in the length), and recurses into
# nested comments (a few thousand "(" would exhaust the stack).
MAX_VALUE_CHARS = 4000
MAX_HEADERS = 50
MAX_COMMENT_DEPTH = 8
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_FIELD_NAME = re.compile(r"\s*authentication-results\s*:", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class AuthResultsRead:
    results: tuple[AuthResult, ...]  # every result of every header read, in order
    unreadable: tuple[str, ...] = ()  # one line per header left out: its position and why


def _domain(result: authres.AuthenticationResult) -> str:
    """header.d, else the domain of header.i (RFC 6376 section 3.5: i= is an address or
    ``@domain`` within d=); "" when neither is given."""
    found: dict[str, str] = {}
    for prop in result.properties:
        if str(prop.type).lower() == "header" and str(prop.name).lower() in ("d", "i"):
            found.setdefault(str(prop.name).lower(), str(prop.value or ""))
    if found.get("d"):
        return found["d"].strip().lower()
    return found.get("i", "").rpartition("@")[2].strip().lower()


def _comment_depth(value: str) -> int:
    """How deep "(" nests, counted without regard to quoting: never less than the truth."""
    depth = deepest = 0
    for char in value:
        if char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")" and depth:
            depth -= 1
    return deepest


def _read_one(value: str) -> list[AuthResult]:
    text = _FIELD_NAME.sub("", _FOLD.sub("", value), count=1).strip()
    header = authres.parse_value(text)
    authserv_id = str(header.authserv_id).lower()
    return [
        AuthResult(authserv_id, str(r.method).lower(), str(r.result).lower(), _domain(r))
        for r in header.results
    ]


def read_authentication_results(values: Iterable[str]) -> AuthResultsRead:
    """The results of each Authentication-Results value (folded or not; with or without the
    field name), in order. Never raises for what a sender wrote."""
    results: list[AuthResult] = []
    unreadable: list[str] = []
    for position, value in enumerate(values, start=1):
        if position > MAX_HEADERS:
            unreadable.append(f"headers after the first {MAX_HEADERS} not read")
            break
        if len(value) > MAX_VALUE_CHARS:
            unreadable.append(f"header {position}: longer than {MAX_VALUE_CHARS} characters")
            continue
        if _comment_depth(value) > MAX_COMMENT_DEPTH:
            unreadable.append(f"header {position}: comments nested over {MAX_COMMENT_DEPTH} deep")
            continue
        try:
            results.extend(_read_one(value))
        except (authres.AuthResError, ValueError) as exc:
            # AuthResError: bad syntax or an unknown version; ValueError: a method without a
            # result.
            why = header_safe(str(exc) or type(exc).__name__, 120)
            unreadable.append(f"header {position}: {type(exc).__name__}: {why}")
    return AuthResultsRead(tuple(results), tuple(unreadable))
