"""The measurements and their targets: what each run is, and how its figures are named.

`Bench.run` runs the groups a `Plan` asks for against an `Environment` and collects one
`Measurement` per figure; bench/run.py turns them into the table and the JSON.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import drain, latency, limits, mailbox, sla
from bench.deploy import Environment
from bench.measure import Measurement, Target
from bench.profile import summarize

GROUPS = ("limits", "drain", "latency", "sla", "memory")
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
DRAIN_TARGETS = {"sqlite": 0.60, "postgresql": 0.40}  # of the fetch+parse limit
LATENCY_MEDIAN_S, LATENCY_P95_S = 0.5, 1.0
SLA_MS, SLA_AT, SLA_GROWTH = 50.0, 100_000, 2.0
BACKLOG_RSS_MB, BIG_RSS_FACTOR = 200.0, 10.0
MB = 1_000_000  # decimal megabytes, as in the targets


@dataclass(frozen=True)
class Plan:
    """What to measure, as the command line asked (see ``run.parse_args`` for the defaults)."""

    messages: int
    runs: int
    seed: int
    quick: bool
    backends: tuple[str, ...]
    groups: frozenset[str]
    sla_sizes: tuple[int, ...]
    big_attachment_bytes: int
    probes: int
    probe_interval: float
    json_path: Path | None
    profile_dir: Path | None
    keep: bool


def say(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


class Bench:
    """Runs the measurements in a fixed order; each group is a method below."""

    def __init__(self, plan: Plan, env: Environment) -> None:
        self.plan = plan
        self.env = env
        self.measurements: list[Measurement] = []
        self.profiles: dict[str, Any] = {}
        self.mail: mailbox.Mailbox | None = None

    def add(self, measurement: Measurement) -> Measurement:
        self.measurements.append(measurement)
        return measurement

    def run(self) -> None:
        plan = self.plan
        groups = plan.groups
        if groups & {"limits", "drain", "memory"} or plan.profile_dir:
            self.mail = mailbox.backlog(plan.messages, plan.seed)
            d = self.mail.describe()
            say(
                f"mailbox: {d['messages']} messages, {d['bytes'] / MB:.1f} MB, median "
                f"{d['median_bytes'] / 1000:.1f} KB, largest {d['max_bytes'] / MB:.1f} MB"
            )
        if groups & {"limits", "drain", "memory"}:
            self.limits_and_drains()
        if "memory" in groups:
            self.big_message()
        if "latency" in groups:
            self.latency()
        if "sla" in groups:
            self.sla()
        if plan.profile_dir is not None:
            self.profile(plan.profile_dir)

    # --- 1, 2 and 5a: limits, backlog drain, backlog memory ------------------------------

    def limits_and_drains(self) -> None:
        plan, env = self.plan, self.env
        assert self.mail is not None
        messages = self.mail.messages
        runs: list[limits.LimitRun] = []
        drains: dict[str, list[drain.DrainRun]] = {b: [] for b in plan.backends}
        backends = plan.backends if "drain" in plan.groups else ("sqlite",)
        account = None
        if "limits" in plan.groups:
            account = env.dovecot.new_account()
            account.append(messages)
        # Interleaved, so that a change in the machine's load touches every series alike.
        for i in range(1, plan.runs + 1):
            if account is not None:
                run = limits.measure(account, len(messages))
                runs.append(run)
                say(
                    f"limits {i}/{plan.runs}: fetch {run.fetch_rate:,.0f} msg/s, parse "
                    f"{run.parse_rate:,.0f} msg/s, together {run.combined_rate:,.0f} msg/s"
                )
            for backend in backends:
                d = drain.drain(env, backend, messages, f"drain-{backend}-{i}")
                drains[backend].append(d)
                say(
                    f"drain {NAMES[backend]} {i}/{plan.runs}: {d.rate:,.0f} msg/s "
                    f"({d.process.seconds:.2f} s, intake {d.intake_seconds:.2f} s), "
                    f"peak RSS {d.process.peak_rss_bytes / MB:.0f} MB; "
                    + ", ".join(f"{k} {v:.2f} s" for k, v in d.phases.items())
                )
        limit: Measurement | None = None
        if runs:
            self.add(
                Measurement(
                    "limit.fetch",
                    "IMAP FETCH alone (imapclient, 100 a batch)",
                    "msg/s",
                    [r.fetch_rate for r in runs],
                    details={"mb_per_s": [r.bytes / MB / r.fetch_seconds for r in runs]},
                )
            )
            self.add(
                Measurement(
                    "limit.parse",
                    "parsing alone (mail-parser)",
                    "msg/s",
                    [r.parse_rate for r in runs],
                    details={"mb_per_s": [r.bytes / MB / r.parse_seconds for r in runs]},
                )
            )
            limit = self.add(
                Measurement(
                    "limit.combined",
                    "fetch+parse, single-core limit",
                    "msg/s",
                    [r.combined_rate for r in runs],
                    note="messages / (fetch seconds + parse seconds), per run",
                )
            )
        if "drain" in plan.groups:
            for backend in plan.backends:
                self._drain_measurements(backend, drains[backend], limit)
        if "memory" in plan.groups:
            sqlite_runs = drains["sqlite"]
            self.add(
                Measurement(
                    "memory.backlog",
                    f"peak RSS, run --once, {plan.messages:,} messages",
                    "MB",
                    [d.process.peak_rss_bytes / MB for d in sqlite_runs],
                    Target("<", 1.0, f"< {BACKLOG_RSS_MB:.0f} MB", BACKLOG_RSS_MB),
                    note="SQLite store; wait4's ru_maxrss of the process",
                )
            )

    def _drain_measurements(
        self, backend: str, runs: list[drain.DrainRun], limit: Measurement | None
    ) -> None:
        share = DRAIN_TARGETS[backend]
        target = None
        if limit is not None:
            target = Target(">=", share, f">= {share:.2f} x limit", limit.median)
        details = {
            "seconds": [d.process.seconds for d in runs],
            "intake_seconds": [d.intake_seconds for d in runs],
            "cpu_seconds": [d.process.cpu_seconds for d in runs],
            "peak_rss_mb": [d.process.peak_rss_bytes / MB for d in runs],
            "acks_sent": [d.acks_sent for d in runs],
            "phases_seconds": [d.phases for d in runs],
        }
        self.add(
            Measurement(
                f"drain.{backend}.rate",
                f"backlog drain, run --once, {NAMES[backend]}",
                "msg/s",
                [d.rate for d in runs],
                target,
                note="whole process: start, intake, SLA scan, acks sent, exit",
                details=details,
            )
        )
        self.add(
            Measurement(
                f"drain.{backend}.intake_rate",
                f"  intake pass alone, {NAMES[backend]}",
                "msg/s",
                [d.intake_rate for d in runs],
                note="from the summary run --once prints; no target",
            )
        )

    # --- 5b: one large message -----------------------------------------------------------

    def big_message(self) -> None:
        plan = self.plan
        big = mailbox.big_message(plan.big_attachment_bytes, plan.seed)
        size_mb = len(big.raw) / MB
        values = []
        for i in range(1, plan.runs + 1):
            run = drain.big_message(self.env, big, f"big-{i}")
            values.append(run.process.peak_rss_bytes / MB)
            say(f"large message {i}/{plan.runs}: peak RSS {values[-1]:.0f} MB ({size_mb:.1f} MB)")
        self.add(
            Measurement(
                "memory.big_message",
                f"peak RSS, one {plan.big_attachment_bytes // 1_000_000} MB attachment",
                "MB",
                values,
                Target(
                    "<",
                    BIG_RSS_FACTOR,
                    f"< {BIG_RSS_FACTOR:.0f} x {size_mb:.1f} MB message",
                    size_mb,
                ),
                note="ratio: peak RSS / the message's size on the server (base64 included)",
                details={"message_bytes": len(big.raw), "attachment_bytes": len(big.attachment)},
            )
        )

    # --- 3: acknowledgement latency ------------------------------------------------------

    def latency(self) -> None:
        plan = self.plan
        runs = []
        for i in range(1, plan.runs + 1):
            run = latency.measure(self.env, plan.probes, plan.probe_interval, f"latency-{i}")
            runs.append(run)
            say(
                f"ack latency {i}/{plan.runs}: median {run.median:.3f} s, p95 {run.p95:.3f} s "
                f"({plan.probes} messages, one every {plan.probe_interval} s)"
            )
        details = {"latencies": [r.latencies for r in runs]}
        self.add(
            Measurement(
                "ack_latency.median",
                "ack latency (IDLE), median",
                "s",
                [r.median for r in runs],
                Target("<", 1.0, f"< {LATENCY_MEDIAN_S} s", LATENCY_MEDIAN_S),
                note=f"{plan.probes} messages per run, one every {plan.probe_interval} s",
                details=details,
            )
        )
        self.add(
            Measurement(
                "ack_latency.p95",
                "ack latency (IDLE), p95",
                "s",
                [r.p95 for r in runs],
                Target("<", 1.0, f"< {LATENCY_P95_S:g} s", LATENCY_P95_S),
            )
        )
        if all(r.to_stored for r in runs):
            self.add(
                Measurement(
                    "ack_latency.to_stored",
                    "  APPEND -> report stored, median",
                    "s",
                    [statistics.median(r.to_stored) for r in runs],
                    note="from the daemon's log timestamps (millisecond resolution)",
                )
            )
            self.add(
                Measurement(
                    "ack_latency.stored_to_sink",
                    "  report stored -> ack at the sink, median",
                    "s",
                    [statistics.median(r.stored_to_sink) for r in runs],
                )
            )

    # --- 4: SLA scan ---------------------------------------------------------------------

    def sla(self) -> None:
        plan = self.plan
        sizes = plan.sla_sizes
        for backend in plan.backends:
            series: dict[int, sla.ScanSeries] = {}
            for size in sizes:
                s = sla.measure(self.env, backend, size, plan.runs)
                series[size] = s
                say(
                    f"SLA scan {NAMES[backend]}, {size:,} reports (built in "
                    f"{s.build_seconds:.2f} s): "
                    + ", ".join(f"{t * 1000:.1f}" for t in s.seconds)
                    + " ms"
                )
                target = None
                if size <= SLA_AT:
                    target = Target("<", 1.0, f"< {SLA_MS:.0f} ms", SLA_MS)
                self.add(
                    Measurement(
                        f"sla.{backend}.{size}",
                        f"SLA scan, {NAMES[backend]}, {size:,} reports",
                        "ms",
                        [t * 1000 for t in s.seconds],
                        target,
                        note=f"{sla.OPEN} open clocks, {sla.DUE} due",
                        details={"build_seconds": s.build_seconds, "escalations": s.escalations},
                    )
                )
            if len(sizes) >= 2:
                top = sizes[-1]
                base = max((s for s in sizes[:-1] if s <= SLA_AT), default=sizes[-2])
                growth = [
                    a / b for a, b in zip(series[top].seconds, series[base].seconds, strict=True)
                ]
                self.add(
                    Measurement(
                        f"sla.{backend}.growth",
                        f"SLA scan growth, {NAMES[backend]}, {top:,} / {base:,}",
                        "x",
                        growth,
                        Target("<=", SLA_GROWTH, f"<= {SLA_GROWTH:g} x", 1.0),
                        note="scan time at the largest store / at the reference store, per run",
                    )
                )

    # --- profiles ------------------------------------------------------------------------

    def profile(self, directory: Path) -> None:
        assert self.mail is not None
        directory.mkdir(parents=True, exist_ok=True)
        for backend in self.plan.backends:
            output = directory / f"drain-{backend}.raw.txt"
            say(f"profiling the {NAMES[backend]} drain with py-spy into {output}")
            drain.profile_drain(self.env, backend, self.mail.messages, output)
            profile = summarize(output)
            text = profile.render(f"run --once, {NAMES[backend]}, {len(self.mail)} messages")
            (directory / f"drain-{backend}.top.txt").write_text(text + "\n", encoding="utf-8")
            self.profiles[backend] = {"raw": str(output), **profile.as_dict()}
            print(text, file=sys.stderr)
