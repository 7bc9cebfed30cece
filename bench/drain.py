"""Backlog drain: ``disclosure-inbox run --once`` on a full mailbox, as a whole process.

Each run gets a fresh Dovecot account holding the mailbox and a fresh store, so every run does
the same work: intake of every message, the SLA scan, and sending every acknowledgement to
the SMTP sink. The wall time runs from starting the process to its exit (interpreter start and
imports included, as an operator would see it); ``wait4`` gives the process's peak RSS. The
intake pass's own duration, from the summary line the command prints, is kept as a detail.

A drain can set ``[intake] workers`` (the parsing processes; 1 parses in-process). Every drain
also counts the SQL statements the process sends: the child gets
``DISCLOSURE_INBOX_SQL_COUNT_FILE``, and the engine module appends each process's count to that
file when it exits (see ``disclosure_inbox.adapters.db.engine``). Code without that hook writes
nothing, and the count is then None.

The same command measures memory on a mailbox holding one large message; its size limit is
raised above that message so that it is parsed and its attachment stored, not quarantined.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

from bench.deploy import Deployment, Environment
from bench.mailbox import Backlog, BigMessage
from bench.measure import BenchError, ProcessRun, log_time, run_process
from disclosure_inbox.adapters.db.engine import SQL_COUNT_ENV, make_engine

_SUMMARY = re.compile(r"intake: (\d+) messages, .*?, (\d+) to retry, ([\d.]+) s")
_STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO "
_STORED = re.compile(
    _STAMP + r"disclosure_inbox\.service\.intake: (?:\S+ (?:report|followup): |unfiled )", re.M
)
_SENT = re.compile(_STAMP + r"disclosure_inbox\.service\.outbox: \S+ \S+ sent to ", re.M)


@dataclass(frozen=True)
class DrainRun:
    backend: str
    messages: int
    workers: int | None  # [intake] workers; None: the default, one per CPU
    process: ProcessRun
    intake_seconds: float
    acks_sent: int
    phases: dict[str, float]
    statements: int | None  # SQL statements the process sent; None: not counted

    @property
    def rate(self) -> float:
        return self.messages / self.process.seconds

    @property
    def intake_rate(self) -> float:
        return self.messages / self.intake_seconds

    @property
    def statements_per_message(self) -> float | None:
        return None if self.statements is None else self.statements / self.messages


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DISCLOSURE_INBOX_CONFIG", None)  # the --config argument decides
    env.pop(SQL_COUNT_ENV, None)  # counted only where asked
    env.update(extra)
    return env


def run_once(
    deployment: Deployment,
    timeout: float,
    log_name: str = "run-once.log",
    env: dict[str, str] | None = None,
) -> ProcessRun:
    run = run_process(
        deployment.cli("run", "--once"),
        env=child_env() if env is None else env,
        log_path=deployment.directory / log_name,
        timeout=timeout,
    )
    if run.returncode != 0:
        tail = "\n".join(run.stderr.strip().splitlines()[-15:])
        raise BenchError(f"run --once exited with {run.returncode}:\n{tail}")
    return run


def _scalar(url: str, sql: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def _intake_seconds(stderr: str, expected: int) -> float:
    found = _SUMMARY.search(stderr)
    if found is None:
        raise BenchError(f"no intake summary in the output of run --once:\n{stderr[-2000:]}")
    stored, failed, seconds = int(found.group(1)), int(found.group(2)), float(found.group(3))
    if stored != expected or failed:
        raise BenchError(f"intake stored {stored} of {expected} messages, {failed} to retry")
    return seconds


def phases(run: ProcessRun) -> dict[str, float]:
    """Where the wall time went, from the timestamps of the process's log lines: until the
    first message was stored, from there to the last, from there to the last mail sent, and
    from there to the exit. Empty when the log has no such lines."""
    stored = [log_time(m.group(1)) for m in _STORED.finditer(run.stderr)]
    sent = [log_time(m.group(1)) for m in _SENT.finditer(run.stderr)]
    if not stored:
        return {}
    start, end = run.started_at, run.started_at + run.seconds
    last = max(sent) if sent else stored[-1]
    return {
        "to_first_stored": stored[0] - start,
        "storing": stored[-1] - stored[0],
        "scan_and_outbox": last - stored[-1],
        "to_exit": end - last,
    }


def _statements(path: Path) -> int | None:
    """The sum of the ``<pid> <count>`` lines the measured processes wrote, if any."""
    if not path.exists():
        return None
    return sum(int(line.split()[1]) for line in path.read_text().splitlines() if line.strip())


def drain(
    env: Environment,
    backend: str,
    mail: Backlog,
    label: str,
    *,
    workers: int | None = None,
    free_mail: bool = False,
) -> DrainRun:
    """One timed ``run --once`` over ``mail``, checked: all stored, every reply sent.

    ``workers`` sets ``[intake] workers`` (None leaves the default); ``free_mail`` expunges
    the account afterwards, for backlogs too big to leave behind on disk.
    """
    n = len(mail)
    deployment = env.deploy(label, backend, mail, intake={"workers": workers})
    count_file = deployment.directory / "sql-statements.txt"
    timeout = max(900.0, 0.1 * n)  # 20,000 messages: 2,000 s
    env.sink.clear()  # the sink keeps what it receives; a big backlog's replies add up
    try:
        process = run_once(deployment, timeout, env=child_env(**{SQL_COUNT_ENV: str(count_file)}))
        intake_seconds = _intake_seconds(process.stderr, n)
        located = _scalar(deployment.database_url, "SELECT count(*) FROM message_locations")
        if located != n:
            raise BenchError(f"{located} of {n} messages are in the store")
        pending = _scalar(
            deployment.database_url, "SELECT count(*) FROM outbox WHERE state <> 'sent'"
        )
        if pending:
            raise BenchError(f"{pending} outgoing messages were not sent")
        sent = _scalar(deployment.database_url, "SELECT count(*) FROM outbox")
        statements = _statements(count_file)
    finally:
        env.discard(deployment, mail=free_mail)
    return DrainRun(backend, n, workers, process, intake_seconds, sent, phases(process), statements)


@dataclass(frozen=True)
class BigRun:
    message_bytes: int
    process: ProcessRun


def big_message(env: Environment, big: BigMessage, label: str, timeout: float = 600) -> BigRun:
    """Peak RSS of run --once on a mailbox of one large message, checked to be stored whole."""
    limit = max(2 * len(big.raw), 25 * 1024 * 1024)
    deployment = env.deploy(label, "sqlite", [big.raw], storage={"max_message_bytes": limit})
    try:
        process = run_once(deployment, timeout)
        _check_stored_whole(deployment, big)
    finally:
        env.discard(deployment)
    return BigRun(len(big.raw), process)


def _check_stored_whole(deployment: Deployment, big: BigMessage) -> None:
    engine = make_engine(deployment.database_url)
    try:
        with engine.connect() as conn:
            outcomes = [
                row[0]
                for row in conn.execute(
                    text("SELECT outcome FROM messages WHERE direction = 'inbound'")
                )
            ]
            attachments = list(conn.execute(text("SELECT size, sha256 FROM attachments")))
    finally:
        engine.dispose()
    if outcomes != ["report"]:
        raise BenchError(f"the large message was not stored as a report: {outcomes}")
    wanted = (len(big.attachment), hashlib.sha256(big.attachment).hexdigest())
    if [tuple(a) for a in attachments] != [wanted]:
        raise BenchError(f"the large attachment was not stored whole: {attachments}")
    sha = wanted[1]
    blob = deployment.directory / "var" / "blobs" / sha[:2] / sha[2:4] / sha
    if not blob.is_file() or blob.stat().st_size != len(big.attachment):
        raise BenchError(f"the large attachment's file {blob} is missing or short")


def profile_drain(
    env: Environment, backend: str, mail: Backlog, output: Path, timeout: float = 1800
) -> ProcessRun:
    """One more, untimed drain under ``py-spy record`` (raw collapsed stacks, idle included)."""
    from bench.profile import py_spy_command

    deployment = env.deploy(f"profile-{backend}", backend, mail)
    try:
        argv = py_spy_command(output, deployment.cli("run", "--once"))
        run = run_process(
            argv, env=child_env(), log_path=deployment.directory / "py-spy.log", timeout=timeout
        )
        if run.returncode != 0:
            tail = "\n".join(run.stderr.strip().splitlines()[-15:])
            raise BenchError(f"py-spy record exited with {run.returncode}:\n{tail}")
    finally:
        env.discard(deployment)
    return run
