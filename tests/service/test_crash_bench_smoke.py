"""The crash benchmark still works: ``python -m bench.crash`` with tiny numbers, on SQLite.

Three kills during the outbox phase, then the drain: nothing may be lost, and every duplicate
must be explained by a kill that came between the server's 250 and the sent mark. How many
duplicates there are is what the full benchmark measures, never asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from disclosure_inbox.testing.dovecot import dovecot_installed

REPO = Path(__file__).resolve().parent.parent.parent


@pytest.mark.slow
def test_crash_benchmark_loses_nothing(tmp_path):
    if os.environ.get("DISCLOSURE_INBOX_SKIP_DOVECOT", "") == "1":
        pytest.skip("DISCLOSURE_INBOX_SKIP_DOVECOT=1")
    if not dovecot_installed():
        pytest.fail("dovecot is not installed: run scripts/setup", pytrace=False)
    out = tmp_path / "crash.json"
    command = [
        sys.executable,
        "-m",
        "bench.crash",
        "--backend",
        "sqlite",
        "--messages",
        "30",
        "--max-kills",
        "3",
        "--kill-after",
        "2",
        "--json",
        str(out),
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "duplicates" in done.stdout and "lost" in done.stdout  # the table's header

    (result,) = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert result["backend"] == "sqlite"
    assert result["outbox_phase_kills"] == 3
    assert result["lost"] == 0 and result["not_sent"] == 0 and result["missing_at_sink"] == 0
    assert result["outbox_rows"] > 0
    assert result["duplicates"] == result["in_window_at_kill"]
