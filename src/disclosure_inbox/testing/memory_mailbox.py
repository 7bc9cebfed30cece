"""An IMAP mailbox in memory, behind the same ``Mailbox`` port as `ImapMailbox`, for tests.

`MemoryMailbox` does what the Dovecot adapter does for everything intake relies on; one
contract (tests/adapters/test_memory_mailbox.py) runs against both. Folders hold RFC 5322
bytes (a bare LF becomes CRLF, as Dovecot gives it back), UIDs ascend per folder and are
never reused, each folder has a UIDVALIDITY, INTERNALDATE keeps the second and the offset,
fetching never sets ``\\Seen``, and UIDs expunged meanwhile are left out without a word.
COPY keeps flags and dates; a move is a copy and an expunge from the source, as IMAP MOVE
(which Dovecot offers) does. Nothing else removes mail.

Each object is one session, as an `ImapMailbox` is one connection: it selects first, and
after `close()` every call fails. `connect()` opens another session on the same mail.

Test hooks act as another client would: `append`, `flags`, `uids`, `expunge`, `recreate`
(a folder restored from backup: a new UIDVALIDITY, UIDs from 1), and `fail_next`, an outage
(`MailboxUnavailable`). No clock is read: INTERNALDATE defaults to ``default_internaldate``.
"""

from __future__ import annotations

import copy
import itertools
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone

from disclosure_inbox.domain.errors import MailboxUnavailable
from disclosure_inbox.domain.model import RawMessage

DEFAULT_INTERNALDATE = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
CALLS = ("connect", "select", "pending_uids", "sizes", "fetch", "add_flag", "copy_to", "move_to")
_BARE_LF = re.compile(rb"(?<!\r)\n")


@dataclass
class _Mail:
    raw: bytes
    internaldate: datetime
    flags: set[str]


@dataclass
class _Folder:
    uidvalidity: int
    uidnext: int = 1
    mail: dict[int, _Mail] = field(default_factory=dict)

    def add(self, mail: _Mail) -> int:
        uid, self.uidnext = self.uidnext, self.uidnext + 1
        self.mail[uid] = mail
        return uid


class _Server:
    """The mail every session of one `MemoryMailbox` shares."""

    def __init__(self, default_internaldate: datetime) -> None:
        self.lock = threading.RLock()
        self.folders: dict[str, _Folder] = {}
        self.uidvalidities = itertools.count(1)
        # A planned outage: fail_count calls of fail_on (None: any) fail, after fail_after.
        self.fail_count, self.fail_after = 0, 0
        self.fail_on: str | None = None
        self.default_internaldate = default_internaldate

    def folder(self, name: str, *, create: bool = False) -> _Folder:
        key = _key(name)
        if key not in self.folders:
            if not create:
                raise MailboxUnavailable(f"mailbox {name!r} does not exist")
            self.folders[key] = _Folder(next(self.uidvalidities))
        return self.folders[key]

    def call(self, what: str) -> None:
        """Count one call against a planned outage; raise when it is one of the failing."""
        if not self.fail_count or self.fail_on not in (None, what):
            return
        if self.fail_after:
            self.fail_after -= 1
            return
        self.fail_count -= 1
        raise MailboxUnavailable(f"IMAP {what} failed: the mailbox is unavailable (planned)")


def _key(name: str) -> str:
    return "INBOX" if name.upper() == "INBOX" else name  # RFC 3501 5.1: INBOX in any case


class MemoryMailbox:
    """One session on mail kept in memory; see the module docstring."""

    def __init__(self, *, default_internaldate: datetime = DEFAULT_INTERNALDATE) -> None:
        self._server = _Server(default_internaldate)
        self._server.folder("INBOX", create=True)
        self._selected: str | None = None  # the name as given to select, as RawMessage has it
        self._closed = False

    def connect(self) -> MemoryMailbox:
        """Another session on the same mail (of the same class), nothing selected."""
        with self._server.lock:
            self._server.call("connect")
        session = copy.copy(self)
        session._selected, session._closed = None, False
        return session

    # -- the Mailbox port ---------------------------------------------------------------------

    def _begin(self, what: str) -> None:
        if self._closed:
            raise MailboxUnavailable(f"IMAP {what} after logout")
        self._server.call(what)

    def _open(self, what: str) -> tuple[str, _Folder]:
        self._begin(what)
        if self._selected is None:
            raise MailboxUnavailable(f"IMAP {what} with no mailbox selected")
        return self._selected, self._server.folder(self._selected)

    def select(self, name: str) -> int:
        with self._server.lock:
            self._begin("select")
            self._selected = None  # a failed SELECT leaves nothing selected
            folder = self._server.folder(name)
            self._selected = name
            return folder.uidvalidity

    def pending_uids(self, after_uid: int, processed_flag: str) -> list[int]:
        with self._server.lock:
            _, folder = self._open("pending_uids")
            return sorted(
                uid
                for uid, mail in folder.mail.items()
                if uid > after_uid or processed_flag not in mail.flags
            )

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        with self._server.lock:
            _, folder = self._open("sizes")
            return {uid: len(folder.mail[uid].raw) for uid in uids if uid in folder.mail}

    def fetch(self, uids: Sequence[int]) -> Iterator[RawMessage]:
        if not uids:
            return
        with self._server.lock:  # one FETCH: what exists now, in UID order
            name, folder = self._open("fetch")
            found = [(uid, folder.mail[uid]) for uid in sorted(set(uids)) if uid in folder.mail]
            uidvalidity = folder.uidvalidity
        for uid, mail in found:
            yield RawMessage(name, uidvalidity, uid, mail.raw, mail.internaldate, len(mail.raw))

    def add_flag(self, uids: Iterable[int], flag: str) -> None:
        uids = list(uids)
        if uids:
            with self._server.lock:
                _, folder = self._open("add_flag")
                for uid in uids:
                    if uid in folder.mail:
                        folder.mail[uid].flags.add(flag)

    def copy_to(self, uids: Iterable[int], folder: str) -> None:
        uids = list(uids)
        if uids:
            with self._server.lock:
                self._copy(self._open("copy_to")[1], uids, folder)

    def move_to(self, uids: Iterable[int], folder: str) -> None:
        uids = list(uids)
        if uids:
            with self._server.lock:
                _, source = self._open("move_to")
                for uid in self._copy(source, uids, folder):
                    del source.mail[uid]

    def _copy(self, source: _Folder, uids: list[int], target_name: str) -> list[int]:
        """Copy with flags and INTERNALDATE, in UID order; return the UIDs copied."""
        target = self._server.folder(target_name, create=True)
        copied = sorted(set(uids) & source.mail.keys())
        for uid in copied:
            mail = source.mail[uid]
            target.add(_Mail(mail.raw, mail.internaldate, set(mail.flags)))
        return copied

    def close(self) -> None:
        self._closed, self._selected = True, None

    # -- test hooks ---------------------------------------------------------------------------

    def append(
        self,
        raw: bytes,
        internaldate: datetime | None = None,
        *,
        folder: str = "INBOX",
        flags: Iterable[str] = (),
    ) -> int:
        """Deliver ``raw`` to ``folder`` (made if missing); return its UID."""
        date = internaldate or self._server.default_internaldate
        offset = date.utcoffset()
        if offset is None:
            raise ValueError("INTERNALDATE must be timezone-aware")
        # A server keeps the second and the offset, not the zone; a plain offset also pickles.
        date = date.replace(microsecond=0, tzinfo=timezone(offset))
        mail = _Mail(_BARE_LF.sub(b"\r\n", raw), date, set(flags))
        with self._server.lock:
            return self._server.folder(folder, create=True).add(mail)

    def flags(self, uid: int, folder: str = "INBOX") -> frozenset[str]:
        with self._server.lock:
            return frozenset(self._server.folder(folder).mail[uid].flags)

    def uids(self, folder: str = "INBOX") -> list[int]:
        with self._server.lock:
            return sorted(self._server.folder(folder).mail)

    def expunge(self, uid: int, folder: str = "INBOX") -> None:
        """Remove one message, as another session's EXPUNGE would; a missing UID is no error."""
        with self._server.lock:
            self._server.folder(folder).mail.pop(uid, None)

    def recreate(self, folder: str = "INBOX") -> int:
        """Replace ``folder`` by an empty one with a new UIDVALIDITY; return that."""
        with self._server.lock:
            self._server.folders.pop(_key(folder), None)
            return self._server.folder(folder, create=True).uidvalidity

    def fail_next(self, count: int = 1, *, on: str | None = None, after: int = 0) -> None:
        """Make the next ``count`` calls raise `MailboxUnavailable`: calls of ``on`` (one of
        `CALLS`) only, when given, and only after ``after`` of them went through. Replaces an
        outage still planned. `close` and the test hooks never fail."""
        if on is not None and on not in CALLS:
            raise ValueError(f"{on!r} is not one of {', '.join(CALLS)}")
        server = self._server
        with server.lock:
            server.fail_count, server.fail_on, server.fail_after = count, on, after
