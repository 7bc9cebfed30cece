"""An optional HTTP listener: ``/healthz`` for liveness probes, ``/metrics`` for Prometheus.

``Health`` answers one question, "has every loop done its job recently?", from marks the loops
leave after each pass; the clock is read once per request, by the server, never here.
``Metrics`` owns a private registry so that several can live in one process (tests, and no
surprise metrics from imported libraries). ``HealthServer`` serves both from a daemon thread with
the standard library; the daemon's event loop never waits on a scrape.
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    ProcessCollector,
    generate_latest,
)

log = logging.getLogger(__name__)

_PREFIX = "disclosure_inbox_"


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """What the store looked like at one instant; the daemon reads it once per scan."""

    outbox_pending: int
    oldest_pending_age: float | None  # seconds; None when nothing is pending
    reports_open: Mapping[str, int]  # by status
    clocks_running: int
    clocks_due_soon: int
    clocks_breached: int


class Metrics:
    """The daemon's counters and gauges, in a registry of their own; ``/metrics`` serves them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry

        def counter(name: str, doc: str) -> Counter:
            # prometheus_client appends _total itself.
            return Counter(_PREFIX + name, doc, registry=r)

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(_PREFIX + name, doc, labels, registry=r)

        self._ingested = counter("messages_ingested", "Inbound messages stored.")
        self._quarantined = counter("messages_quarantined", "Inbound messages quarantined.")
        self._acks_sent = counter("acks_sent", "Acknowledgements accepted by the SMTP server.")
        self._acks_suppressed = counter(
            "acks_suppressed", "Acknowledgements not sent (loop, rate limit, staff)."
        )
        self._acks_failed = counter("acks_failed", "Acknowledgements parked as failed.")
        self._escalations = counter("escalations_sent", "SLA escalations sent to staff.")
        self._reconnects = counter("imap_reconnects", "IMAP connections opened again.")
        self._outbox_depth = gauge("outbox_depth", "Outgoing mail pending.")
        self._outbox_age = gauge(
            "outbox_oldest_pending_age_seconds", "Age of the oldest pending outgoing mail."
        )
        self._reports_open = gauge("reports_open", "Open reports by status.", ("status",))
        self._clocks_running = gauge("clocks_running", "SLA clocks running.")
        self._clocks_due_soon = gauge("clocks_due_soon", "SLA clocks close to their deadline.")
        self._clocks_breached = gauge("clocks_breached", "SLA clocks past their deadline.")
        self._last_intake = gauge(
            "last_successful_intake_timestamp_seconds", "When intake last completed a pass."
        )
        self._last_success = gauge(
            "last_success_timestamp_seconds", "When each loop last completed a pass.", ("loop",)
        )
        self._is_leader = gauge("is_leader", "1 when this instance runs the singleton loops.")
        ProcessCollector(registry=r)  # memory, CPU, open files: a slow leak shows here first
        self._statuses: set[str] = set()
        self._lock = threading.Lock()

    def count_ingested(self, n: int = 1) -> None:
        self._ingested.inc(n)

    def count_quarantined(self, n: int = 1) -> None:
        self._quarantined.inc(n)

    def count_acks_sent(self, n: int = 1) -> None:
        self._acks_sent.inc(n)

    def count_acks_suppressed(self, n: int = 1) -> None:
        self._acks_suppressed.inc(n)

    def count_acks_failed(self, n: int = 1) -> None:
        self._acks_failed.inc(n)

    def count_escalations(self, n: int = 1) -> None:
        self._escalations.inc(n)

    def count_imap_reconnects(self, n: int = 1) -> None:
        self._reconnects.inc(n)

    def set_leader(self, leader: bool) -> None:
        self._is_leader.set(1 if leader else 0)

    def loop_succeeded(self, loop: str, at: datetime) -> None:
        self._last_success.labels(loop=loop).set(at.timestamp())
        if loop == "intake":
            self._last_intake.set(at.timestamp())

    def observe_store(self, snapshot: StoreSnapshot) -> None:
        self._outbox_depth.set(snapshot.outbox_pending)
        self._outbox_age.set(snapshot.oldest_pending_age or 0.0)
        self._clocks_running.set(snapshot.clocks_running)
        self._clocks_due_soon.set(snapshot.clocks_due_soon)
        self._clocks_breached.set(snapshot.clocks_breached)
        with self._lock:
            # A status that no report has any more drops to 0 rather than keeping its last count.
            for status in self._statuses - set(snapshot.reports_open):
                self._reports_open.labels(status=status).set(0)
            for status, count in snapshot.reports_open.items():
                self._reports_open.labels(status=status).set(count)
            self._statuses |= set(snapshot.reports_open)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class Health:
    """The last success and last error of each loop, and whether that is recent enough."""

    def __init__(
        self,
        max_age: Mapping[str, timedelta],
        started_at: datetime,
        grace: timedelta = timedelta(minutes=5),
        metrics: Metrics | None = None,
    ) -> None:
        """``max_age`` names the loops that must run here; a loop not yet run since
        ``started_at`` counts as healthy for ``grace``. ``metrics``, when given, mirrors successes
        into ``last_success_timestamp_seconds``."""
        self._max_age = dict(max_age)
        self._started_at = _aware(started_at, "started_at")
        self._grace = grace
        self._metrics = metrics
        self._lock = threading.Lock()
        self._success: dict[str, datetime] = {}
        self._error: dict[str, tuple[datetime, str]] = {}

    def set_max_age(self, max_age: Mapping[str, timedelta]) -> None:
        """New limits after a configuration reload; the history is kept."""
        with self._lock:
            self._max_age = dict(max_age)

    def _check(self, loop: str) -> None:
        if loop not in self._max_age:
            raise ValueError(f"unknown loop {loop!r}; one of: {', '.join(self._max_age)}")

    def mark_ok(self, loop: str, at: datetime) -> None:
        self._check(loop)
        with self._lock:
            self._success[loop] = _aware(at, "at")
            self._error.pop(loop, None)  # an error already recovered from is not news
        if self._metrics is not None:
            self._metrics.loop_succeeded(loop, at)

    def mark_failed(self, loop: str, at: datetime, error: str) -> None:
        self._check(loop)
        with self._lock:
            self._error[loop] = (_aware(at, "at"), error)

    def verdict(self, now: datetime) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            success, errors = dict(self._success), dict(self._error)
        loops = {
            name: self._loop_verdict(now, allowed, success.get(name), errors.get(name))
            for name, allowed in self._max_age.items()
        }
        healthy = all(entry["ok"] for entry in loops.values())
        status = "ok" if healthy else "unhealthy"
        return healthy, {"status": status, "checked_at": now.isoformat(), "loops": loops}

    def _loop_verdict(
        self,
        now: datetime,
        allowed: timedelta,
        success: datetime | None,
        error: tuple[datetime, str] | None,
    ) -> dict[str, Any]:
        # A loop that failed a moment ago but succeeded within its allowed age stays healthy:
        # one transient IMAP or SMTP error is retried, not worth a restart.
        if success is not None and now - success <= allowed:
            state, ok = "ok", True
        elif success is None and now - self._started_at <= self._grace:
            state, ok = "starting", True
        else:
            state, ok = ("failing" if error else "stale"), False
        since = success or self._started_at
        entry: dict[str, Any] = {
            "ok": ok,
            "state": state,
            "last_success": _iso(success),
            "last_error": error[1] if error else None,
            "last_error_at": _iso(error[0]) if error else None,
        }
        if not ok:
            what = "last success" if success else "no success since start"
            entry["reason"] = (
                f"{what} {int((now - since).total_seconds())} s ago, "
                f"allowed {int(allowed.total_seconds())} s"
            )
        return entry


# A request that has not arrived whole by then is dropped: probes are tiny.
REQUEST_TIMEOUT_SECONDS = 5.0
# How long stop() may wait for the serving thread to notice; it also wakes that often when idle.
_POLL_SECONDS = 0.1
# More concurrent connections than this are closed at once rather than given a thread each.
MAX_CONCURRENT_REQUESTS = 16


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops SYNs during a burst of probes; the client then
    # waits a whole second to retry.
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        health: Health,
        metrics: Metrics,
        clock: Callable[[], datetime],
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.health, self.metrics, self.clock = health, metrics, clock
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT_REQUESTS)
        super().__init__(address, _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self._slots.acquire(blocking=False)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print the traceback to stderr, outside the configured logging.
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):  # the client went away: its business, not ours
            log.debug("health: %s disconnected: %s", client_address, exc)
        else:
            log.warning("health: error answering %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT_SECONDS
    server_version = "disclosure-inbox"
    sys_version = ""

    def do_GET(self) -> None:
        self._respond(with_body=True)

    def do_HEAD(self) -> None:
        self._respond(with_body=False)

    def _respond(self, *, with_body: bool) -> None:
        path = urlsplit(self.path).path
        if path == "/healthz":
            healthy, detail = self.server.health.verdict(self.server.clock())
            body = json.dumps(detail, indent=2).encode() + b"\n"
            self._send(200 if healthy else 503, "application/json", body, with_body)
        elif path == "/metrics":
            self._send(200, CONTENT_TYPE_LATEST, self.server.metrics.exposition(), with_body)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n", with_body)

    def _send(self, code: int, content_type: str, body: bytes, with_body: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Probes arrive every few seconds: at INFO they would drown the mailbox's own log lines.
        log.debug("health %s: " + format, self.address_string(), *args)


class HealthServer:
    """Serves ``/healthz`` and ``/metrics`` on ``host:port`` (port 0: any free port)."""

    def __init__(
        self,
        health: Health,
        metrics: Metrics,
        host: str,
        port: int,
        clock: Callable[[], datetime],
    ) -> None:
        self._health, self._metrics, self._clock = health, metrics, clock
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for); only while started."""
        if self._server is None:
            raise RuntimeError("health server is not started")
        return int(self._server.server_address[1])

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _Server(self._address, self._health, self._metrics, self._clock)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(_POLL_SECONDS,),
            name="health-http",
            daemon=True,
        )
        self._thread.start()
        log.info("health and metrics listening on %s:%d", self._address[0], self.port)

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> HealthServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
