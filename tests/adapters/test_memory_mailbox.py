"""The in-memory mailbox behaves as the Dovecot adapter does: one contract, run against both.

Each contract test gets a side: `open()` gives a session at the Mailbox port, and the hooks
(append, flags, uids, expunge, recreate) act from outside that session, as another client
would. On Dovecot the hooks go through connections of their own; on the fake they are its
test hooks, so these tests also show that the hooks mean what they say.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

import pytest
from imapclient import DELETED

from disclosure_inbox.adapters.imap import ImapMailbox
from disclosure_inbox.config import Imap
from disclosure_inbox.domain.errors import MailboxUnavailable
from disclosure_inbox.domain.model import RawMessage
from disclosure_inbox.ports import Mailbox
from disclosure_inbox.testing.dovecot import DovecotServer, ImapAccount
from disclosure_inbox.testing.mailgen import generate, simple
from disclosure_inbox.testing.memory_mailbox import MemoryMailbox

FLAG = "$Processed"
WHEN = datetime(2026, 3, 2, 9, 15, 30, tzinfo=UTC)
MINUS_5 = timezone(timedelta(hours=-5))


class Side(Protocol):
    def open(self) -> Mailbox: ...

    def append(self, raw: bytes, internaldate: datetime | None = None) -> int: ...

    def flags(self, uid: int, folder: str = "INBOX") -> frozenset[str]: ...

    def uids(self, folder: str = "INBOX") -> list[int]: ...

    def expunge(self, uid: int, folder: str = "INBOX") -> None: ...

    def recreate(self, folder: str = "INBOX") -> int: ...


class MemorySide(MemoryMailbox):
    def open(self) -> Mailbox:
        return self.connect()


def imap_settings(host: str, port: int, user: str, password: str) -> Imap:
    return Imap(
        host=host, port=port, username=user, password=password, tls="none", timeout_seconds=5
    )


class DovecotSide:
    def __init__(self, account: ImapAccount) -> None:
        self.account = account
        self.sessions: list[ImapMailbox] = []

    def open(self) -> Mailbox:
        a = self.account
        self.sessions.append(ImapMailbox(imap_settings(a.host, a.port, a.user, a.password)))
        return self.sessions[-1]

    def append(self, raw: bytes, internaldate: datetime | None = None) -> int:
        [uid] = self.account.append([raw], internaldates=[internaldate])
        return uid

    def flags(self, uid: int, folder: str = "INBOX") -> frozenset[str]:
        return frozenset(f.decode() for f in self.account.fetch_flags(folder)[uid])

    def uids(self, folder: str = "INBOX") -> list[int]:
        return self.account.list_uids(folder)

    def expunge(self, uid: int, folder: str = "INBOX") -> None:
        with self.account.connect() as client:
            client.select_folder(folder)
            client.add_flags([uid], [DELETED])
            client.uid_expunge([uid])

    def recreate(self, folder: str = "INBOX") -> int:
        return self.account.recreate_mailbox(folder)


@pytest.fixture(params=["memory", "dovecot"])
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    if request.param == "memory":
        yield MemorySide()
        return
    dovecot = DovecotSide(request.getfixturevalue("imap_account"))
    yield dovecot
    for session in dovecot.sessions:
        session.close()


def opened(side: Side, folder: str = "INBOX") -> Mailbox:
    mailbox = side.open()
    mailbox.select(folder)
    return mailbox


def message(n: int) -> bytes:
    return simple(f"finding {n}", message_id=f"<finding-{n}@example.org>")


# -- the contract -----------------------------------------------------------------------------


def test_select_gives_the_uidvalidity_and_an_unknown_folder_is_unavailable(side: Side) -> None:
    mailbox = side.open()
    with pytest.raises(MailboxUnavailable):
        mailbox.pending_uids(0, FLAG)  # nothing selected yet

    uidvalidity = mailbox.select("INBOX")
    assert mailbox.select("inbox") == uidvalidity  # INBOX in any case
    with pytest.raises(MailboxUnavailable):
        mailbox.select("Nowhere")
    with pytest.raises(MailboxUnavailable):
        mailbox.sizes([1])  # a failed select leaves nothing selected

    mailbox.close()
    with pytest.raises(MailboxUnavailable):
        mailbox.select("INBOX")


def test_uids_ascend_are_never_reused_and_restart_in_a_recreated_folder(side: Side) -> None:
    assert [side.append(message(n)) for n in range(3)] == [1, 2, 3]
    side.expunge(3)
    assert side.append(message(3)) == 4
    mailbox = side.open()
    old = mailbox.select("INBOX")
    mailbox.close()

    new = side.recreate("INBOX")
    assert new != old
    assert side.append(message(9)) == 1
    mailbox = opened(side)
    [fetched] = mailbox.fetch([1])
    assert (fetched.uidvalidity, fetched.raw) == (new, message(9))
    assert mailbox.select("INBOX") == new


def test_pending_is_above_the_checkpoint_or_not_yet_flagged(side: Side) -> None:
    for n in range(5):
        side.append(message(n))
    mailbox = opened(side)
    assert mailbox.pending_uids(0, FLAG) == [1, 2, 3, 4, 5]

    mailbox.add_flag([1, 2, 4], FLAG)
    assert mailbox.pending_uids(0, FLAG) == [1, 2, 3, 4, 5]
    assert mailbox.pending_uids(3, FLAG) == [3, 4, 5]
    assert mailbox.pending_uids(5, FLAG) == [3, 5]
    assert mailbox.pending_uids(5, "$Other") == [1, 2, 3, 4, 5]

    mailbox.add_flag([3, 5], FLAG)
    # "UID 6:*" matches the highest message on a real server; it must not come back.
    assert mailbox.pending_uids(5, FLAG) == []
    assert mailbox.pending_uids(99, FLAG) == []


def test_sizes_and_fetch_give_the_bytes_exactly_without_marking_them_read(side: Side) -> None:
    with_attachment = next(generate(1, seed=4, large_every=1, large_bytes=40_000)).raw
    bare_lf = b"From: Ada <ada@example.org>\nSubject: bare LF\n\nline one\nline two\n"
    odd_ends = b"From: ada@example.org\r\nSubject: odd\r\n\r\nbare\rCR, no final newline"
    microseconds = datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=MINUS_5)
    # (sent, as the server keeps it, INTERNALDATE): a bare LF becomes CRLF; a zone, its offset.
    cases = [
        (with_attachment, with_attachment, WHEN),
        (bare_lf, bare_lf.replace(b"\n", b"\r\n"), microseconds),
        (odd_ends, odd_ends, datetime(2026, 1, 1, 8, 0, 1, tzinfo=ZoneInfo("Asia/Tokyo"))),
    ]
    uids = [side.append(sent, date) for sent, _, date in cases]
    mailbox = side.open()
    uidvalidity = mailbox.select("INBOX")
    expected = [
        RawMessage("INBOX", uidvalidity, uid, kept, date.replace(microsecond=0), len(kept))
        for uid, (_, kept, date) in zip(uids, cases, strict=True)
    ]

    assert mailbox.sizes([*uids, 99]) == {m.uid: m.size for m in expected}
    fetched = list(mailbox.fetch([3, 1, 99, 2, 1]))
    assert fetched == expected  # in UID order, each once
    assert pickle.loads(pickle.dumps(fetched)) == expected  # fit to travel to a parse worker
    assert list(mailbox.fetch([])) == []
    assert [side.flags(uid) for uid in uids] == [frozenset()] * 3  # no \Seen


def test_flags_are_added_to_what_is_there(side: Side) -> None:
    side.append(message(1))
    side.append(message(2))
    mailbox = opened(side)

    mailbox.add_flag([1, 2, 99], FLAG)
    mailbox.add_flag([1], "\\Flagged")
    mailbox.add_flag([1], FLAG)
    mailbox.add_flag([], FLAG)

    assert side.flags(1) == {FLAG, "\\Flagged"}
    assert side.flags(2) == {FLAG}


def test_copy_keeps_the_original_and_copies_flags_and_date(side: Side) -> None:
    dates = [WHEN + timedelta(hours=n) for n in range(3)]
    for n, date in enumerate(dates):
        side.append(message(n), date)
    mailbox = opened(side)
    mailbox.add_flag([1], FLAG)

    mailbox.copy_to([3, 1, 99], "Quarantine")
    mailbox.copy_to([], "Empty")

    assert side.uids() == [1, 2, 3]
    assert side.uids("Quarantine") == [1, 2]
    assert (side.flags(1, "Quarantine"), side.flags(2, "Quarantine")) == ({FLAG}, set())
    copies = opened(side, "Quarantine")
    got = [(m.raw, m.internaldate) for m in copies.fetch([1, 2])]
    assert got == [(message(0), dates[0]), (message(2), dates[2])]
    with pytest.raises(MailboxUnavailable):
        copies.select("Empty")  # nothing to copy: no folder made


def test_move_copies_then_expunges_from_the_source(side: Side) -> None:
    for n in range(3):
        side.append(message(n))
    mailbox = opened(side)
    mailbox.add_flag([1], FLAG)

    mailbox.move_to([1, 2, 99], "Processed")

    assert side.uids() == [3]
    assert mailbox.sizes([1, 2, 3]) == {3: len(message(2))}
    assert mailbox.pending_uids(0, FLAG) == [3]
    assert side.uids("Processed") == [1, 2]
    assert (side.flags(1, "Processed"), side.flags(2, "Processed")) == ({FLAG}, set())
    moved = opened(side, "Processed")
    assert [m.raw for m in moved.fetch([1, 2])] == [message(0), message(1)]


def test_uids_expunged_after_the_search_are_left_out(side: Side) -> None:
    for n in range(4):
        side.append(message(n))
    mailbox = opened(side)
    pending = mailbox.pending_uids(0, FLAG)

    side.expunge(2)
    side.expunge(3)

    assert [m.uid for m in mailbox.fetch(pending)] == [1, 4]
    # A real server may still give a size for a UID expunged since its last command; after
    # the fetch it has caught up. Intake copes either way: fetch leaves such a UID out.
    assert mailbox.sizes(pending).keys() == {1, 4}
    mailbox.add_flag(pending, FLAG)
    mailbox.copy_to(pending, "Quarantine")
    assert [side.flags(uid) for uid in side.uids()] == [{FLAG}, {FLAG}]
    assert side.uids("Quarantine") == [1, 2]


@pytest.mark.parametrize("kind", ["memory", "dovecot"])
def test_an_outage_is_mailbox_unavailable_and_a_new_session_recovers(
    kind: str, request: pytest.FixtureRequest
) -> None:
    begin: Callable[[], None]
    end: Callable[[], None]
    if kind == "memory":
        memory = MemorySide()
        side: Side = memory
        begin, end = lambda: memory.fail_next(2), lambda: None
    else:
        server: DovecotServer = request.getfixturevalue("dovecot_factory")()
        account = server.account()
        side = DovecotSide(account)

        def begin() -> None:
            # Sessions ended first: a stop would otherwise wait 10 s for the one left open.
            server.doveadm("kick", account.user, accept=(0, 68))
            server.stop()

        end = server.start
    side.append(message(1))
    mailbox = side.open()

    begin()
    with pytest.raises(MailboxUnavailable):
        mailbox.select("INBOX")
    with pytest.raises(MailboxUnavailable):
        side.open()
    end()

    assert opened(side).pending_uids(0, FLAG) == [1]


# -- the fake's own hooks ---------------------------------------------------------------------


def test_fail_next_counts_only_the_calls_it_names() -> None:
    mail = MemoryMailbox()
    mail.append(message(1))
    mail.select("INBOX")

    mail.fail_next(2, on="fetch", after=1)
    assert [m.uid for m in mail.fetch([1])] == [1]
    assert mail.pending_uids(0, FLAG) == [1]  # not a fetch: not counted
    for _ in range(2):
        with pytest.raises(MailboxUnavailable, match="fetch"):
            list(mail.fetch([1]))
    assert [m.uid for m in mail.fetch([1])] == [1]

    mail.fail_next()
    with pytest.raises(MailboxUnavailable):
        mail.connect()
    mail.connect().close()
    with pytest.raises(ValueError, match="not one of"):
        mail.fail_next(on="expunge")


def test_sessions_share_the_mail_but_not_the_selection() -> None:
    class Watched(MemoryMailbox):
        pass

    first = Watched()
    first.select("INBOX")
    second = first.connect()
    assert isinstance(second, Watched)
    with pytest.raises(MailboxUnavailable):
        second.pending_uids(0, FLAG)

    uid = first.append(message(1), folder="Reports")
    first.close()
    with pytest.raises(MailboxUnavailable, match="after logout"):
        first.select("INBOX")
    second.select("Reports")
    assert [m.uid for m in second.fetch([uid])] == [uid]


def test_internaldate_defaults_to_a_fixed_instant_and_must_be_aware() -> None:
    mail = MemoryMailbox(default_internaldate=WHEN)
    mail.append(message(1))
    mail.select("INBOX")
    [fetched] = mail.fetch([1])
    assert fetched.internaldate == WHEN
    with pytest.raises(ValueError, match="timezone-aware"):
        mail.append(message(2), datetime(2026, 1, 1))
