import pytest

from disclosure_inbox.domain.mail_ids import is_ours, make_message_id, our_message_ids
from disclosure_inbox.domain.replies import deliverable, envelope_sender, reply_target


@pytest.mark.parametrize(
    ("headers", "sender", "expected"),
    [
        (
            {"return-path": "<bounces+ada@relay.example>"},
            "ada@example.org",
            ("bounces+ada@relay.example", "return-path"),
        ),
        ({"return-path": "<>"}, "ada@example.org", (None, "null-return-path")),
        ({"return-path": " < > "}, "ada@example.org", (None, "null-return-path")),
        (
            {"sender": "List <owner@lists.example>"},
            "ada@example.org",
            ("owner@lists.example", "sender"),
        ),
        ({}, "Ada@Example.org", ("ada@example.org", "from")),
        ({"reply-to": "victim@elsewhere.example"}, "ada@example.org", ("ada@example.org", "from")),
        ({}, "", (None, "none")),
        ({}, "big bug bb@bug.com", (None, "undeliverable-from")),
        (
            {"return-path": "<a\r\nRCPT TO:<x@y>>"},
            "ada@example.org",
            (None, "undeliverable-return-path"),
        ),
    ],
)
def test_reply_target_follows_rfc3834(headers, sender, expected):
    target = reply_target(headers, sender)
    assert (target.address, target.source) == expected


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("ada@example.org", True),
        ("first.last+tag@sub.example.co.uk", True),
        ("a b@example.org", False),
        ("a@b@example.org", False),
        ("<a@example.org>", False),
        ("a..b@example.org", False),
        ("a@example.org\r\n", False),
        ("jd\udcc3e@example.org", False),
    ],
)
def test_deliverable(address, ok):
    assert deliverable(address) is ok


def test_envelope_sender():
    assert envelope_sender("", "soc@m.io") == "soc@m.io"
    assert envelope_sender("<>", "soc@m.io") == ""
    assert envelope_sender("bounces@m.io", "soc@m.io") == "bounces@m.io"


def test_our_message_ids_are_found_in_a_bounce():
    mid = make_message_id("MIO-2026-0001", "ack", "0123456789abcdef", "m.io")
    assert mid == "<MIO-2026-0001.ack.0123456789abcdef@m.io>"
    bounce = f"Original-Message-ID: {mid}\r\nMessage-ID: <other@m.io>\r\n<x.ack.12@evil.example>"
    assert our_message_ids(bounce, "m.io") == [mid]
    assert is_ours(mid, "M.IO")
    assert not is_ours("<a@m.io.evil.example>", "m.io")
    assert not is_ours(None, "m.io")
