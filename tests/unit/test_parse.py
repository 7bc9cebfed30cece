"""Parsing on literal bytes: the corpus, and the hostile cases that matter to intake."""

from email.message import EmailMessage
from pathlib import Path

import pytest

from disclosure_inbox.adapters.parse import (
    clean_text,
    decode_header,
    html_to_text,
    message_ids,
    parse_headers_only,
    parse_message,
    safe_filename,
)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "public"


def corpus_files():
    return sorted(CORPUS.glob("*.eml")) if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not beside the project")
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name[:60])
def test_every_corpus_message_parses_to_storable_text(path):
    parsed = parse_message(path.read_bytes())
    for text in (
        parsed.subject,
        parsed.text,
        parsed.html,
        parsed.sender_name,
        *parsed.headers.values(),
    ):
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates: storable in PostgreSQL
    for att in parsed.attachments:
        assert "/" not in att.filename and "\\" not in att.filename
        assert 0 < len(att.filename) <= 150


def test_fields_of_a_plain_report():
    msg = EmailMessage()
    msg["From"] = "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <Juergen@Example.ORG>"
    msg["Subject"] = "=?utf-8?b?U1FMIGluamVjdGlvbiDwn5Sl?="
    msg["Message-ID"] = "<r1@example.org>"
    msg["In-Reply-To"] = "<p1@example.org>"
    msg["References"] = "<p0@example.org> <p1@example.org>"
    msg["Auto-Submitted"] = "no"
    msg.set_content("body text")
    msg.add_attachment(b"\x89PNG...", maintype="image", subtype="png", filename="../../etc/passwd")
    parsed = parse_message(msg.as_bytes())
    assert parsed.sender_address == "juergen@example.org"
    assert parsed.sender_name == "Jürgen Müller"
    assert parsed.subject == "SQL injection 🔥"
    assert parsed.message_id == "<r1@example.org>"
    assert parsed.in_reply_to == ("<p1@example.org>",)
    assert parsed.references == ("<p0@example.org>", "<p1@example.org>")
    assert parsed.headers["auto-submitted"] == "no"
    assert parsed.text.strip() == "body text"
    [att] = parsed.attachments
    assert att.filename == "passwd"
    assert att.content == b"\x89PNG..."
    assert att.content_type == "image/png"


def test_html_only_message_gets_a_text_body_and_scripts_are_dropped():
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["Subject"] = "html"
    msg.set_content(
        "<p>Hello <b>team</b></p><script>alert(1)</script><p>Line&nbsp;2</p>", subtype="html"
    )
    parsed = parse_message(msg.as_bytes())
    assert "Hello team" in parsed.text
    assert "alert" not in parsed.text
    assert "<script>" in parsed.html  # kept as data, never rendered


def test_unknown_charset_and_nul_bytes_do_not_break_parsing():
    raw = (
        b"From: a@example.org\r\nSubject: =?x-unknown?q?abc?=\r\n"
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\nhello\x00world\xff\r\n"
    )
    parsed = parse_message(raw)
    assert "\x00" not in parsed.text
    assert "hello" in parsed.text


def test_garbage_bytes_parse_without_raising():
    parsed = parse_message(b"\x00\xff\xfe garbage without headers \r\n\r\n\x00")
    assert parsed.sender_address == ""
    assert parsed.message_id is None


def test_headers_only_for_oversized_messages():
    raw = (
        b"From: Ada <ada@example.org>\r\nSubject: big\r\nMessage-ID: <big@x>\r\n\r\n" + b"A" * 1000
    )
    parsed = parse_headers_only(raw)
    assert (parsed.sender_address, parsed.subject, parsed.message_id) == (
        "ada@example.org",
        "big",
        "<big@x>",
    )
    assert parsed.text == ""


def test_small_helpers():
    assert clean_text("a\x00b\udcff") == "ab?"
    assert decode_header("=?utf-8?q?a?=\r\n =?utf-8?q?b?=") == "ab"
    assert decode_header("=?bogus?q?x?=") == "x"  # an unknown charset is read as UTF-8
    assert message_ids("<a@b> junk <c@d>") == ("<a@b>", "<c@d>")
    assert safe_filename("", 3) == "attachment-3.bin"
    assert safe_filename("C:\\Users\\x\\evil.exe", 1) == "evil.exe"
    assert safe_filename("a\r\nb<script>.txt", 1) == "a__b_script_.txt"
    assert len(safe_filename("x" * 500 + ".pdf", 1)) <= 150
    assert safe_filename("x" * 500 + ".pdf", 1).endswith(".pdf")
    assert html_to_text("<style>p{}</style><p>a</p><p>b</p>") == "a\n\nb"


FF_IN_A_NAME = (
    b"From: Ada <ada@example.org>\r\n"
    b"X-Bad\xffName: v\r\n"
    b"Subject: after the bad name\r\n"
    b"Message-ID: <ff@example.org>\r\n"
    b"\r\n"
    b"the body\r\n"
)
# mail-parser gives up on the broken base64 below, so this one takes the fallback path.
FF_IN_A_NAME_FALLBACK = (
    b"From: Ada <ada@example.org>\r\nX-\xff\xfe: v\r\nSubject: after the bad name\r\n"
    b"Message-ID: <ff@example.org>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nthe body\r\n"
    b'--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="x.pdf"'
    b"\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD!!!=\r\nZ\r\n--b--\r\n"
)


@pytest.mark.parametrize(
    ("raw", "parser"),
    [(FF_IN_A_NAME, "mail-parser"), (FF_IN_A_NAME_FALLBACK, "email")],
    ids=["mail-parser", "fallback"],
)
def test_a_bad_byte_in_a_header_name_does_not_end_the_headers(raw, parser):
    parsed = parse_message(raw)
    assert parsed.parser == parser
    assert parsed.subject == "after the bad name"
    assert parsed.message_id == "<ff@example.org>"
    assert parsed.sender_address == "ada@example.org"
    assert parsed.text.strip() == "the body"
    assert "Subject" not in parsed.text
    assert "InvalidHeaderDefect" in parsed.defects


def test_a_bad_byte_in_a_header_name_keeps_the_header_with_a_replacement():
    parsed = parse_message(FF_IN_A_NAME)
    assert parsed.headers["x-bad?name"] == "v"
    headers_only = parse_headers_only(FF_IN_A_NAME)
    assert (headers_only.subject, headers_only.message_id) == (
        "after the bad name",
        "<ff@example.org>",
    )


def test_a_line_that_is_no_header_still_ends_the_block():
    # Not a name with a bad byte: no colon at all. Everything after it is body, as before.
    raw = b"From: a@example.org\r\nno colon \xff here\r\nSubject: in the body\r\n\r\nrest\r\n"
    parsed = parse_message(raw)
    assert parsed.subject == ""
    assert "Subject: in the body" in parsed.text
    # RFC 6532 UTF-8 in a value is not a defect of the name.
    utf8 = "Subject: caf\u00e9\r\nFrom: a@example.org\r\n\r\nx\r\n".encode()
    assert parse_message(utf8).subject == "caf\u00e9"
    assert "InvalidHeaderDefect" not in parse_message(utf8).defects


def test_recipients_and_authentication_results_are_read_from_every_header():
    raw = (
        b"Authentication-Results: mx.m.io;\r\n dkim=pass header.d=m.io\r\n"
        b"Authentication-Results: other.example; spf=fail\r\n"
        b"Delivered-To: soc+abc@m.io\r\n"
        b"X-Original-To: SOC+abc@M.io\r\n"
        b"From: Lead <lead@m.io>\r\n"
        b"To: Ada <ada@example.org>, soc@m.io\r\n"
        b"Cc: =?utf-8?q?B=C3=B6b?= <bob@m.io>\r\n"
        b"Subject: x\r\n\r\nbody\r\n"
    )
    for parsed in (parse_message(raw), parse_headers_only(raw)):
        assert parsed.recipients == (
            "soc+abc@m.io",
            "ada@example.org",
            "soc@m.io",
            "bob@m.io",
        )
        assert len(parsed.auth_results) == 2
        assert "dkim=pass header.d=m.io" in parsed.auth_results[0]
