"""The composition root: builds the parts from Settings, and one cycle of work (``run --once``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from disclosure_inbox.adapters.blobs import FileBlobStore
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.imap import ImapMailbox
from disclosure_inbox.config import Settings
from disclosure_inbox.ports import Clock, Mailbox, SystemClock
from disclosure_inbox.service.intake import Intake, IntakeResult

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    store: Store
    blobs: FileBlobStore
    clock: Clock = field(default_factory=SystemClock)
    mailbox_factory: Callable[[], Mailbox] | None = None

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> App:
        store = Store.from_url(settings.database_url)
        blobs = FileBlobStore(settings.storage.path / "blobs")
        return cls(settings=settings, store=store, blobs=blobs, clock=clock or SystemClock())

    def open_mailbox(self) -> Mailbox:
        if self.mailbox_factory is not None:
            return self.mailbox_factory()
        return ImapMailbox(self.settings.imap)

    def intake(self) -> Intake:
        return Intake(self.settings, self.store, self.blobs)


@dataclass
class CycleResult:
    intake: IntakeResult

    def summary(self) -> str:
        return f"intake: {self.intake.summary()}"


def _progress_bar(
    enabled: bool,
) -> tuple[Callable[[int], Any] | None, Callable[[int], Any] | None, Callable[[], None]]:
    if not enabled:
        return None, None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="msg", file=sys.stderr, desc="intake", leave=False)

    def set_total(n: int) -> None:
        bar.total = n
        bar.refresh()

    return bar.update, set_total, bar.close


def run_cycle(app: App, *, progress: bool = False) -> CycleResult:
    """One full cycle of work: intake of everything pending."""
    app.store.check_schema()
    now = app.clock.now()
    update, set_total, close = _progress_bar(progress)
    mailbox = app.open_mailbox()
    try:
        result = app.intake().run(mailbox, now, progress=update, total=set_total)
    finally:
        close()
        mailbox.close()
    return CycleResult(intake=result)
