"""Acknowledgement latency with the daemon running: from APPEND to the ack at the SMTP sink.

The daemon (``disclosure-inbox run``) polls only every 300 s, so IMAP IDLE must do the work.
Once it logs "disclosure-inbox running", single messages are appended at a steady pace over one
IMAP connection, each from a sender of its own (so that no rate limit suppresses an ack). A
message's latency runs from the moment its APPEND completed to the moment the sink received
its acknowledgement; both are read from this process's wall clock.

The daemon's log splits each latency in two: until the report was stored (IDLE noticing the
mail, then the intake pass), and from there to the sink (the outbox job and SMTP).
"""

from __future__ import annotations

import re
import secrets
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from bench.deploy import Environment
from bench.drain import child_env
from bench.measure import BenchError, Measurement, Target, log_time, percentile
from disclosure_inbox.testing.mailgen import simple

DAEMON = {
    "poll_interval_seconds": 300,  # IDLE, not polling, must bring the mail in
    "outbox_interval_seconds": 0.5,  # the smallest allowed
    "backoff_max_seconds": 2,
    "shutdown_grace_seconds": 5,
}
SETTLE_SECONDS = 1.0  # after "running": let the IDLE connection select the mailbox
_STORED = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO disclosure_inbox\.service\.intake: "
    r"\S+ report: \S+ from (\S+)$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class LatencyRun:
    latencies: list[float]  # seconds, one per message
    to_stored: list[float]  # APPEND -> report stored (from the daemon's log)
    stored_to_sink: list[float]  # report stored -> ack at the sink

    @property
    def median(self) -> float:
        return float(statistics.median(self.latencies))

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)


class _Daemon:
    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env=child_env(),
        )  # fmt: skip

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.log:
            if self.proc.poll() is not None:
                raise BenchError(f"the daemon exited with {self.proc.returncode}:\n{self.log}")
            if time.monotonic() > deadline:
                raise BenchError(f"the daemon did not log {needle!r} within {timeout} s")
            time.sleep(0.02)

    def stop(self) -> int:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            return self.proc.returncode
        finally:
            self._log.close()


def measure(
    env: Environment, count: int, interval: float, label: str, timeout: float = 30.0
) -> LatencyRun:
    deployment = env.deploy(
        label, "sqlite", daemon=DAEMON, limits={"acks_per_sender_per_day": 1000}
    )
    env.sink.clear()
    daemon = _Daemon(deployment.cli("run"), deployment.directory / "daemon.log")
    appended: dict[str, float] = {}
    try:
        daemon.wait_for_log("disclosure-inbox running", timeout=30)
        time.sleep(SETTLE_SECONDS)
        tag = secrets.token_hex(3)
        with deployment.account.connect() as client:
            start = time.monotonic()
            for i in range(count):
                pause = start + i * interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                address = f"probe{i}-{tag}@example.org"
                raw = simple(
                    f"Latency probe {i}: reflected XSS",
                    sender=f"Probe {i} <{address}>",
                    message_id=f"<probe{i}-{tag}@example.org>",
                )
                client.append("INBOX", raw)
                appended[address] = time.time()
        received = env.sink.wait_for(count, timeout=timeout)
        log = daemon.log
    finally:
        returncode = daemon.stop()
    if returncode != 0:
        raise BenchError(f"the daemon exited with {returncode} on SIGTERM:\n{daemon.log[-2000:]}")
    arrived = {}
    for mail in received:
        for rcpt in mail.rcpt_tos:
            arrived[rcpt.lower()] = mail.received_at.timestamp()
    missing = sorted(set(appended) - set(arrived))
    if missing or len(received) != count:
        raise BenchError(f"{len(received)} acks for {count} messages; none for {missing}")
    stored = {m.group(2): log_time(m.group(1)) for m in _STORED.finditer(log)}
    env.discard(deployment)
    return LatencyRun(
        latencies=[arrived[a] - appended[a] for a in appended],
        to_stored=[stored[a] - appended[a] for a in appended if a in stored],
        stored_to_sink=[arrived[a] - stored[a] for a in appended if a in stored],
    )


def figures(
    runs: list[LatencyRun], probes: int, interval: float, median_s: float, p95_s: float
) -> list[Measurement]:
    """The median and the 95th percentile (targets: under ``median_s`` and ``p95_s``) and,
    when the daemon's log gave them for every run, the two halves of the median."""
    figures = [
        Measurement(
            "ack_latency.median",
            "ack latency (IDLE), median",
            "s",
            [r.median for r in runs],
            Target("<", 1.0, f"< {median_s} s", median_s),
            note=f"{probes} messages per run, one every {interval} s",
            details={"latencies": [r.latencies for r in runs]},
        ),
        Measurement(
            "ack_latency.p95",
            "ack latency (IDLE), p95",
            "s",
            [r.p95 for r in runs],
            Target("<", 1.0, f"< {p95_s:g} s", p95_s),
        ),
    ]
    if all(r.to_stored for r in runs):
        figures += [
            Measurement(
                "ack_latency.to_stored",
                "  APPEND -> report stored, median",
                "s",
                [statistics.median(r.to_stored) for r in runs],
                note="from the daemon's log timestamps (millisecond resolution)",
            ),
            Measurement(
                "ack_latency.stored_to_sink",
                "  report stored -> ack at the sink, median",
                "s",
                [statistics.median(r.stored_to_sink) for r in runs],
            ),
        ]
    return figures
