"""Alerts to staff about the service itself, by mail, each at a limited rate.

Two conditions, checked by the leader on every housekeeping round:

- ``intake-failing``: no successful intake for ``[daemon] alert_after_seconds``;
- ``template-failing``: acknowledgements were parked because a template failed at run time
  (``ack-template-failed`` in the audit trail) since the last such alert.

Each alert goes to ``[daemon] alert_recipients`` (or the staff addresses), through the outbox,
at most once every ``alert_repeat_seconds`` per condition; the audit entry that records it is
also what the next round reads to decide whether it is due. A failing staff template never
stops an alert: the bundled wording is sent instead.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from disclosure_inbox.adapters.db import audit
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import Settings
from disclosure_inbox.service.outbox import Outgoing, enqueue

log = logging.getLogger(__name__)

INTAKE_FAILING, TEMPLATE_FAILING = "alert-intake-failing", "alert-template-failing"
TEMPLATE_FAILED = "ack-template-failed"  # what acks.py audits when it parks an acknowledgement


def due(last_sent: datetime | None, now: datetime, repeat: timedelta) -> bool:
    """An alert may go out if none has, or the last one is at least ``repeat`` old."""
    return last_sent is None or now - last_sent >= repeat


class Alerts:
    def __init__(self, settings: Settings, store: Store, renderer: Renderer) -> None:
        self.settings = settings
        self.store = store
        self.renderer = renderer

    def intake_failing(
        self, now: datetime, last_ok: datetime | None, since: datetime, error: str | None
    ) -> bool:
        """Alert if intake has not succeeded since ``since`` for too long. True if queued."""
        d = self.settings.daemon
        if (now - since).total_seconds() < d.alert_after_seconds:
            return False
        log.error("no successful intake since %s", since.isoformat())
        context = {
            "imap": f"{self.settings.imap.host}:{self.settings.imap.port}",
            "last_success": last_ok.isoformat() if last_ok else "not since start",
            "failing_since": since.isoformat(),
            "error": error or "unknown",
        }
        return self._send(
            now, INTAKE_FAILING, "alert", "mailbox intake is failing", context, since=since
        )

    def templates_failing(self, now: datetime) -> bool:
        """Alert if acknowledgements were parked for a failing template since the last such
        alert. True if queued."""
        with self.store.reading() as tx:
            last = audit.last(tx, TEMPLATE_FAILING)
            count, first, error = audit.since(tx, TEMPLATE_FAILED, last)
        if not count:
            return False
        context = {"count": count, "since": (first or now).isoformat(), "error": error}
        return self._send(
            now, TEMPLATE_FAILING, "template-failed", "a template is failing", context, since=first
        )

    def _send(
        self,
        now: datetime,
        action: str,
        event: str,
        what: str,
        context: dict[str, Any],
        since: datetime | None,
    ) -> bool:
        d = self.settings.daemon
        org = self.settings.organization
        recipients = list(d.alert_recipients or org.staff_addresses)
        if not recipients:
            return False
        context = {
            "organization": org.name,
            "mailbox": org.mailbox_address,
            "repeat": f"{d.alert_repeat_seconds / 3600:g} hours",
            **context,
        }
        rendered, problem = self.renderer.render_or_bundled("staff", event, context)
        text = rendered.text
        if problem is not None:
            log.error("staff/%s template failed, sent the bundled one: %s", event, problem)
            text = f"[Your template failed, so this is the bundled one: {problem}]\n\n" + text
        with self.store.transaction() as tx:
            last = audit.last(tx, action)
            if not due(last, now, timedelta(seconds=d.alert_repeat_seconds)):
                return False
            for address in recipients:
                enqueue(
                    tx,
                    self.settings,
                    Outgoing(
                        kind="alert",
                        report_id=None,
                        report_ref=None,
                        recipients=[address],
                        subject=f"[{org.name}] disclosure-inbox: {what}",
                        text=text,
                        auto_submitted="auto-generated",
                    ),
                    now,
                )
            audit.record(tx, now, action, since=since.isoformat() if since else None)
        log.warning("alert queued for %s: %s", ", ".join(recipients), what)
        return True
