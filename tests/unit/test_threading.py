from disclosure_inbox.domain.refs import format_ref, refs_in_subject, tagged_subject
from disclosure_inbox.domain.threading import TaggedReport, decide_thread

A = "<a@example.org>"
B = "<b@example.org>"
ACK = "<MIO-2026-0001.ack.0123456789abcdef@m.io>"


def decide(**kw):
    args = {
        "sender_address": "ada@example.org",
        "in_reply_to": (),
        "references": (),
        "subject_refs": (),
        "known_message_ids": {},
        "tagged_reports": {},
    }
    args.update(kw)
    return decide_thread(**args)


def test_reply_with_intact_references_joins_the_report():
    d = decide(references=(A, ACK), in_reply_to=(ACK,), known_message_ids={A: 1, ACK: 1})
    assert (d.report_id, d.rule) == (1, "in-reply-to")


def test_reply_with_only_in_reply_to():
    d = decide(in_reply_to=(ACK,), known_message_ids={ACK: 7})
    assert (d.report_id, d.rule) == (7, "in-reply-to")


def test_broken_references_chain_uses_the_newest_known_ancestor():
    # In-Reply-To names a message we never saw; References still has one we know.
    d = decide(in_reply_to=("<lost@x>",), references=(A, "<lost@x>"), known_message_ids={A: 3})
    assert (d.report_id, d.rule) == (3, "references")


def test_tag_from_the_reporter_joins():
    d = decide(
        subject_refs=("MIO-2026-0001",),
        tagged_reports={"MIO-2026-0001": TaggedReport(5, "Ada@Example.org")},
    )
    assert (d.report_id, d.rule) == (5, "subject-tag")


def test_tag_from_someone_else_makes_a_new_report_that_mentions_it():
    d = decide(
        sender_address="mallory@evil.example",
        subject_refs=("MIO-2026-0001",),
        tagged_reports={"MIO-2026-0001": TaggedReport(5, "ada@example.org")},
    )
    assert d.report_id is None
    assert d.rule == "foreign-tag"
    assert d.mentioned_refs == ("MIO-2026-0001",)


def test_unknown_tag_and_no_headers_is_a_new_report():
    d = decide(subject_refs=("MIO-2026-9999",))
    assert (d.report_id, d.rule, d.mentioned_refs) == (None, "new", ())


def test_empty_sender_never_matches_a_tag():
    d = decide(
        sender_address="",
        subject_refs=("MIO-2026-0001",),
        tagged_reports={"MIO-2026-0001": TaggedReport(5, "")},
    )
    assert d.report_id is None


def test_refs_and_tags():
    assert format_ref("MIO", 2026, 1) == "MIO-2026-0001"
    assert format_ref("MIO", 2026, 12345) == "MIO-2026-12345"
    assert refs_in_subject("MIO", "Re: [MIO-2026-0001] x [MIO-2026-0002]") == [
        "MIO-2026-0001",
        "MIO-2026-0002",
    ]
    assert refs_in_subject("MIO", "MIO-2026-0001 without brackets") == []
    assert refs_in_subject("MIO", "[XMIO-2026-0001]") == []
    assert (
        tagged_subject("MIO-2026-0001", "Re: RE: [MIO-2026-0001] XSS") == "[MIO-2026-0001] Re: XSS"
    )
    assert tagged_subject("MIO-2026-0001", "") == "[MIO-2026-0001] Your report"
