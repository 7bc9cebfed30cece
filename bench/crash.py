"""Duplicate acknowledgements per crash: ``run --once`` killed with SIGKILL while it sends.

``python -m bench.crash`` (or ``python bench/crash.py``) from the repository root. One
deployment per store holds the backlog. ``disclosure-inbox run --once`` is started again and
again; after its k-th "... sent to ..." log line (k drawn from 1 to ``--kill-after``) and a
random 0 to 10 ms more, it is killed by pid. A kill counts when every message was in the store
by then, that is in the outbox phase. When ``--max-kills`` kills have counted (or a run ends on
its own, or the time limit passes) one more run drains the rest, and the SMTP sink says which
Message-IDs arrived more than once. Nothing may be lost: every outbox row must be sent and have
reached the sink.

Right after each kill the store is compared with the sink: a message the server accepted
whose row is not marked sent was inside the window between the server's 250 and our commit,
and will be sent again. The log says how wide that window is: a "sent to" line is written
right after the commit, so its timestamp minus the sink's receipt of the same message bounds
it from above.

Code that knows ``[smtp] lease_seconds`` (asked with ``check-config``; older code calls it an
unknown key, and runs without it) gets ``--lease`` seconds, with the SMTP timeout below it as
that code requires, and on PostgreSQL every restart waits just past the lease, so that the row
the killed process had claimed is claimable again.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, text  # noqa: E402

import disclosure_inbox  # noqa: E402
from bench import report  # noqa: E402
from bench.deploy import BACKENDS, Deployment, Environment  # noqa: E402
from bench.drain import child_env  # noqa: E402
from bench.mailbox import backlog  # noqa: E402
from bench.measure import BenchError, log_time  # noqa: E402
from bench.suite import NAMES, say  # noqa: E402
from disclosure_inbox.adapters.db.engine import make_engine  # noqa: E402
from disclosure_inbox.testing.config import write_config  # noqa: E402
from disclosure_inbox.testing.smtp_sink import SmtpSink  # noqa: E402

# "<asctime> INFO disclosure_inbox.<module>: <kind> <Message-ID> sent to <address>"
SENT_LINE = re.compile(
    rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO disclosure_inbox\.[\w.]+: "
    rb"\S+ (<[^>\s]+>) sent to "
)
MAX_DELAY = 0.010  # a kill comes 0 to 10 ms after the chosen "sent to" line
LEASE_MARGIN = 0.25  # seconds waited past the lease before a restart (PostgreSQL)
LEASE_TIMEOUT = 0.75  # the SMTP timeout, as a share of the lease
SMTP_TIMEOUT = 10.0  # without a lease, as in the other benchmarks
SETTLE = 0.1  # seconds between a kill and looking at the store and the sink
RUN_TIMEOUT = 600.0
MAX_IDLE_RUNS = 5  # runs in a row that end on their own with mail still to send


@dataclass(frozen=True)
class Run:
    returncode: int
    killed_at: float | None  # epoch seconds
    line_at: float | None  # when the chosen "sent to" line was read
    sent_lines: list[tuple[float, str]]  # (log timestamp, Message-ID)


@dataclass(frozen=True)
class Kill:
    run: int
    after_line: int  # killed after this many "sent to" lines of its run
    delay_ms: float  # from reading that line to the kill, as measured
    outbox_phase: bool  # every message was in the store
    in_window: str | None  # accepted by the server, not marked sent: will be sent again
    since_accept_ms: float | None  # from that acceptance to the kill


@dataclass
class Result:
    backend: str
    lease_seconds: float | None
    kills: list[Kill] = field(default_factory=list)
    runs: int = 0
    stopped_by: str = ""
    seconds: float = 0.0
    outbox_rows: int = 0
    reports: int = 0
    duplicates: int = 0  # Message-IDs that arrived more than once
    extra_copies: int = 0
    not_sent: int = 0
    missing_at_sink: int = 0
    window_ms: list[float] = field(default_factory=list)  # log line minus sink receipt
    cycle_ms: list[float] = field(default_factory=list)  # between two receipts in one run

    @property
    def counted(self) -> list[Kill]:
        return [k for k in self.kills if k.outbox_phase]

    @property
    def lost(self) -> int:
        return self.not_sent + self.missing_at_sink

    @property
    def rate(self) -> float | None:
        return self.duplicates / len(self.counted) if self.counted else None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["window_ms"], d["cycle_ms"]
        d.update(
            outbox_phase_kills=len(self.counted),
            lost=self.lost,
            duplicates_per_kill=self.rate,
            in_window_at_kill=sum(k.in_window is not None for k in self.counted),
            window_ms_median=_median(self.window_ms),
            cycle_ms_median=_median(self.cycle_ms),
        )
        return d


def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _ms(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f} ms" if values else "-"


class Watch:
    """What the store and the sink say, for one deployment."""

    def __init__(self, deployment: Deployment, sink: SmtpSink) -> None:
        self.engine: Engine = make_engine(deployment.database_url)
        self.sink = sink
        self.first = len(sink.messages)  # the sink's earlier mail is another deployment's

    def close(self) -> None:
        self.engine.dispose()

    def rows(self, sql: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql)))

    def count(self, sql: str) -> int:
        return int(self.rows(sql)[0][0])

    def arrivals(self, start: int = 0) -> list[tuple[str, float]]:
        """(Message-ID, epoch seconds of receipt) of this deployment's mail, from ``start``."""
        return [
            (str(m.message["Message-ID"]), m.received_at.timestamp())
            for m in self.sink.messages[self.first + start :]
        ]

    def unsent(self) -> set[str]:
        return {r[0] for r in self.rows("SELECT message_id FROM outbox WHERE state <> 'sent'")}


def run_once(deployment: Deployment, log_path: Path, kill_after: int | None, delay: float) -> Run:
    """One ``run --once``; killed ``delay`` s after its ``kill_after``-th "sent to" line."""
    proc = subprocess.Popen(
        deployment.cli("run", "--once"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=child_env(),
    )
    assert proc.stdout is not None
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        proc.send_signal(signal.SIGKILL)  # by pid, and only while it has not been reaped

    timer = threading.Timer(RUN_TIMEOUT, expire)
    timer.start()
    killed_at = line_at = None
    sent: list[tuple[float, str]] = []
    try:
        with open(log_path, "wb") as log:
            for line in proc.stdout:  # read to the end, so the child never blocks on the pipe
                log.write(line)
                found = SENT_LINE.match(line)
                if found is None or killed_at is not None:
                    continue
                sent.append((log_time(found.group(1).decode()), found.group(2).decode()))
                if len(sent) == kill_after:
                    line_at = time.time()
                    time.sleep(delay)
                    os.kill(proc.pid, signal.SIGKILL)
                    killed_at = time.time()
        returncode = proc.wait()
    finally:
        timer.cancel()
    if expired.is_set():
        raise BenchError(f"run --once did not finish within {RUN_TIMEOUT:.0f} s; see {log_path}")
    if killed_at is None and returncode != 0:
        tail = b"".join(log_path.read_bytes().splitlines(keepends=True)[-15:]).decode()
        raise BenchError(f"run --once exited with {returncode}:\n{tail}")
    return Run(returncode, killed_at, line_at, sent)


def lease_settings(lease: float) -> dict[str, float]:
    """``[smtp]`` with a lease: a send must end before its claim does, so the SMTP timeout
    is below the lease (and still far above a send on loopback)."""
    return {"timeout_seconds": LEASE_TIMEOUT * lease, "lease_seconds": lease}


def configure_lease(deployment: Deployment, lease: float) -> float | None:
    """Keep ``[smtp] lease_seconds`` if the code under test knows it; code that calls it an
    unknown key gets the benchmark's usual ``[smtp]`` instead. Any other refusal is an error."""

    def check() -> subprocess.CompletedProcess[str]:
        argv = deployment.cli("check-config")
        return subprocess.run(argv, capture_output=True, text=True, env=child_env(), timeout=60)

    done = check()
    if done.returncode == 0:
        return lease
    if "lease_seconds: unknown key" not in done.stderr:
        raise BenchError(f"check-config refuses the configuration: {done.stderr.strip()}")
    sections = tomllib.loads(deployment.config_path.read_text(encoding="utf-8"))
    sections["smtp"].pop("lease_seconds")
    sections["smtp"]["timeout_seconds"] = SMTP_TIMEOUT
    write_config(deployment.config_path, sections)
    done = check()
    if done.returncode != 0:
        raise BenchError(f"check-config refuses the configuration: {done.stderr.strip()}")
    return None


class Crashes:
    def __init__(self, args: argparse.Namespace, env: Environment, mail: list[bytes]) -> None:
        self.args = args
        self.env = env
        self.mail = mail
        self.rng = random.Random(args.seed)

    def measure(self, backend: str) -> Result:
        started = time.monotonic()
        smtp = lease_settings(self.args.lease)
        deployment = self.env.deploy(f"crash-{backend}", backend, self.mail, smtp=smtp)
        watch = Watch(deployment, self.env.sink)
        try:
            result = Result(backend, configure_lease(deployment, self.args.lease))
            self._kill_loop(deployment, watch, result, started)
            self._restart_pause(result)
            final = run_once(deployment, self._log(deployment, result), None, 0.0)
            result.runs += 1
            self._timings(watch, final, 0, result)
            self._tally(watch, result)
        finally:
            watch.close()
            self.env.discard(deployment)
        result.seconds = time.monotonic() - started
        return result

    def _log(self, deployment: Deployment, result: Result) -> Path:
        return deployment.directory / f"run-{result.runs + 1:03d}.log"

    def _restart_pause(self, result: Result) -> None:
        if result.lease_seconds is not None and result.backend == "postgresql" and result.runs:
            time.sleep(result.lease_seconds + LEASE_MARGIN)

    def _kill_loop(self, deployment: Deployment, watch: Watch, result: Result, t0: float) -> None:
        args, idle = self.args, 0
        while True:
            if len(result.counted) >= args.max_kills:
                result.stopped_by = "max kills"
                return
            if time.monotonic() - t0 > args.time_limit:
                result.stopped_by = "time limit"
                return
            self._restart_pause(result)
            start = len(watch.arrivals())
            after = self.rng.randint(1, args.kill_after)
            run = run_once(
                deployment, self._log(deployment, result), after, self.rng.uniform(0, MAX_DELAY)
            )
            result.runs += 1
            self._timings(watch, run, start, result)
            if run.killed_at is None:
                if not watch.unsent():
                    result.stopped_by = "a run finished"
                    return
                idle += 1
                if idle >= MAX_IDLE_RUNS:
                    raise BenchError(f"{idle} runs in a row ended with mail left unsent")
                continue
            idle = 0
            result.kills.append(self._inspect(watch, run, after, start, result.runs))
            if args.verbose:
                say(f"{NAMES[result.backend]}: {result.kills[-1]}")

    def _inspect(self, watch: Watch, run: Run, after: int, start: int, number: int) -> Kill:
        assert run.killed_at is not None and run.line_at is not None
        # A DATA or a COMMIT the process sent just before it died may still be finishing in
        # the sink's thread or in PostgreSQL: let it, so that both are looked at after it.
        time.sleep(SETTLE)
        located = watch.count("SELECT count(*) FROM message_locations")
        accepted = dict(watch.arrivals(start))  # this run's receipts, the last copy of each
        in_window = [mid for mid in watch.unsent() if mid in accepted]
        if len(in_window) > 1:
            raise BenchError(f"{len(in_window)} messages accepted and unmarked at once")
        mid = in_window[0] if in_window else None
        return Kill(
            run=number,
            after_line=after,
            delay_ms=round((run.killed_at - run.line_at) * 1000, 2),
            outbox_phase=located >= len(self.mail),
            in_window=mid,
            since_accept_ms=round((run.killed_at - accepted[mid]) * 1000, 2) if mid else None,
        )

    def _timings(self, watch: Watch, run: Run, start: int, result: Result) -> None:
        received = watch.arrivals(start)
        at = dict(received)
        result.window_ms += [(t - at[mid]) * 1000 for t, mid in run.sent_lines if mid in at]
        times = [t for _, t in received]
        result.cycle_ms += [(b - a) * 1000 for a, b in zip(times, times[1:], strict=False)]

    def _tally(self, watch: Watch, result: Result) -> None:
        located = watch.count("SELECT count(*) FROM message_locations")
        if located != len(self.mail):
            raise BenchError(f"{located} of {len(self.mail)} messages are in the store")
        rows = watch.rows("SELECT message_id, state FROM outbox")
        copies = Counter(mid for mid, _ in watch.arrivals())
        result.outbox_rows = len(rows)
        result.reports = watch.count("SELECT count(*) FROM reports")
        result.not_sent = sum(state != "sent" for _, state in rows)
        result.missing_at_sink = sum(mid not in copies for mid, _ in rows)
        result.duplicates = sum(n > 1 for n in copies.values())
        result.extra_copies = sum(n - 1 for n in copies.values() if n > 1)


def table(results: list[Result]) -> str:
    head = ("store", "kills", "duplicates", "per kill", "lost", "in window", "runs", "lease", "s")
    rows: list[tuple[str, ...]] = [head]
    for r in results:
        rate = f"{100 * r.rate:.1f}%" if r.rate is not None else "-"
        in_window = sum(k.in_window is not None for k in r.counted)
        lease = f"{r.lease_seconds:g} s" if r.lease_seconds is not None else "none"
        cells = (len(r.counted), r.duplicates, rate, r.lost, in_window, r.runs, lease)
        rows.append((NAMES[r.backend], *map(str, cells), f"{r.seconds:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]

    def line(row: Sequence[str]) -> str:
        cells = [c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)]
        return "  ".join(cells).rstrip()

    lines = [line(head), "  ".join("-" * w for w in widths), *(line(r) for r in rows[1:])]
    for r in results:
        since = [k.since_accept_ms for k in r.counted if k.since_accept_ms is not None]
        lines.append(
            f"{NAMES[r.backend]}: from the 250 to the 'sent to' line {_ms(r.window_ms)}, "
            f"from one 250 to the next {_ms(r.cycle_ms)}, from the 250 to a kill in the window "
            f"{_ms(since)} (medians); {r.extra_copies} extra copies; stopped by {r.stopped_by}"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.crash",
        description="Duplicate acknowledgements per SIGKILL of run --once in its outbox phase.",
    )
    p.add_argument("--backend", choices=(*BACKENDS, "both"), default="both")
    p.add_argument("--messages", type=int, default=600, help="messages in the mailbox (600)")
    p.add_argument("--max-kills", type=int, default=60, help="outbox-phase kills per store (60)")
    p.add_argument(
        "--kill-after", type=int, default=5, help="kill after a random 1st to Nth 'sent to' (5)"
    )
    p.add_argument("--lease", type=float, default=2.0, help="[smtp] lease_seconds, if known (2)")
    p.add_argument("--time-limit", type=float, default=900, help="seconds per store (900)")
    p.add_argument("--seed", type=int, default=1, help="seed of the mail and the kills (1)")
    p.add_argument("--json", metavar="FILE", type=Path, help="also write the results as JSON")
    p.add_argument("--keep", action="store_true", help="keep the working directory and logs")
    p.add_argument("--verbose", action="store_true", help="print every kill")
    args = p.parse_args(argv)
    if min(args.messages, args.max_kills, args.kill_after) < 1 or args.lease < 0.5:
        p.error("--messages, --max-kills and --kill-after must be at least 1, --lease 0.5")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    started_at, started = datetime.now(UTC), time.monotonic()
    load_start = os.getloadavg()
    mail = backlog(args.messages, args.seed).messages
    results: list[Result] = []
    try:
        with Environment(postgres="postgresql" in backends, keep=args.keep) as env:
            postgres_version = env.postgres_version()
            crashes = Crashes(args, env, mail)
            for backend in backends:
                say(f"{NAMES[backend]}: {args.messages} messages, up to {args.max_kills} kills")
                results.append(crashes.measure(backend))
            if args.keep:
                say(f"kept {env.workdir}")
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    info = report.machine(postgres_version)
    measured = Path(disclosure_inbox.__file__).parent
    print(
        f"disclosure-inbox crash benchmark: {args.messages:,} messages, seed {args.seed}, kills "
        f"0-{MAX_DELAY * 1000:.0f} ms after 'sent to' line k, k random in 1..{args.kill_after}; "
        f"{info['cpu_count']} CPUs, Python {info['python']}; {time.monotonic() - started:.0f} s"
    )
    print(f"measured: disclosure_inbox {metadata.version('disclosure-inbox')} from {measured}")
    print(table(results))
    if args.json is not None:
        document = {
            "benchmark": "disclosure-inbox crash",
            "started_at": started_at.isoformat(timespec="seconds"),
            "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "measured_package": str(measured),
            "machine": info,
            "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
            "source": report.source_state(),
            "results": [r.as_dict() for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    lost = sum(r.lost for r in results)
    if lost:
        print(f"bench: {lost} outgoing messages lost", file=sys.stderr)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
