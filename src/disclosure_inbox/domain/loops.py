"""May an inbound message get an automatic acknowledgement?

One small function per rule and one table, ``RULES``, that orders them; the first rule that
fires decides, and its name and reason go to the log and the audit trail, so every suppressed
acknowledgement can be explained afterwards. A rule returns a short reason when it fires and
``None`` when it does not.

The table runs from the most certain evidence to the least: our own mail coming back, then
bounces, then mail that says it was sent by a machine or a list, then people we never
acknowledge, and last the rate limits, which only matter for mail we would otherwise answer.
The organisation's own lists (the security address run as a Google Group or a Mailman list)
are not "a list" here: their list headers are how every report reaches us.

Every header value here was chosen by whoever sent the message: values may be long, in any
case, padded with odd whitespace or carry RFC 5322 comments. Each rule reads one keyword or
token list in linear time, and a reason quotes a value only after ``header_safe`` has made it
one short line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from disclosure_inbox.domain.sanitize import header_safe

# How much of a header value a reason quotes.
_QUOTE_CHARS = 80
_TOKEN_SEPARATORS = re.compile(r"[\s,;]+")
_ANGLE_BRACKETED = re.compile(r"<([^<>]*)>")
_BOUNCE_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster"})
_NULL_PATHS = frozenset({"", "<>", "<<>>"})
_DELIVERY_REPORT_TYPES = frozenset(
    {
        "multipart/report",  # RFC 6522: DSNs, MDNs and abuse feedback reports all use it
        "message/delivery-status",  # RFC 3464
        "message/global-delivery-status",  # RFC 6533, internationalised DSNs
    }
)


@dataclass(frozen=True, slots=True)
class LoopContext:
    """What the rules read about one inbound message; the caller looks the counts up.

    Names and addresses are normalised on construction (header names, addresses and the
    domain lower-cased, surrounding whitespace removed), so the rules compare like with like.
    """

    headers: Mapping[str, str]
    sender_address: str
    content_type: str
    message_id: str | None
    own_addresses: frozenset[str]
    staff_addresses: frozenset[str]
    own_domain: str
    loop_marker: str
    own_list_ids: frozenset[str]  # bare ids, e.g. "security.example.com"
    acks_to_sender_last_24h: int
    acks_to_domain_last_24h: int  # to any address on the sender's domain
    acks_for_report: int
    acks_last_hour: int  # to anyone
    max_acks_per_sender_per_day: int
    max_acks_per_domain_per_day: int
    max_acks_per_report: int
    max_acks_per_hour: int

    def __post_init__(self) -> None:
        counts = {
            "acks_to_sender_last_24h": self.acks_to_sender_last_24h,
            "acks_to_domain_last_24h": self.acks_to_domain_last_24h,
            "acks_for_report": self.acks_for_report,
            "acks_last_hour": self.acks_last_hour,
            "max_acks_per_sender_per_day": self.max_acks_per_sender_per_day,
            "max_acks_per_domain_per_day": self.max_acks_per_domain_per_day,
            "max_acks_per_report": self.max_acks_per_report,
            "max_acks_per_hour": self.max_acks_per_hour,
        }
        for name, count in counts.items():
            if count < 0:
                raise ValueError(f"{name} must not be negative, got {count}")
        # The first occurrence wins, as in ParsedMessage.headers.
        headers: dict[str, str] = {}
        for header, value in self.headers.items():
            headers.setdefault(header.strip().lower(), value)
        _set = object.__setattr__
        _set(self, "headers", MappingProxyType(headers))
        _set(self, "sender_address", self.sender_address.strip().lower())
        _set(self, "content_type", self.content_type.strip().lower())
        _set(self, "own_addresses", frozenset(a.strip().lower() for a in self.own_addresses))
        _set(self, "staff_addresses", frozenset(a.strip().lower() for a in self.staff_addresses))
        _set(self, "own_domain", self.own_domain.strip().lower())
        _set(self, "loop_marker", self.loop_marker.strip().rstrip(":").strip().lower())
        _set(self, "own_list_ids", frozenset(_bare_list_id(i) for i in self.own_list_ids))


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # stable, kebab-case: stored in the audit trail
    check: Callable[[LoopContext], str | None]
    # The message was written by a machine, not a person: such a "report" gets no
    # acknowledgement clock (nobody owes a bounce an answer). Mail from staff, an address we
    # cannot reply to, or one held back by a rate limit is still a person's report.
    machine: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    rule: str | None  # the first rule that fired; None when allowed
    reason: str | None
    machine: bool = False  # the rule that fired marks machine mail (see ``Rule``)


def _quote(value: str) -> str:
    return repr(header_safe(value, _QUOTE_CHARS))


def _keyword(value: str) -> str:
    """The first word of a structured value, lower-cased: no comments, no ``;`` parameters.

    ``"Auto-Generated (warning-timeout); x=y"`` -> ``"auto-generated"``; ``"(human) no"`` ->
    ``"no"``. Comments may nest (RFC 5322 section 3.2.2); one pass, no backtracking.
    """
    if "(" in value:
        kept: list[str] = []
        depth = 0
        for char in value:
            if char == "(":
                depth += 1
            elif char == ")" and depth:
                depth -= 1
            elif not depth:
                if char == ";":
                    break
                kept.append(char)
        value = "".join(kept)
    else:
        value = value.partition(";")[0]
    words = value.split()
    return words[0].strip("\"'").lower() if words else ""


def _local_part(address: str) -> str:
    return address.rpartition("@")[0] if "@" in address else address


def _is_daemon_address(address: str) -> bool:
    return _local_part(address.strip().strip("<>").strip().lower()) in _BOUNCE_LOCAL_PARTS


def _bare_list_id(value: str) -> str:
    """The id inside a List-Id value, lower-cased: ``"Security <security.m.io>"`` ->
    ``"security.m.io"``; the last bracketed part, so a phrase cannot pose as the id."""
    bracketed = _ANGLE_BRACKETED.findall(value)
    return (bracketed[-1] if bracketed else value).strip().lower()


def _from_own_list(ctx: LoopContext) -> bool:
    list_id = ctx.headers.get("list-id")
    return list_id is not None and _bare_list_id(list_id) in ctx.own_list_ids


# --- the rules ----------------------------------------------------------------------------


def auto_submitted(ctx: LoopContext) -> str | None:
    value = ctx.headers.get("auto-submitted")
    if value is None:
        return None
    keyword = _keyword(value)
    if keyword == "no":
        return None
    # An empty or unreadable value still says a machine touched the message.
    return f"Auto-Submitted: {_quote(value)}"


def auto_reply_headers(ctx: LoopContext) -> str | None:
    for name in ("x-autoreply", "x-autorespond"):
        if name in ctx.headers:
            return f"{name} header present"
    return None


def auto_response_suppress(ctx: LoopContext) -> str | None:
    value = ctx.headers.get("x-auto-response-suppress")
    if value is None:
        return None
    tokens = {token.lower() for token in _TOKEN_SEPARATORS.split(value) if token}
    hits = sorted(tokens & {"all", "autoreply", "dr"})
    if hits:
        return f"X-Auto-Response-Suppress asks for no {'/'.join(hits)} responses"
    return None


def precedence(ctx: LoopContext) -> str | None:
    value = ctx.headers.get("precedence")
    if value is None:
        return None
    keyword = _keyword(value)
    if keyword == "list" and _from_own_list(ctx):
        return None  # our own list marks every report it passes on
    if keyword in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {keyword}"
    return None


def list_headers(ctx: LoopContext) -> str | None:
    if _from_own_list(ctx):
        return None
    for name in ("list-id", "list-unsubscribe"):
        if name in ctx.headers:
            return f"{name} header present (mailing list or newsletter)"
    return None


def mailer_daemon(ctx: LoopContext) -> str | None:
    if not ctx.sender_address:
        return "no sender address"
    if _is_daemon_address(ctx.sender_address):
        return f"sender is {_quote(ctx.sender_address)}"
    return_path = ctx.headers.get("return-path")
    if return_path is not None:
        path = "".join(return_path.split())
        if path in _NULL_PATHS:
            return "null envelope sender (Return-Path: <>)"
        if _is_daemon_address(path):
            return f"envelope sender is {_quote(path)}"
    return None


def delivery_report(ctx: LoopContext) -> str | None:
    mime_type = ctx.content_type.partition(";")[0].strip()
    if mime_type in _DELIVERY_REPORT_TYPES:
        return f"delivery report ({mime_type})"
    return None


def own_loop_marker(ctx: LoopContext) -> str | None:
    # Any value counts: another installation uses the same header name with its own address,
    # and two acknowledging mailboxes must not answer each other either.
    if ctx.loop_marker and ctx.loop_marker in ctx.headers:
        return f"carries our loop marker {ctx.loop_marker}"
    return None


def own_message_id(ctx: LoopContext) -> str | None:
    if not ctx.message_id or not ctx.own_domain:
        return None
    mid = ctx.message_id.strip().lower()
    if mid.endswith(">"):
        mid = mid[:-1]
    if mid.endswith("@" + ctx.own_domain):
        return f"Message-ID {_quote(ctx.message_id)} is one of ours"
    return None


def own_address(ctx: LoopContext) -> str | None:
    if ctx.sender_address and ctx.sender_address in ctx.own_addresses:
        return f"sender {_quote(ctx.sender_address)} is our own address"
    return None


def staff_address(ctx: LoopContext) -> str | None:
    if ctx.sender_address and ctx.sender_address in ctx.staff_addresses:
        return f"sender {_quote(ctx.sender_address)} is staff"
    return None


def rate_limit_sender(ctx: LoopContext) -> str | None:
    if ctx.acks_to_sender_last_24h >= ctx.max_acks_per_sender_per_day:
        return (
            f"{ctx.acks_to_sender_last_24h} acknowledgements to this sender in 24 hours "
            f"(limit {ctx.max_acks_per_sender_per_day})"
        )
    return None


def rate_limit_domain(ctx: LoopContext) -> str | None:
    if ctx.acks_to_domain_last_24h >= ctx.max_acks_per_domain_per_day:
        return (
            f"{ctx.acks_to_domain_last_24h} acknowledgements to this sender's domain in 24 "
            f"hours (limit {ctx.max_acks_per_domain_per_day})"
        )
    return None


def rate_limit_report(ctx: LoopContext) -> str | None:
    if ctx.acks_for_report >= ctx.max_acks_per_report:
        return (
            f"{ctx.acks_for_report} acknowledgements already sent for this report "
            f"(limit {ctx.max_acks_per_report})"
        )
    return None


def rate_limit_global(ctx: LoopContext) -> str | None:
    if ctx.acks_last_hour >= ctx.max_acks_per_hour:
        return (
            f"{ctx.acks_last_hour} acknowledgements to anyone in the last hour "
            f"(limit {ctx.max_acks_per_hour})"
        )
    return None


# --- the table ----------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    # Our own outgoing mail carries this header; seeing it inbound means a forward, an
    # alias or another autoresponder sent it back: the surest sign of a loop.
    Rule("own-loop-marker", own_loop_marker, machine=True),
    # A Message-ID in our domain was minted by us (the message itself came back, e.g. via a
    # list or a misconfigured forward), even if a relay dropped our loop marker.
    Rule("own-message-id", own_message_id, machine=True),
    # Mail from our mailbox or our SMTP From address: answering it would answer ourselves.
    Rule("own-address", own_address, machine=True),
    # RFC 3834 section 2: never respond to bounces. MAILER-DAEMON and postmaster are the
    # conventional senders of non-delivery reports; an empty From or a null envelope sender
    # (Return-Path: <>) leaves nobody to answer, or only a bounce handler.
    Rule("mailer-daemon", mailer_daemon, machine=True),
    # RFC 3464 delivery status notifications inside an RFC 6522 multipart/report (which also
    # carries RFC 8098 read receipts and RFC 5965 abuse reports): machine-generated reports.
    Rule("delivery-report", delivery_report, machine=True),
    # RFC 3834 section 5: Auto-Submitted with any value but "no" marks mail sent by a
    # machine (auto-generated, auto-replied, auto-notified, ...).
    Rule("auto-submitted", auto_submitted, machine=True),
    # Vendor markers for autoresponders that do not set Auto-Submitted: Gmail's vacation
    # responder sends "X-Autoreply: yes"; cPanel and BoxTrapper send X-Autorespond.
    Rule("auto-reply-headers", auto_reply_headers, machine=True),
    # Microsoft's X-Auto-Response-Suppress ([MS-OXCMAIL] 2.1.3.2.20): All, AutoReply (auto
    # replies other than out-of-office) or DR (delivery reports) ask for no automatic answer.
    Rule("auto-response-suppress", auto_response_suppress, machine=True),
    # RFC 3834 section 2 (after RFC 2076): Precedence bulk, junk or list is mass mail;
    # auto_reply is what cPanel-style responders use for their own replies. "list" from one
    # of our own lists ([loops] own_list_ids, by RFC 2919 List-Id) is how reports arrive.
    Rule("precedence", precedence, machine=True),
    # RFC 2919 List-Id and RFC 2369 List-Unsubscribe: a list or newsletter, where an
    # acknowledgement would go to every subscriber or to a robot; not our own lists.
    Rule("list-headers", list_headers, machine=True),
    # Staff write to the mailbox to add notes or forward reports; they need no receipt.
    Rule("staff-address", staff_address),
    # Caps that bound the damage of any loop the rules above miss (config [limits]), from
    # the narrowest to the widest. RFC 3834 section 2 asks responders to limit how often
    # they answer one sender; an auto-responder that answers from a new address each time
    # is caught by its domain, and a flood of forged senders by the cap on all of them.
    Rule("rate-limit-sender", rate_limit_sender),
    Rule("rate-limit-domain", rate_limit_domain),
    Rule("rate-limit-report", rate_limit_report),
    Rule("rate-limit-global", rate_limit_global),
)

# The rows of ``RULES`` that say who wrote a message, in the same order: intake asks them
# whether new mail is a machine's (then it is unfiled, not a report). Staff and the rate
# limits say nothing about that, so they are left out.
MACHINE_RULES: tuple[Rule, ...] = tuple(rule for rule in RULES if rule.machine)

ALLOWED = Verdict(allowed=True, rule=None, reason=None)


def evaluate(ctx: LoopContext, rules: tuple[Rule, ...] = RULES) -> Verdict:
    """The first rule in ``rules`` that fires, or ``ALLOWED`` when none does."""
    for rule in rules:
        reason = rule.check(ctx)
        if reason is not None:
            return Verdict(allowed=False, rule=rule.name, reason=reason, machine=rule.machine)
    return ALLOWED


def machine_mail(ctx: LoopContext) -> Verdict:
    """The first of ``MACHINE_RULES`` that fires (its verdict has ``machine`` set), or
    ``ALLOWED`` when a person wrote the message as far as the rules can tell."""
    return evaluate(ctx, MACHINE_RULES)


def looks_like_bounce(sender_address: str, content_type: str) -> bool:
    """``is_bounce`` from the two fields it reads, for the parse step (which has no
    ``LoopContext``: that needs the configuration and the store's counts)."""
    mime_type = content_type.lower().partition(";")[0].strip()
    return _is_daemon_address(sender_address.lower()) or mime_type in _DELIVERY_REPORT_TYPES


def is_bounce(ctx: LoopContext) -> bool:
    """Mail from MAILER-DAEMON or postmaster, or any delivery report (multipart/report).

    Broader than a strict non-delivery report: the top-level content type alone cannot tell a
    DSN from a read receipt. An empty sender or a null Return-Path alone is not a bounce.
    """
    return _is_daemon_address(ctx.sender_address) or delivery_report(ctx) is not None
