"""Who is staff: the verdict on a message whose From is a staff address.

``domain/staff.py`` decides from the evidence gathered here: the reply tokens found among the
message's recipients (``domain/tokens.py``) and what our own mail servers wrote in
Authentication-Results (``adapters/authresults.py``). Three things are settled here first:

- A staff member's automatic reply (out of office, a bounce) is machine mail, not their word:
  it claims nothing and goes the way of any machine mail.
- A token addressed in a message that also went outside the organisation (a reply-all that
  copied the reporter) is burned, for good: whoever received that copy holds the token.
- Only the topmost Authentication-Results header from a trusted authserv-id counts: our own
  server adds its header on top, so a lower one claiming the same id came with the message.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from disclosure_inbox.adapters.authresults import read_authentication_results
from disclosure_inbox.adapters.db import tokens as token_rows
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import loops, staff, tokens
from disclosure_inbox.domain.intake import Incoming
from disclosure_inbox.domain.model import ParsedMessage
from disclosure_inbox.service.acks import loop_context
from disclosure_inbox.service.notices import reply_template

log = logging.getLogger(__name__)

# A staff member's out-of-office reply or bounce is machine mail, not their word: these loop
# rules (RFC 3834 and friends, ``domain/loops.py``) take a message out of the staff path.
_AUTOMATIC = tuple(
    r
    for r in loops.RULES
    if r.name
    in {"mailer-daemon", "delivery-report", "auto-submitted", "auto-reply-headers", "precedence"}
)
TOKEN_EXPOSED = "token-exposed"


def automatic(settings: Settings, parsed: ParsedMessage) -> bool:
    return not loops.evaluate(loop_context(settings, parsed), _AUTOMATIC).allowed


def digest(token: str) -> str:
    return hashlib.sha256(token.lower().encode()).hexdigest()


def insiders(settings: Settings) -> frozenset[str]:
    org = settings.organization
    return frozenset(
        {org.mailbox_address.lower(), *org.staff_addresses, *settings.staff.recipients}
    )


def exposed(settings: Settings, parsed: ParsedMessage) -> bool:
    """Whether the message also went outside the organisation (a reply-all that copied the
    reporter): then the reply tokens it was addressed to are no secret any more."""
    inside, template = insiders(settings), reply_template(settings)
    return any(a not in inside and not tokens.find_tokens([a], template) for a in parsed.recipients)


def trusted_first(settings: Settings, values: Sequence[str]) -> tuple[staff.AuthResult, ...]:
    """The results of the topmost Authentication-Results header from a trusted authserv-id
    (the one our own server added last; any lower one claiming that id was there before it,
    RFC 8601 section 5), with the untrusted ones, which the rules only name."""
    trusted = set(settings.staff.trusted_authserv_ids)
    kept: list[staff.AuthResult] = []
    seen_trusted = False
    for value in values:
        results = read_authentication_results([value]).results
        if results and results[0].authserv_id in trusted:
            if not seen_trusted:
                kept += results
            seen_trusted = True
        else:
            kept += [r for r in results if r.authserv_id not in trusted]
    return tuple(kept)


def verdict(
    settings: Settings, parsed: ParsedMessage, now: datetime, burned: frozenset[str] = frozenset()
) -> staff.StaffVerdict | None:
    """How a message that claims a staff From stands; None when it claims nothing (or is a
    staff member's automatic reply). Tokens in ``burned`` prove nothing."""
    staff_addresses = frozenset(settings.organization.staff_addresses)
    if parsed.sender_address not in staff_addresses or automatic(settings, parsed):
        return None
    keys = settings.staff.token_keys
    found = tokens.find_tokens(parsed.recipients, reply_template(settings)) if keys else []
    usable = [t for t in found if digest(t) not in burned]
    evidence = staff.StaffEvidence(
        from_address=parsed.sender_address,
        staff_addresses=staff_addresses,
        token_checks=tuple(tokens.verify(keys, t, parsed.sender_address, now) for t in usable),
        auth_results=trusted_first(settings, parsed.auth_results),
        trusted_authserv_ids=frozenset(settings.staff.trusted_authserv_ids),
    )
    result = staff.evaluate(evidence)
    if not result.authenticated and len(usable) < len(found):
        reason = "its reply token also went outside the organisation, so it proves nothing"
        return staff.StaffVerdict(True, False, TOKEN_EXPOSED, reason)
    return result


def check_batch(
    settings: Settings, store: Store, items: Sequence[Incoming], now: datetime
) -> list[Incoming]:
    """``items``, each that claims a staff From with its verdict. The tokens of a message
    that also went outside the organisation are burned first, for good."""
    staff_addresses = frozenset(settings.organization.staff_addresses)
    claims = [i for i in items if i.parsed.sender_address in staff_addresses]
    if not claims or not settings.staff.token_keys:
        return [_with(settings, i, now, frozenset()) for i in items]
    template = reply_template(settings)
    found = {
        d for i in claims for d in map(digest, tokens.find_tokens(i.parsed.recipients, template))
    }
    leaked = [
        digest(t)
        for i in claims
        if exposed(settings, i.parsed)
        for t in tokens.find_tokens(i.parsed.recipients, template)
    ]
    with store.transaction() as tx:
        if leaked:
            token_rows.burn(tx, leaked, now)
            log.warning("burned %d reply token(s) that went outside the organisation", len(leaked))
        burned = frozenset(token_rows.burned(tx, found))
    return [_with(settings, i, now, burned) for i in items]


def _with(settings: Settings, item: Incoming, now: datetime, burned: frozenset[str]) -> Incoming:
    found = verdict(settings, item.parsed, now, burned)
    return item if found is None else replace(item, staff=found)
