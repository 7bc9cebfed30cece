"""Is this mail from a member of staff, and how do we know?

A From header proves nothing: anyone can write ``From: bob@m.io``. A message may act as staff
(change a report's status, say) only when a rule below authenticates it. Two rules do:

* ``reply-token``: it was sent to a reply token (``tokens``) that we issued to this very From
  address, signed with one of our keys and not yet expired. Only the staff member we mailed
  holds that address; the token also names the report.
* ``dkim-aligned``: one of the organisation's own mail servers (a trusted authserv-id,
  ``[staff] trusted_authserv_ids``) checked a DKIM signature and recorded ``dkim=pass`` in
  Authentication-Results for the From domain.

One small function per rule and one table, ``RULES``, that orders them; the first rule that
fires decides, and its name goes to the audit trail. The accepting rules come first; the
refusals after them only name the best explanation of why nothing accepted, from the most
specific evidence (a token that nearly worked) to the least (no evidence at all).

DKIM alignment (RFC 7489 section 3.1.1) is relaxed in the simplest form: the signing domain
equals the From domain, or one is a subdomain of the other (``m.io`` and ``mail.m.io``), and a
bare top-level label (``d=io``) never aligns. Without a public-suffix list we cannot find the
organisational domain, so this is strict-or-subdomain: two sibling subdomains (``eu.m.io``,
``us.m.io``) do not align, where DMARC would let them, and a public suffix above the From
domain (``d=co.uk`` for ``m.co.uk``) does, where DMARC would not. It is safe because a
verdict is only asked for From addresses that are the organisation's own staff addresses: a
signing domain below the From domain lives in the organisation's DNS, and one above it
belongs to whoever delegates the organisation's domain (a registry, for a public suffix), who
could take that domain over anyway. (Do not list staff addresses on a domain whose
subdomains other people control.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from disclosure_inbox.domain.sanitize import header_safe
from disclosure_inbox.domain.tokens import TokenCheck, TokenProblem

# How much of a value from a header a reason quotes.
_QUOTE_CHARS = 80


class AuthResult(NamedTuple):
    """One result from an Authentication-Results header (RFC 8601), as ``adapters.authresults``
    reads it; every field lower-cased."""

    authserv_id: str
    method: str  # "dkim", "spf", "dmarc", ...
    result: str  # "pass", "fail", "neutral", "temperror", ...
    domain: str  # header.d, else the domain of header.i; "" when neither is given


@dataclass(frozen=True, slots=True)
class StaffEvidence:
    """What the rules read about one inbound message; the caller gathers it.

    ``token_checks`` are ``tokens.verify`` of each token ``tokens.find_tokens`` found, with the
    From address as the recipient. Addresses and ids are normalised on construction.
    """

    from_address: str
    staff_addresses: frozenset[str]
    token_checks: tuple[TokenCheck, ...]
    auth_results: tuple[AuthResult, ...]
    trusted_authserv_ids: frozenset[str]

    def __post_init__(self) -> None:
        _set = object.__setattr__
        _set(self, "from_address", self.from_address.strip().lower())
        _set(self, "staff_addresses", frozenset(a.strip().lower() for a in self.staff_addresses))
        _set(self, "token_checks", tuple(self.token_checks))
        _set(self, "auth_results", tuple(AuthResult(*map(_lower, r)) for r in self.auth_results))
        _set(self, "trusted_authserv_ids", frozenset(map(_lower, self.trusted_authserv_ids)))


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # stable, kebab-case: stored in the audit trail
    check: Callable[[StaffEvidence], str | None]
    authenticates: bool = False  # True: firing accepts the message as the From staff member


@dataclass(frozen=True, slots=True)
class StaffVerdict:
    is_staff_claim: bool  # From is a staff address (proven or not)
    authenticated: bool
    rule: str  # the rule that decided
    reason: str
    report_ref: str | None = None  # the report a reply token names


def _quote(value: str) -> str:
    return repr(header_safe(value, _QUOTE_CHARS)) if value else "no domain"


def _lower(value: str) -> str:
    return value.strip().lower()


def _domain(address: str) -> str:
    return address.rpartition("@")[2] if "@" in address else ""


def aligned(signing_domain: str, from_domain: str) -> bool:
    """Relaxed, without a public-suffix list: equal, or one a subdomain of the other, and the
    signing domain more than a single label (see the module docstring)."""
    d, f = signing_domain.strip(".").lower(), from_domain.strip(".").lower()
    if not d or not f or "." not in d:
        return False
    return d == f or f.endswith("." + d) or d.endswith("." + f)


def _tokens(ev: StaffEvidence, problem: TokenProblem | None) -> list[TokenCheck]:
    # A check made against another address than From proves nothing about From.
    return [c for c in ev.token_checks if c.recipient == ev.from_address and c.problem == problem]


def aligned_dkim_pass(
    results: Sequence[AuthResult], trusted: frozenset[str], from_address: str
) -> AuthResult | None:
    """The first DKIM pass from a trusted authserv-id for a domain aligned with From's:
    what proves a message comes from its From domain (also for a reporter's new key)."""
    from_domain = _domain(from_address)
    for r in results:
        trusted_pass = r.method == "dkim" and r.authserv_id in trusted and r.result == "pass"
        if trusted_pass and aligned(r.domain, from_domain):
            return r
    return None


def _trusted_dkim(ev: StaffEvidence) -> list[AuthResult]:
    return [
        r
        for r in ev.auth_results
        if r.method == "dkim" and r.authserv_id in ev.trusted_authserv_ids
    ]


# --- the rules ----------------------------------------------------------------------------


def not_staff(ev: StaffEvidence) -> str | None:
    if ev.from_address in ev.staff_addresses:
        return None
    return "From is not a staff address"


def reply_token(ev: StaffEvidence) -> str | None:
    valid = _tokens(ev, None)
    # Several valid tokens can only all be this staff member's: the first names the report.
    return f"reply token for {valid[0].report_ref}, issued to From" if valid else None


def dkim_aligned(ev: StaffEvidence) -> str | None:
    r = aligned_dkim_pass(ev.auth_results, ev.trusted_authserv_ids, ev.from_address)
    return f"{_quote(r.authserv_id)}: dkim=pass for {_quote(r.domain)}" if r else None


def token_other_recipient(ev: StaffEvidence) -> str | None:
    found = _tokens(ev, TokenProblem.OTHER_RECIPIENT)
    return "reply token issued to another address than From" if found else None


def token_expired(ev: StaffEvidence) -> str | None:
    found = _tokens(ev, TokenProblem.EXPIRED)
    when = found[0].expires_at if found else None
    return f"reply token expired {when:%Y-%m-%d %H:%M} UTC" if when else None


def token_bad_signature(ev: StaffEvidence) -> str | None:
    found = _tokens(ev, TokenProblem.BAD_SIGNATURE)
    return "reply token not signed by any of our keys, or altered" if found else None


def token_malformed(ev: StaffEvidence) -> str | None:
    return "reply token malformed" if _tokens(ev, TokenProblem.MALFORMED) else None


def dkim_fail(ev: StaffEvidence) -> str | None:
    from_domain = _domain(ev.from_address)
    # "none" is no signature at all, not a failed one.
    failed = [r for r in _trusted_dkim(ev) if r.result not in ("pass", "none")]
    # The From domain's own failure explains best; a list's or a third party's after it.
    failed.sort(key=lambda r: not aligned(r.domain, from_domain))
    if failed:
        r = failed[0]
        return f"{_quote(r.authserv_id)}: dkim={_quote(r.result)} for {_quote(r.domain)}"
    return None


def dkim_not_aligned(ev: StaffEvidence) -> str | None:
    passed = [r for r in _trusted_dkim(ev) if r.result == "pass"]
    if passed:
        domains = ", ".join(sorted({_quote(r.domain) for r in passed})[:3])
        return f"dkim=pass only for {domains}, not the From domain"
    return None


def untrusted_authserv(ev: StaffEvidence) -> str | None:
    ids = sorted({r.authserv_id for r in ev.auth_results})
    if ids and not set(ids) & ev.trusted_authserv_ids:
        quoted = ", ".join(_quote(i) for i in ids[:3])
        return f"Authentication-Results only from untrusted authserv-ids: {quoted}"
    return None


def no_authentication(ev: StaffEvidence) -> str | None:
    return "neither a reply token nor a DKIM result from a trusted authserv-id"


# --- the table ----------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    # Only mail that claims a staff address can be staff mail; a stranger's valid-looking
    # token or DKIM pass for their own domain makes them no more than a reporter.
    Rule("not-staff", not_staff),
    # RFC 5233 subaddressing: the token after "+" in the address the reply was sent to was
    # issued by us to this From address (case-insensitive), unexpired, under one of our keys.
    Rule("reply-token", reply_token, authenticates=True),
    # RFC 8601: an Authentication-Results result counts only from one of our own authserv-ids
    # (section 5: our border MTA removes any that arrive already carrying them; results under
    # any other id are ignored entirely). RFC 6376 section 3.5: dkim=pass vouches for the
    # signing domain d= (header.d, or the domain of header.i); RFC 7489 section 3.1.1: it
    # must align with the From domain (relaxed, as the module docstring says).
    Rule("dkim-aligned", dkim_aligned, authenticates=True),
    # Refusals, each naming why the rules above did not accept. A token sent to another staff
    # address (a forwarded notification, or someone posing as a colleague), then one that is
    # ours but expired, then one no key of ours signed or that was altered in transit.
    Rule("token-other-recipient", token_other_recipient),
    Rule("token-expired", token_expired),
    Rule("token-bad-signature", token_bad_signature),
    # RFC 5233: a subaddress shaped like a token that decodes to none (a non-canonical
    # spelling, or a length no token has).
    Rule("token-malformed", token_malformed),
    # RFC 8601 section 2.7.1: our own server saw a DKIM signature and it did not verify
    # (fail, neutral, policy, temperror, permerror): altered in transit, or forged.
    Rule("dkim-fail", dkim_fail),
    # RFC 7489 section 3.1.1: a valid signature, but by a domain that is not the From domain
    # (a third party's signature, a mailing list's).
    Rule("dkim-not-aligned", dkim_not_aligned),
    # RFC 8601 section 5: results under any authserv-id but ours say nothing we can trust
    # (anyone on the way, the sender included, can write them); none of ours was present.
    Rule("untrusted-authserv", untrusted_authserv),
    # Nothing to go on (or only our servers' SPF and the like, which say nothing about
    # From): a From header alone is never enough.
    Rule("no-authentication", no_authentication),
)


def evaluate(ev: StaffEvidence, rules: tuple[Rule, ...] = RULES) -> StaffVerdict:
    """The verdict of the first rule in ``rules`` that fires."""
    claim = ev.from_address in ev.staff_addresses
    for rule in rules:
        reason = rule.check(ev)
        if reason is not None:
            valid = _tokens(ev, None) if rule.authenticates else []
            ref = valid[0].report_ref if valid else None
            return StaffVerdict(claim, rule.authenticates, rule.name, reason, ref)
    return StaffVerdict(claim, False, "no-authentication", "no rule fired")
