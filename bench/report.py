"""The results as a plain-text table and as JSON, with what they were measured on."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.measure import Measurement

PACKAGES = (
    "disclosure-inbox",
    "imapclient",
    "mail-parser",
    "SQLAlchemy",
    "alembic",
    "psycopg",
    "aiosmtplib",
    "aiosmtpd",
    "APScheduler",
    "Jinja2",
)
COLUMNS = ("measurement", "median", "min", "max", "unit", "target", "ratio", "verdict")


def number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(measurements: list[Measurement]) -> str:
    rows = [COLUMNS]
    for m in measurements:
        ratio = m.ratio
        rows.append(
            (
                m.title,
                number(m.median),
                number(m.low),
                number(m.high),
                m.unit,
                m.target.text if m.target else "",
                f"{ratio:.2f}" if ratio is not None else "",
                m.verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    left = {0, 4, 5, 7}  # text columns; numbers are right-aligned

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.ljust(widths[i]) if i in left else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), rule, *(line(r) for r in rows[1:])])


def verdict_line(measurements: list[Measurement]) -> str:
    checked = [m for m in measurements if m.verdict]
    missed = [m.title for m in checked if m.verdict == "missed"]
    text = f"targets: {len(checked) - len(missed)} of {len(checked)} met"
    return text + (f"; missed: {', '.join(missed)}" if missed else "")


def _version(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def machine(postgres_version: str | None) -> dict[str, Any]:
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": packages,
        "sqlite": sqlite3.sqlite_version,
        "dovecot": _version(["dovecot", "--version"])
        or _version(["/usr/sbin/dovecot", "--version"]),
        "postgresql": postgres_version,
    }


def source_state() -> dict[str, Any] | None:
    """The commit measured, and whether (and how) the working tree differed from it."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, timeout=30, check=False
            )
        except OSError:
            return None
        return done.stdout.decode(errors="replace") if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    measured = ("src", "migrations", "templates")  # what the figures depend on
    diff = git("diff", "HEAD", "--", *measured) or ""
    status = git("status", "--porcelain", "--", *measured) or ""
    return {
        "commit": commit.strip(),
        "changed_files": [line[3:] for line in status.splitlines() if line],
        "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None,
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
