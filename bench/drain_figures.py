"""The figures of whole ``run --once`` processes: the drain, memory and scale rows.

bench/drain.py runs and checks the processes; this module names what they measured and
carries every run's details into the JSON. The targets are arguments: bench/suite.py keeps
them with the others.
"""

from __future__ import annotations

import os
from typing import Any

from bench.drain import BigRun, DrainRun
from bench.mailbox import BigMessage
from bench.measure import MB, Measurement, Target


def details(runs: list[DrainRun]) -> dict[str, Any]:
    return {
        "messages": runs[0].messages,
        "workers": runs[0].workers,
        "seconds": [d.process.seconds for d in runs],
        "intake_seconds": [d.intake_seconds for d in runs],
        "cpu_seconds": [d.process.cpu_seconds for d in runs],
        "peak_rss_mb": [d.process.peak_rss_bytes / MB for d in runs],
        "acks_sent": [d.acks_sent for d in runs],
        "sql_statements": [d.statements for d in runs],
        "phases_seconds": [d.phases for d in runs],
    }


def drain(
    backend: str,
    name: str,
    runs: list[DrainRun],
    variants: dict[int, list[DrainRun]],
    limit: Measurement | None,
    share: float,
    most_statements: float,
) -> list[Measurement]:
    """The default drain's rate (target: at least ``share`` of the fetch+parse ``limit``, when
    it was measured) and its intake pass's; the rate with each ``[intake] workers`` setting of
    ``variants``; and, when every default run counted them, the SQL statements per message
    (target: at most ``most_statements``)."""
    target = None
    if limit is not None:
        target = Target(">=", share, f">= {share:.2f} x limit", limit.median)
    figures = [
        Measurement(
            f"drain.{backend}.rate",
            f"backlog drain, run --once, {name}",
            "msg/s",
            [d.rate for d in runs],
            target,
            note=(
                "whole process: start, intake, SLA scan, acks sent, exit; "
                f"default [intake] workers ({os.cpu_count()} CPUs)"
            ),
            details=details(runs),
        ),
        Measurement(
            f"drain.{backend}.intake_rate",
            f"  intake pass alone, {name}",
            "msg/s",
            [d.intake_rate for d in runs],
            note="from the summary run --once prints; no target",
        ),
    ]
    for workers, series in variants.items():
        figures.append(
            Measurement(
                f"drain.{backend}.workers_{workers}.rate",
                f"  backlog drain, workers = {workers}, {name}",
                "msg/s",
                [d.rate for d in series],
                note=f"as above, with [intake] workers = {workers}; no target",
                details=details(series),
            )
        )
    counted = [d.statements_per_message for d in runs]
    if any(c is None for c in counted):
        return figures
    figures.append(
        Measurement(
            f"drain.{backend}.statements_per_message",
            f"SQL statements per message, drain, {name}",
            "stmt/msg",
            [c for c in counted if c is not None],
            Target("<=", 1.0, f"<= {most_statements:g} per message", most_statements),
            note="whole run --once process, default workers; an executemany counts once",
            details={
                "statements": [d.statements for d in runs],
                **{
                    f"workers_{w}": [d.statements_per_message for d in series]
                    for w, series in variants.items()
                },
            },
        )
    )
    return figures


def backlog_memory(runs: list[DrainRun], messages: int, most_mb: float) -> Measurement:
    """The drain's peak RSS on the SQLite store (target: under ``most_mb``)."""
    return Measurement(
        "memory.backlog",
        f"peak RSS, run --once, {messages:,} messages",
        "MB",
        [d.process.peak_rss_bytes / MB for d in runs],
        Target("<", 1.0, f"< {most_mb:.0f} MB", most_mb),
        note="SQLite store; wait4's ru_maxrss of the process",
    )


def big_message(
    runs: list[BigRun], big: BigMessage, attachment_bytes: int, factor: float
) -> Measurement:
    """Peak RSS with one large message (target: under ``factor`` times the message's size)."""
    size_mb = len(big.raw) / MB
    return Measurement(
        "memory.big_message",
        f"peak RSS, one {attachment_bytes // 1_000_000} MB attachment",
        "MB",
        [run.process.peak_rss_bytes / MB for run in runs],
        Target("<", factor, f"< {factor:.0f} x {size_mb:.1f} MB message", size_mb),
        note="ratio: peak RSS / the message's size on the server (base64 included)",
        details={"message_bytes": len(big.raw), "attachment_bytes": len(big.attachment)},
    )


def scale(
    backend: str,
    name: str,
    bases: list[DrainRun],
    scaled: list[DrainRun],
    base: int,
    big: int,
    share: float,
    most_mb: float,
) -> list[Measurement]:
    """The base backlog's drain rate, the large one's (target: at least ``share`` of the
    base's, drained in turn with it) and the large one's peak RSS (target: under ``most_mb``)."""
    reference = Measurement(
        f"scale.{backend}.base_rate",
        f"backlog drain, {base:,} messages, {name}",
        "msg/s",
        [d.rate for d in bases],
        note="the reference of the next row, drained in turn with it",
        details=details(bases),
    )
    return [
        reference,
        Measurement(
            f"scale.{backend}.rate",
            f"backlog drain, {big:,} messages, {name}",
            "msg/s",
            [d.rate for d in scaled],
            Target(">=", share, f">= {share:.2f} x {base:,}-message rate", reference.median),
            note="whole process, as the drain rows",
            details=details(scaled),
        ),
        Measurement(
            f"scale.{backend}.peak_rss",
            f"peak RSS, run --once, {big:,} messages, {name}",
            "MB",
            [d.process.peak_rss_bytes / MB for d in scaled],
            Target("<", 1.0, f"< {most_mb:.0f} MB", most_mb),
            note="wait4's ru_maxrss of the process",
        ),
    ]
