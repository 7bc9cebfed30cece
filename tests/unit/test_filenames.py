from __future__ import annotations

import itertools
import re

import pytest

from disclosure_inbox.domain.filenames import MAX_NAME_BYTES, candidates, numbered, safe_name

# What a safe name may hold, and how it may not begin.
PLAIN = re.compile(r"[\w.\-+() ]+")

NAMES = [
    pytest.param("report.pdf", "report.pdf", id="plain"),
    pytest.param("../../etc/passwd", "passwd", id="parent-directories"),
    pytest.param("/abs", "abs", id="absolute"),
    pytest.param("/", "attachment-4", id="root"),
    pytest.param("C:\\Users\\eve\\x.pdf", "x.pdf", id="windows-path"),
    pytest.param("dir/", "attachment-4", id="trailing-separator"),
    pytest.param(".bashrc", "bashrc", id="hidden"),
    pytest.param("...pdf", "pdf", id="dots"),
    pytest.param(" .profile", "profile", id="space-then-dot"),
    pytest.param("-rf", "rf", id="option"),
    pytest.param("a\x00b", "ab", id="nul"),
    pytest.param("a\x1b[2Jb\r\n.txt", "a_2Jb.txt", id="escape-sequence-and-crlf"),
    pytest.param("r\u202egnp.exe", "rgnp.exe", id="bidi-override"),
    pytest.param("a\u200bb", "ab", id="zero-width"),
    pytest.param("x\uff0f..\uff0fpasswd", "passwd", id="full-width-solidus"),
    pytest.param("$(rm -rf ~);`id`|*.sh", "_(rm -rf _)__id___.sh", id="shell"),
    pytest.param("отчёт.pdf", "отчёт.pdf", id="non-latin"),
    pytest.param("", "attachment-4", id="empty"),
    pytest.param(".", "attachment-4", id="dot"),
    pytest.param("..", "attachment-4", id="dot-dot"),
    pytest.param(" \t\x00 ", "attachment-4", id="only-space-and-controls"),
    pytest.param("report.pdf. . ", "report.pdf", id="trailing-dots-and-spaces"),
]


@pytest.mark.parametrize(("name", "expected"), NAMES)
def test_a_name_is_reduced_to_a_plain_file_name(name, expected):
    assert safe_name(name, 4) == expected


@pytest.mark.parametrize(("name", "_expected"), NAMES)
def test_no_safe_name_can_leave_the_directory_or_hide(name, _expected):
    made = safe_name(name, 1)
    assert PLAIN.fullmatch(made), made
    assert made not in {".", ".."}
    assert not made.startswith((".", "-", " "))
    assert not made.endswith((".", " "))


def test_a_long_name_keeps_its_extension_within_the_byte_limit():
    for letter in ("a", "ä", "漢"):
        made = safe_name(letter * 1000 + ".pdf", 1)
        assert made.endswith(".pdf")
        assert len(made.encode()) <= MAX_NAME_BYTES
        assert set(made.removesuffix(".pdf")) == {letter}
        # With a suffix it still fits a file system's 255 bytes.
        assert len(numbered(made, 9999).encode()) <= 255


def test_a_long_extension_is_not_taken_for_one():
    made = safe_name("x." + "y" * 1000, 1)
    assert len(made.encode()) <= MAX_NAME_BYTES
    assert made.startswith("x.")


def test_a_number_goes_before_the_extension():
    assert numbered("report.pdf", 0) == "report.pdf"
    assert numbered("report.pdf", 1) == "report-1.pdf"
    assert numbered("archive.tar.gz", 2) == "archive.tar-2.gz"
    assert numbered("README", 3) == "README-3"
    assert numbered("attachment-4", 1) == "attachment-4-1"


def test_candidates_count_up_from_the_name_itself():
    assert list(itertools.islice(candidates("report.pdf"), 3)) == [
        "report.pdf",
        "report-1.pdf",
        "report-2.pdf",
    ]


def test_every_candidate_is_as_safe_as_the_name():
    for name in ("passwd", "attachment-1", "a" * 300 + ".bin"):
        for made in itertools.islice(candidates(safe_name(name, 1)), 50):
            assert PLAIN.fullmatch(made) and "/" not in made
            assert len(made.encode()) <= 255
