"""A defect in one header line costs that line, not the headers after it: end to end, from
the IMAP server to the rows in the store and the acknowledgement."""

from __future__ import annotations

import hashlib

import pytest

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

FF_IN_A_NAME = (
    b"From: Ada <ada@example.org>\r\n"
    b"To: security@m.io\r\n"
    b"X-Bad\xffName: v\r\n"
    b"Subject: SQL injection in /search\r\n"
    b"Message-ID: <ff-name@example.org>\r\n"
    b"\r\n"
    b"Steps to reproduce: ...\r\n"
)


@SQLITE
def test_headers_after_a_bad_byte_in_a_name_are_stored_as_headers(deployment):
    d = deployment
    d.account.append([FF_IN_A_NAME], internaldates=[d.clock.now()])
    result = d.run_once()
    assert result.errors == [] and result.intake.failed == 0

    [(subject, message_id, body, sha)] = d.rows(
        "SELECT subject, message_id, body_text, raw_sha256 FROM messages "
        "WHERE direction = 'inbound'"
    )
    assert (subject, message_id) == ("SQL injection in /search", "<ff-name@example.org>")
    assert body.strip() == "Steps to reproduce: ..."
    assert d.rows("SELECT subject FROM reports") == [("SQL injection in /search",)]
    # The raw bytes are kept as the server had them, bad byte included.
    assert d.app().blobs.get(sha) == FF_IN_A_NAME
    assert sha == hashlib.sha256(FF_IN_A_NAME).hexdigest()
    [ack] = d.sink.messages
    assert ack.message["In-Reply-To"] == "<ff-name@example.org>"
