"""The command line: argument parsing, output formats and exit codes, nothing else.

Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from disclosure_inbox import __version__
from disclosure_inbox.config import ConfigError, Settings, load_settings
from disclosure_inbox.domain.errors import (
    DisclosureInboxError,
    IllegalTransition,
    NotFound,
    UsageError,
)
from disclosure_inbox.domain.mail_ids import as_message_id
from disclosure_inbox.domain.model import Severity, Status
from disclosure_inbox.logs import say

if TYPE_CHECKING:
    from disclosure_inbox.service.app import CycleResult

log = logging.getLogger("disclosure_inbox")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def usage_line(prog: str, message: str) -> str:
    """The one line a usage error prints. A value a user typed may hold a newline."""
    message = message.replace("\r", "\\r").replace("\n", "\\n")
    return f"disclosure-inbox: error: {message} (see {prog} --help)\n"


class _Parser(argparse.ArgumentParser):
    """argparse, with every error as one line on stderr instead of the usage and the error.
    Subcommand parsers are of this class too (``add_subparsers`` uses the parent's type)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, usage_line(self.prog, message))


# Date-times the SLA arithmetic can work with: it looks up to ten years past a given moment
# for a business day, so the range stays well inside what ``datetime`` can hold.
_EARLIEST, _LATEST = datetime(1900, 1, 1), datetime(9000, 1, 1)
# Row ids are INTEGER columns, 32 bits on PostgreSQL.
_MAX_ROW_ID = 2**31 - 1


def _iso_datetime(value: str) -> datetime:
    """ISO 8601. A value without an offset is in the organisation's time zone, which is known
    only once the configuration is read (``_in_zone``)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {value!r}") from None
    # The wall time decides: the range has years to spare for any offset.
    if not _EARLIEST <= parsed.replace(tzinfo=None) < _LATEST:
        raise argparse.ArgumentTypeError(
            f"out of range (years {_EARLIEST.year} to {_LATEST.year - 1}): {value!r}"
        )
    return parsed


def _row_id(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if not 1 <= number <= _MAX_ROW_ID:
        raise argparse.ArgumentTypeError(f"out of range (1 to {_MAX_ROW_ID}): {value!r}")
    return number


def _message_id(value: str) -> str:
    """A Message-ID with or without its angle brackets."""
    if as_message_id(value) == "<>":
        raise argparse.ArgumentTypeError("an empty Message-ID")
    return as_message_id(value)


# Options of ``reports set`` that belong to one target status: with any other the value
# would be recorded without meaning anything (a triaged report "duplicating" another).
STATUS_OPTIONS = (("duplicate_of", "--duplicate-of", Status.DUPLICATE),)


def _check_status_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for dest, option, status in STATUS_OPTIONS:
        if getattr(args, dest) is not None and args.status != status:
            parser.error(f"{option} goes only with --status {status}, not {args.status}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
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
        type=_iso_datetime,
        help="only reports with a running clock due before this time",
    )
    fmt(rl)
    rs = reports.add_parser("show", help="show one report")
    rs.add_argument("ref")
    rs.add_argument(
        "--raw",
        metavar="MESSAGE_ID",
        type=_message_id,
        help="write that message's original bytes to stdout, and nothing else",
    )
    fmt(rs)
    rset = reports.add_parser("set", help="move a report through the workflow")
    rset.add_argument("ref")
    rset.add_argument("--status", required=True, choices=[s.value for s in Status])
    rset.add_argument("--severity", choices=[s.value for s in Severity])
    rset.add_argument("--note", default="")
    rset.add_argument("--actor", default=os.environ.get("USER") or "cli")
    rset.add_argument("--duplicate-of", metavar="REF", help="with --status duplicate")
    rset.set_defaults(after_parse=lambda args: _check_status_options(rset, args))
    rr = reports.add_parser("reply", help="send a message to the reporter from the mailbox")
    rr.add_argument("ref")
    rr.add_argument("--body-file", required=True, metavar="FILE", help="the text; - for stdin")
    rr.add_argument("--attach", action="append", default=[], metavar="PATH")
    rr.add_argument("--actor", default=os.environ.get("USER") or "cli")
    rfile = reports.add_parser(
        "file", help="make an unfiled message a report (no acknowledgement is sent)"
    )
    rfile.add_argument("message_id", metavar="MESSAGE_ID", help="with or without <>")
    rfile.add_argument("--actor", default=os.environ.get("USER") or "cli")

    attachments = sub.add_parser("attachments", help="a report's attachments").add_subparsers(
        dest="attachments_command", required=True
    )
    asave = attachments.add_parser(
        "save", help="write a report's attachments into DIR, under safe names, replacing nothing"
    )
    asave.add_argument("ref")
    asave.add_argument("dir", metavar="DIR", type=Path)
    fmt(asave)

    messages = sub.add_parser("messages", help="inbound messages").add_subparsers(
        dest="messages_command", required=True
    )
    ml = messages.add_parser("list", help="list messages")
    ml.add_argument(
        "--unfiled",
        action="store_true",
        required=True,
        help="machine mail that is in no report, newest first",
    )
    fmt(ml)

    sla = sub.add_parser("sla", help="SLA deadlines").add_subparsers(
        dest="sla_command", required=True
    )
    due = sla.add_parser("due", help="what is due or would escalate, without sending anything")
    due.add_argument(
        "--at",
        metavar="ISO-DATETIME",
        type=_iso_datetime,
        help="the moment to ask about (default: now)",
    )
    fmt(due)

    outbox = sub.add_parser("outbox", help="mail waiting to be sent").add_subparsers(
        dest="outbox_command", required=True
    )
    ol = outbox.add_parser("list", help="list outgoing mail")
    ol.add_argument("--state", choices=("pending", "sent", "failed"))
    fmt(ol)
    ort = outbox.add_parser("retry", help="send a failed message again")
    ort.add_argument("id", type=_row_id)

    fmt(sub.add_parser("stats", help="counts"))
    return p


def _setup_logging(debug: bool, fmt: str) -> None:
    from disclosure_inbox.logs import configure

    configure(debug=debug, json_lines=fmt == "json")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if after_parse := getattr(args, "after_parse", None):  # checks across options
            after_parse(args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    _setup_logging(args.debug, args.log_format)
    try:
        settings = load_settings(args.config)
        code = _dispatch(args, settings)
        sys.stdout.flush()  # a closed pipe shows here, not in the flush at exit
        return code
    except BrokenPipeError:
        return _reader_went_away()
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


def _reader_went_away() -> int:
    """Standard output was a pipe and its reader closed it (``| head``): it has read all it
    wanted, so this is a quiet, successful exit. The recipe is Python's (the signal module's
    note on SIGPIPE): point stdout at /dev/null so that the flush at exit cannot fail again.
    Its example exits 1 only because that is what Python itself does on EPIPE; here 1 means a
    failure of ours, so 0, as CPython's own command-line tools do (``python -m sysconfig``).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_OK


def _cycle_exit(result: CycleResult | None) -> int:
    """``run --once``: a step that failed, or mail that the SMTP server deferred (it is down
    or answered 4xx: the mail waits for the next cycle), is a runtime failure. A message the
    server refused for good (5xx, parked as failed) is an answer about that message, not an
    outage: the summary and ``outbox list --state failed`` show it."""
    if result is None:  # another instance is the leader and does the work
        return EXIT_OK
    if result.errors or (result.outbox is not None and result.outbox.server_unwell):
        return EXIT_FAILURE
    return EXIT_OK


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    # Imported once a command runs: --help and usage errors need none of what it loads.
    from disclosure_inbox import commands

    match args.command:
        case "db":
            return commands.db(settings, args.db_command)
        case "check-config":
            return commands.check_config(settings, connect=args.connect)
        case "run":
            if not args.once:
                return commands.run_daemon(settings)
            return _cycle_exit(commands.run_once(settings))
        case "reports":
            if args.reports_command == "list":
                listed = commands.reports_list(
                    settings,
                    status=args.status,
                    overdue=args.overdue,
                    due_before=_in_zone(args.due_before, settings),
                )
                return _emit(listed, args.format)
            if args.reports_command == "reply":
                from disclosure_inbox.commands_reply import report_reply

                return report_reply(
                    settings, args.ref, args.body_file, args.attach, actor=args.actor
                )
            if args.reports_command == "file":
                return commands.report_file(settings, args.message_id, actor=args.actor)
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
            if args.raw is not None:
                return _write_bytes(commands.report_raw(settings, args.ref, args.raw))
            return _emit(commands.report_show(settings, args.ref), args.format, _report_table)
        case "attachments":
            saved = commands.attachments_save(settings, args.ref, args.dir)
            return _emit_as_written(saved, args.format)
        case "messages":
            return _emit(commands.messages_unfiled(settings), args.format)
        case "sla":
            at = _in_zone(args.at, settings)
            return _emit(commands.sla_due(settings, at=at), args.format)
        case "outbox":
            if args.outbox_command == "list":
                return _emit(commands.outbox_list(settings, state=args.state), args.format)
            return commands.outbox_retry(settings, args.id)
        case "stats":
            return _emit(commands.stats(settings), args.format)
    raise UsageError(f"unknown command {args.command}")


def _in_zone(value: datetime | None, settings: Settings) -> datetime | None:
    """A date-time given without an offset is in the organisation's time zone."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=settings.organization.tz)
    return value


def _table(data: Any) -> str:
    from disclosure_inbox.tables import render

    return render(data)


def _report_table(data: Any) -> str:
    from disclosure_inbox.tables import render_report

    return render_report(data)


# In JSON, characters a terminal may act on (C1 controls: U+009B is CSI) or that reorder
# what is read (bidi): written as \uXXXX escapes, which a JSON reader takes for the same
# string. Outside strings JSON is ASCII, so only strings can hold them.
_JSON_ESCAPED = re.compile("[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _emit(data: Any, fmt: str, table: Callable[[Any], str] = _table) -> int:
    if fmt == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write(_JSON_ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")
    else:
        sys.stdout.write(table(data))
    return EXIT_OK


def _emit_as_written(saved: Iterable[dict[str, Any]], fmt: str) -> int:
    """``attachments save``: a line for each file as soon as it is written (so that a failure
    halfway leaves a record of what is already there), or the JSON list at the end."""
    if fmt == "json":
        return _emit(list(saved), fmt)
    for item in saved:
        sys.stdout.write(f"{item['path']}  {item['size']} bytes  sha256 {item['sha256']}\n")
        sys.stdout.flush()
    return EXIT_OK


def _write_bytes(data: bytes) -> int:
    """Bytes exactly as stored: no newline added, no decoding."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return EXIT_OK
