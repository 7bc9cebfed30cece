"""The pure intake decisions: one batch, what the store knew, and what each message becomes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from disclosure_inbox.domain.intake import Incoming, Known, decide_batch, lookup_keys
from disclosure_inbox.domain.model import Outcome, ParsedMessage
from disclosure_inbox.domain.threading import TaggedReport

TZ = ZoneInfo("UTC")
JULY = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)


def parsed(mid: str | None, sender: str = "ada@example.org", **kw: object) -> ParsedMessage:
    base = ParsedMessage(
        message_id=mid,
        sender_address=sender,
        sender_name="Ada",
        subject="XSS",
        date_header=None,
        in_reply_to=(),
        references=(),
        text="",
        html="",
        attachments=(),
        headers={},
        content_type="text/plain",
        parser="mail-parser",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def item(uid: int, sha: str, p: ParsedMessage, **kw: object) -> Incoming:
    base = Incoming("INBOX", 7, uid, JULY, 100, sha, p, p.parser, max_bytes=1000)
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_report_its_resend_and_its_reply_in_one_batch():
    report = item(1, "s1", parsed("<a@x>"))
    resend = item(2, "s1", parsed("<a@x>"))
    reply = item(3, "s3", parsed("<b@x>", in_reply_to=("<a@x>",)))
    d = decide_batch([report, resend, reply], Known(last_seq={2026: 7}), "MIO", TZ)
    assert [x.outcome for x in d] == [Outcome.REPORT, Outcome.DUPLICATE, Outcome.FOLLOWUP]
    assert d[0].new_report is not None and d[0].new_report.ref == "MIO-2026-0008"
    assert (d[0].report_id, d[0].message_pk) == (-1, -1)
    assert (d[1].rule, d[1].message_pk) == ("same-bytes", -1)
    assert (d[2].rule, d[2].report_id, d[2].message_pk) == ("in-reply-to", -1, -2)


def test_known_mail_is_a_duplicate_by_bytes_or_by_message_id_and_sender():
    known = Known(by_sha={"old": 41}, by_id_sender={("<m@x>", "ada@example.org"): 42})
    same_bytes = item(1, "old", parsed("<other@x>"))
    same_id = item(2, "new", parsed("<m@x>"))
    same_id_other_sender = item(3, "new2", parsed("<m@x>", sender="eve@example.net"))
    d = decide_batch([same_bytes, same_id, same_id_other_sender], known, "MIO", TZ)
    assert [(x.outcome, x.rule, x.message_pk) for x in d[:2]] == [
        (Outcome.DUPLICATE, "same-bytes", 41),
        (Outcome.DUPLICATE, "same-message-id", 42),
    ]
    assert d[2].outcome is Outcome.REPORT


def test_quarantine_rules_come_before_threading():
    big = item(1, "b", parsed("<big@x>"), parse_outcome="oversized", size=5000)
    broken = item(2, "c", parsed(None), parse_outcome="unparseable", problem="RecursionError: x")
    d = decide_batch([big, broken], Known(), "MIO", TZ)
    assert [(x.outcome, x.rule) for x in d] == [
        (Outcome.QUARANTINED, "oversized"),
        (Outcome.QUARANTINED, "unparseable"),
    ]
    assert d[0].reason == "oversized: 5000 bytes is over the limit of 1000"
    assert d[1].reason == "unparseable: RecursionError: x"
    assert [x.message_pk for x in d] == [-1, -2]  # stored, with no report


def test_a_tag_counts_only_from_the_reporter_and_numbers_run_per_year():
    known = Known(
        tagged={"MIO-2026-0001": TaggedReport(5, "ada@example.org")},
        last_seq={2026: 1, 2027: 0},
    )
    own = item(1, "a", parsed("<1@x>"), subject_refs=("MIO-2026-0001",))
    foreign = item(
        2, "b", parsed("<2@x>", sender="eve@example.net"), subject_refs=("MIO-2026-0001",)
    )
    next_year = item(3, "c", parsed("<3@x>"), internaldate=datetime(2027, 1, 2, tzinfo=UTC))
    d = decide_batch([own, foreign, next_year], known, "MIO", TZ)
    assert (d[0].outcome, d[0].rule, d[0].report_id) == (Outcome.FOLLOWUP, "subject-tag", 5)
    assert (d[1].outcome, d[1].rule, d[1].mentioned) == (
        Outcome.REPORT,
        "foreign-tag",
        ("MIO-2026-0001",),
    )
    assert d[1].new_report is not None and d[1].new_report.ref == "MIO-2026-0002"
    assert d[2].new_report is not None and d[2].new_report.ref == "MIO-2027-0001"


def test_the_new_report_tag_is_known_to_later_messages_of_the_batch():
    first = item(1, "a", parsed("<1@x>"))
    tagged = item(2, "b", parsed("<2@x>"), subject_refs=("MIO-2026-0001",))
    d = decide_batch([first, tagged], Known(), "MIO", TZ)
    assert (d[1].outcome, d[1].rule, d[1].report_id) == (Outcome.FOLLOWUP, "subject-tag", -1)


def test_decide_batch_leaves_what_it_was_given_alone():
    known = Known(last_seq={2026: 3})
    decide_batch([item(1, "a", parsed("<1@x>"))], known, "MIO", TZ)
    assert known == Known(last_seq={2026: 3})


def test_the_look_up_asks_for_every_key_a_decision_may_need():
    a = item(1, "s1", parsed("<a@x>", in_reply_to=("<p@x>",), references=("<r@x>",)))
    b = item(2, "s2", parsed(None), subject_refs=("MIO-2026-0004",), quoted_ids=("<q@m.io>",))
    keys = lookup_keys([a, b])
    assert keys.shas == {"s1", "s2"}
    assert keys.message_ids == {"<a@x>", "<p@x>", "<r@x>", "<q@m.io>"}
    assert keys.refs == {"MIO-2026-0004"}
