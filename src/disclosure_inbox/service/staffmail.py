"""Staff mail: whether a message is really from staff, and what a staff member's reply does.

*Who.* Mail whose From is one of ``[organization] staff_addresses`` is asked of
``domain/staff.py``, with the reply tokens found among its recipients (``domain/tokens.py``)
and the Authentication-Results our own servers wrote (``adapters/authresults.py``). Only an
authenticated message acts as staff; any other is stored as anyone's mail would be, audited
as ``unauthenticated-staff``, and the staff thread is told (``service/notices.py``).

*What.* An authenticated reply that joins a report (a ``staff-reply``) is handled in the
transaction that stores it, so that a crash leaves either none of it or all of it:

1. What the staff member wrote above the quoted text and signature (``domain/replytext.py``)
   is split into commands (lines starting with ``/``, ``domain/commands.py``) and the rest.
2. The rest is relayed to the reporter through the outbox: from the mailbox, the reference
   in the subject, threaded into the reporter's conversation, the staff member's
   attachments included. Not when the message says ``/internal``, holds only commands, or
   was itself sent to the reporter (the mailbox in Cc): then it is recorded, not sent again.
3. A reply that reaches the reporter is the human acknowledgement: a report still ``new``
   moves to ``triaged``, which stops the acknowledgement clock (``domain/workflow.py``).
4. The commands run through the workflow table in order, with the staff member as actor;
   each result, or why it was refused, goes back to the staff thread.

``reports reply`` on the command line does steps 2 and 3 through ``relay``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime

from disclosure_inbox.adapters.blobs import FileBlobStore
from disclosure_inbox.adapters.db import audit, reports
from disclosure_inbox.adapters.db import triage as triage_rows
from disclosure_inbox.adapters.db.reports import StoredReport
from disclosure_inbox.adapters.db.store import Store
from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import commands
from disclosure_inbox.domain.errors import DisclosureInboxError
from disclosure_inbox.domain.intake import Decision, Incoming
from disclosure_inbox.domain.model import Direction, Severity, Status
from disclosure_inbox.domain.outgoing import Outgoing
from disclosure_inbox.domain.refs import tagged_subject
from disclosure_inbox.domain.replies import deliverable
from disclosure_inbox.domain.replytext import latest_reply
from disclosure_inbox.domain.sanitize import defang, header_safe
from disclosure_inbox.domain.sealing import REPORTER
from disclosure_inbox.ports import Transaction
from disclosure_inbox.service import drafts
from disclosure_inbox.service.notices import (
    reply_to,
    staff_recipients,
    thread_root,
)
from disclosure_inbox.service.outbox import enqueue
from disclosure_inbox.service.staffcheck import check_batch, insiders
from disclosure_inbox.service.workflow import step

log = logging.getLogger(__name__)

# A signature part (S/MIME, OpenPGP) carries its sender's name and address: never relayed.
SIGNATURE_TYPES = frozenset(
    {"application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature"}
)

RELAY = "relay"
COMMAND_RESULT = "command-result"
DRAFT = "draft"
DRAFT_HEAD = (
    "A draft for you to edit; nothing was sent to the reporter. To send it, reply to this\n"
    "mail with the edited text above the quote ({ref} stays in the subject).\n"
    "----------------------------------------------------------------------\n"
)


class StaffDesk:
    def __init__(
        self, settings: Settings, store: Store, renderer: Renderer, blobs: FileBlobStore
    ) -> None:
        self.settings = settings
        self.store = store
        self.renderer = renderer
        self.blobs = blobs

    def checked(self, items: Sequence[Incoming], now: datetime) -> list[Incoming]:
        """``items``, each that claims a staff From with its verdict (``staffcheck``)."""
        return check_batch(self.settings, self.store, items, now)

    def apply(
        self, tx: Transaction, decisions: Sequence[Decision], real: dict[int, int], now: datetime
    ) -> None:
        """Handle the batch's staff replies (``real`` maps provisional report ids)."""
        for d in decisions:
            if d.report_id is None:
                continue
            report = reports.by_id(tx, real.get(d.report_id, d.report_id))
            if report is not None:
                self._handle(tx, d, report, now)

    def _handle(self, tx: Transaction, d: Decision, report: StoredReport, now: datetime) -> None:
        parsed = d.incoming.parsed
        actor = parsed.sender_address
        said = commands.parse_commands(latest_reply(parsed.text))
        results: list[str] = []
        direct = report.reporter_address.lower() in parsed.recipients
        relayed = ""
        if direct:
            results.append("Recorded as your reply to the reporter (you wrote to them).")
        elif said.internal:
            results.append("Recorded as internal: not sent to the reporter.")
        elif said.text.strip() and not deliverable(report.reporter_address):
            results.append(
                f"Not sent: the reporter's address {report.reporter_address!r} cannot be "
                "written to."
            )
        elif said.text.strip():
            # A signature part (S/MIME, OpenPGP) carries the sender's name and address.
            attachments = [
                (a.filename, a.content_type, self.blobs.get(a.sha256))
                for a in d.incoming.attachments
                if a.content_type.lower() not in SIGNATURE_TYPES
            ]
            relayed = self._scrubbed(said.text)
            self.relay(tx, report, relayed, attachments, actor, now)
            results.append(f"Sent to the reporter ({defang(report.reporter_address)}).")
        elif not said.commands:
            results.append("Nothing was sent: the reply held no text above the quote.")
        if relayed or direct:
            report = self.first_response(tx, report, actor, now)
        for outcome in commands.plan(said.commands, Status(report.status), _sev(report)):
            line = _line(outcome.command)
            if isinstance(outcome, commands.Refused):
                results.append(f"{line}: refused: {outcome.reason}")
                continue
            try:
                results.append(f"{line}: {self._run(tx, report, outcome, actor, now)}")
            except DisclosureInboxError as exc:  # a REF that does not exist, say
                results.append(f"{line}: refused: {exc}")
            report = reports.by_id(tx, report.id) or report
        audit.record(
            tx,
            now,
            "staff-reply",
            actor=actor,
            report_id=report.id,
            rule=d.rule,
            message_id=parsed.message_id,
            relayed=bool(relayed),
            direct=direct,
            commands=len(said.commands),
        )
        log.info("%s: staff reply from %s (%s)", report.ref, actor, "; ".join(results))
        self.tell_staff(tx, report, actor, results, relayed, now)

    def _scrubbed(self, text: str) -> str:
        """The relayed text without any staff address (a signature the reply parser did not
        recognise as one): the reporter never sees who on staff wrote."""
        for address in sorted(insiders(self.settings), key=len, reverse=True):
            if address != self.settings.organization.mailbox_address.lower():
                text = re.sub(re.escape(address), "[address removed]", text, flags=re.I)
        return text

    def _run(
        self,
        tx: Transaction,
        report: StoredReport,
        accepted: commands.Accepted,
        actor: str,
        now: datetime,
    ) -> str:
        command = accepted.command
        verb = command.verb
        if verb is commands.Verb.NOTE:
            audit.record(tx, now, "note", actor=actor, report_id=report.id, text=command.argument)
            return "note recorded"
        if verb is commands.Verb.ASSIGN and command.argument.lower() not in insiders(self.settings):
            return f"refused: {command.argument} is not a staff address"
        if verb is commands.Verb.ASSIGN:
            audit.record(tx, now, "assigned", actor=actor, report_id=report.id, to=command.argument)
            return f"assigned to {command.argument}"
        if verb is commands.Verb.INTERNAL:
            return "not sent to the reporter"
        if verb is commands.Verb.DRAFT:
            self.mail_draft(tx, report, command.argument, actor, now)
            return f"draft mailed to {actor} only (nothing sent to the reporter)"
        if verb is commands.Verb.SEVERITY:
            step(
                tx,
                self.settings,
                report,
                Status(report.status),
                severity=accepted.severity,
                actor=actor,
                now=now,
            )
            return f"severity {accepted.severity}"
        change = step(
            tx,
            self.settings,
            report,
            accepted.to_status,
            severity=accepted.severity if verb is commands.Verb.VERIFY else None,
            note=command.argument if verb is commands.Verb.OUT_OF_SCOPE else "",
            actor=actor,
            duplicate_of=command.argument if verb is commands.Verb.DUPLICATE else None,
            now=now,
        )
        severity = f" (severity {change.severity})" if change.severity else ""
        return f"{change.from_status} -> {change.to_status}{severity}"

    def relay(
        self,
        tx: Transaction,
        report: StoredReport,
        text: str,
        attachments: Sequence[tuple[str, str, bytes]],
        actor: str,
        now: datetime,
    ) -> str:
        """Send ``text`` to the reporter from the mailbox, in their thread; its Message-ID."""
        org = self.settings.organization
        theirs = [
            m.message_id
            for m in reports.messages_of(tx, report.id)
            if m.direction == Direction.INBOUND
            and m.message_id
            and m.sender_address.lower() == report.reporter_address.lower()
        ]
        rendered, problem = self.renderer.render_or_bundled(
            "reporter",
            "relay",
            {
                "organization": org.name,
                "mailbox": org.mailbox_address,
                "ref": report.ref,
                "text": text,
            },
        )
        if problem is not None:
            log.error("reporter/relay template failed, sent the bundled one: %s", problem)
        queued = enqueue(
            tx,
            self.settings,
            Outgoing(
                kind=RELAY,
                report_id=report.id,
                report_ref=report.ref,
                recipients=[report.reporter_address],
                subject=tagged_subject(report.ref, header_safe(report.subject, 150)),
                text=rendered.text,
                in_reply_to=theirs[-1] if theirs else None,
                references=tuple(theirs[-20:]),
                auto_submitted="no",  # a person wrote it (RFC 3834 section 5)
                attachments=tuple(attachments),
                author=actor,
                protect=REPORTER,  # encrypted to the reporter's key, if one is known
            ),
            now,
        )
        audit.record(
            tx, now, "relayed", actor=actor, report_id=report.id, message_id=queued.message_id
        )
        return queued.message_id

    def first_response(
        self, tx: Transaction, report: StoredReport, actor: str, now: datetime
    ) -> StoredReport:
        """A person answered the reporter: a ``new`` report is triaged (its acknowledgement
        clock stops, met or breached by its due time)."""
        if report.status != Status.NEW:
            return report
        step(
            tx,
            self.settings,
            report,
            Status.TRIAGED,
            note="first reply to the reporter",
            actor=actor,
            now=now,
        )
        return reports.by_id(tx, report.id) or report

    def tell_staff(
        self,
        tx: Transaction,
        report: StoredReport,
        actor: str,
        results: list[str],
        relayed: str,
        now: datetime,
    ) -> None:
        """The results, to each staff recipient and the actor, in their thread of the report."""
        org = self.settings.organization
        context = {
            "organization": org.name,
            "mailbox": org.mailbox_address,
            "ref": report.ref,
            "actor": actor,
            "status": report.status,
            "severity": report.severity or "not set",
            "results": results,
            "relayed": relayed,
        }
        rendered, problem = self.renderer.render_or_bundled("staff", "command-result", context)
        if problem is not None:
            log.error("staff/command-result template failed, sent the bundled one: %s", problem)
        subject = f"[{report.ref}] {actor}: " + "; ".join(results)
        for recipient in dict.fromkeys([*staff_recipients(self.settings), actor.lower()]):
            self._to_staff(tx, report, COMMAND_RESULT, recipient, subject, rendered.text, now)

    def mail_draft(
        self, tx: Transaction, report: StoredReport, category: str, actor: str, now: datetime
    ) -> None:
        """An out-of-scope reply drafted for ``actor`` to edit, mailed to them alone."""
        text = drafts.out_of_scope(
            self.settings,
            self.renderer,
            ref=report.ref,
            subject=report.subject,
            reporter_name=report.reporter_name,
            category=category,
            triaged=triage_rows.of_report(tx, report.id),
        )
        subject = f"[{report.ref}] Draft reply: out of scope ({category})"
        head = DRAFT_HEAD.format(ref=report.ref)
        self._to_staff(tx, report, DRAFT, actor.lower(), subject, head + text, now)
        audit.record(tx, now, "drafted", actor=actor, report_id=report.id, category=category)

    def _to_staff(
        self,
        tx: Transaction,
        report: StoredReport,
        kind: str,
        recipient: str,
        subject: str,
        text: str,
        now: datetime,
    ) -> None:
        """A mail to one staff member in their thread of the report; a reply to it comes back
        to the mailbox as a staff reply (``reply_to`` carries the signed address)."""
        root = thread_root(self.settings, report.ref, recipient)
        enqueue(
            tx,
            self.settings,
            Outgoing(
                kind=kind,
                report_id=report.id,
                report_ref=report.ref,
                recipients=[recipient],
                subject=header_safe(subject, 150),
                text=text,
                in_reply_to=root,
                references=(root,),
                auto_submitted="auto-generated",
                reply_to=reply_to(self.settings, report.ref, recipient, now),
            ),
            now,
        )


def _sev(report: StoredReport) -> Severity | None:
    return Severity(report.severity) if report.severity else None


def _line(command: commands.Command | commands.Invalid) -> str:
    if isinstance(command, commands.Invalid):
        return command.text
    argument = command.severity or command.argument
    return f"/{command.verb}" + (f" {argument}" if argument else "")
