"""The long-running daemon: signals, the scheduler and reload, around the jobs.

One asyncio event loop runs APScheduler 3's ``AsyncIOScheduler`` with three jobs, intake, the
outbox and the SLA scan, plus housekeeping (leadership, metrics, alerts) and the systemd
watchdog. Blocking work (imapclient, parsing, SQLAlchemy) runs in worker threads; IMAP IDLE
waits on a connection of its own in a thread of its own and wakes the intake job.

A failing job retries with exponential backoff and jitter; no outage ends the process. Only
the leader (see ``leader``) does any work. SIGTERM/SIGINT stop new work, let the message in
hand finish (intake checks between messages), and exit 0 within the grace period; SIGHUP
re-reads the configuration and keeps the old one if the new one is invalid.

What each job does is in ``jobs``; the parts come from ``App``, as for every command.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from disclosure_inbox.config import ConfigError, Settings, load_settings
from disclosure_inbox.ports import Clock
from disclosure_inbox.service.app import App
from disclosure_inbox.service.health import Health, HealthServer, Metrics
from disclosure_inbox.service.idle import IdleWatcher
from disclosure_inbox.service.jobs import HOUSEKEEPING, INTAKE, Job, Jobs, intervals, max_ages
from disclosure_inbox.service.leader import Leadership
from disclosure_inbox.service.notify import Notifier

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

HOUSEKEEPING_SECONDS = 15.0


class Daemon:
    def __init__(
        self, settings: Settings, *, clock: Clock | None = None, notifier: Notifier | None = None
    ) -> None:
        app = App.build(settings, clock=clock)  # the system clock unless one is given
        clock = app.clock
        self.notifier = notifier or Notifier.from_env()
        self.leader: Leadership = app.leadership()
        app.store.fence = self.leader.fence
        self.metrics = Metrics()
        started_at = clock.now()
        self.health = Health(max_ages(settings), started_at=started_at, metrics=self.metrics)
        self._stopping = threading.Event()
        self.jobs = Jobs(
            settings,
            app,
            clock=clock,
            started_at=started_at,
            leader=self.leader,
            health=self.health,
            metrics=self.metrics,
            notifier=self.notifier,
            stopping=self._stopping,
            run_now=self._run_now,
            retry_in=self._retry_in,
            mailbox_down=self._reconnect_idle,
        )
        self._stop_requested: asyncio.Event | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._active: set[str] = set()  # names of the jobs running now
        self.scheduler: AsyncIOScheduler | None = None
        self.idle: IdleWatcher | None = None
        self.health_server: HealthServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def settings(self) -> Settings:
        return self.jobs.settings

    @property
    def app(self) -> App:
        return self.jobs.app

    @property
    def clock(self) -> Clock:
        return self.jobs.clock

    # --- running -------------------------------------------------------------------------

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        self.app.store.check_schema()
        leading = await asyncio.to_thread(self.leader.acquire)  # SQLite: may refuse
        self.jobs.is_leader = leading
        self.metrics.set_leader(leading)
        if not leading:
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
        self.notifier.ready("running" if leading else "standing by")
        log.info("disclosure-inbox running (%s)", "leader" if leading else "standby")
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
        self.app.close()  # the parse workers; every job has finished by now
        self.app.store.engine.dispose()

    def _start_scheduler(self) -> None:
        scheduler = AsyncIOScheduler(event_loop=self._loop, timezone="UTC")
        now = datetime.now().astimezone()
        jobs = self.jobs.by_name()
        for name, every in intervals(self.settings).items():
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
            self._tracked(HOUSEKEEPING, jobs[HOUSEKEEPING]),
            "interval",
            seconds=min(HOUSEKEEPING_SECONDS, self.settings.daemon.leader_check_seconds),
            id=HOUSEKEEPING,
            next_run_time=now,
            max_instances=1,
            coalesce=True,
        )
        interval = self.notifier.watchdog_interval()
        if interval:
            scheduler.add_job(
                self.jobs.watchdog,
                "interval",
                seconds=interval,
                id="watchdog",
                max_instances=1,
                coalesce=True,
            )
        scheduler.start()
        self.scheduler = scheduler

    def _tracked(self, name: str, job: Job) -> Job:
        """Remember running jobs so that shutdown can wait for them."""

        async def guarded() -> None:
            try:
                await job()
            except Exception:  # a bug: log it, keep the daemon alive
                log.exception("unexpected error in %s", getattr(job, "__name__", job))
            finally:
                self._active.discard(name)

        async def run() -> None:
            if self._stopping.is_set():
                return
            # A task of its own, shielded: the scheduler cancels what runs when it shuts
            # down, but the pass in hand must finish (intake stops between batches).
            task = asyncio.ensure_future(guarded())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            self._active.add(name)
            await asyncio.shield(task)

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
        self.jobs.wake_pending = True
        if self.jobs.backing_off(INTAKE):
            return  # intake is backing off after a failure; its retry will see the mail
        loop.call_soon_threadsafe(self._run_now, INTAKE)

    def intake_after_outage(self) -> None:
        """From the IDLE thread: the IMAP server answers again. Whatever arrived meanwhile is
        taken in now, not when intake's backoff would next have tried."""
        loop = self._loop
        if loop is None or self._stopping.is_set():
            return
        self.jobs.wake_pending = True
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

    def _retry_in(self, job_id: str, seconds: float) -> None:
        """A failed job's next attempt, sooner than its interval would bring it."""
        if self.scheduler is not None and not self._stopping.is_set():
            self.scheduler.modify_job(
                job_id, next_run_time=datetime.now().astimezone() + timedelta(seconds=seconds)
            )

    def _reconnect_idle(self) -> None:
        if self.idle is not None:
            self.idle.reconnect()

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
        self.jobs.reconfigure(settings, app)
        old.store.engine.dispose()
        self.health.set_max_age(max_ages(settings))
        if self.scheduler is not None:
            for name, every in intervals(settings).items():
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
