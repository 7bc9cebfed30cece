"""Where a process spends its time: ``py-spy record`` and a plain-text summary of its output.

py-spy samples the process from outside, so the profiled command is the real one, unchanged.
Idle samples are kept (``--idle``): waiting for the IMAP server or the disk is part of the
wall time being explained. The summary covers the main thread, where ``run --once`` does all
its work, and lists functions by their own samples ("self") and by the samples in which they
are anywhere on the stack ("total"), as percentages of the main thread's samples.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import BenchError

RATE = 250  # samples per second
_LINE = re.compile(r"^thread \((\w+)\): ([^;]*);(.*) (\d+)$")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise BenchError("--profile needs py-spy: pip install py-spy")
    return found


def py_spy_command(output: Path, command: Sequence[str]) -> list[str]:
    return [
        py_spy(), "record", "--format", "raw", "--rate", str(RATE), "--idle", "--threads",
        "--nolineno", "--output", str(output), "--", *command,
    ]  # fmt: skip


def package(frame: str) -> str:
    """``Session.flush (sqlalchemy/orm/session.py)`` -> ``sqlalchemy``; a bare module file
    (``selectors.py``) is the standard library's."""
    path = frame[frame.rfind("(") + 1 : -1]
    if "/" in path:
        return path.split("/", 1)[0]
    return path.removesuffix(".py").strip("<>") or "?"


@dataclass
class Profile:
    samples: int = 0  # main thread
    other_threads: int = 0
    self_counts: Counter[str] = field(default_factory=Counter)
    total_counts: Counter[str] = field(default_factory=Counter)
    package_counts: Counter[str] = field(default_factory=Counter)  # by the sampled frame

    def share(self, count: int) -> float:
        return 100.0 * count / self.samples if self.samples else 0.0

    def top(self, which: str, n: int) -> list[tuple[str, float]]:
        if which == "self":
            counts = self.self_counts
        elif which == "package":
            counts = self.package_counts
        else:  # "project": the project's own functions, by inclusive samples
            counts = Counter(
                {f: c for f, c in self.total_counts.items() if package(f) == "disclosure_inbox"}
            )
        return [(name, self.share(count)) for name, count in counts.most_common(n)]

    def as_dict(self, n: int = 30) -> dict[str, object]:
        def listed(which: str) -> list[dict[str, object]]:
            return [{"name": f, "percent": round(p, 2)} for f, p in self.top(which, n)]

        return {
            "samples": self.samples,
            "rate": RATE,
            "other_thread_samples": self.other_threads,
            "self": listed("self"),
            "project_total": listed("project"),
            "packages_self": listed("package"),
        }

    def render(self, title: str, n: int = 20) -> str:
        lines = [
            f"{title}: {self.samples} samples of the main thread at {RATE}/s "
            f"(about {self.samples / RATE:.1f} s), idle included",
            "",
            "  self time by package: "
            + ", ".join(f"{name} {pct:.1f}%" for name, pct in self.top("package", 12)),
            "",
            "  total %  the project's functions (samples with the function on the stack)",
        ]
        lines += [f"  {pct:7.1f}  {name}" for name, pct in self.top("project", n + 10)]
        lines += ["", "   self %  functions by own samples"]
        lines += [f"  {pct:7.1f}  {name}" for name, pct in self.top("self", n)]
        return "\n".join(lines)


def summarize(raw_path: Path) -> Profile:
    profile = Profile()
    for line in raw_path.read_text(errors="replace").splitlines():
        found = _LINE.match(line)
        if found is None:
            continue
        thread, frames, count = found.group(2), found.group(3).split(";"), int(found.group(4))
        if not thread.startswith("MainThread"):
            profile.other_threads += count
            continue
        profile.samples += count
        profile.self_counts[frames[-1]] += count
        profile.package_counts[package(frames[-1])] += count
        for name in set(frames):
            profile.total_counts[name] += count
    return profile
