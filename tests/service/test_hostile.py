"""Hostile input is normal input: each message gets a clear, recorded outcome, and none of
them crashes a cycle or holds up the report queued behind it.

Every case goes into the mailbox followed by an ordinary report, then one cycle runs. The
cycle must succeed with nothing left to retry, every UID must carry the processed flag, the
hostile message must be stored (a report, a follow-up, or quarantined with a reason) with its
raw bytes kept, and the ordinary report behind it must be stored and acknowledged.

Dovecot hands out a NUL byte as 0x80 (an IMAP literal cannot carry NUL), so NULs reach the
daemon through the encodings that can carry them: RFC 2047 words, base64 and
quoted-printable bodies, and RFC 2231 parameters.
"""

from __future__ import annotations

import base64
import email
import email.policy
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from disclosure_inbox.testing.mailgen import simple

PROCESSED = b"$Processed"
NORMAL_ID = "<normal-report@example.org>"
NORMAL_SENDER = "nora@example.org"
STORED_OUTCOMES = {"report", "followup", "quarantined", "unfiled"}
POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
NY = ZoneInfo("America/New_York")

# Exactly the headers an acknowledgement carries; anything else got in from outside.
ACK_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "auto-submitted",
    "x-auto-response-suppress",
    "x-disclosure-inbox-loop",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}


def normal_report() -> bytes:
    return simple(
        "Ordinary report queued behind",
        sender=f"Nora Normal <{NORMAL_SENDER}>",
        message_id=NORMAL_ID,
    )


def message(headers: list[tuple[str, str]], body: bytes | str = b"Details.\r\n") -> bytes:
    """Bytes exactly as written; ``str`` parts are UTF-8 (lone surrogates: raw bytes)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogateescape")
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + body


def report_headers(
    tag: str, *extra: tuple[str, str], replace: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """A plausible header block; ``replace`` swaps the value of a header in place."""
    headers = [
        ("From", f"Hostile Sender <{tag}@example.net>"),
        ("To", "soc@m.io"),
        ("Subject", f"hostile case {tag}"),
        ("Message-ID", f"<{tag}@example.net>"),
        ("Date", "Wed, 01 Jul 2026 14:00:00 +0000"),
    ]
    replace = replace or {}
    return [(name, replace.get(name, value)) for name, value in headers] + list(extra)


def multipart(
    tag: str, parts: list[bytes | str], *, boundary: str = "b0", close: bool = True
) -> bytes:
    body = b""
    for part in parts:
        if isinstance(part, str):
            part = part.encode("utf-8", "surrogateescape")
        body += f"--{boundary}\r\n".encode() + part + b"\r\n"
    if close:
        body += f"--{boundary}--\r\n".encode()
    headers = report_headers(
        tag,
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/mixed; boundary="{boundary}"'),
    )
    return message(headers, body)


def text_part(text: str = "See the details below.", **params: str) -> str:
    extra = "".join(f"; {k}={v}" for k, v in params.items())
    return f"Content-Type: text/plain{extra}\r\n\r\n{text}\r\n"


def attachment_part(disposition: str, content: bytes = b"ABC", ctype: str = "") -> str:
    return (
        f"Content-Type: {ctype or 'application/octet-stream'}\r\n"
        f"Content-Disposition: {disposition}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(content).decode()}\r\n"
    )


def nested(depth: int) -> bytes:
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="n{i}"\r\n\r\n--n{i}\r\n' for i in range(depth)
    )
    closing = "".join(f"--n{i}--\r\n" for i in reversed(range(depth)))
    headers = report_headers(f"nested-{depth}", ("MIME-Version", "1.0"))
    head = "".join(f"{n}: {v}\r\n" for n, v in headers)
    return (head + opening + "Content-Type: text/plain\r\n\r\ndeep inside\r\n" + closing).encode()


def q_word(text: str) -> str:
    return "=?utf-8?q?" + "".join(f"={b:02X}" for b in text.encode()) + "?="


def b_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode()).decode() + "?="


# --- what a user would look at ---------------------------------------------------------------


@dataclass
class Stored:
    uid: int
    pk: int
    outcome: str
    reason: str | None
    parse_outcome: str
    sha256: str
    size: int
    report_id: int | None
    subject: str
    sender: str
    message_id: str | None
    location_sha256: str  # the bytes found at this UID (a resend may differ slightly)


def stored(d, uid: int) -> Stored | None:
    rows = d.rows(
        "SELECT m.id, m.outcome, m.quarantine_reason, m.parse_outcome, m.raw_sha256, m.raw_size, "
        "m.report_id, m.subject, m.sender_address, m.message_id, l.raw_sha256 FROM messages m "
        "JOIN message_locations l ON l.message_pk = m.id WHERE l.uid = :uid",
        uid=uid,
    )
    return Stored(uid, *rows[0]) if rows else None


def server_bytes(d, uids: list[int]) -> dict[int, bytes]:
    with d.account.connect() as client:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(uids, ["BODY.PEEK[]"])
    return {uid: bytes(fetched[uid][b"BODY[]"]) for uid in uids}


def ack_for(d, message_id: str):
    return [m for m in d.sink.messages if m.message["In-Reply-To"] == message_id]


def check_cycle(d, hostile: list[bytes]) -> list[Stored]:
    """Append ``hostile`` and the ordinary report, run one cycle, check what must always
    hold, and return what was stored for each hostile message."""
    messages = [*hostile, normal_report()]
    uids = d.account.append(messages, internaldates=[d.clock.now()] * len(messages))
    assert len(uids) == len(hostile) + 1
    result = d.run_once()
    assert result.errors == []
    assert result.intake.failed == 0, d.rows("SELECT uid, last_error FROM intake_failures")

    flags = d.account.fetch_flags()
    assert all(PROCESSED in flags[uid] for uid in uids), flags

    kept = server_bytes(d, uids)
    blobs = d.app().blobs
    found = []
    for uid in uids:
        row = stored(d, uid)
        assert row is not None, f"UID {uid} is not in the store"
        assert row.outcome in STORED_OUTCOMES
        if row.outcome == "quarantined":
            assert row.reason, "a quarantined message needs a reason"
        elif row.outcome == "unfiled":
            # Machine mail in no thread: a message with no sender address at all is the
            # mailer-daemon rule's. Stored with no report; the rule is in the audit trail.
            assert row.report_id is None
        else:
            assert row.report_id is not None
        assert blobs.get(row.location_sha256) == kept[uid]
        if row.location_sha256 == row.sha256:
            assert row.size == len(kept[uid])
        decisions = d.rows("SELECT action FROM audit WHERE message_pk = :pk", pk=row.pk)
        assert decisions, f"no decision about UID {uid} in the audit trail"
        found.append(row)

    normal = found[-1]
    assert (normal.outcome, normal.message_id, normal.sender) == (
        "report",
        NORMAL_ID,
        NORMAL_SENDER,
    )
    [ack] = ack_for(d, NORMAL_ID)
    assert list(ack.rcpt_tos) == [NORMAL_SENDER]
    assert d.scalar("SELECT count(*) FROM outbox WHERE state = 'pending'") == 0
    return found[:-1]


# --- the cases -------------------------------------------------------------------------------

MANY_PARTS = multipart("many-parts", [text_part(f"p{i}") for i in range(5000)])
HUGE_HEADER_BLOCK = message(
    report_headers("huge-headers")
    + [(f"X-Filler-{i}", "v" * 200) for i in range(5000)]
    + [("X-Folded", "\r\n ".join("w" * 70 for _ in range(10000)))]
)
REFERENCES = " ".join(f"<ref{i}.{'r' * 20}@example.net>" for i in range(10000))

CASES = [
    pytest.param([b"\r\nA report with no header at all.\r\n"], id="no-headers"),
    pytest.param(
        [b"Only a body, no header and no blank line.\r\nSecond line.\r\n"], id="body-only"
    ),
    pytest.param(
        [
            message(
                [
                    ("From", "\udcff\udcfe\udc80 <garbage@example.net>"),
                    ("Subject", "\udcc3(\udca0\udca1 garbage \udc80\udcff"),
                    ("Message-ID", "<\udcff\udcfe@example.net>"),
                    ("X-\udcff", "\udcfe"),
                ],
                b"body \xff\xfe\r\n",
            )
        ],
        id="8bit-garbage-in-headers",
    ),
    pytest.param(
        [
            message(
                report_headers(
                    "unknown-charsets",
                    ("X-Name", "=?rot13?q?abc?="),
                    replace={"Subject": "=?x-no-such-charset?q?abc?= =?zlib?b?QUJD?="},
                )
            ),
            message(
                report_headers(
                    "unknown-charset-name",
                    replace={"From": "=?x-no-such-charset?b?QUJD?= <charset-name@example.net>"},
                )
            ),
            multipart(
                "unknown-part-charsets",
                [
                    text_part("plain \xe9", charset='"x-no-such-charset"'),
                    text_part("zlib", charset="zlib"),
                    text_part("escape \\x", charset="unicode_escape"),
                    "Content-Type: text/html; charset=bogus\r\n\r\n<p>html \xe9</p>\r\n",
                ],
            ),
        ],
        id="unknown-charsets",
    ),
    pytest.param(
        [
            message(
                report_headers(
                    "broken-base64",
                    ("Content-Type", "text/plain"),
                    ("Content-Transfer-Encoding", "base64"),
                ),
                b"!!!!not base64===*&^\r\nQUJD\r\nQ\r\n",
            ),
            multipart(
                "broken-base64-attachment",
                [
                    text_part(),
                    'Content-Type: application/pdf; name="x.pdf"\r\n'
                    'Content-Disposition: attachment; filename="x.pdf"\r\n'
                    "Content-Transfer-Encoding: base64\r\n\r\nQUJD!!!=\r\nZ\r\n",
                ],
            ),
            message(
                report_headers(
                    "broken-qp",
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Transfer-Encoding", "quoted-printable"),
                ),
                b"=ZZ=4=\r\n=\xff soft=\r\nbreak =C3=\r\n",
            ),
            message(
                report_headers("unknown-cte", ("Content-Transfer-Encoding", "x-bogus")),
                b"hello\r\n",
            ),
        ],
        id="broken-transfer-encodings",
    ),
    pytest.param([nested(200)], id="multipart-nested-200-deep"),
    pytest.param([MANY_PARTS], id="multipart-with-5000-parts"),
    pytest.param(
        [multipart("no-closing-boundary", [text_part("unterminated")], close=False)],
        id="missing-closing-boundary",
    ),
    pytest.param(
        [
            message(report_headers("long-subject", replace={"Subject": "S" * 5000})),
        ],
        id="subject-of-5000-characters",
    ),
    pytest.param([HUGE_HEADER_BLOCK], id="huge-header-block"),
    pytest.param(
        [
            message([("From", "No Id <no-id@example.net>"), ("Subject", "no Message-ID")]),
            message(
                [
                    ("From", "Long Id <long-id@example.net>"),
                    ("Subject", "10 KB Message-ID"),
                    ("Message-ID", "<" + "m" * 10240 + "@example.net>"),
                ]
            ),
            message(
                [
                    ("From", "Odd Id <odd-id@example.net>"),
                    ("Subject", "Message-ID of 898 characters"),
                    ("Message-ID", "<" + "m" * 884 + "@example.net>"),
                ]
            ),
        ],
        id="message-id-missing-or-absurdly-long",
    ),
    pytest.param(
        [message(report_headers("long-references", ("References", REFERENCES)))],
        id="references-with-10000-ids",
    ),
    pytest.param(
        [
            message(
                [
                    ("From", ", ".join(f"Person {i} <p{i}@example.net>" for i in range(500))),
                    ("Subject", "from 500 people"),
                ]
            ),
            message([("From", "Team: alice@example.net, bob@example.net;"), ("Subject", "group")]),
            message([("From", "undisclosed-recipients:;"), ("Subject", "empty group")]),
            message([("From", "<>"), ("Subject", "null address")]),
            message([("From", "Name <>"), ("Subject", "named null address")]),
            message([("From", "Jürgen <jürgen@exämple.de>"), ("Subject", "raw UTF-8 address")]),
            message([("From", "Jürgen <juergen@xn--exmple-cua.de>"), ("Subject", "IDN domain")]),
            message([("From", '"a b"@example.net'), ("Subject", "quoted local part")]),
        ],
        id="odd-from-headers",
    ),
    pytest.param(
        [
            multipart(
                "bad-filenames",
                [
                    text_part(),
                    attachment_part('attachment; filename="../../../etc/passwd"'),
                    attachment_part('attachment; filename="..\\\\..\\\\Windows\\\\evil.dll"'),
                    attachment_part('attachment; filename="a\x01b\x1b[31mc\x7f.txt"'),
                    attachment_part('attachment; filename="' + "L" * 5000 + '.txt"'),
                    attachment_part('attachment; filename="x.' + "e" * 5000 + '"'),
                    attachment_part("attachment; filename*=utf-8''%ZZ%C3%28%FF%00.txt"),
                    attachment_part("attachment; filename*=bogus''%41%42.txt"),
                    attachment_part("attachment; filename*0*=utf-8''%41; filename*2=C"),
                    attachment_part('attachment; filename="invoice\u202efdp.exe"'),
                    attachment_part('attachment; filename="...."'),
                    attachment_part(f'attachment; filename="{b_word("../../x.sh")}"'),
                ],
            ),
            multipart(
                "bad-filenames-fallback",
                [
                    text_part(),
                    attachment_part("attachment; filename*=idna''%41%FF.txt"),
                    attachment_part("attachment; filename*=utf-8''..%2F..%2Fetc%2Fshadow"),
                ],
            ),
        ],
        id="attachment-file-names",
    ),
]


@pytest.mark.parametrize("hostile", CASES)
def test_hostile_message_is_stored_and_the_report_behind_it_is_acknowledged(deployment, hostile):
    check_cycle(deployment, hostile)


def test_text_deep_in_nested_and_many_parts_is_kept(deployment):
    [deep, many] = check_cycle(deployment, [nested(200), MANY_PARTS])
    bodies = dict(deployment.rows("SELECT id, body_text FROM messages"))
    assert "deep inside" in bodies[deep.pk]
    assert "p0" in bodies[many.pk] and "p4999" in bodies[many.pk]


def test_stored_file_names_are_safe_to_write_and_show(deployment):
    [case] = [c for c in CASES if c.id == "attachment-file-names"]
    check_cycle(deployment, case.values[0])
    names = [n for (n,) in deployment.rows("SELECT filename FROM attachments")]
    assert len(names) == 13
    for name in names:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", name)
        assert 0 < len(name) <= 150
    assert "passwd" in names and "evil.dll" in names and "shadow" in names


NUL_CASES = [
    message(
        report_headers(
            "nul-encoded",
            ("X-Nul", q_word("\x00")),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "base64"),
            replace={
                "From": q_word("Eve\x00Null") + " <nul-name@example.net>",
                "Subject": q_word("nul\x00here") + " " + b_word("\x00b\x00"),
            },
        ),
        base64.b64encode(b"before\x00after\r\n") + b"\r\n",
    ),
    message(
        report_headers(
            "nul-qp",
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "quoted-printable"),
        ),
        b"qp=00nul\r\n",
    ),
    multipart(
        "nul-html-and-filename",
        [
            "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.b64encode(b"<p>html\x00nul</p>").decode()
            + "\r\n",
            attachment_part("attachment; filename*=utf-8''nul%00name.txt", b"\x00\x00\x00"),
        ],
    ),
    # A raw NUL, which Dovecot hands out as 0x80.
    message(report_headers("nul-raw", ("X-Raw", "a\x00b")), b"raw\x00nul\r\n"),
]


def test_nul_bytes_in_headers_and_body_are_stored(deployment):
    check_cycle(deployment, NUL_CASES)
    texts = deployment.rows(
        "SELECT subject, sender_name, body_text FROM messages WHERE direction = 'inbound'"
    )
    for subject, name, body in texts:
        assert "\x00" not in subject + name + body
    by_id = {
        mid: (subject, name, body)
        for mid, subject, name, body in deployment.rows(
            "SELECT message_id, subject, sender_name, body_text FROM messages"
        )
    }
    subject, name, body = by_id["<nul-encoded@example.net>"]
    assert subject.startswith("nulhere")
    assert name == "EveNull"
    assert "beforeafter" in body
    assert "qpnul" in by_id["<nul-qp@example.net>"][2]


def test_zip_bomb_is_stored_as_it_came_and_never_unpacked(deployment):
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\x00" * (64 * 1024 * 1024))
    bomb = packed.getvalue()
    assert len(bomb) < 200_000
    check_cycle(
        deployment,
        [
            multipart(
                "zip-bomb",
                [
                    text_part("PoC attached"),
                    attachment_part('attachment; filename="poc.zip"', bomb, "application/zip"),
                ],
            )
        ],
    )
    [(filename, ctype, size, sha)] = deployment.rows(
        "SELECT filename, content_type, size, sha256 FROM attachments"
    )
    assert (filename, ctype, size) == ("poc.zip", "application/zip", len(bomb))
    blobs = deployment.app().blobs
    assert blobs.get(sha) == bomb
    stored_bytes = sum(p.stat().st_size for p in blobs.root.rglob("*") if p.is_file())
    assert stored_bytes < 2 * 1024 * 1024, "something was unpacked into the blob store"


def test_from_headers_get_at_most_one_acknowledgement_to_a_listed_address(deployment):
    [case] = [c for c in CASES if c.id == "odd-from-headers"]
    check_cycle(deployment, case.values[0])
    acks = [m for m in deployment.sink.messages if m.message["In-Reply-To"] != NORMAL_ID]
    for mail in acks:
        assert len(mail.rcpt_tos) == 1
        assert mail.message["To"] == mail.rcpt_tos[0]
    rcpts = sorted(m.rcpt_tos[0] for m in acks)
    # Many authors: only the first is answered. A group: at most its first member. The null
    # address, an empty group, an address SMTP cannot carry as written: nobody.
    assert rcpts == ["alice@example.net", "juergen@xn--exmple-cua.de", "p0@example.net"]
    suppressed = deployment.scalar("SELECT count(*) FROM audit WHERE action = 'ack-suppressed'")
    # The empty group and the two null addresses leave no sender address at all, which the
    # mailer-daemon rule calls machine mail: they are unfiled, not reports left unanswered.
    unfiled = deployment.rows("SELECT subject FROM messages WHERE outcome = 'unfiled'")
    assert sorted(subject for (subject,) in unfiled) == [
        "empty group",
        "named null address",
        "null address",
    ]
    assert suppressed == 2


def test_display_names_that_look_like_addresses_never_redirect_the_acknowledgement(deployment):
    victim = "victim@example.net"
    senders = [
        f'"{victim}" <attacker1@evil.example>',
        f"{victim} <attacker2@evil.example>",
        f'"Name <{victim}>" <attacker3@evil.example>',
        f'"{victim}, <{victim}>" <attacker4@evil.example>',
        f"{b_word(f'{victim} <{victim}>')} <attacker5@evil.example>",
        f"attacker6@evil.example ({victim})",
        f"=?utf-8?q?{victim}?= <attacker7@evil.example>",
    ]
    check_cycle(
        deployment,
        [message([("From", s), ("Subject", f"name {i}")]) for i, s in enumerate(senders, 1)],
    )
    acks = [m for m in deployment.sink.messages if m.message["In-Reply-To"] != NORMAL_ID]
    assert sorted(m.rcpt_tos[0] for m in acks) == [f"attacker{i}@evil.example" for i in range(1, 8)]
    for mail in acks:
        assert list(mail.rcpt_tos) == [mail.message["To"]]
        body = mail.message.get_body(("plain",)).get_content()
        assert victim not in body  # shown as "victim at example.net", not as an address
    assert all(m.rcpt_tos[0] != victim for m in deployment.sink.messages)


INJECTIONS = [
    # (header to poison, value); each message comes from its own sender.
    ("Subject", "hi\rBcc: victim@example.net"),
    ("Subject", "hi\r\n\tBcc: victim@example.net"),
    ("Subject", "=?utf-8?q?hi=0D=0ABcc:_victim@example.net?="),
    ("Subject", b_word("hi\r\nBcc: victim@example.net\r\n\r\nfake body")),
    ("Subject", q_word("hi\x00Bcc: victim@example.net")),
    ("Subject", "hi\u2028Bcc: victim@example.net"),
    ("Subject", b_word("hi\u2028Bcc: victim@example.net\u2029To: victim@example.net")),
    ("Subject", b_word("hi\x85Bcc: victim@example.net")),
    ("Subject", q_word(q_word("hi\r\nBcc: victim@example.net"))),
    ("Subject", "=?utf-8?b?aGkNCkJjYzogdmljdGltQGV4YW1wbGUubmV0?="),
    ("Name", "Eve\rBcc: victim@example.net"),
    ("Name", q_word("Eve\r\nBcc: victim@example.net")),
    ("Name", b_word("Eve\r\nBcc: victim@example.net")),
    ("Name", q_word("Eve\x00Bcc: victim@example.net")),
    ("Name", "Eve\u2028Bcc: victim@example.net"),
    ("Name", b_word("Eve\u2028Bcc: victim@example.net")),
]


def test_header_injection_never_adds_a_header_or_a_recipient(deployment):
    hostile = []
    for i, (where, value) in enumerate(INJECTIONS):
        name = value if where == "Name" else "Eve"
        subject = value if where == "Subject" else f"injection {i}"
        hostile.append(
            message(
                [
                    ("From", f"{name} <eve{i}@example.org>"),
                    ("Subject", subject),
                    ("Message-ID", f"<inject{i}@example.org>"),
                ]
            )
        )
    check_cycle(deployment, hostile)
    mails = {m.message["In-Reply-To"]: m for m in deployment.sink.messages}
    # A bare CR ends a header line for the parser, so "From: Eve\rBcc: ..." leaves a From
    # without an address: that message is stored and nobody is answered.
    unanswered = {INJECTIONS.index(("Name", "Eve\rBcc: victim@example.net"))}
    assert {i for i in range(len(INJECTIONS)) if f"<inject{i}@example.org>" not in mails} == (
        unanswered
    )
    for i in set(range(len(INJECTIONS))) - unanswered:
        mail = mails[f"<inject{i}@example.org>"]
        assert list(mail.rcpt_tos) == [f"eve{i}@example.org"]
        head = mail.raw.split(b"\r\n\r\n", 1)[0]
        assert b"\r" not in head.replace(b"\r\n", b"")
        assert b"\n" not in head.replace(b"\r\n", b"")
        assert b"\x00" not in head
        parsed = email.message_from_bytes(mail.raw, policy=email.policy.strict)
        assert {k.lower() for k in parsed} <= ACK_HEADERS
        assert len(parsed.get_all("To")) == 1 and str(parsed["To"]) == f"eve{i}@example.org"
        assert "victim" not in str(parsed["To"])
        assert "\n" not in str(parsed["Subject"]) and "\u2028" not in str(parsed["Subject"])
        body = mail.message.get_body(("plain",)).get_content()
        assert not re.search(r"^(Bcc|To):", body, re.MULTILINE)
    assert all("victim@example.net" not in m.rcpt_tos for m in deployment.sink.messages)


TEMPLATE_TEXT = (
    "{{7*7}} {% raw %}{{ config }}{% endraw %} ${7*7} #{7*7} <%= 7*7 %> {{''.__class__}}"
)


def test_template_syntax_in_every_reporter_field_comes_back_literally(make_deployment):
    d = make_deployment(escalation={"digest": False})
    hostile = multipart(
        "template",
        [
            text_part(TEMPLATE_TEXT),
            attachment_part('attachment; filename="{{7*7}}.txt"', TEMPLATE_TEXT.encode()),
        ],
    ).replace(b"hostile case template", TEMPLATE_TEXT.encode())
    hostile = hostile.replace(
        b"Hostile Sender <template@example.net>",
        b"{{7*7}} {% if 1 %}x{% endif %} <{{7*7}}@example.net>",
    ).replace(b"<template@example.net>", b"<{{7*7}}.{%x%}@example.net>")
    check_cycle(d, [hostile])
    [(subject, name, body, mid)] = d.rows(
        "SELECT subject, sender_name, body_text, message_id FROM messages "
        "WHERE direction = 'inbound' AND message_id <> :normal",
        normal=NORMAL_ID,
    )
    assert (subject, name, mid) == (
        TEMPLATE_TEXT,
        "{{7*7}} {% if 1 %}x{% endif %}",
        "<{{7*7}}.{%x%}@example.net>",
    )
    assert TEMPLATE_TEXT in body

    [ack] = ack_for(d, "<{{7*7}}.{%x%}@example.net>")
    assert list(ack.rcpt_tos) == ["{{7*7}}@example.net"]
    assert ack.message["Subject"] == f"[MIO-2026-0001] Re: {TEMPLATE_TEXT}"
    text = ack.message.get_body(("plain",)).get_content()
    html = ack.message.get_body(("html",)).get_content()
    assert TEMPLATE_TEXT in text
    assert "Hello {{7*7}} {% if 1 %}x{% endif %}," in text
    assert "49" not in text and "49" not in html
    assert "{{7*7}}" in html and "&lt;%= 7*7 %&gt;" in html

    shown = d.cli("reports", "show", "MIO-2026-0001", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["subject"] == TEMPLATE_TEXT
    assert report["reporter_name"] == "{{7*7}} {% if 1 %}x{% endif %}"

    # A day before the deadline the staff are told, with the subject as plain text.
    d.clock.set(datetime(2026, 7, 8, 12, 0, tzinfo=NY))
    assert d.run_once().errors == []
    staff = [m for m in d.sink.messages if "lead@m.io" in m.rcpt_tos]
    [escalation] = [m for m in staff if "MIO-2026-0001" in m.message["Subject"]]
    staff_text = escalation.message.get_body(("plain",)).get_content()
    assert TEMPLATE_TEXT in staff_text
    assert "49" not in staff_text


def test_a_message_id_shared_by_different_senders_makes_two_reports(deployment):
    shared = "<shared-id@example.net>"
    check_cycle(
        deployment,
        [
            simple("first", sender="Alice <alice@example.net>", message_id=shared),
            simple("second", sender="Mallory <mallory@evil.example>", message_id=shared, body="x"),
            simple("resend", sender="Alice <alice@example.net>", message_id=shared, body="again"),
        ],
    )
    reports = deployment.rows("SELECT ref, reporter_address FROM reports ORDER BY ref")
    assert [r for _, r in reports] == ["alice@example.net", "mallory@evil.example", NORMAL_SENDER]
    assert sorted(m.rcpt_tos[0] for m in ack_for(deployment, shared)) == [
        "alice@example.net",
        "mallory@evil.example",
    ]
    # The resend from the same sender is the same message, seen at a second place.
    assert deployment.scalar("SELECT count(*) FROM messages WHERE message_id = :m", m=shared) == 2
    assert deployment.scalar("SELECT count(*) FROM audit WHERE action = 'duplicate-seen'") == 1


def test_a_reply_to_a_shared_message_id_joins_the_repliers_own_report(deployment):
    shared = "<shared-id@example.net>"
    deployment.account.append(
        [
            simple("first", sender="Alice <alice@example.net>", message_id=shared),
            simple("second", sender="Mallory <mallory@evil.example>", message_id=shared, body="x"),
        ]
    )
    deployment.run_once()
    check_cycle(
        deployment,
        [
            simple(
                "Re: first",
                sender="Alice <alice@example.net>",
                message_id="<alice-reply@example.net>",
                headers={"In-Reply-To": shared},
            )
        ],
    )
    [(reporter,)] = deployment.rows(
        "SELECT r.reporter_address FROM messages m JOIN reports r ON r.id = m.report_id "
        "WHERE m.message_id = '<alice-reply@example.net>'"
    )
    assert reporter == "alice@example.net"


def test_a_reply_with_a_long_references_chain_joins_its_report(deployment):
    first = simple(
        "Original report", sender="Ada <ada@example.org>", message_id="<orig@example.org>"
    )
    deployment.account.append([first])
    deployment.run_once()
    chain = " ".join(f"<old{i}@elsewhere.example>" for i in range(10000)) + " <orig@example.org>"
    reply = message(
        [
            ("From", "Ada <ada@example.org>"),
            ("Subject", "more logs"),
            ("Message-ID", "<reply@example.org>"),
            ("References", chain),
        ]
    )
    [row] = check_cycle(deployment, [reply])
    assert row.outcome == "followup"
    assert deployment.counts()["reports"] == 2


def test_oversized_message_is_quarantined_with_its_raw_bytes(make_deployment):
    d = make_deployment(storage={"max_message_bytes": 4096})
    big = message(
        [
            ("From", "\udcff <big@example.net>"),
            ("Subject", q_word("big\x00one") + " \udcfe"),
            ("Message-ID", "<big@example.net>"),
        ],
        "A" * 20_000,
    )
    [row] = check_cycle(d, [big])
    assert row.outcome == "quarantined"
    assert row.parse_outcome == "oversized"
    assert row.reason.startswith(f"oversized: {row.size} bytes")
    with d.account.connect() as client:
        client.select_folder("INBOX", readonly=True)
        [size] = [v[b"RFC822.SIZE"] for v in client.fetch([1], ["RFC822.SIZE"]).values()]
    assert row.size == size > 4096
    assert (row.message_id, row.sender, row.subject) == (
        "<big@example.net>",
        "big@example.net",
        row.subject,
    )
    assert "\x00" not in row.subject and row.subject.startswith("bigone")
    assert ack_for(d, "<big@example.net>") == []  # quarantined mail is not answered
    assert d.counts()["quarantined"] == 1


# --- found broken ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        [("From", "Ada <idna@example.org>"), ("Subject", "=?idna?q?report=FF?=")],
        [("From", "=?undefined?b?QUJD?= <undef@example.org>"), ("Subject", "name")],
        [("From", "Ada <puny@example.org>"), ("Subject", "=?punycode?q?abc=FF?=")],
    ],
    ids=["idna-subject", "undefined-name", "punycode-subject"],
)
def test_encoded_words_in_codecs_that_cannot_replace(deployment, headers):
    [row] = check_cycle(deployment, [message(headers)])
    assert row.outcome == "report"


def test_an_undecodable_stored_subject_does_not_stop_escalations(make_deployment):
    d = make_deployment(escalation={"digest": False})
    # Staff forwarding a report get no acknowledgement, so nothing decodes the subject
    # until the SLA scan does.
    d.account.append(
        [
            message([("From", "Lead <lead@m.io>"), ("Subject", "=?undefined?q?forwarded?=")]),
            normal_report(),
        ],
        internaldates=[d.clock.now()] * 2,
    )
    assert d.run_once().errors == []
    assert d.counts()["reports"] == 2
    d.clock.set(datetime(2026, 7, 8, 12, 0, tzinfo=NY))
    d.sink.clear()
    result = d.run_once()
    assert result.errors == []
    staff = [m for m in d.sink.messages if "lead@m.io" in m.rcpt_tos]
    assert len(staff) == 2


@pytest.mark.parametrize("charset", ["undefined", "idna"])
def test_undecodable_part_charset_after_the_fallback(deployment, charset):
    hostile = multipart(
        f"fallback-{charset}",
        [
            text_part("see attached", charset=charset),
            # mail-parser gives up on this parameter, so the standard library parses.
            attachment_part("attachment; filename*=idna''%41%FF.txt"),
        ],
    )
    [row] = check_cycle(deployment, [hostile])
    assert row.outcome == "report"


def test_raw_utf8_headers_are_kept(deployment):
    hostile = message(
        [
            ("From", "Jürgen Müller <jürgen@exämple.de>"),
            ("Subject", "Sicherheitslücke im Login – 脆弱性"),
            ("Message-ID", "<utf8@example.de>"),
        ],
        "Körper\r\n",
    )
    [row] = check_cycle(deployment, [hostile])
    [(name,)] = deployment.rows(
        "SELECT sender_name FROM messages WHERE message_id = '<utf8@example.de>'"
    )
    assert row.subject == "Sicherheitslücke im Login – 脆弱性"
    assert name == "Jürgen Müller"
    assert row.sender == "jürgen@exämple.de"


@POSTGRES
def test_long_attachment_content_type_after_the_fallback(deployment):
    hostile = multipart(
        "long-content-type",
        [
            text_part(),
            attachment_part(
                "attachment; filename*=idna''%41%FF.txt", ctype="application/" + "x" * 300
            ),
        ],
    )
    [row] = check_cycle(deployment, [hostile])
    assert row.outcome == "report"


def test_multipart_nested_1000_deep(deployment):
    [row] = check_cycle(deployment, [nested(1000)])
    assert row.outcome in STORED_OUTCOMES
