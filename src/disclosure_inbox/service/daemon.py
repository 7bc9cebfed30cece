"""The long-running daemon: one cycle, then wait, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from disclosure_inbox.config import Settings
from disclosure_inbox.domain.errors import TransientError
from disclosure_inbox.service.app import App, run_cycle

log = logging.getLogger(__name__)

POLL_SECONDS = 60.0


def run_forever(settings: Settings, poll_seconds: float = POLL_SECONDS) -> int:
    app = App.build(settings)
    app.store.check_schema()
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stop.is_set():
        try:
            log.info(run_cycle(app).summary())
        except TransientError as exc:
            log.error("cycle failed, will retry: %s", exc)
        stop.wait(poll_seconds)
    return 0
