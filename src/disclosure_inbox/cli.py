"""The command line: argument parsing, output formats and exit codes, nothing else.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from disclosure_inbox import __version__
from disclosure_inbox.config import ConfigError, Settings, load_settings
from disclosure_inbox.domain.errors import DisclosureInboxError, IllegalTransition, NotFound
from disclosure_inbox.domain.model import Severity, Status
from disclosure_inbox.logs import say

log = logging.getLogger("disclosure_inbox")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments that argparse cannot see (an unknown reference, an illegal transition)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="disclosure-inbox",
        description="Runs a security-disclosure mailbox: intake, acknowledgements, SLA escalation.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument(
        "--config", metavar="PATH", help="configuration file (default: $DISCLOSURE_INBOX_CONFIG)"
    )
    p.add_argument("--debug", action="store_true", help="debug logging; tracebacks on errors")
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply migrations up to the newest")
    db.add_parser("current", help="show the schema revision")

    check = sub.add_parser("check-config", help="validate the configuration")
    check.add_argument(
        "--connect", action="store_true", help="also log in to IMAP and the database"
    )

    run = sub.add_parser("run", help="run the daemon, or one cycle with --once")
    run.add_argument("--once", action="store_true", help="one full cycle, then exit")

    def fmt(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--format", choices=("table", "json"), default="table")

    reports = sub.add_parser("reports", help="list and show reports").add_subparsers(
        dest="reports_command", required=True
    )
    rl = reports.add_parser("list", help="list reports")
    rl.add_argument("--status", help="only reports with this status")
    rl.add_argument("--overdue", action="store_true", help="only reports with a breached clock")
    rl.add_argument(
        "--due-before",
        metavar="ISO-DATETIME",
        help="only reports with a running clock due before this time",
    )
    fmt(rl)
    rs = reports.add_parser("show", help="show one report")
    rs.add_argument("ref")
    fmt(rs)
    rset = reports.add_parser("set", help="move a report through the workflow")
    rset.add_argument("ref")
    rset.add_argument("--status", required=True, choices=[s.value for s in Status])
    rset.add_argument("--severity", choices=[s.value for s in Severity])
    rset.add_argument("--note", default="")
    rset.add_argument("--actor", default=os.environ.get("USER") or "cli")
    rset.add_argument("--duplicate-of", metavar="REF")

    sla = sub.add_parser("sla", help="SLA deadlines").add_subparsers(
        dest="sla_command", required=True
    )
    due = sla.add_parser("due", help="what is due or would escalate, without sending anything")
    due.add_argument("--at", metavar="ISO-DATETIME", help="the moment to ask about (default: now)")
    fmt(due)

    outbox = sub.add_parser("outbox", help="mail waiting to be sent").add_subparsers(
        dest="outbox_command", required=True
    )
    ol = outbox.add_parser("list", help="list outgoing mail")
    ol.add_argument("--state", choices=("pending", "sent", "failed"))
    fmt(ol)
    ort = outbox.add_parser("retry", help="send a failed message again")
    ort.add_argument("id", type=int)

    fmt(sub.add_parser("stats", help="counts"))
    return p


def _setup_logging(debug: bool, fmt: str) -> None:
    from disclosure_inbox.logs import configure

    configure(debug=debug, json_lines=fmt == "json")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    _setup_logging(args.debug, args.log_format)
    try:
        settings = load_settings(args.config)
        return _dispatch(args, settings)
    except ConfigError as exc:
        say(f"disclosure-inbox: configuration error: {exc}", level=logging.ERROR)
        return EXIT_USAGE
    except (UsageError, NotFound, IllegalTransition) as exc:
        say(f"disclosure-inbox: {exc}", level=logging.ERROR)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        kind = "" if isinstance(exc, DisclosureInboxError) else f"{type(exc).__name__}: "
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        say(f"disclosure-inbox: error: {kind}{first}", level=logging.ERROR)
        return EXIT_FAILURE


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from disclosure_inbox import commands

    match args.command:
        case "db":
            return commands.db(settings, args.db_command)
        case "check-config":
            return commands.check_config(settings, connect=args.connect)
        case "run":
            if not args.once:
                return commands.run_daemon(settings)
            return commands.run_once(settings)
        case "reports":
            if args.reports_command == "list":
                listed = commands.reports_list(
                    settings,
                    status=args.status,
                    overdue=args.overdue,
                    due_before=_datetime(args.due_before, settings) if args.due_before else None,
                )
                return _emit(listed, args.format)
            if args.reports_command == "set":
                return commands.report_set(
                    settings,
                    args.ref,
                    Status(args.status),
                    severity=Severity(args.severity) if args.severity else None,
                    note=args.note,
                    actor=args.actor,
                    duplicate_of=args.duplicate_of,
                )
            return _emit(commands.report_show(settings, args.ref), args.format)
        case "sla":
            at = _datetime(args.at, settings) if args.at else None
            return _emit(commands.sla_due(settings, at=at), args.format)
        case "outbox":
            if args.outbox_command == "list":
                return _emit(commands.outbox_list(settings, state=args.state), args.format)
            return commands.outbox_retry(settings, args.id)
        case "stats":
            return _emit(commands.stats(settings), args.format)
    raise UsageError(f"unknown command {args.command}")


def _datetime(value: str, settings: Settings) -> datetime:
    """ISO 8601; a value without an offset is in the organisation's time zone."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise UsageError(f"not an ISO 8601 date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.organization.tz)
    return parsed


def _emit(data: Any, fmt: str) -> int:
    if fmt == "json":
        json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        from disclosure_inbox.tables import render

        sys.stdout.write(render(data))
    return EXIT_OK
