"""Which report an inbound message belongs to.

The rules, in order:

1. ``In-Reply-To`` or ``References`` names any message of a report (ours or the reporter's):
   the message is a follow-up of that report.
2. Failing that, the subject carries the tag of an existing report *and* the sender is that
   report's reporter: a follow-up. A tag typed by anyone else is not enough, so a stranger
   cannot append to another reporter's thread; such a message becomes a new report that
   mentions the tag.
3. Anything else is a new report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ThreadDecision:
    report_id: int | None  # None: a new report
    rule: str
    mentioned_refs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaggedReport:
    report_id: int
    reporter_address: str


def decide_thread(
    *,
    sender_address: str,
    in_reply_to: tuple[str, ...],
    references: tuple[str, ...],
    subject_refs: tuple[str, ...],
    known_message_ids: Mapping[str, int],
    tagged_reports: Mapping[str, TaggedReport],
) -> ThreadDecision:
    """Decide from data the caller looked up.

    ``known_message_ids`` maps each Message-ID from the headers that the store knows to its
    report; ``tagged_reports`` maps each reference in ``subject_refs`` that exists.
    """
    for mid in in_reply_to:
        if mid in known_message_ids:
            return ThreadDecision(known_message_ids[mid], "in-reply-to")
    # References is oldest first; the newest known ancestor is the best evidence.
    for mid in reversed(references):
        if mid in known_message_ids:
            return ThreadDecision(known_message_ids[mid], "references")
    sender = sender_address.lower()
    for ref in subject_refs:
        tagged = tagged_reports.get(ref)
        if tagged is not None and sender and tagged.reporter_address.lower() == sender:
            return ThreadDecision(tagged.report_id, "subject-tag")
    mentioned = tuple(ref for ref in subject_refs if ref in tagged_reports)
    if mentioned:
        return ThreadDecision(None, "foreign-tag", mentioned)
    return ThreadDecision(None, "new")


def resolve_reports(
    id_reports: Mapping[str, Sequence[tuple[int, str]]], ids: Iterable[str], sender: str
) -> dict[str, int]:
    """The report of each of ``ids`` that the store knows, from the (report, sender) of every
    message filed with that Message-ID. An id that two reports share (a sender reused someone
    else's) counts only for the report whose message came from ``sender``; if that does not
    settle it, the id is ignored rather than guessed."""
    found: dict[str, int] = {}
    for mid in dict.fromkeys(ids):
        rows = id_reports.get(mid)
        if not rows:
            continue
        everyone = {rid for rid, _ in rows}
        own = {rid for rid, address in rows if sender and address == sender}
        choice = everyone if len(everyone) == 1 else own
        if len(choice) == 1:
            found[mid] = next(iter(choice))
    return found
