"""Whether a public key a message offers is stored for its sender's address.

Mail to an address is encrypted to the newest key stored for it, and a From header is easy
to forge: anyone could send "From: rita@example.org" with a key of their own, after which
Rita could not read our replies (the impostor cannot either: the mail still goes to Rita).
So a key is trusted on first use, and a different key for an address that has one is taken
only when the message proves it comes from the address's owner. The caller looks up the
keys stored for the address and the message's evidence; ``decide`` picks the first rule of
``RULES`` that applies, and its name is recorded in the audit trail.

Worked example: Rita sent key A with her first report (``first-key``: stored). A message
"from" Rita offers key B, unsigned, from a server whose DKIM signature does not align with
example.org: ``unverified-replacement``, B is not stored and replies stay encrypted to A.
Had the message been signed with A (``signed-by-stored-key``: Rita rotating her key), or had
our mail server's Authentication-Results shown a DKIM pass for example.org
(``dkim-authenticated``), B would be stored, and the newest key is the one used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyEvidence:
    offered: str  # the offered key's fingerprint
    stored: frozenset[str]  # fingerprints already stored for the sender's address
    signed_by: str | None  # the signer of a valid signature on the message, if any
    dkim_aligned: bool  # a DKIM pass from a trusted authserv-id aligned with From's domain


@dataclass(frozen=True, slots=True)
class KeyVerdict:
    store: bool
    rule: str


def _known(ev: KeyEvidence) -> bool:
    return ev.offered in ev.stored


def _first(ev: KeyEvidence) -> bool:
    return not ev.stored


def _signed_by_stored(ev: KeyEvidence) -> bool:
    return ev.signed_by is not None and ev.signed_by in ev.stored


def _dkim(ev: KeyEvidence) -> bool:
    return ev.dkim_aligned


# fmt: off
RULES: tuple[tuple[str, bool, Callable[[KeyEvidence], bool]], ...] = (
    # The same key again: nothing to store (it is there already).
    ("already-stored", False, _known),
    # Trust on first use: the address has no key yet, so none can be displaced (the risk a
    # forged first key brings is that of any forged From: our replies still go to the address).
    ("first-key", True, _first),
    # A new key in a message signed with a key the address already has (RFC 9580 section 5.2:
    # a valid signature shows the old key's holder sent it): a rotation.
    ("signed-by-stored-key", True, _signed_by_stored),
    # Our own mail server saw a DKIM signature (RFC 6376) aligned with the From domain pass
    # (RFC 8601 Authentication-Results, trusted authserv-id only): the domain vouches for it.
    ("dkim-authenticated", True, _dkim),
    # Anything else would let a forged From take over an address's encryption.
    ("unverified-replacement", False, lambda ev: True),
)
# fmt: on


def decide(ev: KeyEvidence) -> KeyVerdict:
    for name, store, applies in RULES:
        if applies(ev):
            return KeyVerdict(store, name)
    raise AssertionError("the last rule always applies")  # pragma: no cover
