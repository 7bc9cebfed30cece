"""What one measurement is, how several runs become one figure, and how a child process is
timed and its peak memory read.

A `Measurement` keeps every run's value; the table shows the median with the minimum and the
maximum, because a 2-core machine shared with other work makes single runs unreliable. A target
is checked on a ratio: the figure divided by what it is compared with (a fixed threshold, or
another figure measured in the same run, such as the fetch+parse limit).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

Op = Literal["<", "<=", ">="]
MB = 1_000_000  # decimal megabytes, as in the targets
SPAWN = Path(__file__).resolve().with_name("spawn.py")


class BenchError(RuntimeError):
    """A server is missing or a measured command failed: the figures would mean nothing."""


@dataclass(frozen=True)
class Target:
    """``ratio op bound``: e.g. latency / 0.5 s < 1, or drain rate / limit >= 0.60."""

    op: Op
    bound: float
    text: str  # as printed in the table, e.g. "< 0.5 s" or ">= 0.60 x limit"
    reference: float  # the figure is divided by this to get the ratio

    def met(self, ratio: float) -> bool:
        if self.op == "<":
            return ratio < self.bound
        if self.op == "<=":
            return ratio <= self.bound
        return ratio >= self.bound


@dataclass
class Measurement:
    name: str  # stable, machine-readable: "drain.sqlite.rate"
    title: str  # for people: "backlog drain, SQLite"
    unit: str
    values: list[float]
    target: Target | None = None
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return float(statistics.median(self.values))

    @property
    def low(self) -> float:
        return float(min(self.values))

    @property
    def high(self) -> float:
        return float(max(self.values))

    @property
    def ratio(self) -> float | None:
        if self.target is None or not self.target.reference:
            return None
        return self.median / self.target.reference

    @property
    def verdict(self) -> str:
        ratio = self.ratio
        if self.target is None or ratio is None:
            return ""
        return "met" if self.target.met(ratio) else "missed"

    def as_dict(self) -> dict[str, Any]:
        target = None
        if self.target is not None:
            target = {
                "text": self.target.text,
                "op": self.target.op,
                "bound": self.target.bound,
                "reference": self.target.reference,
            }
        return {
            "name": self.name,
            "title": self.title,
            "unit": self.unit,
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "values": list(self.values),
            "target": target,
            "ratio": self.ratio,
            "verdict": self.verdict or None,
            "note": self.note,
            "details": self.details,
        }


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with ``fraction`` of them at or below."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])


def log_time(stamp: str) -> float:
    """The epoch time of a project log line's timestamp (logging's asctime: local time, ms)."""
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()


@dataclass(frozen=True)
class ProcessRun:
    returncode: int
    started_at: float  # epoch seconds, to compare with the process's log lines
    seconds: float  # wall clock, from start to exit
    peak_rss_bytes: int  # the child's own peak, from wait4
    cpu_seconds: float  # user + system
    stderr: str


def run_process(
    argv: Sequence[str], *, env: dict[str, str], log_path: Path, timeout: float
) -> ProcessRun:
    """Run a command to completion; time it and read its own peak RSS.

    The command is started by bench/spawn.py, a small launcher: started straight from this
    process, it would inherit this process's peak RSS (see there). The launcher times the
    command itself, so its own start-up is not counted.
    """
    result_path = log_path.with_suffix(".result.json")
    launcher = [sys.executable, "-S", str(SPAWN), str(result_path), "--", *argv]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            launcher, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # the launcher kills the command
            proc.wait()
            raise BenchError(f"{' '.join(argv)} did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0 or not result_path.exists():
        raise BenchError(f"the launcher failed ({proc.returncode}): {log_path.read_text()}")
    result = json.loads(result_path.read_text())
    return ProcessRun(
        returncode=int(result["returncode"]),
        started_at=float(result["started_at"]),
        seconds=float(result["seconds"]),
        peak_rss_bytes=int(result["maxrss_kb"]) * 1024,  # kilobytes on Linux
        cpu_seconds=float(result["cpu_seconds"]),
        stderr=log_path.read_text(errors="replace"),
    )
