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
from typing import TYPE_CHECKING, Any

from disclosure_inbox.cli_args import build_parser
from disclosure_inbox.config import ENV_VAR, ConfigError, Settings, load_settings
from disclosure_inbox.domain.errors import (
    DisclosureInboxError,
    IllegalTransition,
    NotFound,
    UsageError,
)
from disclosure_inbox.domain.model import Severity, Status
from disclosure_inbox.logs import say

if TYPE_CHECKING:
    from disclosure_inbox.service.app import CycleResult

log = logging.getLogger("disclosure_inbox")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _setup_logging(debug: bool, fmt: str) -> None:
    from disclosure_inbox.logs import configure

    configure(debug=debug, json_lines=fmt == "json")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if after_parse := getattr(args, "after_parse", None):  # checks across options
            after_parse(args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    _setup_logging(args.debug, args.log_format)
    try:
        if _eval_without_config(args):
            code = _triage_eval(args, None)
        else:
            code = _dispatch(args, load_settings(args.config))
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
                    hint=args.hint,
                )
                return _emit(listed, args.format)
            if args.reports_command == "reply":
                from disclosure_inbox.commands_reply import report_reply

                return report_reply(
                    settings, args.ref, args.body_file, args.attach, actor=args.actor
                )
            if args.reports_command == "draft":
                from disclosure_inbox.commands_triage import report_draft

                return _write_text(report_draft(settings, args.ref, args.out_of_scope))
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
        case "security-txt":
            from disclosure_inbox import commands_securitytxt as stxt

            if args.check is None:
                return _write_text(stxt.print_file(settings, sign=args.sign))
            checked = stxt.check(settings, args.check, content_type=args.content_type)
            _emit(checked, args.format, stxt.check_table)
            return EXIT_FAILURE if checked["problems"] else EXIT_OK
        case "triage":
            from disclosure_inbox import commands_triage

            if args.triage_command == "eval":
                return _triage_eval(args, settings)
            return _emit(commands_triage.run(settings, args.refs), "table")
    raise UsageError(f"unknown command {args.command}")


def _eval_without_config(args: argparse.Namespace) -> bool:
    """``triage eval`` reads no store: it runs without a configuration too."""
    return (
        args.command == "triage"
        and args.triage_command == "eval"
        and not args.config
        and not os.environ.get(ENV_VAR)
    )


def _triage_eval(args: argparse.Namespace, settings: Settings | None) -> int:
    from disclosure_inbox import commands_triage

    scores = commands_triage.evaluate(settings, args.dir, args.labels)
    return _emit(scores, args.format, commands_triage.eval_table)


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


def _write_text(text: str) -> int:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def _write_bytes(data: bytes) -> int:
    """Bytes exactly as stored: no newline added, no decoding."""
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
    return EXIT_OK
