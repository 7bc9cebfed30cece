"""The benchmark's entry point: ``python -m bench`` (or ``python bench/run.py``) from the repo root.

Starts its own Dovecot, SMTP sink and stores, generates the mailbox from the seed, runs the
measurements (bench/suite.py), prints a table (median, min and max of the runs, the target,
the ratio and whether it was met) and, with ``--json FILE``, writes the same data with the
machine's details. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, sla, triage  # noqa: E402
from bench.deploy import BACKENDS, Environment  # noqa: E402
from bench.measure import BenchError  # noqa: E402
from bench.suite import DEFAULT_GROUPS, GROUPS, Bench, Plan, say  # noqa: E402


def _sizes(least: int, what: str) -> Callable[[str], tuple[int, ...]]:
    def sizes(text: str) -> tuple[int, ...]:
        try:
            found = tuple(sorted({int(part.replace("_", "")) for part in text.split(",")}))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
        if not found or found[0] < least:
            raise argparse.ArgumentTypeError(f"every {what} size must be at least {least}")
        return found

    return sizes


def parse_args(argv: Sequence[str] | None) -> Plan:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measures disclosure-inbox against its own Dovecot, SMTP sink and stores.",
    )
    p.add_argument("--messages", type=int, help="messages in the backlog (default 2000)")
    p.add_argument(
        "--scale-messages",
        type=int,
        metavar="N",
        help="messages in the scale group's large backlog (default 10 x --messages)",
    )
    p.add_argument("--runs", type=int, help="runs per measurement (default 3)")
    p.add_argument("--seed", type=int, default=1, help="seed of the generated mail (default 1)")
    p.add_argument("--json", metavar="FILE", type=Path, help="also write the results as JSON")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 40 messages, 1 run, small SLA and triage stores, a 4 MB large message",
    )
    p.add_argument("--skip-postgres", action="store_true", help="measure SQLite only")
    p.add_argument(
        "--only",
        nargs="+",
        choices=GROUPS,
        metavar="NAME",
        help=(
            f"only these measurements: {', '.join(GROUPS)} (default: all but scale; "
            "drain brings limits along)"
        ),
    )
    p.add_argument(
        "--sla-sizes",
        type=_sizes(sla.OPEN, "SLA"),
        metavar="N,N,...",
        help="reports in the SLA stores (default 10000,100000,1000000)",
    )
    p.add_argument(
        "--triage-sizes",
        type=_sizes(triage.LEAST_STORED, "triage"),
        metavar="N,N,...",
        help="reports in the triage look-up's stores (default 10000,100000)",
    )
    p.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="also run one untimed drain per store under py-spy, writing its samples to DIR",
    )
    p.add_argument("--keep", action="store_true", help="keep the working directory")
    args = p.parse_args(argv)
    quick = args.quick
    messages = args.messages if args.messages is not None else (40 if quick else 2000)
    runs = args.runs if args.runs is not None else (1 if quick else 3)
    scale_messages = args.scale_messages if args.scale_messages is not None else 10 * messages
    if messages < 1 or runs < 1 or scale_messages < 1:
        p.error("--messages, --scale-messages and --runs must be at least 1")
    groups = set(args.only or DEFAULT_GROUPS)
    if "drain" in groups:
        groups.add("limits")  # the drain's targets are ratios to the limit
    return Plan(
        messages=messages,
        scale_messages=scale_messages,
        runs=runs,
        seed=args.seed,
        quick=quick,
        backends=("sqlite",) if args.skip_postgres else BACKENDS,
        groups=frozenset(groups),
        sla_sizes=args.sla_sizes or ((1_000, 10_000) if quick else (10_000, 100_000, 1_000_000)),
        triage_sizes=args.triage_sizes or ((1_000, 10_000) if quick else (10_000, 100_000)),
        big_attachment_bytes=(4 if quick else 40) * 1_000_000,
        probes=5 if quick else 30,
        probe_interval=0.3 if quick else 0.5,
        json_path=args.json,
        profile_dir=args.profile,
        keep=args.keep,
    )


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """The project's log lines from this process (the SLA scans) go to a file, as a daemon's
    go to its journal: written, so their cost is measured, but kept off the terminal."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse_args(argv)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    load_start = os.getloadavg()
    source_start = report.source_state()
    try:
        with (
            Environment(postgres="postgresql" in plan.backends, keep=plan.keep) as env,
            _log_to(env.workdir / "bench.log"),
        ):
            postgres_version = env.postgres_version()
            bench = Bench(plan, env)
            bench.run()
            if plan.keep:
                say(f"kept {env.workdir}")
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    seconds = time.monotonic() - started
    measurements = bench.measurements
    source = report.source_state()
    if source != source_start:
        say("warning: the source changed while the benchmark ran; see 'source' in the JSON")
        if source is not None:
            source["at_start"] = source_start
    info = report.machine(postgres_version)
    header = (
        f"disclosure-inbox benchmark: {plan.messages:,} messages"
        + (f" (scale: {plan.scale_messages:,})" if "scale" in plan.groups else "")
        + f", {plan.runs} run(s), "
        f"seed {plan.seed}{', quick' if plan.quick else ''}; {info['cpu_count']} CPUs, "
        f"Python {info['python']}; {seconds:.0f} s"
    )
    print(header)
    print(report.table(measurements))
    print(report.verdict_line(measurements))
    if plan.json_path is not None:
        checked = [m for m in measurements if m.verdict]
        parameters = asdict(plan)
        parameters.update(
            backends=list(plan.backends),
            groups=sorted(plan.groups),
            json_path=str(plan.json_path),
            profile_dir=str(plan.profile_dir) if plan.profile_dir else None,
        )
        document = {
            "benchmark": "disclosure-inbox",
            "started_at": started_at.isoformat(timespec="seconds"),
            "seconds": round(seconds, 1),
            "parameters": parameters,
            "machine": info,
            "source": source,
            "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
            "mailbox": bench.mail.describe() if bench.mail else None,
            "measurements": [m.as_dict() for m in measurements],
            "summary": {
                "met": sum(m.verdict == "met" for m in checked),
                "missed": [m.name for m in checked if m.verdict == "missed"],
            },
            "profiles": bench.profiles,
        }
        report.write_json(plan.json_path, document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
