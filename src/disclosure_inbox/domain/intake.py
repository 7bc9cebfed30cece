"""What intake makes of each message of a batch: a pure decision from what was looked up.

The service parses a fetched batch, looks up in one go everything the decisions need
(``Known``), and asks ``decide_batch``; the store then applies the decisions in one
transaction. Messages of one batch can depend on each other (a resend of a message earlier in
the batch, a reply to it, a second report of the same year), so the batch is decided in order
and every decision adds what it will store to what the next ones know. Reports and messages
not stored yet carry provisional ids, negative numbers that the store replaces with real ones.

The outcomes, tried in this order; the first that applies wins, and its name is recorded:

1. ``same-bytes``: the sha256 of the raw bytes is known (the message was copied or moved
   back, or the mailbox was recreated): a duplicate, which gets only a new location.
2. ``same-message-id``: the Message-ID and sender are known (a resend that differs, e.g. by
   a relay's headers): a duplicate as well; its bytes are kept.
3. a row of ``QUARANTINE`` fires: the message is stored raw, with the reason, for staff.
4. the threading rules (``threading.decide_thread``) find its report: a follow-up of it
   (machine mail too: a bounce of our mail to a reporter joins that report). A staff
   member's mail that joins a report (by threading, or by the report its reply token
   names) and that ``domain/staff.py`` authenticated is a ``staff-reply``: the service
   relays it and runs its commands. Staff mail that does not authenticate is anyone's.
5. a loop rule marked ``machine`` fires (``loops.MACHINE_RULES``, asked through the
   ``machine`` check the caller builds from its settings): an auto-reply, a bounce, a
   newsletter that threads into nothing is stored *unfiled*, with that rule's name: no
   report, no reference number, no clock, no answer. A person may file it later.
6. otherwise a new report with the year's next reference number.

Worked example: a batch holds a report R (Message-ID <a@x>), its resend under another UID
with the same bytes, and the reporter's reply to it (In-Reply-To <a@x>). R becomes report -1
(MIO-2026-0008 if seven exist this year) with message -1; the resend is a duplicate of
message -1 by ``same-bytes``; the reply is a follow-up of report -1 by ``in-reply-to``. An
out-of-office reply in the batch that names no stored message would be message -3, unfiled
by ``auto-submitted``, and would take no number.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from disclosure_inbox.domain.loops import Verdict
from disclosure_inbox.domain.model import Outcome, ParsedMessage
from disclosure_inbox.domain.openpgp import Signature
from disclosure_inbox.domain.outgoing import Built
from disclosure_inbox.domain.refs import format_ref
from disclosure_inbox.domain.sla import ClockState
from disclosure_inbox.domain.staff import StaffVerdict
from disclosure_inbox.domain.threading import TaggedReport, decide_thread, resolve_reports
from disclosure_inbox.domain.triage.model import Assessment, Triaged


@dataclass(frozen=True, slots=True)
class StoredAttachment:
    """An attachment whose bytes are already in the blob store."""

    filename: str
    content_type: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """One fetched message after the parse step (whose bytes are already durable)."""

    mailbox: str
    uidvalidity: int
    uid: int
    internaldate: datetime
    size: int
    sha256: str
    parsed: ParsedMessage
    parse_outcome: str  # the parser's name, or "oversized" / "unparseable"
    problem: str | None = None  # why parsing gave up, for "unparseable"
    subject_refs: tuple[str, ...] = ()
    quoted_ids: tuple[str, ...] = ()  # our own Message-IDs quoted by a bounce
    attachments: tuple[StoredAttachment, ...] = ()
    max_bytes: int = 0  # the size limit it was parsed under ([storage] max_message_bytes)
    # Set by the service for mail whose From is a staff address: authenticated or not.
    staff: StaffVerdict | None = None
    # What triage made of its texts in the parse step (None: not assessed).
    triage: Assessment | None = None
    # OpenPGP (service/pgpin.py): none | decrypted | unreadable, and why it is unreadable;
    # the signature's verdict; the public keys offered for the sender's address
    # (fingerprint, user IDs, armored key).
    encryption: str = "none"
    encryption_problem: str | None = None
    signature: Signature | None = None
    offered_keys: tuple[tuple[str, tuple[str, ...], str], ...] = ()

    @property
    def location(self) -> tuple[str, int, int]:
        return (self.mailbox, self.uidvalidity, self.uid)


@dataclass
class Known:
    """What the store holds that the decisions of one batch need, looked up in bulk."""

    by_sha: dict[str, int] = field(default_factory=dict)  # inbound sha256 -> message pk
    by_id_sender: dict[tuple[str, str], int] = field(default_factory=dict)  # -> message pk
    # Message-ID -> the (report id, sender) of every message filed under a report with it.
    id_reports: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    tagged: dict[str, TaggedReport] = field(default_factory=dict)  # reference -> report
    last_seq: dict[int, int] = field(default_factory=dict)  # year -> highest number used


@dataclass
class AckCounts:
    """Acknowledgements already sent, for the rate limits: per address and per domain in the
    last 24 hours, and to anyone in the last hour."""

    per_address: Counter[str]
    per_domain: Counter[str]
    last_hour: int


@dataclass
class Found:
    known: Known
    acks: AckCounts
    unbounced: set[str]  # our outgoing Message-IDs, among those quoted, not marked bounced
    # The stored reports the batch's follow-ups join, looked up after deciding (for the
    # staff notices and the reporter's status replies).
    followed: dict[int, FollowedReport] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FollowedReport:
    ref: str
    status: str
    severity: str | None
    reporter_address: str
    subject: str
    clocks: tuple[ClockState, ...]


@dataclass(frozen=True, slots=True)
class NewReport:
    ref: str
    year: int
    seq: int

    @classmethod
    def after(cls, prefix: str, year: int, last_seq: int) -> NewReport:
        """The next report of ``year`` when ``last_seq`` is the highest number it used."""
        return cls(format_ref(prefix, year, last_seq + 1), year, last_seq + 1)


# Whether a message was written by a machine: the verdict of the loop rules marked
# ``machine`` (``loops.machine_mail``), from the message alone. The service builds it from
# its settings (own addresses, domain and lists); it must stay pure, like every decision here.
MachineCheck = Callable[[ParsedMessage], Verdict]


@dataclass(frozen=True, slots=True)
class Decision:
    incoming: Incoming
    outcome: Outcome
    # The rule that decided: a duplicate's, a quarantine's, a threading rule, or for an
    # unfiled message the loop rule that called it machine mail.
    rule: str
    message_pk: int | None = None  # this message's (provisional) pk, or a duplicate's original
    report_id: int | None = None  # the (provisional) report of a follow-up or a new report
    new_report: NewReport | None = None
    reason: str = ""  # a quarantine's explanation, or the loop rule's for an unfiled message
    mentioned: tuple[str, ...] = ()  # report tags in the subject of someone else's reports


# --- quarantine: one small rule a row ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QuarantineRule:
    name: str  # stable, kebab-case: stored as the parse outcome and in the audit trail
    check: Callable[[Incoming], str | None]


def oversized(item: Incoming) -> str | None:
    if item.parse_outcome == "oversized":
        return f"oversized: {item.size} bytes is over the limit of {item.max_bytes}"
    return None


def unparseable(item: Incoming) -> str | None:
    if item.parse_outcome == "unparseable":
        return f"unparseable: {item.problem or 'unknown error'}"[:2000]
    return None


QUARANTINE: tuple[QuarantineRule, ...] = (
    # RFC 5322 sets no size limit; ours is [storage] max_message_bytes. A larger message is
    # kept raw and only its header block is read, so one huge mail cannot exhaust memory.
    QuarantineRule("oversized", oversized),
    # Neither parser could read it (MIME nested past the stack, say). Parsing is
    # deterministic, so trying again cannot help: quarantined at once.
    QuarantineRule("unparseable", unparseable),
)


def failed_too_often(attempts: int, max_attempts: int, error: str) -> str | None:
    """A message whose processing failed ``max_attempts`` times is quarantined with the error
    (the rule ``failed``), so that one poison message cannot hold the mailbox back."""
    if attempts >= max_attempts:
        return f"failed {max_attempts} times: {error}"[:2000]
    return None


TOKEN_ELSEWHERE = "token-for-another-report"  # a staff reply whose token names another report

# --- deciding ------------------------------------------------------------------------------


def decide(
    item: Incoming, known: Known, prefix: str, tz: ZoneInfo, *, machine: MachineCheck
) -> Decision:
    """One message, from what ``known`` holds (which already includes the batch so far)."""
    parsed = item.parsed
    if item.sha256 in known.by_sha:
        return Decision(item, Outcome.DUPLICATE, "same-bytes", known.by_sha[item.sha256])
    if parsed.message_id:
        original = known.by_id_sender.get((parsed.message_id, parsed.sender_address))
        if original is not None:
            return Decision(item, Outcome.DUPLICATE, "same-message-id", original)
    for rule in QUARANTINE:
        reason = rule.check(item)
        if reason is not None:
            return Decision(item, Outcome.QUARANTINED, rule.name, reason=reason)
    ids = parsed.in_reply_to + parsed.references + item.quoted_ids
    thread = decide_thread(
        sender_address=parsed.sender_address,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references + item.quoted_ids,
        subject_refs=item.subject_refs,
        known_message_ids=resolve_reports(known.id_reports, ids, parsed.sender_address),
        tagged_reports={r: known.tagged[r] for r in item.subject_refs if r in known.tagged},
    )
    staff = item.staff if item.staff is not None and item.staff.authenticated else None
    if staff is not None:
        by_token = known.tagged.get(staff.report_ref) if staff.report_ref else None
        if by_token and thread.report_id is not None and by_token.report_id != thread.report_id:
            # It answers one report with another report's token (an address picked by the
            # mail client, say): acting on either could be wrong, so it acts on neither.
            return Decision(item, Outcome.FOLLOWUP, TOKEN_ELSEWHERE, report_id=thread.report_id)
        report_id = by_token.report_id if by_token is not None else thread.report_id
        if report_id is not None:
            return Decision(item, Outcome.STAFF_REPLY, staff.rule, report_id=report_id)
    if thread.report_id is not None:
        return Decision(
            item, Outcome.FOLLOWUP, thread.rule, report_id=thread.report_id, mentioned=()
        )
    verdict = machine(parsed)
    if verdict.machine and verdict.rule is not None:
        return Decision(
            item,
            Outcome.UNFILED,
            verdict.rule,
            reason=verdict.reason or "",
            mentioned=thread.mentioned_refs,
        )
    year = item.internaldate.astimezone(tz).year
    return Decision(
        item,
        Outcome.REPORT,
        thread.rule,
        new_report=NewReport.after(prefix, year, known.last_seq.get(year, 0)),
        mentioned=thread.mentioned_refs,
    )


def decide_batch(
    items: Sequence[Incoming], known: Known, prefix: str, tz: ZoneInfo, *, machine: MachineCheck
) -> list[Decision]:
    """Every message of a batch, in order; ``known`` is not changed (a copy learns)."""
    learned = Known(
        by_sha=dict(known.by_sha),
        by_id_sender=dict(known.by_id_sender),
        id_reports={k: list(v) for k, v in known.id_reports.items()},
        tagged=dict(known.tagged),
        last_seq=dict(known.last_seq),
    )
    decisions: list[Decision] = []
    for item in items:
        decision = _provisional(decide(item, learned, prefix, tz, machine=machine), decisions)
        _learn(learned, decision)
        decisions.append(decision)
    return decisions


def _provisional(decision: Decision, before: Sequence[Decision]) -> Decision:
    """Give a message that will be stored (and a new report) its provisional id."""
    if decision.outcome is Outcome.DUPLICATE:
        return decision
    stored = sum(d.outcome is not Outcome.DUPLICATE for d in before)
    report_id = decision.report_id
    if decision.outcome is Outcome.REPORT:
        report_id = -(1 + sum(d.outcome is Outcome.REPORT for d in before))
    return replace(decision, message_pk=-(stored + 1), report_id=report_id)


def _learn(known: Known, decision: Decision) -> None:
    if decision.outcome is Outcome.DUPLICATE or decision.message_pk is None:
        return
    item, parsed = decision.incoming, decision.incoming.parsed
    known.by_sha[item.sha256] = decision.message_pk
    if parsed.message_id:
        known.by_id_sender[(parsed.message_id, parsed.sender_address)] = decision.message_pk
    if decision.report_id is not None and parsed.message_id:
        known.id_reports.setdefault(parsed.message_id, []).append(
            (decision.report_id, parsed.sender_address)
        )
    if decision.new_report is not None and decision.report_id is not None:
        new = decision.new_report
        known.last_seq[new.year] = max(known.last_seq.get(new.year, 0), new.seq)
        known.tagged[new.ref] = TaggedReport(decision.report_id, parsed.sender_address)


def lookup_keys(items: Sequence[Incoming]) -> LookupKeys:
    """What the store is asked for one batch: every key any decision may need."""
    ids: set[str] = set()
    for item in items:
        p = item.parsed
        if p.message_id:
            ids.add(p.message_id)
        ids.update(p.in_reply_to, p.references, item.quoted_ids)
    return LookupKeys(
        shas=frozenset(i.sha256 for i in items),
        message_ids=frozenset(ids),
        refs=frozenset(r for i in items for r in i.subject_refs)
        | frozenset(i.staff.report_ref for i in items if i.staff and i.staff.report_ref),
    )


@dataclass(frozen=True, slots=True)
class LookupKeys:
    shas: frozenset[str]
    message_ids: frozenset[str]
    refs: frozenset[str]


def years(items: Sequence[Incoming], tz: ZoneInfo) -> frozenset[int]:
    return frozenset(i.internaldate.astimezone(tz).year for i in items)


# --- what a batch writes ---------------------------------------------------------------

Location = tuple[str, int, int]


@dataclass
class Writes:
    """Everything one batch stores, with provisional (negative) ids where rows are new; the
    store applies it in one transaction and replaces the provisional ids as it goes."""

    decisions: list[Decision] = field(default_factory=list)  # in the order decided
    clocks: list[tuple[int, ClockState]] = field(default_factory=list)  # (report id, clock)
    mails: list[Built] = field(default_factory=list)  # report_id may be provisional
    bounced: list[str] = field(default_factory=list)  # our Message-IDs that came back
    audit: list[dict[str, Any]] = field(default_factory=list)  # rows of the audit trail
    checkpoints: dict[tuple[str, int], int] = field(default_factory=dict)  # highest UID
    triage: list[Triaged] = field(default_factory=list)  # the new reports' triage
    # Public keys to store: (address, fingerprint, user IDs, armored, message pk).
    keys: list[tuple[str, str, tuple[str, ...], str, int | None]] = field(default_factory=list)

    def stored(self) -> list[Decision]:
        return [d for d in self.decisions if d.outcome is not Outcome.DUPLICATE]
