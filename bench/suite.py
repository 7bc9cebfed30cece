"""The measurements and their targets: which runs each group makes, and in what order.

`Bench.run` runs the groups a `Plan` asks for against an `Environment` and collects one
`Measurement` per figure; bench/run.py turns them into the table and the JSON. The targets
are here; each group's module names its figures (`limits.figures`, `drain_figures`,
`latency.figures`, `sla.figures`, `triage.assess_figures` and `triage.lookup_figures`).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import drain, drain_figures, latency, limits, mailbox, sla, triage
from bench.deploy import Environment
from bench.measure import MB, Measurement
from bench.profile import summarize

GROUPS = ("limits", "drain", "latency", "sla", "memory", "triage", "scale")
DEFAULT_GROUPS = ("limits", "drain", "latency", "sla", "memory", "triage")  # scale: minutes
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
DRAIN_TARGETS = {"sqlite": 0.50, "postgresql": 0.35}  # of the fetch+parse limit
WORKERS = (1, 2)  # [intake] workers settings drained besides the default (one per CPU)
STATEMENTS_PER_MESSAGE = 2.0  # at most, amortised over the drain
SCALE_SHARE = 0.90  # the large backlog's drain rate, of the base backlog's
SCALE_RSS_MB = 250.0
LATENCY_MEDIAN_S, LATENCY_P95_S = 0.5, 1.0
SLA_MS, SLA_AT, SLA_GROWTH = 50.0, 100_000, 2.0
TRIAGE_MS = 5.0  # the assessment, per message (the budget for triage at intake)
# The duplicate look-up, per new report. Each key reads its newest reports and no more, so
# the cost levels off once the popular keys have that many; a tenfold store may cost at most
# three times as much (a scan would cost ten).
TRIAGE_LOOKUP_MS, TRIAGE_GROWTH = 5.0, 3.0
BACKLOG_RSS_MB, BIG_RSS_FACTOR = 200.0, 10.0


@dataclass(frozen=True)
class Plan:
    """What to measure, as the command line asked (see ``run.parse_args`` for the defaults)."""

    messages: int
    scale_messages: int  # the large backlog of the scale group
    runs: int
    seed: int
    quick: bool
    backends: tuple[str, ...]
    groups: frozenset[str]
    sla_sizes: tuple[int, ...]
    triage_sizes: tuple[int, ...]
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
        self.mail: mailbox.Spool | None = None

    def add(self, measurement: Measurement) -> Measurement:
        self.measurements.append(measurement)
        return measurement

    def run(self) -> None:
        plan = self.plan
        groups = plan.groups
        if groups & {"limits", "drain", "memory", "scale"} or plan.profile_dir:
            self.mail = self.spool(plan.messages, "backlog")
        if groups & {"limits", "drain", "memory"}:
            self.limits_and_drains()
        if "memory" in groups:
            self.big_message()
        if "latency" in groups:
            self.latency()
        if "sla" in groups:
            self.sla()
        if "triage" in groups:
            self.triage()
        if "scale" in groups:
            self.scale()
        if plan.profile_dir is not None:
            self.profile(plan.profile_dir)

    def spool(self, n: int, name: str) -> mailbox.Spool:
        """A backlog of ``n`` messages from the plan's seed, written once to the work dir."""
        spool = mailbox.spool(n, self.plan.seed, self.env.workdir / f"{name}.mail")
        d = spool.describe()
        say(
            f"mailbox: {d['messages']:,} messages, {d['bytes'] / MB:.1f} MB, median "
            f"{d['median_bytes'] / 1000:.1f} KB, largest {d['max_bytes'] / MB:.1f} MB"
        )
        return spool

    def _drain(
        self,
        backend: str,
        mail: mailbox.Spool,
        label: str,
        progress: str,
        workers: int | None = None,
        free_mail: bool = False,
    ) -> drain.DrainRun:
        d = drain.drain(self.env, backend, mail, label, workers=workers, free_mail=free_mail)
        setting = "" if workers is None else f", workers = {workers}"
        sql = ""
        if d.statements_per_message is not None:
            sql = f", {d.statements_per_message:.1f} SQL statements/msg"
        say(
            f"drain {NAMES[backend]}{setting}, {d.messages:,} messages {progress}: "
            f"{d.rate:,.0f} msg/s ({d.process.seconds:.2f} s, intake {d.intake_seconds:.2f} s), "
            f"peak RSS {d.process.peak_rss_bytes / MB:.0f} MB{sql}; "
            + ", ".join(f"{k} {v:.2f} s" for k, v in d.phases.items())
        )
        return d

    # --- 1, 2 and 5a: limits, backlog drain, backlog memory ------------------------------

    def limits_and_drains(self) -> None:
        plan, env = self.plan, self.env
        assert self.mail is not None
        mail = self.mail
        runs: list[limits.LimitRun] = []
        # (backend, [intake] workers) -> runs; workers None is the default, one per CPU.
        drains: dict[tuple[str, int | None], list[drain.DrainRun]] = {}
        settings: list[tuple[str, int | None]] = []
        if "drain" in plan.groups:
            settings = [(b, w) for b in plan.backends for w in (None, *WORKERS)]
        elif "memory" in plan.groups:
            settings = [("sqlite", None)]  # the backlog memory figure's run
        account = None
        if "limits" in plan.groups:
            account = env.dovecot.new_account()
            account.append(mail)
        # Interleaved, so that a change in the machine's load touches every series alike.
        for i in range(1, plan.runs + 1):
            if account is not None:
                run = limits.measure(account, len(mail))
                runs.append(run)
                say(
                    f"limits {i}/{plan.runs}: fetch {run.fetch_rate:,.0f} msg/s, parse "
                    f"{run.parse_rate:,.0f} msg/s, together {run.combined_rate:,.0f} msg/s"
                )
            for backend, workers in settings:
                label = f"drain-{backend}-{i}" + ("" if workers is None else f"-w{workers}")
                d = self._drain(backend, mail, label, f"{i}/{plan.runs}", workers)
                drains.setdefault((backend, workers), []).append(d)
        limit: Measurement | None = None
        if runs:
            figures = limits.figures(runs)
            self.measurements += figures
            limit = figures[-1]  # fetch+parse: what the drain rows are compared with
        if "drain" in plan.groups:
            for backend in plan.backends:
                name, defaults = NAMES[backend], drains[(backend, None)]
                variants = {w: drains[(backend, w)] for w in WORKERS}
                self.measurements += drain_figures.drain(
                    backend,
                    name,
                    defaults,
                    variants,
                    limit,
                    DRAIN_TARGETS[backend],
                    STATEMENTS_PER_MESSAGE,
                )
                if any(d.statements_per_message is None for d in defaults):
                    say(
                        f"no SQL statement count from the {name} drain: "
                        "its engine module lacks the hook"
                    )
        if "memory" in plan.groups:
            self.add(
                drain_figures.backlog_memory(
                    drains[("sqlite", None)], plan.messages, BACKLOG_RSS_MB
                )
            )

    # --- 5b: one large message -----------------------------------------------------------

    def big_message(self) -> None:
        plan = self.plan
        big = mailbox.big_message(plan.big_attachment_bytes, plan.seed)
        size_mb = len(big.raw) / MB
        runs = []
        for i in range(1, plan.runs + 1):
            run = drain.big_message(self.env, big, f"big-{i}")
            runs.append(run)
            rss = run.process.peak_rss_bytes / MB
            say(f"large message {i}/{plan.runs}: peak RSS {rss:.0f} MB ({size_mb:.1f} MB)")
        self.add(drain_figures.big_message(runs, big, plan.big_attachment_bytes, BIG_RSS_FACTOR))

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
        self.measurements += latency.figures(
            runs, plan.probes, plan.probe_interval, LATENCY_MEDIAN_S, LATENCY_P95_S
        )

    # --- 4: SLA scan ---------------------------------------------------------------------

    def sla(self) -> None:
        plan = self.plan
        for backend in plan.backends:
            series: dict[int, sla.ScanSeries] = {}
            for size in plan.sla_sizes:
                s = sla.measure(self.env, backend, size, plan.runs)
                series[size] = s
                say(
                    f"SLA scan {NAMES[backend]}, {size:,} reports (built in "
                    f"{s.build_seconds:.2f} s): "
                    + ", ".join(f"{t * 1000:.1f}" for t in s.seconds)
                    + " ms"
                )
            self.measurements += sla.figures(series, NAMES[backend], SLA_MS, SLA_AT, SLA_GROWTH)

    # --- 6: scale ------------------------------------------------------------------------

    def scale(self) -> None:
        """The base backlog and one ten times larger (by default), drained in turn; the
        large one's account is emptied after each run, as it is half a gigabyte."""
        plan = self.plan
        assert self.mail is not None
        large = self.spool(plan.scale_messages, "scale")
        for backend in plan.backends:
            bases: list[drain.DrainRun] = []
            scaled: list[drain.DrainRun] = []
            for i in range(1, plan.runs + 1):
                progress = f"{i}/{plan.runs}"
                bases.append(self._drain(backend, self.mail, f"scale-{backend}-{i}-base", progress))
                scaled.append(
                    self._drain(backend, large, f"scale-{backend}-{i}", progress, free_mail=True)
                )
            self.measurements += drain_figures.scale(
                backend,
                NAMES[backend],
                bases,
                scaled,
                plan.messages,
                plan.scale_messages,
                SCALE_SHARE,
                SCALE_RSS_MB,
            )
        large.path.unlink()

    # --- 7: triage ----------------------------------------------------------------------

    def triage(self) -> None:
        plan = self.plan
        assessed = []
        for group in triage.messages(plan.messages, plan.seed):
            a = triage.measure_assess(group, plan.runs)
            assessed.append(a)
            say(
                f"triage assess, {a.name} ({a.messages} messages): "
                + ", ".join(f"{v:.2f}" for v in a.assess_ms)
                + f" ms/msg; parse {statistics.median(a.parse_ms):.2f} ms/msg"
            )
        self.measurements += triage.assess_figures(assessed, TRIAGE_MS)
        started, most = time.perf_counter(), max(plan.triage_sizes)
        stored = triage.Stored(plan.seed, most)
        say(f"triage: {most:,} stored reports made in {time.perf_counter() - started:.1f} s")
        batches = triage.QUICK_BATCHES if plan.quick else triage.BATCHES
        for backend in plan.backends:
            series = []
            for size in plan.triage_sizes:
                s = triage.measure_lookup(self.env, backend, stored, size, plan.runs, batches)
                series.append(s)
                say(
                    f"triage look-up {NAMES[backend]}, {size:,} reports (built in "
                    f"{s.build_seconds:.1f} s): "
                    + ", ".join(f"{v:.2f}" for v in s.ms_per_report)
                    + f" ms/report; {s.found} of {s.resends} resends found"
                )
            self.measurements += triage.lookup_figures(
                series, NAMES[backend], TRIAGE_LOOKUP_MS, TRIAGE_GROWTH, batches
            )

    # --- profiles ------------------------------------------------------------------------

    def profile(self, directory: Path) -> None:
        assert self.mail is not None
        directory.mkdir(parents=True, exist_ok=True)
        for backend in self.plan.backends:
            output = directory / f"drain-{backend}.raw.txt"
            say(f"profiling the {NAMES[backend]} drain with py-spy into {output}")
            drain.profile_drain(self.env, backend, self.mail, output)
            profile = summarize(output)
            text = profile.render(f"run --once, {NAMES[backend]}, {len(self.mail)} messages")
            (directory / f"drain-{backend}.top.txt").write_text(text + "\n", encoding="utf-8")
            self.profiles[backend] = {"raw": str(output), **profile.as_dict()}
            print(text, file=sys.stderr)
