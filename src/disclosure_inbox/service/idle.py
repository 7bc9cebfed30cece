"""IMAP IDLE on a connection of its own, in a thread of its own, waking intake on new mail.

The watcher never reads or changes mail; it only says "something arrived". It re-issues IDLE
before the server's timeout, reconnects with backoff after any error, and stops within a
second of being asked. Polling in the daemon stays on as the safety net.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable

from disclosure_inbox.adapters.imap import ImapMailbox
from disclosure_inbox.config import Imap
from disclosure_inbox.service.outbox import backoff

log = logging.getLogger(__name__)

_CHECK_SECONDS = 1.0  # how long one idle_check waits: the bound on reacting to stop()
# While the server refuses connections (it is down), trying again costs it nothing: look at
# least this often, so that intake learns within seconds that the server is back.
_DOWN_RETRY_SECONDS = 3.0


def _refused(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, ConnectionRefusedError):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


class IdleWatcher(threading.Thread):
    def __init__(
        self,
        settings: Imap,
        *,
        on_mail: Callable[[], None],
        on_reconnect: Callable[[], None],
        on_recovered: Callable[[], None],
        renew_seconds: float,
        backoff_max_seconds: float,
    ) -> None:
        super().__init__(name="imap-idle", daemon=True)
        self._settings = settings
        self._on_mail = on_mail
        self._on_reconnect = on_reconnect
        self._on_recovered = on_recovered
        self._renew = renew_seconds
        self._backoff_max = backoff_max_seconds
        self._stop = threading.Event()
        self._reset = threading.Event()
        self._rng = random.Random()
        self.supported = True

    def stop(self) -> None:
        self._stop.set()

    def reconnect(self) -> None:
        """Drop the connection and make a new one: intake saw the server go away, and an
        IDLE connection may not notice that by itself."""
        self._reset.set()

    def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            mailbox: ImapMailbox | None = None
            try:
                mailbox = ImapMailbox(self._settings)
                client = mailbox.client
                if not client.has_capability("IDLE"):
                    log.warning("IMAP server offers no IDLE; relying on polling")
                    self.supported = False
                    return
                client.select_folder(self._settings.mailbox, readonly=True)
                if failures:
                    log.info("IMAP IDLE connection re-established")
                    self._on_recovered()  # the server is back: intake need not wait
                else:
                    self._on_mail()  # whatever arrived while we were not watching
                failures = 0
                self._watch(mailbox)
            except Exception as exc:
                failures += 1
                self._on_reconnect()
                delay = backoff(failures, 1.0, self._backoff_max, self._rng)
                if _refused(exc):
                    delay = min(delay, _DOWN_RETRY_SECONDS)
                log.warning("IMAP IDLE failed (%s); reconnecting in %.1f s", exc, delay)
                self._stop.wait(delay)
            finally:
                if mailbox is not None:
                    mailbox.close()

    def _watch(self, mailbox: ImapMailbox) -> None:
        client = mailbox.client
        self._reset.clear()
        while not self._stop.is_set():
            client.idle()
            started = time.monotonic()
            early_empty = 0
            try:
                while not self._stop.is_set() and time.monotonic() - started < self._renew:
                    if self._reset.is_set():
                        raise ConnectionError("reconnecting at intake's request")
                    asked = time.monotonic()
                    responses = client.idle_check(timeout=_CHECK_SECONDS)
                    if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                        self._on_mail()
                    # imapclient returns nothing, at once, when the server has closed the
                    # connection (it swallows the EOF): a few of those in a row mean it is gone.
                    quick = not responses and time.monotonic() - asked < _CHECK_SECONDS / 2
                    early_empty = early_empty + 1 if quick else 0
                    if early_empty >= 3:
                        raise ConnectionError("the server closed the IDLE connection")
            finally:
                if not self._reset.is_set() and early_empty < 3:
                    client.idle_done()
