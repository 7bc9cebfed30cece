"""The client side of the private Dovecot: one user's login, with helpers that load mail into
the server (MULTIAPPEND with chosen INTERNALDATEs) and read back what a user would see (UIDs,
flags, UIDVALIDITY)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING

from imapclient import IMAPClient

from disclosure_inbox.testing.dovecot_host import DovecotError

if TYPE_CHECKING:
    from disclosure_inbox.testing.dovecot import DovecotServer

_APPEND_CHUNK = 100  # messages per MULTIAPPEND command
_APPENDUID = re.compile(rb"\[APPENDUID \d+ ([0-9:,]+)\]")


class ImapAccount:
    """One user on a `DovecotServer`, with helpers that each use a fresh connection."""

    def __init__(self, server: DovecotServer, user: str, password: str) -> None:
        self.server = server
        self.user = user
        self.password = password

    def __repr__(self) -> str:
        return f"ImapAccount({self.user!r} on {self.host}:{self.port})"

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def connect(self, timeout: float = 10.0) -> IMAPClient:
        """A logged-in plain-text client; use it as a context manager to log out."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=timeout)
        # imapclient sets imaplib's debug level to 5, which makes imaplib format a text copy
        # of every response even when nothing is logged: FETCH runs several times slower.
        client._imap.debug = 0
        try:
            client.login(self.user, self.password)
        except Exception:
            client.shutdown()
            raise
        return client

    def append(
        self,
        messages: Iterable[bytes],
        mailbox: str = "INBOX",
        internaldates: Iterable[datetime | None] | None = None,
        flags: Iterable[bytes | str] = (),
    ) -> list[int]:
        """Append raw messages and return the UIDs the server gave them, in order.

        ``internaldates``, when given, pairs one date (or None for "now") with each message;
        use timezone-aware datetimes (imapclient reads naive ones as local time). ``flags``
        are set on every message. Uses MULTIAPPEND, 100 messages a command, when offered.
        """
        flag_list = list(flags)
        if internaldates is None:
            pairs: Iterator[tuple[bytes, datetime | None]] = ((m, None) for m in messages)
        else:
            pairs = zip(messages, internaldates, strict=True)
        uids: list[int] = []
        with self.connect() as client:
            multi = client.has_capability("MULTIAPPEND")
            while chunk := list(islice(pairs, _APPEND_CHUNK if multi else 1)):
                if multi:
                    items = [_append_item(raw, date, flag_list) for raw, date in chunk]
                    response = client.multiappend(mailbox, items)
                else:
                    raw, date = chunk[0]
                    response = client.append(mailbox, raw, flag_list, date)
                uids.extend(_appended_uids(response))
        return uids

    def create_mailbox(self, name: str) -> None:
        with self.connect() as client:
            client.create_folder(name)

    def delete_mailbox(self, name: str) -> None:
        with self.connect() as client:
            client.delete_folder(name)

    def recreate_mailbox(self, name: str = "INBOX") -> int:
        """Replace ``name`` by an empty mailbox, as a restore from backup would, and return
        its new UIDVALIDITY. UIDs start from 1 again.

        Any other mailbox is deleted and created again over IMAP. INBOX cannot be deleted
        over IMAP, so its messages are expunged, this user's sessions are ended (a session
        that kept INBOX open would see its index vanish), and the UID list and indexes of
        INBOX are removed; Dovecot makes new ones at the next access.

        Dovecot draws a new mailbox's UIDVALIDITY from a per-user counter
        (dovecot-uidvalidity) that only moves forward, even within one second; should it
        ever hand back the old value, it is raised by one with ``doveadm mailbox update``.
        """
        old = self.uidvalidity(name)
        with self.connect() as client:
            if name.upper() == "INBOX":
                client.select_folder(name)
                if uids := client.search("ALL"):
                    client.delete_messages(uids)
                    client.expunge()
            else:
                client.delete_folder(name)
                client.create_folder(name)
        if name.upper() == "INBOX":
            self.server.forget_inbox_uids(self.user)
        new = self.uidvalidity(name)
        if new == old:
            self.server.doveadm(
                "mailbox", "update", "-u", self.user, "--uid-validity", str(old + 1), name
            )
            new = self.uidvalidity(name)
        if new == old:
            raise DovecotError(f"UIDVALIDITY of {name!r} stayed {old}")
        return new

    def list_uids(self, mailbox: str = "INBOX") -> list[int]:
        with self.connect() as client:
            client.select_folder(mailbox, readonly=True)
            return sorted(client.search("ALL"))

    def fetch_flags(self, mailbox: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        r"""Stored flags by UID. ``\Recent`` is left out: it belongs to a session, not to mail."""
        with self.connect() as client:
            client.select_folder(mailbox, readonly=True)
            fetched = client.fetch(client.search("ALL"), ["FLAGS"])
        return {
            uid: tuple(f for f in data[b"FLAGS"] if f != b"\\Recent")
            for uid, data in fetched.items()
        }

    def uidvalidity(self, mailbox: str = "INBOX") -> int:
        with self.connect() as client:
            return int(client.folder_status(mailbox, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def message_count(self, mailbox: str = "INBOX") -> int:
        with self.connect() as client:
            return int(client.folder_status(mailbox, [b"MESSAGES"])[b"MESSAGES"])


def _append_item(raw: bytes, date: datetime | None, flags: list[bytes | str]) -> dict[str, object]:
    item: dict[str, object] = {"msg": raw}
    if flags:
        item["flags"] = flags
    if date is not None:
        item["date"] = date
    return item


def _appended_uids(response: object) -> list[int]:
    # APPEND answers with bytes, MULTIAPPEND with (typ, [data...]): both carry APPENDUID.
    if isinstance(response, tuple):
        response = b" ".join(part for part in response[1] if isinstance(part, bytes))
    match = _APPENDUID.search(response) if isinstance(response, bytes) else None
    if match is None:
        return []
    uids: list[int] = []
    for part in match.group(1).split(b","):
        first, _, last = part.partition(b":")
        uids.extend(range(int(first), int(last or first) + 1))
    return uids
