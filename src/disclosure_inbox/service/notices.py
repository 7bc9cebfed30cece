"""What staff are told: each new report, and each later message of it, in one thread per report.

Planned with the rest of the batch, after the acknowledgements (whose clocks the notice
shows), and written in the transaction that stores the report: a report and its notices
commit together or not at all, and a notice is never sent twice beyond the outbox's SMTP
window.

Each staff recipient gets a mail of their own, because the Reply-To of each carries a reply
token issued to that recipient (``domain/tokens.py``). The thread is kept per recipient: the
new-report notice has a Message-ID made from the reference and a tag of the recipient's
address, and everything later about the report (follow-ups, relays, command results) names
it in In-Reply-To and References, so a mail client shows one conversation per report.

    <MIO-2026-0001.notification.3fa85f6457b1@m.io>   the new report's notice to ada@m.io
    <MIO-2026-0001.notification.<random>@m.io>       a later notice, In-Reply-To the one above

What the reporter wrote is shown defanged (no live links, no clickable addresses), as plain
text (HTML is never rendered), and cut at ``BODY_LIMIT`` characters with a note saying how
much was left out. Attachments are listed (name, declared type, size, sha256), never
forwarded.

Machine mail that threads into a report tells staff nothing, unless it is a bounce of our
own mail (the reporter could not be reached): a notice for every out-of-office reply would
bring an auto-responder and our notices into a loop. Mail from staff addresses tells staff
nothing either: it is their own.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from disclosure_inbox.adapters.render import Renderer
from disclosure_inbox.config import Settings
from disclosure_inbox.domain import loops, tokens
from disclosure_inbox.domain.intake import TOKEN_ELSEWHERE, Decision, Found, Incoming, Writes
from disclosure_inbox.domain.mail_ids import make_message_id
from disclosure_inbox.domain.model import Outcome
from disclosure_inbox.domain.outgoing import Outgoing
from disclosure_inbox.domain.sanitize import defang, header_safe, quote_for_text
from disclosure_inbox.domain.sla import ClockState
from disclosure_inbox.service.acks import entry, format_local, loop_context
from disclosure_inbox.service.outbox import build
from disclosure_inbox.service.triage_view import notice_lines, present

log = logging.getLogger(__name__)

NOTIFICATION = "notification"
BODY_LIMIT = 20_000  # characters of the reporter's text in a notice


def staff_recipients(settings: Settings) -> list[str]:
    chosen = settings.staff.recipients or settings.organization.staff_addresses
    return list(dict.fromkeys(a.strip().lower() for a in chosen if a.strip()))


def thread_root(settings: Settings, ref: str, recipient: str) -> str:
    """The Message-ID of the new-report notice to ``recipient``: every later staff mail about
    the report refers to it."""
    return make_message_id(
        ref, NOTIFICATION, recipient_tag(recipient), settings.organization.message_id_domain
    )


def recipient_tag(recipient: str) -> str:
    return hashlib.sha256(recipient.lower().encode()).hexdigest()[:12]


def reply_to(settings: Settings, ref: str, recipient: str, now: datetime) -> str | None:
    """The Reply-To of staff mail: the reply address with a token issued to ``recipient``;
    None when no token key is configured (replies then go to the mailbox itself)."""
    keys = settings.staff.token_keys
    if not keys:
        return None
    expires = now + timedelta(days=settings.staff.token_days)
    token = tokens.issue(keys, ref, recipient, expires)
    return tokens.reply_address(reply_template(settings), token)


def reply_template(settings: Settings) -> str:
    if settings.staff.reply_address:
        return settings.staff.reply_address
    local, _, domain = settings.organization.mailbox_address.partition("@")
    return f"{local}+{{token}}@{domain}"


def shown_text(text: str) -> tuple[str, int]:
    """Reporter text as a notice shows it, and how many characters were left out."""
    cleaned = quote_for_text(defang(text), len(text) * 2 + 16)  # controls out, nothing cut
    if len(cleaned) <= BODY_LIMIT:
        return cleaned, 0
    return cleaned[:BODY_LIMIT].rstrip(), len(cleaned) - BODY_LIMIT


class StaffNotifier:
    """Plans the staff notices of a batch: adds outbox mail and audit rows to ``Writes``."""

    def __init__(self, settings: Settings, renderer: Renderer) -> None:
        self.settings = settings
        self.renderer = renderer

    def plan(self, writes: Writes, found: Found, now: datetime) -> None:
        recipients = staff_recipients(self.settings)
        if not recipients or not self.settings.staff.notify:
            return
        clocks = {rid: clock for rid, clock in writes.clocks}
        triaged = {t.report_id: t.record for t in writes.triage}
        bounced = set(writes.bounced)
        for d in writes.stored():
            if d.outcome is Outcome.REPORT and d.new_report is not None:
                if self._quiet(d, bounced):
                    continue
                clock = clocks.get(d.report_id) if d.report_id is not None else None
                record = triaged.get(d.report_id) if d.report_id is not None else None
                self._notify(
                    d, d.new_report.ref, recipients, writes, now, "new-report", clock, record
                )
            elif d.outcome is Outcome.FOLLOWUP and d.report_id is not None:
                known = found.followed.get(d.report_id)
                ref = known.ref if known is not None else None
                if ref is None and d.report_id < 0:
                    ref = _batch_ref(writes, d.report_id)
                if ref is None or self._quiet(d, bounced):
                    continue
                self._notify(d, ref, recipients, writes, now, "followup", None)

    def _quiet(self, d: Decision, bounced: set[str]) -> bool:
        """Staff's own mail, and machine mail that is not a bounce of ours, tell no one."""
        parsed = d.incoming.parsed
        claim = d.incoming.staff
        if claim is not None and (not claim.authenticated or d.rule == TOKEN_ELSEWHERE):
            return False  # staff are told that someone wrote as one of them, or what went wrong
        if parsed.sender_address in {a.lower() for a in self.settings.organization.staff_addresses}:
            return True
        if any(mid in bounced for mid in d.incoming.quoted_ids):
            return False
        return loops.machine_mail(loop_context(self.settings, parsed)).machine

    def _notify(
        self,
        d: Decision,
        ref: str,
        recipients: list[str],
        writes: Writes,
        now: datetime,
        event: str,
        clock: ClockState | None,
        triaged: dict[str, Any] | None = None,
    ) -> None:
        parsed = d.incoming.parsed
        text, omitted = shown_text(parsed.text)
        subject = defang(header_safe(parsed.subject, 150)) or "(no subject)"
        protect, sealed = self._sealing(d)
        attachments = d.incoming.attachments
        if sealed:  # a decrypted report, and no staff key to encrypt this notice to
            text, omitted, attachments, triaged = "", 0, (), None
        context = {
            "organization": self.settings.organization.name,
            "mailbox": self.settings.organization.mailbox_address,
            "ref": ref,
            "subject": subject,
            "reporter": defang(header_safe(parsed.sender_address, 200)),
            "reporter_name": defang(header_safe(parsed.sender_name, 80)),
            "received_at": format_local(d.incoming.internaldate, self.settings),
            "status": "new" if event == "new-report" else "",
            "severity": "not set",
            "clocks": []
            if clock is None
            else [{"name": clock.name, "due_at": format_local(clock.due_at, self.settings)}],
            "body": text,
            "omitted": omitted,
            "attachments": [
                {
                    "filename": defang(header_safe(a.filename, 120)) or "(no name)",
                    "content_type": header_safe(a.content_type, 100),
                    "size": a.size,
                    "sha256": a.sha256,
                }
                for a in attachments
            ],
            "bounced": any(mid in writes.bounced for mid in d.incoming.quoted_ids),
            "warning": _warning(d),
            "replies": bool(self.settings.staff.token_keys),
            "triage": notice_lines(present(triaged, self.settings)) if triaged else [],
            "encryption": encryption_note(d.incoming, ref, protect is not None),
        }
        rendered, problem = self.renderer.render_or_bundled("staff", event, context)
        body = rendered.text
        if problem is not None:
            log.error("staff/%s template failed, sent the bundled one: %s", event, problem)
            body = f"[Your template failed, so this is the bundled one: {problem}]\n\n" + body
        prefix = "New report: " if event == "new-report" else ""
        for recipient in recipients:
            root = thread_root(self.settings, ref, recipient)
            out = Outgoing(
                kind=NOTIFICATION,
                report_id=d.report_id,
                report_ref=ref,
                recipients=[recipient],
                subject=f"[{ref}] {prefix}{subject}",
                text=body,
                html=None,
                in_reply_to=None if event == "new-report" else root,
                references=() if event == "new-report" else (root,),
                auto_submitted="auto-generated",
                reply_to=reply_to(self.settings, ref, recipient, now),
                protect=protect,
            )
            token = recipient_tag(recipient) if event == "new-report" else None
            mail = build(self.settings, out, now, token=token)
            writes.mails.append(mail)
        writes.audit.append(entry(now, "staff-notified", d, event=event, recipients=recipients))

    def _sealing(self, d: Decision) -> tuple[str | None, bool]:
        """Whether a notice is encrypted to ``[openpgp] staff_keys`` ("staff"), and whether
        it must leave the report's text out: a decrypted report's plaintext never travels
        in clear, so without staff keys the notice only says where to read it."""
        if d.incoming.encryption != "decrypted":
            return None, False
        pgp = self.settings.openpgp
        if pgp is not None and pgp.staff_keys:
            return "staff", False
        return None, True


def encryption_note(incoming: Incoming, ref: str, protected: bool) -> str:
    """What a staff notice says of the message's OpenPGP: empty for plain, unsigned mail."""
    lines = []
    if incoming.encryption == "decrypted":
        lines.append(
            "Encrypted report, decrypted at intake; this notice is encrypted to the staff keys."
            if protected
            else f"Encrypted report: its text is not in this mail. Read it with "
            f"`disclosure-inbox reports show {ref}`."
        )
    elif incoming.encryption == "unreadable":
        lines.append(
            f"Encrypted report that could not be decrypted ({incoming.encryption_problem}); "
            f"its ciphertext is stored: disclosure-inbox reports show {ref}"
        )
    if incoming.signature is not None:
        signer = incoming.signature.fingerprint or "an unnamed key"
        lines.append(f"OpenPGP signature by {signer}: {incoming.signature.status}")
    return "\n".join(lines)


def _warning(d: Decision) -> str:
    """What staff must know before trusting the message: it claims a staff From that
    nothing proved, so it was given no privilege."""
    claim = d.incoming.staff
    if claim is None:
        return ""
    if claim.authenticated and d.rule == TOKEN_ELSEWHERE:
        return (
            f"This reply from {d.incoming.parsed.sender_address} carries the reply token of "
            f"{claim.report_ref} but answers this report: nothing in it was sent to the "
            "reporter and no command in it was run. Reply to this report's own notice."
        )
    if claim.authenticated:
        return ""
    return (
        f"This message claims to be from staff ({d.incoming.parsed.sender_address}) but was "
        f"not authenticated ({claim.rule}): nothing in it was sent to the reporter and no "
        "command in it was run."
    )


def _batch_ref(writes: Writes, report_id: int) -> str | None:
    """The reference of a report made earlier in the same batch."""
    for d in writes.decisions:
        if d.report_id == report_id and d.new_report is not None:
            return d.new_report.ref
    return None
