"""The health and metrics listener over a real loopback socket; time only moves when told to."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from disclosure_inbox.service.health import (
    MAX_CONCURRENT_REQUESTS,
    Health,
    HealthServer,
    Metrics,
    StoreSnapshot,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MAX_AGE = {
    "intake": timedelta(minutes=5),
    "outbox": timedelta(minutes=10),
    "scan": timedelta(minutes=15),
}
GRACE = timedelta(minutes=2)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(
    server: HealthServer, path: str, method: str = "GET", allow_reset: bool = False
) -> Response:
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return Response(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return Response(err.code, err.headers, err.read())
    except (urllib.error.URLError, ConnectionError, http.client.RemoteDisconnected):
        if not allow_reset:
            raise
        return Response(0, Message(), b"")


def samples(exposition: bytes) -> dict[tuple[str, str], float]:
    """Each sample by name and its labels written ``k=v,k=v``, as a scraper would read them."""
    return {
        (sample.name, ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition.decode())
        for sample in family.samples
    }


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def health(metrics: Metrics) -> Health:
    return Health(MAX_AGE, started_at=START, grace=GRACE, metrics=metrics)


@pytest.fixture
def server(health: Health, metrics: Metrics, clock: Clock) -> Iterator[HealthServer]:
    with HealthServer(health, metrics, "127.0.0.1", 0, clock) as srv:
        yield srv


def mark_all_ok(health: Health, at: datetime) -> None:
    for loop in MAX_AGE:
        health.mark_ok(loop, at)


def test_healthy_during_start_up_grace(server: HealthServer, clock: Clock) -> None:
    clock.now = START + GRACE
    resp = fetch(server, "/healthz")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert body["status"] == "ok"
    assert {name: loop["state"] for name, loop in body["loops"].items()} == {
        "intake": "starting",
        "outbox": "starting",
        "scan": "starting",
    }


def test_a_loop_that_never_ran_fails_after_the_grace(
    server: HealthServer, health: Health, clock: Clock
) -> None:
    health.mark_ok("outbox", START + timedelta(minutes=1))
    health.mark_ok("scan", START + timedelta(minutes=1))
    clock.now = START + GRACE + timedelta(seconds=1)

    resp = fetch(server, "/healthz")
    assert resp.status == 503
    body = resp.json()
    assert body["status"] == "unhealthy"
    assert body["loops"]["intake"] == {
        "ok": False,
        "state": "stale",
        "last_success": None,
        "last_error": None,
        "last_error_at": None,
        "reason": "no success since start 121 s ago, allowed 300 s",
    }
    assert body["loops"]["outbox"]["ok"] is True


def test_healthz_follows_the_marks(server: HealthServer, health: Health, clock: Clock) -> None:
    ok_at = START + timedelta(minutes=1)
    mark_all_ok(health, ok_at)
    clock.now = ok_at + timedelta(minutes=5)
    assert fetch(server, "/healthz").status == 200

    # A failure soon after a success is retried, not reported as unhealthy yet.
    failed_at = ok_at + timedelta(minutes=2)
    health.mark_failed("intake", failed_at, "IMAP: connection refused")
    resp = fetch(server, "/healthz")
    assert resp.status == 200
    assert resp.json()["loops"]["intake"]["last_error"] == "IMAP: connection refused"

    clock.now = ok_at + timedelta(minutes=5, seconds=1)
    resp = fetch(server, "/healthz")
    assert resp.status == 503
    intake = resp.json()["loops"]["intake"]
    assert intake["state"] == "failing"
    assert intake["last_success"] == ok_at.isoformat()
    assert intake["last_error"] == "IMAP: connection refused"
    assert intake["last_error_at"] == failed_at.isoformat()
    assert intake["reason"] == "last success 301 s ago, allowed 300 s"
    assert resp.json()["loops"]["outbox"]["ok"] is True

    health.mark_ok("intake", clock.now)
    resp = fetch(server, "/healthz")
    assert resp.status == 200
    assert resp.json()["loops"]["intake"]["last_error"] is None


def test_a_loop_that_stops_marking_goes_stale(
    server: HealthServer, health: Health, clock: Clock
) -> None:
    mark_all_ok(health, START)
    clock.now = START + timedelta(minutes=11)
    body = fetch(server, "/healthz").json()
    assert {name: loop["state"] for name, loop in body["loops"].items()} == {
        "intake": "stale",
        "outbox": "stale",
        "scan": "ok",
    }


def test_head_sends_headers_only(server: HealthServer, health: Health) -> None:
    mark_all_ok(health, START)
    resp = fetch(server, "/healthz", method="HEAD")
    assert resp.status == 200
    assert int(resp.headers["Content-Length"]) > 0
    assert resp.body == b""


def test_metrics_show_what_was_recorded(
    server: HealthServer, health: Health, metrics: Metrics
) -> None:
    metrics.count_ingested(3)
    metrics.count_ingested()
    metrics.count_quarantined()
    metrics.count_acks_sent(2)
    metrics.count_acks_suppressed()
    metrics.count_acks_failed()
    metrics.count_escalations(5)
    metrics.count_imap_reconnects()
    metrics.set_leader(True)
    metrics.observe_store(
        StoreSnapshot(
            outbox_pending=7,
            oldest_pending_age=125.5,
            reports_open={"new": 4, "triaged": 2},
            clocks_running=6,
            clocks_due_soon=1,
            clocks_breached=2,
        )
    )
    health.mark_ok("intake", START)

    resp = fetch(server, "/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
    stamp = START.timestamp()
    expected = {
        ("disclosure_inbox_messages_ingested_total", ""): 4,
        ("disclosure_inbox_messages_quarantined_total", ""): 1,
        ("disclosure_inbox_acks_sent_total", ""): 2,
        ("disclosure_inbox_acks_suppressed_total", ""): 1,
        ("disclosure_inbox_acks_failed_total", ""): 1,
        ("disclosure_inbox_escalations_sent_total", ""): 5,
        ("disclosure_inbox_imap_reconnects_total", ""): 1,
        ("disclosure_inbox_outbox_depth", ""): 7,
        ("disclosure_inbox_outbox_oldest_pending_age_seconds", ""): 125.5,
        ("disclosure_inbox_reports_open", "status=new"): 4,
        ("disclosure_inbox_reports_open", "status=triaged"): 2,
        ("disclosure_inbox_clocks_running", ""): 6,
        ("disclosure_inbox_clocks_due_soon", ""): 1,
        ("disclosure_inbox_clocks_breached", ""): 2,
        ("disclosure_inbox_is_leader", ""): 1,
        ("disclosure_inbox_last_success_timestamp_seconds", "loop=intake"): stamp,
        ("disclosure_inbox_last_successful_intake_timestamp_seconds", ""): stamp,
    }
    found = samples(resp.body)
    assert {key: found.get(key) for key in expected} == expected


def test_a_status_no_longer_seen_drops_to_zero(server: HealthServer, metrics: Metrics) -> None:
    def snapshot(reports_open: dict[str, int]) -> StoreSnapshot:
        return StoreSnapshot(0, None, reports_open, 0, 0, 0)

    metrics.observe_store(snapshot({"new": 4, "triaged": 2}))
    metrics.observe_store(snapshot({"triaged": 1}))
    found = samples(fetch(server, "/metrics").body)
    assert found[("disclosure_inbox_reports_open", "status=new")] == 0
    assert found[("disclosure_inbox_reports_open", "status=triaged")] == 1
    assert found[("disclosure_inbox_outbox_oldest_pending_age_seconds", "")] == 0


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.count_ingested(2)
    key = ("disclosure_inbox_messages_ingested_total", "")
    assert samples(first.exposition())[key] == 2
    assert samples(second.exposition())[key] == 0


def test_unknown_path_is_404(server: HealthServer) -> None:
    assert fetch(server, "/").status == 404
    assert fetch(server, "/healthz/extra").status == 404
    assert fetch(server, "/healthz?verbose=1").status == 200


def test_marks_reject_unknown_loops_and_naive_times(health: Health) -> None:
    with pytest.raises(ValueError, match="unknown loop"):
        health.mark_ok("intak", START)
    with pytest.raises(ValueError, match="timezone-aware"):
        health.mark_failed("intake", datetime(2026, 3, 2, 9, 0), "boom")


def test_stop_frees_the_port(health: Health, metrics: Metrics, clock: Clock) -> None:
    first = HealthServer(health, metrics, "127.0.0.1", 0, clock)
    first.start()
    port = first.port
    assert fetch(first, "/healthz").status == 200
    first.stop()
    first.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = first.port
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()

    with HealthServer(health, metrics, "127.0.0.1", port, clock) as second:
        assert second.port == port
        assert fetch(second, "/healthz").status == 200


def test_connections_beyond_the_limit_are_closed(server: HealthServer) -> None:
    idle = [
        socket.create_connection(("127.0.0.1", server.port), timeout=5)
        for _ in range(MAX_CONCURRENT_REQUESTS)
    ]
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as extra:
            assert extra.recv(1) == b""  # closed without a thread or an answer
    finally:
        for conn in idle:
            conn.close()
    # The idle connections' threads see EOF and give their slots back, a moment later.
    deadline = time.monotonic() + 5
    while fetch(server, "/healthz", allow_reset=True).status != 200:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_an_error_is_logged_not_printed(
    health: Health,
    metrics: Metrics,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    def broken_clock() -> datetime:
        raise RuntimeError("clock unplugged")

    with HealthServer(health, metrics, "127.0.0.1", 0, broken_clock) as srv:
        with pytest.raises(http.client.RemoteDisconnected):
            fetch(srv, "/healthz")
        assert fetch(srv, "/metrics").status == 200  # the listener carries on
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().startswith("health: error answering ('127.0.0.1', ")
    assert warning.exc_info is not None
    assert str(warning.exc_info[1]) == "clock unplugged"
    assert capfd.readouterr().err == ""
