"""IMAP through imapclient, behind the small ``Mailbox`` port.

Errors are mapped here, once: network and protocol trouble becomes ``MailboxUnavailable`` (try
again later), TLS trouble becomes ``SecurityError`` (never downgraded to plain text).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timezone
from typing import Any

import imapclient
from imapclient.exceptions import IMAPClientError

from disclosure_inbox.config import Imap
from disclosure_inbox.domain.errors import MailboxUnavailable, SecurityError
from disclosure_inbox.domain.model import RawMessage

log = logging.getLogger(__name__)


_CHUNK = 1000  # UIDs per command


def tls_context(verify: bool, ca_file: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _internaldate(value: Any) -> datetime:
    """Aware, with a plain ``timezone`` offset: imapclient's own ``FixedOffset`` cannot be
    pickled, and the message travels to a parse worker."""
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            return value.replace(tzinfo=UTC)
        return value.replace(tzinfo=timezone(offset))
    raise MailboxUnavailable(f"server sent no usable INTERNALDATE: {value!r}")


def _shutdown(client: imapclient.IMAPClient) -> None:
    """Close a connection that failed half-way; its socket may already be unusable, and that
    must not hide the error that brought us here."""
    with contextlib.suppress(Exception):
        client.shutdown()


class ImapMailbox:
    """One logged-in IMAP connection with one selected mailbox."""

    def __init__(self, settings: Imap) -> None:
        self._settings = settings
        self._mailbox = ""
        self._client = self._connect()

    def _connect(self) -> imapclient.IMAPClient:
        s = self._settings
        context = tls_context(s.verify_certificates, s.ca_file)
        if not s.verify_certificates and s.tls != "none":
            log.warning("IMAP certificate verification is off for %s", s.host)
        try:
            client = imapclient.IMAPClient(
                s.host,
                port=s.port,
                ssl=s.tls == "ssl",
                ssl_context=context if s.tls == "ssl" else None,
                timeout=s.timeout_seconds,
            )
        except ssl.SSLError as exc:
            raise SecurityError(f"IMAP TLS with {s.host}:{s.port} failed: {exc}") from exc
        except (OSError, IMAPClientError) as exc:
            raise MailboxUnavailable(f"cannot connect to IMAP {s.host}:{s.port}: {exc}") from exc
        # imapclient turns on imaplib's protocol debugging, which copies every fetched message
        # into a log string even when nothing is logged: several times the cost of the fetch.
        client._imap.debug = 0
        client.normalise_times = False  # keep INTERNALDATE timezone-aware
        try:
            if s.tls == "starttls":
                if b"STARTTLS" not in client.capabilities():
                    raise SecurityError(f"IMAP server {s.host} does not offer STARTTLS")
                client.starttls(context)
            client.login(s.username, s.password.get_secret_value())
        except SecurityError:
            _shutdown(client)
            raise
        except ssl.SSLError as exc:
            _shutdown(client)
            raise SecurityError(f"IMAP STARTTLS with {s.host}:{s.port} failed: {exc}") from exc
        except (OSError, IMAPClientError) as exc:
            _shutdown(client)
            raise MailboxUnavailable(
                f"IMAP login to {s.host} as {s.username} failed: {exc}"
            ) from exc
        return client

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (TimeoutError, OSError, IMAPClientError) as exc:
            raise MailboxUnavailable(
                f"IMAP {what} on {self._mailbox or '-'} failed: {exc}"
            ) from exc

    @property
    def client(self) -> imapclient.IMAPClient:
        return self._client

    def select(self, name: str) -> int:
        info = self._call("SELECT", self._client.select_folder, name, readonly=False)
        self._mailbox = name
        return int(info[b"UIDVALIDITY"])

    def pending_uids(self, after_uid: int, processed_flag: str) -> list[int]:
        # "UID n:*" always matches the highest message even below n, hence the filter.
        above = [
            u
            for u in self._call("SEARCH", self._client.search, ["UID", f"{after_uid + 1}:*"])
            if u > after_uid
        ]
        unflagged = self._call("SEARCH", self._client.search, ["UNKEYWORD", processed_flag])
        return sorted(set(above) | set(unflagged))

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        # In chunks: imapclient writes every UID out, and servers refuse overlong commands
        # (Dovecot: "Too long argument" past about 12,000 UIDs).
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), _CHUNK):
            chunk = list(uids[start : start + _CHUNK])
            data = self._call("FETCH", self._client.fetch, chunk, ["RFC822.SIZE"])
            sizes.update({int(uid): int(item[b"RFC822.SIZE"]) for uid, item in data.items()})
        return sizes

    def fetch(self, uids: Sequence[int]) -> Iterator[RawMessage]:
        if not uids:
            return
        data = self._call("FETCH", self._client.fetch, list(uids), ["BODY.PEEK[]", "INTERNALDATE"])
        info = self._call("SELECT", self._client.folder_status, self._mailbox, ["UIDVALIDITY"])
        uidvalidity = int(info[b"UIDVALIDITY"])
        for uid in sorted(data):
            item = data.pop(uid)  # let each message's bytes go as soon as it is handed on
            raw = item.get(b"BODY[]")
            if raw is None:
                continue  # expunged between SEARCH and FETCH
            yield RawMessage(
                mailbox=self._mailbox,
                uidvalidity=uidvalidity,
                uid=int(uid),
                raw=bytes(raw),
                internaldate=_internaldate(item.get(b"INTERNALDATE")),
                size=len(raw),
            )

    def add_flag(self, uids: Iterable[int], flag: str) -> None:
        uids = list(uids)
        for start in range(0, len(uids), _CHUNK):
            chunk = uids[start : start + _CHUNK]
            self._call("STORE", self._client.add_flags, chunk, [flag], silent=True)

    def ensure_folder(self, folder: str) -> None:
        if not self._call("LIST", self._client.folder_exists, folder):
            self._call("CREATE", self._client.create_folder, folder)

    def copy_to(self, uids: Iterable[int], folder: str) -> None:
        uids = list(uids)
        if uids:
            self.ensure_folder(folder)
            self._call("COPY", self._client.copy, uids, folder)

    def move_to(self, uids: Iterable[int], folder: str) -> None:
        uids = list(uids)
        if not uids:
            return
        self.ensure_folder(folder)
        if self._client.has_capability("MOVE"):
            self._call("MOVE", self._client.move, uids, folder)
        else:
            # COPY then \Deleted without EXPUNGE: the original stays until someone expunges it.
            self._call("COPY", self._client.copy, uids, folder)
            self._call("STORE", self._client.add_flags, uids, [imapclient.DELETED], silent=True)

    def close(self) -> None:
        try:
            self._client.logout()
        except Exception:  # the connection may already be gone; nothing to save
            with contextlib.suppress(Exception):
                self._client.shutdown()
