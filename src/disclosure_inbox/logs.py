"""Logging to stderr (journald keeps it): human-readable, or JSON lines for machines."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


_json_lines = False


def say(message: str, *, level: int = logging.INFO) -> None:
    """A status or error line for the person at the terminal: plain text on stderr, or, when
    logging writes JSON lines, one more JSON line, so that stderr stays machine-readable."""
    if _json_lines:
        logging.getLogger("disclosure_inbox.cli").log(level, message)
    else:
        print(message, file=sys.stderr, flush=True)


def configure(*, debug: bool = False, json_lines: bool = False) -> None:
    global _json_lines
    _json_lines = json_lines
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # Protocol-level chatter of the libraries is never useful in production logs, and
    # imaplib's can include credentials.
    for noisy in ("imapclient", "mailparser", "aiosmtplib", "apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # python-gnupg warns of every non-zero gpg exit, which the OpenPGP adapter reads as an
    # outcome (an unknown signer, a message we cannot decrypt), and its debug output holds
    # bytes of the data.
    logging.getLogger("gnupg").setLevel(logging.ERROR)
