"""The seams between the service layer and the outside world. Tests substitute here or run the
real thing (Dovecot, aiosmtpd, SQLite, PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

from disclosure_inbox.domain.model import RawMessage
from disclosure_inbox.domain.openpgp import Signature


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""


class SystemClock:
    """The one place that reads the time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class Transaction(Protocol):
    """One open store transaction, as ``Store.transaction()`` yields it. Opaque to the
    service layer: only the ``adapters.db`` modules look inside, so ``service/`` never
    touches SQL or the ORM."""


class Fence(Protocol):
    """Leadership as the store sees it: every fenced write transaction compares the epoch this
    instance took with the stored one, and is refused when they differ."""

    name: str

    def epoch(self) -> int | None:
        """The epoch this instance leads in; None while it does not lead."""


class Mailbox(Protocol):
    """An IMAP mailbox, by UID. Nothing here deletes mail."""

    def select(self, name: str) -> int:
        """Open ``name`` read-write; return its UIDVALIDITY."""

    def pending_uids(self, after_uid: int, processed_flag: str) -> list[int]:
        """UIDs above ``after_uid``, plus any not yet flagged ``processed_flag``, ascending."""

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE of each UID (missing ones were expunged meanwhile)."""

    def fetch(self, uids: Sequence[int]) -> Iterator[RawMessage]:
        """Raw bytes and INTERNALDATE, without setting \\Seen (BODY.PEEK[])."""

    def add_flag(self, uids: Iterable[int], flag: str) -> None: ...

    def copy_to(self, uids: Iterable[int], folder: str) -> None: ...

    def move_to(self, uids: Iterable[int], folder: str) -> None: ...

    def close(self) -> None: ...


class BlobStore(Protocol):
    """Content-addressed bytes: raw messages and attachment payloads."""

    def put(self, data: bytes) -> str:
        """Store ``data`` durably; return its sha256 hex digest. Idempotent."""

    def get(self, sha256: str) -> bytes: ...


class ClearSigner(Protocol):
    """The organisation's OpenPGP key, for signing text it publishes (security.txt)."""

    def clearsign(self, text: str) -> str:
        """``text`` as an OpenPGP cleartext signed message (RFC 4880 section 7), from
        ``-----BEGIN PGP SIGNED MESSAGE-----`` to ``-----END PGP SIGNATURE-----``."""


class ClearsignVerifier(Protocol):
    """Checks cleartext signatures against the organisation's key."""

    def verify_clearsigned(self, text: str) -> Signature:
        """The signature of ``text``, a cleartext signed message: ``valid`` when it verifies
        with the organisation's key, ``invalid`` when the text changed after signing or the
        signature is damaged, ``unknown-key`` when another key made it."""
