"""The long-running daemon: the one composition root of the service.

One asyncio event loop runs APScheduler 3's ``AsyncIOScheduler`` with three jobs, intake, the
outbox and the SLA scan, plus housekeeping (leadership, metrics, alerts) and the systemd
watchdog. Blocking work (imapclient, parsing, SQLAlchemy) runs in worker threads; IMAP IDLE
waits on a connection of its own in a thread of its own and wakes the intake job.

A failing job retries with exponential backoff and jitter; no outage ends the process. Only
the leader (see ``leader``) does any work. SIGTERM/SIGINT stop new work, let the message in
hand finish (intake checks between messages), and exit 0 within the grace period; SIGHUP
re-reads the configuration and keeps the old one if the new one is invalid.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from disclosure_inbox.adapters.db import stats
from disclosure_inbox.config import ConfigError, Settings, load_settings
from disclosure_inbox.domain.errors import (
    DisclosureInboxError,
    LeadershipLost,
    MailboxUnavailable,
    TransientError,
)
from disclosure_inbox.ports import Clock, SystemClock
from disclosure_inbox.service.alerts import Alerts
from disclosure_inbox.service.app import App
from disclosure_inbox.service.clocks import business_calendar
from disclosure_inbox.service.health import Health, HealthServer, Metrics, StoreSnapshot
from disclosure_inbox.service.idle import IdleWatcher
from disclosure_inbox.service.leader import Leadership, leadership_for
from disclosure_inbox.service.notify import Notifier
from disclosure_inbox.service.outbox import backoff

log = logging.getLogger(__name__)


class _TickWhileRunning(logging.Filter):
    """A job's interval coming round while its pass still runs is expected (the pass is not
    started twice; ``coalesce`` runs it once afterwards): APScheduler's warning about it is
    noise in our logs, so it goes out at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and "maximum number of running instances" in str(
            record.msg
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("apscheduler.scheduler").addFilter(_TickWhileRunning())

INTAKE, OUTBOX, SCAN = "intake", "outbox", "scan"
HOUSEKEEPING_SECONDS = 15.0


class Daemon:
    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, notifier: Notifier | None = None
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.app = App.build(settings, clock=self.clock)
        self.notifier = notifier or Notifier.from_env()
        self.leader: Leadership = leadership_for(
            settings.database_url, f"{settings.imap.host}/{settings.imap.mailbox}"
        )
        self.app.store.fence = self.leader.fence
        self.metrics = Metrics()
        self.started_at = self.clock.now()
        self.health = Health(self._max_ages(), started_at=self.started_at, metrics=self.metrics)
        self.is_leader = False
        self._stopping = threading.Event()
        self._stop_requested: asyncio.Event | None = None
        self._wake_pending = False
        self._failures: dict[str, int] = {}
        self._last_ok: dict[str, datetime] = {}
        self._last_attempt: dict[str, datetime] = {}
        self._rng = random.Random()
        self._seen_counts: dict[str, int] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._active: set[str] = set()  # names of the jobs running now
        self.scheduler: AsyncIOScheduler | None = None
        self.idle: IdleWatcher | None = None
        self.health_server: HealthServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- intervals -----------------------------------------------------------------------

    def _intervals(self) -> dict[str, float]:
        s = self.settings
        return {
            INTAKE: s.daemon.poll_interval_seconds,
            OUTBOX: s.daemon.outbox_interval_seconds,
            SCAN: s.escalation.scan_interval_seconds,
        }

    def _max_ages(self) -> dict[str, timedelta]:
        slack = self.settings.health.max_age_seconds
        return {
            loop: timedelta(seconds=every + (slack or every + 60))
            for loop, every in self._intervals().items()
        }

    # --- running -------------------------------------------------------------------------

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        self.app.store.check_schema()
        self.is_leader = await asyncio.to_thread(self.leader.acquire)  # SQLite: may refuse
        self.metrics.set_leader(self.is_leader)
        if not self.is_leader:
            log.info("another instance is the leader; standing by")
        self._install_signals()
        self._start_scheduler()
        self._start_idle()
        if self.settings.health.enabled:
            h = self.settings.health
            self.health_server = HealthServer(
                self.health, self.metrics, h.host, h.port, clock=self.clock.now
            )
            self.health_server.start()
            log.info("health and metrics on http://%s:%s/", h.host, self.health_server.port)
        self.notifier.ready("running" if self.is_leader else "standing by")
        log.info("disclosure-inbox running (%s)", "leader" if self.is_leader else "standby")
        await self._stop_requested.wait()
        return await self._shutdown()

    def _install_signals(self) -> None:
        assert self._loop is not None
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self.request_stop, sig.name)
        self._loop.add_signal_handler(signal.SIGHUP, self._reload)

    def request_stop(self, why: str = "stop") -> None:
        if self._stopping.is_set():
            return
        log.info("received %s: finishing the work in hand and stopping", why)
        self._stopping.set()
        self.notifier.stopping("stopping")
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def _shutdown(self) -> int:
        grace = self.settings.daemon.shutdown_grace_seconds
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        if self.idle is not None:
            self.idle.stop()
        if self._running:
            done, pending = await asyncio.wait(self._running, timeout=grace)
            if pending:
                # A network call is stuck past the grace period. Leaving now rolls back the
                # transaction in hand: that message is fetched again on the next start.
                log.error("work still running after %.0f s; exiting without it", grace)
                # No unlock or disposal here: they could block too; the exit releases both.
                logging.shutdown()
                os._exit(0)
        self._close()
        log.info("stopped")
        return 0

    def _close(self) -> None:
        if self.health_server is not None:
            self.health_server.stop()
        self.leader.release()
        self.app.store.engine.dispose()

    def _start_scheduler(self) -> None:
        scheduler = AsyncIOScheduler(event_loop=self._loop, timezone="UTC")
        now = datetime.now().astimezone()
        jobs: dict[str, Callable[[], Awaitable[None]]] = {
            INTAKE: self._intake_job,
            OUTBOX: self._outbox_job,
            SCAN: self._scan_job,
        }
        for name, every in self._intervals().items():
            scheduler.add_job(
                self._tracked(name, jobs[name]),
                "interval",
                seconds=every,
                id=name,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
        scheduler.add_job(
            self._tracked("housekeeping", self._housekeeping),
            "interval",
            seconds=min(HOUSEKEEPING_SECONDS, self.settings.daemon.leader_check_seconds),
            id="housekeeping",
            next_run_time=now,
            max_instances=1,
            coalesce=True,
        )
        interval = self.notifier.watchdog_interval()
        if interval:
            scheduler.add_job(
                self._watchdog,
                "interval",
                seconds=interval,
                id="watchdog",
                max_instances=1,
                coalesce=True,
            )
        scheduler.start()
        self.scheduler = scheduler

    def _tracked(
        self, name: str, job: Callable[[], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        """Remember running jobs so that shutdown can wait for them."""

        async def run() -> None:
            if self._stopping.is_set():
                return
            task = asyncio.current_task()
            assert task is not None
            self._running.add(task)
            self._active.add(name)
            try:
                await job()
            except Exception:  # a bug: log it, keep the daemon alive
                log.exception("unexpected error in %s", getattr(job, "__name__", job))
            finally:
                self._active.discard(name)
                self._running.discard(task)

        run.__name__ = getattr(job, "__name__", "job")
        return run

    def _start_idle(self) -> None:
        d = self.settings.daemon
        if not d.idle:
            return
        self.idle = IdleWatcher(
            self.settings.imap,
            on_mail=self.wake_intake,
            on_reconnect=self.metrics.count_imap_reconnects,
            on_recovered=self.intake_after_outage,
            renew_seconds=d.idle_renew_seconds,
            backoff_max_seconds=d.backoff_max_seconds,
        )
        self.idle.start()

    def wake_intake(self) -> None:
        """From the IDLE thread: run intake now (or again, right after the running pass)."""
        loop = self._loop
        if loop is None or self._stopping.is_set():
            return
        self._wake_pending = True
        if self._failures.get(INTAKE):
            return  # intake is backing off after a failure; its retry will see the mail
        loop.call_soon_threadsafe(self._run_now, INTAKE)

    def intake_after_outage(self) -> None:
        """From the IDLE thread: the IMAP server answers again. Whatever arrived meanwhile is
        taken in now, not when intake's backoff would next have tried."""
        loop = self._loop
        if loop is None or self._stopping.is_set():
            return
        self._wake_pending = True
        loop.call_soon_threadsafe(self._run_now, INTAKE)

    def _run_now(self, job_id: str) -> None:
        if job_id in self._active:
            # The running pass goes on (intake loops while a wake is pending; the outbox
            # claims until nothing is due): starting another would only be skipped.
            return
        if self.scheduler is not None and not self._stopping.is_set():
            try:
                self.scheduler.modify_job(job_id, next_run_time=datetime.now().astimezone())
            except Exception as exc:  # the scheduler is shutting down
                log.debug("could not run %s now: %s", job_id, exc)

    # --- the jobs ------------------------------------------------------------------------

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
        delay = min(delay, self._intervals()[loop])
        log.error("%s failed (attempt %d, retry in %.1f s): %s", loop, failures, delay, exc)
        if self.scheduler is not None and not self._stopping.is_set():
            self.scheduler.modify_job(
                loop, next_run_time=datetime.now().astimezone() + timedelta(seconds=delay)
            )

    async def _intake_job(self) -> None:
        if not await self._lead(INTAKE):
            return
        while not self._stopping.is_set():
            self._wake_pending = False
            try:
                result = await asyncio.to_thread(self._intake_pass)
            except Exception as exc:
                self._failed(INTAKE, exc)
                if self.idle is not None and isinstance(exc, MailboxUnavailable):
                    self.idle.reconnect()
                return
            self._ok(INTAKE)
            self.metrics.count_ingested(result.messages)
            self.metrics.count_quarantined(result.quarantined)
            if result.messages or result.duplicates or result.quarantined:
                log.info("intake: %s", result.summary())
                self._run_now(OUTBOX)
            if not self._wake_pending:
                break

    def _intake_pass(self) -> Any:
        mailbox = self.app.open_mailbox()
        try:
            return self.app.intake().run(
                mailbox, self.clock.now(), should_stop=self._stopping.is_set
            )
        finally:
            mailbox.close()

    async def _outbox_job(self) -> None:
        if not await self._lead(OUTBOX):
            return
        outbox = self.app.outbox()
        try:
            # A loop of its own in a worker thread: SMTP is async, the store is not.
            result = await asyncio.to_thread(
                lambda: asyncio.run(outbox.drain(self.clock, self._still_leading))
            )
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
        alerts = Alerts(self.settings, self.app.store, self.app.renderer)
        queued = alerts.intake_failing(now, last, last or self.started_at, error)
        if alerts.templates_failing(now) or queued:
            self._run_now(OUTBOX)

    async def _watchdog(self) -> None:
        """Ping only while every loop keeps completing its passes (whatever their outcome):
        a hung pass stops the pings and systemd restarts the service."""
        now = self.clock.now()
        for loop, every in self._intervals().items():
            last = self._last_attempt.get(loop, self.started_at)
            limit = max(3 * every, self.settings.daemon.backoff_max_seconds) + 60
            if (now - last).total_seconds() > limit:
                log.error(
                    "%s has not completed a pass for %.0f s", loop, (now - last).total_seconds()
                )
                return
        self.notifier.watchdog()

    # --- reload --------------------------------------------------------------------------

    def _reload(self) -> None:
        self.notifier.reloading()
        try:
            settings = load_settings(self.settings.source or None)
            app = App.build(settings, clock=self.clock)  # checks the templates too
        except ConfigError as exc:
            log.error("configuration reload failed, keeping the running one: %s", exc)
            self.notifier.ready("reload failed; running with the previous configuration")
            return
        app.store.fence = self.leader.fence
        old = self.app
        self.settings, self.app = settings, app
        old.store.engine.dispose()
        self.health.set_max_age(self._max_ages())
        if self.scheduler is not None:
            for name, every in self._intervals().items():
                self.scheduler.reschedule_job(name, trigger="interval", seconds=every)
        if self.idle is not None:  # a new IMAP host or password applies to IDLE as well
            self.idle.stop()
            self.idle = None
        self._start_idle()
        log.info("configuration and templates reloaded from %s", settings.source)
        self.notifier.ready("reloaded")


def run_forever(settings: Settings) -> int:
    try:
        return asyncio.run(Daemon(settings).run())
    except KeyboardInterrupt:
        return 0
