"""Reading a report from the command line: the messages' texts, a message's original bytes
(``reports show --raw``) and the attachments written into a directory (``attachments
save``). Every command runs as a real subprocess on a store filled by a real intake.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from disclosure_inbox.testing.mailgen import simple

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TRACEBACK = "Traceback (most recent call last)"
JULY_1 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
REF = "MIO-2026-0001"
# What a terminal could act on: C0 controls but tab and newline, DEL, C1, bidi overrides.
TERMINAL_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def cli_bytes(d, *args: str) -> subprocess.CompletedProcess[bytes]:
    """The real command, its output kept as bytes."""
    env = dict(os.environ, DISCLOSURE_INBOX_CONFIG=str(d.config_path))
    return subprocess.run(
        [sys.executable, "-m", "disclosure_inbox", *args],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


def assert_one_error_line(done, code: int, *needles: str) -> str:
    """Exit ``code``, nothing on stdout, one error line on stderr and no traceback."""
    assert done.returncode == code, (done.stdout, done.stderr)
    stderr = done.stderr if isinstance(done.stderr, str) else done.stderr.decode()
    assert TRACEBACK not in stderr
    assert not done.stdout
    [line] = [x for x in stderr.splitlines() if x.startswith("disclosure-inbox: ")]
    for needle in needles:
        assert needle in line, line
    return line


def blob_file(d, sha256: str) -> Path:
    return d.settings.storage.path / "blobs" / sha256[:2] / sha256[2:4] / sha256


def show_json(d, ref: str = REF) -> dict:
    done = d.cli("reports", "show", ref, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


# --- the texts -------------------------------------------------------------------------------


def test_json_shows_each_message_text_and_author(make_deployment):
    d = make_deployment(escalation={"tiers": []})
    report = simple(
        "XSS in search", "The q parameter is echoed.\nProof follows.\n", message_id="<r@e.org>"
    )
    staff = simple(
        "Re: XSS in search",
        "Thanks, we are looking.\n",
        sender="Lead <lead@m.io>",
        message_id="<staff@m.io>",
        headers={"In-Reply-To": "<r@e.org>"},
    )
    d.account.append([report, staff], internaldates=[JULY_1, JULY_1])
    assert d.cli("run", "--once").returncode == 0
    # What the staff side records for mail a staff member wrote.
    with d.store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE messages SET author = 'lead@m.io' WHERE message_id = '<staff@m.io>'"
        )

    shown = show_json(d)
    assert {"ref", "messages", "clocks", "attachments"} <= set(shown)
    by_id = {m["message_id"]: m for m in shown["messages"]}
    assert len(by_id) == 3  # the report, the staff reply and the acknowledgement
    for m in shown["messages"]:
        assert {"message_id", "received_at", "direction", "kind", "sender", "subject"} <= set(m)
    stored = dict(d.rows("SELECT message_id, body_text FROM messages"))
    for message_id, m in by_id.items():
        assert m["body_text"] == stored[message_id]
    assert by_id["<r@e.org>"]["body_text"].splitlines() == [
        "The q parameter is echoed.",
        "Proof follows.",
    ]
    assert "Thanks, we are looking." in by_id["<staff@m.io>"]["body_text"]
    [ack] = [m for m in shown["messages"] if m["direction"] == "outbound"]
    assert REF in ack["body_text"]
    assert by_id["<r@e.org>"]["author"] is None
    assert ack["author"] is None
    assert by_id["<staff@m.io>"]["author"] == "lead@m.io"


HOSTILE_BODY = (
    "line one\x1b[2J\x1b]0;owned\x07 end\r\n"
    "fake\rOVERWRITTEN\r\n"
    "\x9b31mred\u202egnp.exe\r\n"
    "ref           MIO-2026-9999\r\n"
)


@SQLITE
def test_the_table_shows_the_text_with_controls_neutralised(deployment):
    hostile = (
        "From: Eve <eve@example.org>\r\nTo: soc@m.io\r\nSubject: look\r\n"
        "Message-ID: <hostile@example.org>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + HOSTILE_BODY
    ).encode()
    deployment.account.append([hostile], internaldates=[JULY_1])
    assert deployment.cli("run", "--once").returncode == 0

    shown = deployment.cli("reports", "show", REF)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert not TERMINAL_UNSAFE.search(out), out
    assert "\r" not in out
    shown_text = out[out.index("\ntext of <hostile@example.org> (inbound, eve@example.org, ") :]
    lines = shown_text.splitlines()
    # Each line of the text, indented; the escape sequences' bytes are now harmless spaces.
    assert "    line one [2J ]0;owned  end" in lines
    assert "    fake" in lines and "    OVERWRITTEN" in lines  # the lone CR ended a line
    assert "     31mred gnp.exe" in lines
    # A line of the text cannot pass for a line of the report's own fields.
    assert not re.search(r"^ref\s+MIO-2026-9999", out, re.MULTILINE)
    assert re.search(r"^ref\s+MIO-2026-0001$", out, re.MULTILINE)

    # JSON has the text as stored; what a terminal could act on is escaped, not written.
    done = deployment.cli("reports", "show", REF, "--format", "json")
    assert not TERMINAL_UNSAFE.search(done.stdout)
    [body] = deployment.rows(
        "SELECT body_text FROM messages WHERE message_id = '<hostile@example.org>'"
    )
    [message] = [m for m in json.loads(done.stdout)["messages"] if m["direction"] == "inbound"]
    assert message["body_text"] == body[0]
    assert "\x1b[2J" in message["body_text"] and "\x9b31m" in message["body_text"]


# --- the original bytes ----------------------------------------------------------------------


def test_raw_writes_the_bytes_as_delivered(make_deployment):
    d = make_deployment(escalation={"tiers": []})
    delivered = simple("Report", "Details.\n", message_id="<orig@example.org>")
    d.account.append([delivered], internaldates=[JULY_1])
    assert d.cli("run", "--once").returncode == 0

    for handle in ("<orig@example.org>", "orig@example.org"):
        done = cli_bytes(d, "reports", "show", REF, "--raw", handle)
        assert done.returncode == 0, done.stderr
        assert done.stdout == delivered
        assert done.stderr == b""

    # Our acknowledgement: the bytes the reporter's server received.
    [ack] = [m for m in show_json(d)["messages"] if m["direction"] == "outbound"]
    done = cli_bytes(d, "reports", "show", REF, "--raw", ack["message_id"])
    assert done.returncode == 0, done.stderr
    [sent] = d.sink.messages
    assert done.stdout == sent.raw
    assert hashlib.sha256(done.stdout).hexdigest() == d.scalar(
        "SELECT raw_sha256 FROM messages WHERE direction = 'outbound'"
    )


@SQLITE
def test_raw_for_a_message_not_there_fails_with_one_line(deployment):
    d = deployment
    d.account.append(
        [
            simple("First", message_id="<first@example.org>"),
            simple("Second", sender="Bob <bob@example.org>", message_id="<second@example.org>"),
        ],
        internaldates=[JULY_1] * 2,
    )
    assert d.cli("run", "--once").returncode == 0

    unknown = cli_bytes(d, "reports", "show", REF, "--raw", "<nobody@example.org>")
    assert_one_error_line(unknown, 2, "no message", "<nobody@example.org>", REF)
    other_report = cli_bytes(d, "reports", "show", REF, "--raw", "second@example.org")
    assert_one_error_line(other_report, 2, "<second@example.org>")
    no_report = cli_bytes(d, "reports", "show", "MIO-2026-9999", "--raw", "first@example.org")
    assert_one_error_line(no_report, 2, "MIO-2026-9999")
    assert_one_error_line(cli_bytes(d, "reports", "show", REF, "--raw", "<>"), 2, "empty")

    sha = d.scalar("SELECT raw_sha256 FROM messages WHERE message_id = '<first@example.org>'")
    blob = blob_file(d, sha)
    original = blob.read_bytes()
    blob.write_bytes(original.replace(b"Details", b"Detai1s"))
    damaged = cli_bytes(d, "reports", "show", REF, "--raw", "first@example.org")
    assert_one_error_line(damaged, 1, sha, "no longer matches")
    blob.unlink()
    missing = cli_bytes(d, "reports", "show", REF, "--raw", "first@example.org")
    assert_one_error_line(missing, 1, "<first@example.org>", "not stored")


# --- attachments -----------------------------------------------------------------------------


def with_attachments(parts: list[tuple[str, bytes]]) -> bytes:
    """A report with one attachment per (Content-Disposition parameter, content)."""
    out = [
        "From: Ada <ada@example.org>\r\nTo: soc@m.io\r\nSubject: files\r\n"
        "Message-ID: <files@example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
    ]
    for param, content in parts:
        out.append(
            "--b\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Disposition: attachment; {param}\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            f"{base64.b64encode(content).decode()}\r\n"
        )
    out.append("--b--\r\n")
    return "".join(out).encode()


ATTACHMENTS = [
    ('filename="../../etc/passwd"', b"one"),
    ('filename="/abs"', b"two"),
    ('filename=".bashrc"', b"three"),
    ("filename*=utf-8''a%00b", b"four"),
    ('filename=""', b"five"),
    ('filename="report.pdf"', b"%PDF first"),
    ('filename="report.pdf"', b"%PDF second"),
]


def saved_lines(done) -> list[tuple[Path, int, str]]:
    assert done.returncode == 0, done.stderr
    lines = []
    for line in done.stdout.splitlines():
        match = re.fullmatch(r"(.+)  (\d+) bytes  sha256 ([0-9a-f]{64})", line)
        assert match, line
        lines.append((Path(match[1]), int(match[2]), match[3]))
    return lines


def assert_plain_files_inside(directory: Path, lines: list[tuple[Path, int, str]]) -> None:
    for path, size, sha in lines:
        assert path.parent == directory
        mode = path.lstat().st_mode
        assert stat.S_ISREG(mode), path
        assert mode & 0o7133 == 0, oct(mode)  # 0644 or less: never executable
        data = path.read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha)


def test_attachments_save_writes_inside_dir_and_replaces_nothing(
    make_deployment, database_url, tmp_path
):
    d = make_deployment(escalation={"tiers": []})
    d.account.append([with_attachments(ATTACHMENTS)], internaldates=[JULY_1])
    assert d.cli("run", "--once").returncode == 0
    contents = {content for _, content in ATTACHMENTS}
    assert len(show_json(d)["attachments"]) == len(ATTACHMENTS)

    # As intake stored them; the directory is made, with its parents.
    first = tmp_path / "out" / "first"
    lines = saved_lines(d.cli("attachments", "save", REF, str(first)))
    assert len(lines) == len(ATTACHMENTS)
    assert_plain_files_inside(first, lines)
    assert {p.read_bytes() for p, _, _ in lines} == contents
    assert {"report.pdf", "report-1.pdf"} <= {p.name for p, _, _ in lines}

    # Names as hostile as a store written by another version could hold; "a\x00b" only where
    # the database can keep a NUL (PostgreSQL refuses it in text).
    names = ["../../etc/passwd", "/abs", ".bashrc", "a\x00b", "", "report.pdf", "report.pdf"]
    if database_url.startswith("postgresql"):
        names[3] = "a\x07b"
    with d.store.engine.begin() as conn:
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM attachments ORDER BY id")]
        for pk, name in zip(ids, names, strict=True):
            conn.execute(
                text("UPDATE attachments SET filename = :name WHERE id = :pk"),
                {"name": name, "pk": pk},
            )

    target = tmp_path / "out" / "dir"
    target.mkdir()
    (target / "report.pdf").write_bytes(b"mine")
    outside = tmp_path / "outside"
    outside.write_bytes(b"do not touch")
    (target / "passwd").symlink_to(outside)
    before = sorted(p.name for p in (tmp_path / "out").iterdir())

    lines = saved_lines(d.cli("attachments", "save", REF, str(target)))
    assert [p.name for p, _, _ in lines] == [
        "passwd-1",  # "passwd" is a symbolic link: not followed, not replaced
        "abs",
        "bashrc",
        "ab",
        "attachment-5",
        "report-1.pdf",  # report.pdf was there already
        "report-2.pdf",
    ]
    assert_plain_files_inside(target, lines)
    assert [p.read_bytes() for p, _, _ in lines] == [content for _, content in ATTACHMENTS]
    assert (target / "report.pdf").read_bytes() == b"mine"
    assert outside.read_bytes() == b"do not touch"
    assert (target / "passwd").is_symlink()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before
    assert sorted(p.name for p in target.iterdir()) == sorted(
        ["report.pdf", "passwd", *(p.name for p, _, _ in lines)]
    )

    # Again into the same directory, as JSON: every file gets the next free name.
    done = d.cli("attachments", "save", REF, str(target), "--format", "json")
    assert done.returncode == 0, done.stderr
    saved = json.loads(done.stdout)
    assert [s["filename"] for s in saved] == names
    assert [Path(s["path"]).name for s in saved] == [
        "passwd-2",
        "abs-1",
        "bashrc-1",
        "ab-1",
        "attachment-5-1",
        "report-3.pdf",
        "report-4.pdf",
    ]
    for s, (_, content) in zip(saved, ATTACHMENTS, strict=True):
        assert set(s) == {"filename", "path", "size", "sha256", "content_type"}
        assert s["content_type"] == "application/octet-stream"
        assert Path(s["path"]).read_bytes() == content
        assert (s["size"], s["sha256"]) == (len(content), hashlib.sha256(content).hexdigest())
    assert_plain_files_inside(target, [(Path(s["path"]), s["size"], s["sha256"]) for s in saved])


@SQLITE
def test_attachments_save_fails_with_one_line_and_writes_nothing(deployment, tmp_path):
    d = deployment
    d.account.append([with_attachments(ATTACHMENTS[:2])], internaldates=[JULY_1])
    assert d.cli("run", "--once").returncode == 0

    assert_one_error_line(
        d.cli("attachments", "save", "MIO-2026-9999", str(tmp_path / "a")), 2, "MIO-2026-9999"
    )
    a_file = tmp_path / "a-file"
    a_file.write_bytes(b"")
    assert_one_error_line(d.cli("attachments", "save", REF, str(a_file)), 1, str(a_file))

    sha = d.scalar("SELECT sha256 FROM attachments ORDER BY id DESC")
    blob_file(d, sha).unlink()
    done = d.cli("attachments", "save", REF, str(tmp_path / "b"))
    assert_one_error_line(done, 1, "missing", sha)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
