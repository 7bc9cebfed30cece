"""The command line's arguments: every command, its options and their checks. ``cli.py``
runs what they ask for.
"""

from __future__ import annotations

import argparse
import os
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from disclosure_inbox import __version__
from disclosure_inbox.domain.mail_ids import as_message_id
from disclosure_inbox.domain.model import Severity, Status
from disclosure_inbox.domain.triage.model import CATEGORIES

EXIT_USAGE = 2


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


def _check_security_txt_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--format`` and ``--content-type`` are about a check's findings: the file itself is
    printed as it is."""
    if args.check is None and (args.content_type is not None or args.format != "table"):
        parser.error("--content-type and --format go only with --check")


def build_parser() -> argparse.ArgumentParser:
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
    rl.add_argument(
        "--hint", choices=CATEGORIES, metavar="CATEGORY", help="only reports with this hint"
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
    rdraft = reports.add_parser(
        "draft", help="print a reply for a person to edit (nothing is sent or changed)"
    )
    rdraft.add_argument("ref")
    rdraft.add_argument(
        "--out-of-scope",
        required=True,
        choices=CATEGORIES,
        metavar="CATEGORY",
        help="the policy clause the reply cites: " + ", ".join(CATEGORIES),
    )
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

    stxt = sub.add_parser(
        "security-txt", help="print the RFC 9116 security.txt from [security_txt], or check one"
    )
    mode = stxt.add_mutually_exclusive_group()
    mode.add_argument(
        "--sign", action="store_true", help="clearsign it with the organisation's OpenPGP key"
    )
    mode.add_argument(
        "--check", metavar="FILE", help="check FILE (- for stdin) instead; exit 1 on a problem"
    )
    stxt.add_argument(
        "--content-type",
        metavar="VALUE",
        help="with --check: the Content-Type the file is served with, to check it too",
    )
    fmt(stxt)
    stxt.set_defaults(after_parse=lambda args: _check_security_txt_options(stxt, args))

    triage = sub.add_parser("triage", help="hints, indicators, duplicates").add_subparsers(
        dest="triage_command", required=True
    )
    tev = triage.add_parser("eval", help="measure the hints on a labelled folder of .eml files")
    tev.add_argument("dir", metavar="DIR", type=Path)
    tev.add_argument("labels", metavar="LABELS.tsv", type=Path)
    fmt(tev)
    trun = triage.add_parser("run", help="assess stored reports that have no triage yet")
    trun.add_argument("refs", nargs="*", metavar="REF", help="these reports (again), not all")
    return p
