"""Which offered public keys intake stores (``domain/keyrules.py`` decides).

The keys a batch's messages offer for their senders' addresses were found in the parse step
(``Incoming.offered_keys``). Here the keys already stored for those addresses are looked up
in one query, each offered key is judged in order (a key taken earlier in the batch counts as
stored), and what is taken is added to the batch's writes, each verdict to its audit trail.
"""

from __future__ import annotations

from datetime import datetime

from disclosure_inbox.adapters.db import keys as key_rows
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import keyrules, staff
from disclosure_inbox.domain.intake import Decision, Writes
from disclosure_inbox.ports import Transaction
from disclosure_inbox.service.acks import entry
from disclosure_inbox.service.staffcheck import trusted_first


def plan(tx: Transaction, settings: Settings, writes: Writes, now: datetime) -> None:
    offering = [d for d in writes.stored() if d.incoming.offered_keys]
    if not offering:
        return
    stored = key_rows.fingerprints_of(tx, {d.incoming.parsed.sender_address for d in offering})
    for d in offering:
        address = d.incoming.parsed.sender_address.lower()
        have = stored.setdefault(address, set())
        signature = d.incoming.signature
        for fingerprint, uids, armored in d.incoming.offered_keys:
            verdict = keyrules.decide(
                keyrules.KeyEvidence(
                    offered=fingerprint,
                    stored=frozenset(have),
                    signed_by=signature.fingerprint
                    if signature is not None and signature.status == "valid"
                    else None,
                    dkim_aligned=dkim_aligned(settings, d),
                )
            )
            if verdict.store:
                writes.keys.append((address, fingerprint, uids, armored, d.message_pk))
                have.add(fingerprint)
            writes.audit.append(
                entry(
                    now,
                    "key-stored" if verdict.store else "key-not-stored",
                    d,
                    address=address,
                    fingerprint=fingerprint,
                    rule=verdict.rule,
                )
            )


def dkim_aligned(settings: Settings, d: Decision) -> bool:
    """A DKIM pass, from an authserv-id of ours, for a domain aligned with the From's."""
    parsed = d.incoming.parsed
    results = trusted_first(settings, parsed.auth_results)
    trusted = frozenset(settings.staff.trusted_authserv_ids)
    return staff.aligned_dkim_pass(results, trusted, parsed.sender_address) is not None
