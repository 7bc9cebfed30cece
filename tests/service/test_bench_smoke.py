"""The benchmark still works: ``python -m bench --quick`` end to end, as a developer runs it,
and its scale group on a tiny pair of backlogs.

Only that every figure is there and is a positive number; the targets are for the full
benchmark on a quiet machine, never asserted here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from disclosure_inbox.testing.dovecot import dovecot_installed

REPO = Path(__file__).resolve().parent.parent.parent
SQLITE_ONLY = os.environ.get("DISCLOSURE_INBOX_SKIP_POSTGRES", "") == "1"


def expected_names(backends: list[str]) -> set[str]:
    names = {
        "limit.fetch",
        "limit.parse",
        "limit.combined",
        "memory.backlog",
        "memory.big_message",
        "ack_latency.median",
        "ack_latency.p95",
        "ack_latency.to_stored",
        "ack_latency.stored_to_sink",
    }
    for backend in backends:
        names |= {f"drain.{backend}.rate", f"drain.{backend}.intake_rate"}
        names |= {f"drain.{backend}.workers_1.rate", f"drain.{backend}.workers_2.rate"}
        names |= {f"drain.{backend}.statements_per_message"}
        names |= {f"sla.{backend}.1000", f"sla.{backend}.10000", f"sla.{backend}.growth"}
    return names | triage_names(backends)


def triage_names(backends: list[str]) -> set[str]:
    names = {"triage.assess.set", "triage.assess.backlog", "triage.assess.to_parse"}
    for backend in backends:
        names |= {f"triage.{backend}.lookup.{n}" for n in (1000, 10000)}
        names |= {f"triage.{backend}.found.{n}" for n in (1000, 10000)}
        names |= {f"triage.{backend}.lookup.growth"}
    return names


def run_bench(tmp_path: Path, *args: str, timeout: float) -> dict:
    if os.environ.get("DISCLOSURE_INBOX_SKIP_DOVECOT", "") == "1":
        pytest.skip("DISCLOSURE_INBOX_SKIP_DOVECOT=1")
    if not dovecot_installed():
        pytest.fail("dovecot is not installed: run scripts/setup", pytrace=False)
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench", "--quick", "--json", str(out), *args]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "measurement" in done.stdout and "verdict" in done.stdout  # the table's header
    return json.loads(out.read_text(encoding="utf-8"))


def assert_figures(document: dict, names: set[str]) -> None:
    measurements = {m["name"]: m for m in document["measurements"]}
    assert set(measurements) == names
    for name, m in measurements.items():
        for key in ("median", "min", "max"):
            value = m[key]
            assert isinstance(value, int | float) and math.isfinite(value), (name, key, value)
            assert value > 0, (name, key, value)
        assert m["min"] <= m["median"] <= m["max"], name
        assert m["verdict"] in (None, "met", "missed"), name


@pytest.mark.slow
def test_quick_benchmark_reports_every_figure(tmp_path):
    document = run_bench(tmp_path, *(["--skip-postgres"] if SQLITE_ONLY else []), timeout=150)
    backends = ["sqlite"] if SQLITE_ONLY else ["sqlite", "postgresql"]
    assert document["parameters"]["backends"] == backends
    assert document["machine"]["cpu_count"] >= 1
    assert_figures(document, expected_names(backends))
    assert document["parameters"]["triage_sizes"] == [1000, 10000]
    figures = {m["name"]: m for m in document["measurements"]}
    assert figures["triage.assess.set"]["target"]["reference"] == 5.0  # ms, the budget
    assert figures["triage.sqlite.lookup.growth"]["target"]["bound"] == 3.0
    lookup = figures["triage.sqlite.lookup.10000"]["details"]
    assert lookup["index_rows"] > 16 * 10_000  # every report under its 16 bands, and more
    assert 0 < lookup["resends_found"] <= lookup["resends"]


@pytest.mark.slow
def test_scale_group_compares_two_backlogs(tmp_path):
    scale = ["--only", "scale", "--skip-postgres", "--messages", "5", "--scale-messages", "20"]
    document = run_bench(tmp_path, *scale, timeout=60)
    assert document["parameters"]["scale_messages"] == 20
    assert_figures(
        document, {"scale.sqlite.base_rate", "scale.sqlite.rate", "scale.sqlite.peak_rss"}
    )
    rate = next(m for m in document["measurements"] if m["name"] == "scale.sqlite.rate")
    assert rate["details"]["messages"] == 20 and rate["target"]["bound"] == 0.9
