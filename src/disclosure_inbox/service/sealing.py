"""Sealing a claimed outbox row before its first send: encrypted to its reader, or left plain.

The message was built, with its Message-ID, when it was queued; it is encrypted only now, by
the sender that first claims it, so that a key a reporter sends after the report still
counts, and so that the ciphertext is made once: the sealed bytes replace the row's in a
commit before the send (``OutboxRows.seal``), and every resend sends them. The message record
(``messages``) keeps the text as written.

Which keys, or plain, or nothing at all, is ``domain.sealing``'s decision; here the reporter's
key is looked up (``adapters.db.keys``), taken into the GnuPG home if a rebuilt home lacks it,
and the message encrypted as PGP/MIME (``adapters.compose_pgp``), signed inside with the
organisation's key when ``[openpgp] sign``. What cannot be sealed is raised for the outbox to
handle: ``KeyUnusable`` (send nothing: the row fails with the reason) or
``OpenPGPUnavailable`` (gpg did not run: try again later, like a 4xx).
"""

from __future__ import annotations

import logging
from datetime import datetime

from disclosure_inbox.adapters import compose_pgp
from disclosure_inbox.adapters.db import keys
from disclosure_inbox.adapters.db.keys import StoredKey
from disclosure_inbox.adapters.db.outbox import Claimed, OutboxRows
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.domain import sealing
from disclosure_inbox.domain.errors import KeyUnusable, RecipientKeyUnusable
from disclosure_inbox.service.keyring import Keyring

log = logging.getLogger(__name__)


class Sealer:
    """``seal(row, now)``: the bytes to send for a claimed row. Runs gpg and the store
    synchronously: call it off the event loop."""

    def __init__(self, keyring: Keyring | None, store: Store, rows: OutboxRows) -> None:
        self.keyring = keyring
        self.store = store
        self.rows = rows

    def seal(self, row: Claimed, now: datetime) -> bytes | None:
        """The row's bytes, sealed first if they are to be; None if the claim passed to
        another sender meanwhile (send nothing). Raises ``KeyUnusable`` when the message
        must not go out, and ``OpenPGPUnavailable`` when gpg could not do its part."""
        if row.protect is None or row.sealed:
            return row.raw
        stored = self._reporter_key(row)
        ring = self.keyring
        verdict = sealing.decide(
            sealing.SealContext(
                protect=row.protect,
                openpgp=ring is not None,
                encrypt_replies=ring is not None and ring.encrypt_replies,
                sign=ring is not None and ring.sign,
                staff_keys=ring.staff if ring is not None else (),
                reporter_key=stored.fingerprint if stored is not None else None,
            )
        )
        if verdict.action == "hold":
            raise KeyUnusable(f"not sent ({verdict.rule}): {verdict.reason}")
        sealed = self._encrypt(row, verdict, stored) if verdict.action == "encrypt" else None
        detail = {"rule": verdict.rule, "encrypted_to": list(verdict.recipients)}
        if not self.rows.seal(row, now, sealed, signed=verdict.sign, **detail):
            return None
        how = "encrypted" if sealed is not None else "left plain"
        log.info("%s %s to %s %s (%s)", row.kind, row.message_id, row.to_address, how, verdict.rule)
        return sealed if sealed is not None else row.raw

    def _reporter_key(self, row: Claimed) -> StoredKey | None:
        """The newest key stored for the recipient, when one could be used."""
        ring = self.keyring
        if row.protect != sealing.REPORTER or ring is None or not ring.encrypt_replies:
            return None
        with self.store.reading() as tx:
            return keys.newest_for(tx, row.to_address)

    def _encrypt(self, row: Claimed, verdict: sealing.Seal, stored: StoredKey | None) -> bytes:
        assert self.keyring is not None  # the verdict says encrypt only with a keyring
        pgp = self.keyring.pgp
        whose = "reporter's" if row.protect == sealing.REPORTER else "staff"
        if stored is not None:
            self._take(stored)
        try:
            return compose_pgp.encrypted(row.raw, pgp, list(verdict.recipients), sign=verdict.sign)
        except RecipientKeyUnusable as exc:
            raise RecipientKeyUnusable(f"the {whose} OpenPGP key cannot encrypt: {exc}") from exc
        except KeyUnusable as exc:
            raise KeyUnusable(f"the organisation's OpenPGP key cannot sign: {exc}") from exc

    def _take(self, stored: StoredKey) -> None:
        """Import the reporter's key from the store if the GnuPG home lacks it (a home
        rebuilt since the key arrived)."""
        assert self.keyring is not None
        pgp = self.keyring.pgp
        if pgp.has_public_key(stored.fingerprint):
            return
        if stored.fingerprint not in pgp.import_keys(stored.armored.encode("utf-8")):
            raise RecipientKeyUnusable(
                f"the reporter's OpenPGP key {stored.fingerprint} cannot be imported from "
                "the stored key"
            )
