"""The SLA scan's cost as the store grows: one `Escalator.scan` at several store sizes.

Each store holds N reports, each with an acknowledgement clock; all clocks are stopped but
1,000, of which 20 are due at NOW. They are generated inside the database with SQL
(``disclosure_inbox.testing.bulk``), so a million reports take seconds, not hours.

A scan queries the running clocks near their deadline, records the escalations in the ledger
and queues their mail. Every timed scan starts from the same state: what the previous one
wrote (ledger, outbox, outbound messages, audit) is deleted after it. One untimed scan warms
the connection pool and the caches first, as in a daemon that has been running for a while.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text

from bench.deploy import Environment
from bench.measure import BenchError, Measurement, Target
from disclosure_inbox.adapters.db.engine import make_engine, upgrade
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import Settings, parse_settings
from disclosure_inbox.service.escalation import Escalator
from disclosure_inbox.testing.bulk import fill_clocks

NOW = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
OPEN = 1_000
DUE = 20

# What a scan writes, in an order the foreign keys allow.
RESET = [
    "DELETE FROM escalations",
    "DELETE FROM audit",
    "DELETE FROM outbox",
    "DELETE FROM messages WHERE direction = 'outbound'",
]


@dataclass(frozen=True)
class ScanSeries:
    backend: str
    reports: int
    build_seconds: float
    seconds: list[float]  # one per timed scan
    escalations: int


def _settings(url: str, directory: str) -> Settings:
    return parse_settings(
        {
            "organization": {
                "name": "Mio",
                "mailbox_address": "soc@m.io",
                "staff_addresses": ["lead@m.io"],
            },
            "imap": {"host": "127.0.0.1", "username": "u", "password": "p"},
            "database": {"url": url},
            "storage": {"dir": directory},
        }
    )


def measure(env: Environment, backend: str, reports: int, runs: int) -> ScanSeries:
    if reports < OPEN:
        raise BenchError(f"an SLA store needs at least {OPEN} reports, not {reports}")
    directory = env.new_directory(f"sla-{backend}-{reports}")
    url = env.new_database_url(backend, directory)
    engine = make_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        fill_clocks(engine, reports, OPEN, DUE)
        build_seconds = time.perf_counter() - started
        settings = _settings(url, str(directory))
        escalator = Escalator(settings, Store(engine), Renderer())
        seconds: list[float] = []
        escalations = 0
        for attempt in range(runs + 1):  # the first is the warm-up
            began = time.perf_counter()
            result = escalator.scan(NOW)
            took = time.perf_counter() - began
            due_reports = {item.report.id for item in result.items}
            if len(due_reports) != DUE or not result.mails:
                raise BenchError(
                    f"the scan found {len(due_reports)} due reports, expected {DUE}: "
                    f"{result.summary()}"
                )
            escalations = result.escalations
            if attempt:
                seconds.append(took)
            with engine.begin() as conn:
                for sql in RESET:
                    conn.execute(text(sql))
    finally:
        engine.dispose()
        env.drop_database(url)
        env.remove_directory(directory)
    return ScanSeries(backend, reports, build_seconds, seconds, escalations)


def figures(
    series: dict[int, ScanSeries], name: str, most_ms: float, at: int, growth: float
) -> list[Measurement]:
    """One row per store size, in the order of ``series`` (target: under ``most_ms`` up to
    ``at`` reports); with two sizes or more, the largest store's scan time over the reference
    store's, the largest at most ``at`` (target: at most ``growth``)."""
    figures = []
    for size, s in series.items():
        target = None
        if size <= at:
            target = Target("<", 1.0, f"< {most_ms:.0f} ms", most_ms)
        figures.append(
            Measurement(
                f"sla.{s.backend}.{size}",
                f"SLA scan, {name}, {size:,} reports",
                "ms",
                [t * 1000 for t in s.seconds],
                target,
                note=f"{OPEN} open clocks, {DUE} due",
                details={"build_seconds": s.build_seconds, "escalations": s.escalations},
            )
        )
    sizes = list(series)
    if len(sizes) >= 2:
        top = sizes[-1]
        base = max((n for n in sizes[:-1] if n <= at), default=sizes[-2])
        figures.append(
            Measurement(
                f"sla.{series[top].backend}.growth",
                f"SLA scan growth, {name}, {top:,} / {base:,}",
                "x",
                [a / b for a, b in zip(series[top].seconds, series[base].seconds, strict=True)],
                Target("<=", growth, f"<= {growth:g} x", 1.0),
                note="scan time at the largest store / at the reference store, per run",
            )
        )
    return figures
