"""The pure intake decisions: one batch, what the store knew, and what each message becomes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from disclosure_inbox.domain.intake import Incoming, Known, decide_batch, lookup_keys
from disclosure_inbox.domain.loops import LoopContext, Verdict, machine_mail
from disclosure_inbox.domain.model import Outcome, ParsedMessage
from disclosure_inbox.domain.threading import TaggedReport

TZ = ZoneInfo("UTC")
JULY = datetime(2026, 7, 1, 14, 0, tzinfo=UTC)
OUR_ACK = "<MIO-2026-0003.ack.0123456789abcdef@m.io>"


def machine(p: ParsedMessage) -> Verdict:
    """The machine rules as Mio's deployment builds them (soc@m.io, staff lead@m.io, its
    own list security.m.io). Every rate limit is reached: they must not matter here."""
    return machine_mail(
        LoopContext(
            headers=p.headers,
            sender_address=p.sender_address,
            content_type=p.content_type,
            message_id=p.message_id,
            own_addresses=frozenset({"soc@m.io"}),
            staff_addresses=frozenset({"lead@m.io"}),
            own_domain="m.io",
            loop_marker="X-Disclosure-Inbox-Loop",
            own_list_ids=frozenset({"security.m.io"}),
            acks_to_sender_last_24h=9,
            acks_to_domain_last_24h=99,
            acks_for_report=9,
            acks_last_hour=999,
            max_acks_per_sender_per_day=3,
            max_acks_per_domain_per_day=20,
            max_acks_per_report=1,
            max_acks_per_hour=100,
        )
    )


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
    d = decide_batch([report, resend, reply], Known(last_seq={2026: 7}), "MIO", TZ, machine=machine)
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
    d = decide_batch([same_bytes, same_id, same_id_other_sender], known, "MIO", TZ, machine=machine)
    assert [(x.outcome, x.rule, x.message_pk) for x in d[:2]] == [
        (Outcome.DUPLICATE, "same-bytes", 41),
        (Outcome.DUPLICATE, "same-message-id", 42),
    ]
    assert d[2].outcome is Outcome.REPORT


def test_quarantine_rules_come_before_threading():
    big = item(1, "b", parsed("<big@x>"), parse_outcome="oversized", size=5000)
    broken = item(2, "c", parsed(None), parse_outcome="unparseable", problem="RecursionError: x")
    d = decide_batch([big, broken], Known(), "MIO", TZ, machine=machine)
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
    d = decide_batch([own, foreign, next_year], known, "MIO", TZ, machine=machine)
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
    d = decide_batch([first, tagged], Known(), "MIO", TZ, machine=machine)
    assert (d[1].outcome, d[1].rule, d[1].report_id) == (Outcome.FOLLOWUP, "subject-tag", -1)


def test_decide_batch_leaves_what_it_was_given_alone():
    known = Known(last_seq={2026: 3})
    decide_batch([item(1, "a", parsed("<1@x>"))], known, "MIO", TZ, machine=machine)
    assert known == Known(last_seq={2026: 3})


def test_the_look_up_asks_for_every_key_a_decision_may_need():
    a = item(1, "s1", parsed("<a@x>", in_reply_to=("<p@x>",), references=("<r@x>",)))
    b = item(2, "s2", parsed(None), subject_refs=("MIO-2026-0004",), quoted_ids=("<q@m.io>",))
    keys = lookup_keys([a, b])
    assert keys.shas == {"s1", "s2"}
    assert keys.message_ids == {"<a@x>", "<p@x>", "<r@x>", "<q@m.io>"}
    assert keys.refs == {"MIO-2026-0004"}


# --- machine mail ----------------------------------------------------------------------------

OUT_OF_OFFICE = {"auto-submitted": "auto-replied", "x-auto-response-suppress": "All"}
BOUNCE = {"return-path": "<>"}
NEWSLETTER = {"list-id": "Weekly <weekly.news.example>", "list-unsubscribe": "<mailto:u@x>"}


def test_machine_mail_in_no_thread_is_unfiled_and_takes_no_number():
    ooo = item(1, "a", parsed("<ooo@x>", headers=OUT_OF_OFFICE))
    dsn = item(
        2,
        "b",
        parsed(
            "<dsn@mx>",
            sender="mailer-daemon@mx.example",
            headers=BOUNCE,
            content_type="multipart/report; report-type=delivery-status",
        ),
    )
    news = item(3, "c", parsed("<n@news>", sender="hello@news.example", headers=NEWSLETTER))
    person = item(4, "d", parsed("<p@x>"))
    d = decide_batch(
        [ooo, dsn, news, person], Known(last_seq={2026: 7}), "MIO", TZ, machine=machine
    )
    assert [(x.outcome, x.rule) for x in d] == [
        (Outcome.UNFILED, "auto-submitted"),
        (Outcome.UNFILED, "mailer-daemon"),
        (Outcome.UNFILED, "list-headers"),
        (Outcome.REPORT, "new"),
    ]
    assert [(x.report_id, x.new_report) for x in d[:3]] == [(None, None)] * 3
    assert [x.message_pk for x in d] == [-1, -2, -3, -4]  # all stored
    assert d[0].reason == "Auto-Submitted: 'auto-replied'"
    assert d[1].reason == "sender is 'mailer-daemon@mx.example'"
    # The person's report takes the number the machine mail did not.
    assert d[3].new_report is not None and d[3].new_report.ref == "MIO-2026-0008"
    assert d[3].report_id == -1


def test_mail_through_our_own_list_is_a_persons_report():
    via_list = {"list-id": "Mio security <security.m.io>", "precedence": "list"}
    [d] = decide_batch(
        [item(1, "a", parsed("<l@x>", headers=via_list))], Known(), "MIO", TZ, machine=machine
    )
    assert (d.outcome, d.rule) == (Outcome.REPORT, "new")
    # The other rules still apply to the list's mail: an auto-reply through it is unfiled.
    ooo = item(2, "b", parsed("<o@x>", headers={**via_list, **OUT_OF_OFFICE}))
    [d] = decide_batch([ooo], Known(), "MIO", TZ, machine=machine)
    assert (d.outcome, d.rule) == (Outcome.UNFILED, "auto-submitted")


def test_machine_mail_that_threads_into_a_report_is_a_followup():
    known = Known(id_reports={"<r@x>": [(5, "ada@example.org")], OUR_ACK: [(6, "soc@m.io")]})
    ooo = item(1, "a", parsed("<ooo@x>", headers=OUT_OF_OFFICE, in_reply_to=("<r@x>",)))
    # A bounce of our acknowledgement: the parse step found our Message-ID quoted in it.
    dsn = item(
        2,
        "b",
        parsed("<dsn@mx>", sender="mailer-daemon@mx.example", headers=BOUNCE),
        quoted_ids=(OUR_ACK,),
    )
    d = decide_batch([ooo, dsn], known, "MIO", TZ, machine=machine)
    assert [(x.outcome, x.rule, x.report_id) for x in d] == [
        (Outcome.FOLLOWUP, "in-reply-to", 5),
        (Outcome.FOLLOWUP, "references", 6),
    ]


def test_a_persons_mail_is_a_report_whoever_sends_it():
    staff = item(1, "a", parsed("<s@example.org>", sender="lead@m.io"))
    limited = item(2, "b", parsed("<p@x>"))  # every rate limit reached: still a person
    d = decide_batch([staff, limited], Known(), "MIO", TZ, machine=machine)
    assert [(x.outcome, x.rule) for x in d] == [(Outcome.REPORT, "new"), (Outcome.REPORT, "new")]
    assert [x.new_report.ref for x in d if x.new_report] == ["MIO-2026-0001", "MIO-2026-0002"]


def test_a_reply_to_unfiled_mail_does_not_thread_into_it():
    ooo = item(1, "a", parsed("<ooo@x>", headers=OUT_OF_OFFICE))
    reply = item(2, "b", parsed("<re@x>", in_reply_to=("<ooo@x>",)))
    d = decide_batch([ooo, reply], Known(), "MIO", TZ, machine=machine)
    assert [(x.outcome, x.rule) for x in d] == [
        (Outcome.UNFILED, "auto-submitted"),
        (Outcome.REPORT, "new"),
    ]


def test_the_machine_check_is_asked_only_when_no_report_is_found():
    asked: list[str | None] = []

    def check(p: ParsedMessage) -> Verdict:
        asked.append(p.message_id)
        return machine(p)

    known = Known(by_sha={"old": 1}, id_reports={"<r@x>": [(5, "ada@example.org")]})
    batch = [
        item(1, "old", parsed("<dup@x>")),
        item(2, "big", parsed("<big@x>"), parse_outcome="oversized"),
        item(3, "f", parsed("<f@x>", in_reply_to=("<r@x>",))),
        item(4, "n", parsed("<n@x>")),
    ]
    decide_batch(batch, known, "MIO", TZ, machine=check)
    assert asked == ["<n@x>"]
