"""What the daemon's jobs do: intake, the outbox, the SLA scan, housekeeping and the watchdog.

Each pass first asks whether this instance still leads (a standby's jobs are healthy by
standing by, but not when the database cannot even be asked), then does its blocking work in a
worker thread, and leaves its marks: health, metrics, and the failures that set its backoff.
A write refused for a stale leadership epoch steps this instance down. ``Daemon`` schedules
the jobs and asks them for nothing but what is here.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from disclosure_inbox.adapters.db import stats
from disclosure_inbox.adapters.smtp import SmtpSender
from disclosure_inbox.config import Settings
from disclosure_inbox.domain.errors import (
    DisclosureInboxError,
    LeadershipLost,
    MailboxUnavailable,
    TransientError,
)
from disclosure_inbox.ports import Clock
from disclosure_inbox.service.app import App
from disclosure_inbox.service.clocks import business_calendar
from disclosure_inbox.service.health import Health, Metrics, StoreSnapshot
from disclosure_inbox.service.leader import Leadership
from disclosure_inbox.service.notify import Notifier
from disclosure_inbox.service.outbox import DrainResult, backoff

log = logging.getLogger(__name__)

INTAKE, OUTBOX, SCAN, HOUSEKEEPING = "intake", "outbox", "scan", "housekeeping"

Job = Callable[[], Awaitable[None]]


def intervals(settings: Settings) -> dict[str, float]:
    """Seconds between passes of each interval job."""
    return {
        INTAKE: settings.daemon.poll_interval_seconds,
        OUTBOX: settings.daemon.outbox_interval_seconds,
        SCAN: settings.escalation.scan_interval_seconds,
    }


def max_ages(settings: Settings) -> dict[str, timedelta]:
    """How long each job may go without a successful pass before health says so."""
    slack = settings.health.max_age_seconds
    return {
        loop: timedelta(seconds=every + (slack or every + 60))
        for loop, every in intervals(settings).items()
    }


class Jobs:
    def __init__(
        self,
        settings: Settings,
        app: App,
        *,
        clock: Clock,
        started_at: datetime,
        leader: Leadership,
        health: Health,
        metrics: Metrics,
        notifier: Notifier,
        stopping: threading.Event,
        run_now: Callable[[str], None],
        retry_in: Callable[[str, float], None],
        mailbox_down: Callable[[], None],
    ) -> None:
        """``run_now``, ``retry_in`` and ``mailbox_down`` are the daemon's: start a job now,
        start it again after a delay, and reconnect IMAP IDLE."""
        self.settings = settings
        self.app = app
        self.clock = clock
        self.leader = leader
        self.health = health
        self.metrics = metrics
        self.notifier = notifier
        self._stopping = stopping
        self._run_now = run_now
        self._retry_in = retry_in
        self._mailbox_down = mailbox_down
        self.started_at = started_at
        self.is_leader = False
        self.wake_pending = False  # mail arrived while intake ran: it runs again at once
        self.mail_queued = False  # a batch committed mail while the outbox ran: drain again
        self._failures: dict[str, int] = {}
        self._last_ok: dict[str, datetime] = {}
        self._last_attempt: dict[str, datetime] = {}
        self._rng = random.Random()
        self._seen_counts: dict[str, int] = {}

    def reconfigure(self, settings: Settings, app: App) -> None:
        """After a reload: the next passes use the new settings and parts."""
        self.settings, self.app = settings, app

    def by_name(self) -> dict[str, Job]:
        return {
            INTAKE: self._intake_job,
            OUTBOX: self._outbox_job,
            SCAN: self._scan_job,
            HOUSEKEEPING: self._housekeeping,
        }

    def backing_off(self, loop: str) -> bool:
        """Whether ``loop`` failed last time and waits for its retry."""
        return bool(self._failures.get(loop))

    # --- leadership and each pass's marks ---------------------------------------------

    async def _lead(self, loop: str) -> bool:
        """Re-check leadership before each pass; a standby's loops are healthy by standing by,
        but not when the database cannot even be asked."""
        try:
            self.is_leader = await asyncio.to_thread(self.leader.acquire)
        except TransientError as exc:
            self.is_leader = False
            self.metrics.set_leader(False)
            self._failed(loop, exc)
            return False
        self.metrics.set_leader(self.is_leader)
        if not self.is_leader:
            self.health.mark_ok(loop, self.clock.now())
            self._last_attempt[loop] = self.clock.now()
        return self.is_leader

    def _still_leading(self) -> bool:
        try:
            return self.leader.acquire()
        except TransientError:
            return False

    def _step_down(self, loop: str, exc: LeadershipLost) -> None:
        """A write of ``loop`` was refused: another instance leads now. Its transaction was
        rolled back; stand by until the lock can be had again."""
        self.leader.step_down(exc.epoch, f"{loop}: {exc}")
        self.is_leader = False
        self.metrics.set_leader(False)
        self.health.mark_ok(loop, self.clock.now())  # standing by is healthy
        self._last_attempt[loop] = self.clock.now()

    def _ok(self, loop: str) -> None:
        now = self.clock.now()
        self._failures[loop] = 0
        self._last_ok[loop] = now
        self._last_attempt[loop] = now
        self.health.mark_ok(loop, now)

    def _failed(self, loop: str, exc: Exception, *, retry: bool = True) -> None:
        if isinstance(exc, LeadershipLost):
            self._step_down(loop, exc)
            return
        now = self.clock.now()
        self._last_attempt[loop] = now
        failures = self._failures[loop] = self._failures.get(loop, 0) + 1
        self.health.mark_failed(loop, now, str(exc))
        if not retry:  # the job's own interval brings the next attempt
            log.error("%s failed (attempt %d): %s", loop, failures, exc)
            return
        delay = backoff(failures, 1.0, self.settings.daemon.backoff_max_seconds, self._rng)
        delay = min(delay, intervals(self.settings)[loop])
        log.error("%s failed (attempt %d, retry in %.1f s): %s", loop, failures, delay, exc)
        self._retry_in(loop, delay)

    # --- the jobs ---------------------------------------------------------------------

    async def _intake_job(self) -> None:
        if not await self._lead(INTAKE):
            return
        loop = asyncio.get_running_loop()

        def committed() -> None:  # from the intake thread: send that batch's mail now
            loop.call_soon_threadsafe(self._mail_committed)

        while not self._stopping.is_set():
            self.wake_pending = False
            try:
                result = await asyncio.to_thread(self._intake_pass, committed)
            except Exception as exc:
                self._failed(INTAKE, exc)
                if isinstance(exc, MailboxUnavailable):
                    self._mailbox_down()
                return
            self._ok(INTAKE)
            self.metrics.count_ingested(result.messages)
            self.metrics.count_quarantined(result.quarantined)
            if result.messages or result.duplicates or result.quarantined:
                log.info("intake: %s", result.summary())
                self._run_now(OUTBOX)
            if not self.wake_pending:
                break

    def _mail_committed(self) -> None:
        self.mail_queued = True
        self._run_now(OUTBOX)  # or, while it runs, it drains once more

    def _intake_pass(self, committed: Callable[[], None]) -> Any:
        mailbox = self.app.open_mailbox()
        try:
            return self.app.intake(after_commit=committed).run(
                mailbox, self.clock.now(), should_stop=self._stopping.is_set
            )
        finally:
            mailbox.close()

    async def _outbox_job(self) -> None:
        if not await self._lead(OUTBOX):
            return
        outbox = self.app.outbox()
        result = DrainResult()
        try:
            # On the daemon's loop: the outbox keeps its store calls on a thread of its own.
            async with SmtpSender(self.settings.smtp) as sender:
                while True:
                    self.mail_queued = False
                    result.add(await outbox.drain(self.clock, self._still_leading, sender))
                    if result.server_unwell or not self.mail_queued or self._stopping.is_set():
                        break
        except Exception as exc:
            self._failed(OUTBOX, exc)
            return
        self.metrics.count_acks_sent(result.sent_kinds.get("ack", 0))
        waiting = None if result.sent else await asyncio.to_thread(outbox.retrying)
        if result.deferred or waiting:
            # Healthy only once mail flows again: a pass with nothing due proves nothing.
            error = waiting or "SMTP server deferred or unreachable"
            self._failed(OUTBOX, DisclosureInboxError(error), retry=False)
            return
        self._ok(OUTBOX)

    async def _scan_job(self) -> None:
        if not await self._lead(SCAN):
            return
        escalator = self.app.escalator()
        try:
            result = await asyncio.to_thread(escalator.scan, self.clock.now())
        except Exception as exc:
            self._failed(SCAN, exc)
            return
        self._ok(SCAN)
        self.metrics.count_escalations(result.escalations)
        if result.mails:
            self._run_now(OUTBOX)

    async def _housekeeping(self) -> None:
        try:
            self.is_leader = await asyncio.to_thread(self.leader.acquire)
        except TransientError as exc:
            self.is_leader = False
            log.error("cannot reach the database to check leadership: %s", exc)
        self.metrics.set_leader(self.is_leader)
        try:
            await asyncio.to_thread(self._observe_store)
            if self.is_leader:
                await asyncio.to_thread(self._alert_if_stuck)
        except Exception as exc:
            log.warning("housekeeping failed: %s", exc)
        healthy, _ = self.health.verdict(self.clock.now())
        self.notifier.status(
            f"{'leader' if self.is_leader else 'standby'}, {'healthy' if healthy else 'unhealthy'}"
        )

    def _observe_store(self) -> None:
        now = self.clock.now()
        with self.app.store.reading() as tx:
            soon = business_calendar(self.settings).add_business_days(now, 1)
            snap = stats.snapshot(tx, now, soon)
            counts = stats.counts(tx)
        self.metrics.observe_store(StoreSnapshot(**snap))
        for key, count in (
            ("acks_suppressed", self.metrics.count_acks_suppressed),
            ("outbox_failed", self.metrics.count_acks_failed),
        ):
            seen = self._seen_counts.setdefault(key, counts[key])
            if counts[key] > seen:
                count(counts[key] - seen)
                self._seen_counts[key] = counts[key]

    def _alert_if_stuck(self) -> None:
        """Mail staff about intake that keeps failing, or templates that fail at run time."""
        now = self.clock.now()
        last = self._last_ok.get(INTAKE)
        error = self.health.verdict(now)[1]["loops"].get(INTAKE, {}).get("last_error")
        alerts = self.app.alerts()
        queued = alerts.intake_failing(now, last, last or self.started_at, error)
        if alerts.templates_failing(now) or queued:
            self._run_now(OUTBOX)

    async def watchdog(self) -> None:
        """Ping only while every loop keeps completing its passes (whatever their outcome):
        a hung pass stops the pings and systemd restarts the service."""
        now = self.clock.now()
        for loop, every in intervals(self.settings).items():
            last = self._last_attempt.get(loop, self.started_at)
            limit = max(3 * every, self.settings.daemon.backoff_max_seconds) + 60
            if (now - last).total_seconds() > limit:
                log.error(
                    "%s has not completed a pass for %.0f s", loop, (now - last).total_seconds()
                )
                return
        self.notifier.watchdog()
