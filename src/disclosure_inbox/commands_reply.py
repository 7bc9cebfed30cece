"""``reports reply``: a staff member answers the reporter from a shell, as a reply to a staff
notice would (``service/staffmail.py``): through the outbox, in the reporter's thread, and as
the human acknowledgement of a report still ``new``."""

from __future__ import annotations

import mimetypes
import sys
from pathlib import Path

from disclosure_inbox.adapters.db import reports
from disclosure_inbox.config import Settings
from disclosure_inbox.domain.errors import NotFound, UsageError
from disclosure_inbox.domain.replies import deliverable
from disclosure_inbox.logs import say
from disclosure_inbox.service.app import App


def report_reply(
    settings: Settings, ref: str, body_file: str, attach: list[str], *, actor: str
) -> int:
    """Send a staff member's text (and files) to the reporter, as a reply by mail would."""
    text = _read_text(body_file)
    if not text.strip():
        raise UsageError(f"{body_file}: nothing to send")
    files = [_read_attachment(path) for path in attach]
    if sum(len(data) for _, _, data in files) > settings.storage.max_message_bytes:
        raise UsageError("the attachments are larger than [storage] max_message_bytes")
    app = App.without_template_check(settings)
    app.store.check_schema()
    now = app.clock.now()
    desk = app.staff_desk()
    with app.store.transaction() as tx:
        report = reports.by_ref(tx, ref)
        if report is None:
            raise NotFound(f"no report {ref!r}")
        if not deliverable(report.reporter_address):
            raise UsageError(f"{ref}: the reporter's address cannot be written to")
        message_id = desk.relay(tx, report, text, files, actor, now)
        report = desk.first_response(tx, report, actor, now)
        desk.tell_staff(
            tx, report, actor, [f"Sent to the reporter ({report.reporter_address})."], text, now
        )
    say(
        f"{report.ref}: queued to {report.reporter_address} as {message_id}; status {report.status}"
    )
    return 0


def _read_text(path: str) -> str:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None


def _read_attachment(path: str) -> tuple[str, str, bytes]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    return Path(path).name, kind, data
