"""Composing our own mail's bytes: what the strict policy guaranteed, checked directly."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from disclosure_inbox.adapters import compose

WHEN = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _message(headers: list[str], text: str, html: str | None = None) -> email.message.Message:
    raw = compose.compose(headers, text, html)
    for line in raw.split(b"\r\n"):
        assert len(line) <= compose.LINE_LIMIT
    bare = raw.replace(b"\r\n", b"")
    assert b"\r" not in bare and b"\n" not in bare and b"\x00" not in raw
    return email.message_from_bytes(raw, policy=email.policy.strict)


@pytest.mark.parametrize(
    "value",
    ["hi\r\nBcc: victim@example.net", "hi\rBcc: x", "hi\nBcc: x", "hi\x00there"],
)
def test_a_header_value_with_cr_lf_or_nul_is_refused(value: str) -> None:
    with pytest.raises(compose.HeaderDefect):
        compose.unstructured("Subject", value)
    with pytest.raises(compose.HeaderDefect):
        compose.mailbox("From", value, "soc@m.io")
    with pytest.raises(compose.HeaderDefect):
        compose.addresses("To", [value])


@pytest.mark.parametrize(
    "subject",
    [
        "[MIO-2026-0001] Re: SQL injection in /search",
        "Re: Ünïcode 🔥 and a long tail " + "word " * 60,
        "=?utf-8?q?hi=0D=0ABcc:_victim@example.net?=",  # literal text, not an encoded word
        "x" * 3000,  # one word longer than a line may be
        "tab\there",
    ],
)
def test_a_subject_reads_back_exactly_as_given(subject: str) -> None:
    parsed = _message([compose.unstructured("Subject", subject)], "body")
    assert str(parsed["Subject"]) == subject
    assert len(parsed.get_all("Subject")) == 1


def test_worked_example_of_the_module() -> None:
    assert compose.unstructured("Subject", "Re: Ünïcode") == (
        "Subject: =?utf-8?q?Re=3A_=C3=9Cn=C3=AFcode?="
    )


def test_display_names_are_quoted_or_encoded() -> None:
    parsed = _message(
        [
            compose.mailbox("From", "Mïo Security, Inc.", "soc@m.io"),
            compose.mailbox("Reply-To", "Mio, Inc.", "soc@m.io"),
            compose.addresses("To", ["ada@example.org", "bob@example.org"]),
        ],
        "body",
    )
    assert parsed["From"].addresses[0].display_name == "Mïo Security, Inc."
    assert parsed["Reply-To"].addresses[0].display_name == "Mio, Inc."
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ada@example.org", "bob@example.org"]


def test_an_address_that_cannot_be_written_is_refused() -> None:
    for bad in ["jörg@example.org", "a b@example.org", ""]:
        with pytest.raises(compose.HeaderDefect):
            compose.addresses("To", [bad])


def test_malformed_identifiers_are_left_out_and_long_lists_folded() -> None:
    refs = [f"<ref{i}.{'x' * 40}@example.org>" for i in range(20)]
    header = compose.message_ids("References", ["<bad id@x>", "<ok@x>\r\nBcc: y", *refs])
    assert header is not None
    parsed = _message([header], "body")
    assert str(parsed["References"]).split() == refs
    assert compose.message_ids("In-Reply-To", ["no brackets"]) is None
    with pytest.raises(compose.HeaderDefect):
        compose.message_id("Message-ID", "<ours with space@m.io>")


@pytest.mark.parametrize(
    ("text", "cte"),
    [
        ("Thanks.\nSecond line\n", "7bit"),
        ("Grüße\n.\nFrom here\n", "quoted-printable"),
        ("a" * 1500 + "\n", "quoted-printable"),
    ],
)
def test_bodies_are_seven_bit_and_read_back(text: str, cte: str) -> None:
    parsed = _message([compose.date("Date", WHEN)], text)
    assert parsed["Content-Transfer-Encoding"] == cte
    assert parsed.get_content().replace("\r\n", "\n") == text
    assert parsed["Date"].datetime == WHEN


def test_text_and_html_as_alternatives() -> None:
    parsed = _message([], "plain ü\n", "<p>html ü</p>\n")
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = parsed.get_body(("html",)).get_content().replace("\r\n", "\n")
    assert (plain, html) == ("plain ü\n", "<p>html ü</p>\n")


def test_line_ends_in_the_text_become_crlf() -> None:
    parsed = _message([], "a\r\nb\rc\nd")
    assert parsed.get_content().replace("\r\n", "\n") == "a\nb\nc\nd\n"
