"""Names for files written from what a reporter sent: attachments saved into a directory.

A reporter chooses an attachment's name, so the name is made harmless before it becomes a
file name. ``safe_name`` keeps the last path component and a conservative set of characters:

    "../../etc/passwd"       -> "passwd"        (no way out of the directory)
    "/abs"                   -> "abs"
    ".bashrc"                -> "bashrc"        (no hidden files)
    "a\\x00b"                -> "ab"            (no NUL or other controls)
    "-rf"                    -> "rf"            (no name that reads as an option)
    "r\\u202egnp.exe"        -> "rgnp.exe"      (no bidi override to disguise the extension)
    "", ".", ".."            -> "attachment-3"  (the attachment's position, from 1)

``candidates`` then numbers a name before its extension for as long as the writer finds the
name taken (by a file already there, or by an earlier attachment of the same name):
``report.pdf``, ``report-1.pdf``, ``report-2.pdf``.

Nothing here reads the directory: the writer creates each file exclusively and takes the
next candidate when one exists, so there is no window between a check and the write.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# Every name fits a file system's 255-byte limit with room for a "-NNNN" suffix.
MAX_NAME_BYTES = 200
_MAX_EXTENSION_CHARS = 16

# Controls (C0, DEL, C1), bidi embeddings, overrides, isolates and marks, zero-width
# characters and lone surrogates: removed, so "a\x00b" is "ab", not "a_b".
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\ud800-\udfff]+"
)
# What is left besides letters, digits, "_", ".", "-", "+", "(", ")" and space becomes "_":
# no shell metacharacters, quotes or wildcards in a name staff may paste into a command.
_NOT_PLAIN = re.compile(r"[^\w.\-+() ]")
# Leading dots (hidden files, "." and ".."), dashes (options) and spaces; trailing dots and
# spaces (which some systems drop).
_LEADING = re.compile(r"^[.\- ]+")
_TRAILING = re.compile(r"[. ]+$")


def safe_name(name: str, index: int) -> str:
    """A name for the ``index``-th attachment (from 1) that can only be a plain file inside
    the directory it is written to. Never empty, at most ``MAX_NAME_BYTES`` in UTF-8."""
    # NFKC first: it maps look-alikes such as the full-width solidus to "/", which must
    # then count as a separator.
    text = _INVISIBLE.sub("", unicodedata.normalize("NFKC", name))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = _NOT_PLAIN.sub("_", text)
    text = _TRAILING.sub("", _LEADING.sub("", text))
    if not text:
        return f"attachment-{index}"
    return _bounded(text)


def _split_extension(name: str) -> tuple[str, str]:
    """``("report", ".pdf")``; a name without a dot, or with a very long "extension", has none."""
    stem, dot, extension = name.rpartition(".")
    if not stem or not dot or len(extension) > _MAX_EXTENSION_CHARS:
        return name, ""
    return stem, "." + extension


def _bounded(name: str) -> str:
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, extension = _split_extension(name)
    budget = MAX_NAME_BYTES - len(extension.encode())
    cut = stem.encode()[:budget].decode(errors="ignore").rstrip(" .")
    return (cut or "attachment") + extension


def numbered(name: str, n: int) -> str:
    """``name`` with ``-n`` before its extension; ``n`` 0 is the name itself."""
    if n == 0:
        return name
    stem, extension = _split_extension(name)
    return f"{stem}-{n}{extension}"


def candidates(name: str) -> Iterator[str]:
    """``name``, then ``name`` numbered 1, 2, 3, ...: the names to try, in order."""
    n = 0
    while True:
        yield numbered(name, n)
        n += 1
