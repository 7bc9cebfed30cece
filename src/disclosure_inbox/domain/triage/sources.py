"""Which texts of a message triage reads: the subject, the body, and attachments that are text.

For a message with the subject "XSS in search", an empty text part, an HTML part, and the
attachments ``request.har``, ``poc.py``, ``screenshot.png`` and ``exploit.zip``, the sources
are, in this order::

    subject                  "XSS in search"
    html                     the HTML part as text (the text part is (nearly) empty)
    attachment:request.har   decoded
    attachment:poc.py        decoded

The PNG and the ZIP are never read: images, documents and archives are not text, and nothing
is unpacked, converted or run. An attachment is read when its name ends in one of
``TEXT_EXTENSIONS`` (logs, captures, data, markup and source files), or, when its name says
nothing, when its content type is ``text/*`` or JSON or XML; a name in ``BINARY_EXTENSIONS``
is never read, whatever its content type claims.

Bytes are decoded as UTF-8 (a byte order mark is dropped), as UTF-16 or UTF-32 when such a
mark says so, and otherwise, when they are not UTF-8, as Latin-1, which never fails. Content
with a NUL character in it is binary whatever its name, and skipped. Each source is cut at
``limit`` characters, and attachments stop once all sources together hold ``4 * limit``,
the last one cut to fit.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

from disclosure_inbox.domain.model import ParsedMessage
from disclosure_inbox.domain.triage.model import Source

DEFAULT_LIMIT = 262_144  # characters a source, 256 Ki
# A text part with fewer visible characters than this is a placeholder ("This message is in
# HTML"), or empty: the HTML part is read as well.
_NEARLY_EMPTY = 32


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


TEXT_EXTENSIONS = _words(
    # Logs, captures and data.
    "txt text log md markdown rst har json jsonl ndjson csv tsv xml yaml yml toml ini conf "
    "cfg env html htm xhtml http req curl diff patch "
    # Source and shell scripts: read as text, never run.
    "py sh bash zsh js mjs ts jsx tsx rb php go java kt c h cc cpp hpp cs rs pl pm ps1 sql "
    "lua swift"
)
BINARY_EXTENSIONS = _words(
    # Archives and compressed files: never unpacked.
    "zip tar gz tgz bz2 tbz xz txz zst 7z rar cab jar war apk ipa iso dmg img "
    # Images, audio, video and documents.
    "png jpg jpeg gif bmp webp ico tif tiff heic mp3 wav ogg mp4 mov avi mkv webm pdf doc "
    "docx xls xlsx ppt pptx odt ods odp rtf "
    # Programs and libraries.
    "exe dll so dylib bin elf class pyc msi deb rpm"
)
_TEXT_TYPES = frozenset({"application/json", "application/xml"})

# Byte order marks, longest first: the UTF-32 LE mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _extension(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot and stem else ""


def is_text_attachment(filename: str, content_type: str) -> bool:
    """Whether triage reads an attachment (the rules in the module docstring)."""
    extension = _extension(filename)
    if extension in BINARY_EXTENSIONS:
        return False
    if extension in TEXT_EXTENSIONS:
        return True
    mime_type = content_type.partition(";")[0].strip().lower()
    major, _, minor = mime_type.partition("/")
    return (
        major == "text"
        or mime_type in _TEXT_TYPES
        or (major == "application" and minor.endswith(("+json", "+xml")))
    )


def decode(content: bytes, limit: int) -> str | None:
    """At most ``limit`` characters of ``content`` as text, or None when it is binary.

    Only the first ``4 * limit`` bytes are decoded (no character takes more); a character
    cut in two at that point is dropped, rather than taken for a sign of Latin-1.
    """
    head = content[: 4 * limit + 4]
    final = len(head) == len(content)  # False: the last bytes may be half a character
    marked = next((name for bom, name in _BOMS if head.startswith(bom)), None)
    if marked is not None:
        # The mark is the writer's word for the encoding: a stray bad unit is replaced.
        text = codecs.getincrementaldecoder(marked)("replace").decode(head, final)
    else:
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(head, final)
        except UnicodeDecodeError:
            text = head.decode("latin-1")
    text = text[:limit]
    return None if "\x00" in text else text


def text_sources(
    subject: str,
    text: str,
    html_text: str,
    attachments: Sequence[tuple[str, str, bytes]],
    *,
    limit: int = DEFAULT_LIMIT,
) -> tuple[Source, ...]:
    """The texts triage reads, in order: subject, body, readable attachments.

    ``attachments`` holds ``(filename, content_type, content)``. The body is ``text``; the
    HTML part as text (``html_text``) is added only when ``text`` is (nearly) empty, as in a
    message sent as HTML only. Empty texts are left out.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    sources: list[Source] = []
    if subject.strip():
        sources.append(Source("subject", subject[:limit]))
    body = text[:limit]
    if body.strip():
        sources.append(Source("text", body))
    if len("".join(body.split())) < _NEARLY_EMPTY and html_text.strip():
        sources.append(Source("html", html_text[:limit]))
    budget = 4 * limit - sum(len(source.text) for source in sources)
    for filename, content_type, content in attachments:
        if budget <= 0:
            break
        if not is_text_attachment(filename, content_type):
            continue
        decoded = decode(content, min(limit, budget))
        if decoded and decoded.strip():
            sources.append(Source("attachment:" + filename, decoded))
            budget -= len(decoded)
    return tuple(sources)


def sources_of(parsed: ParsedMessage) -> tuple[Source, ...]:
    """The texts of a parsed message, as the parse step reads them (its text is the HTML
    part's already where the message has no plain part)."""
    attachments = [(a.filename, a.content_type, a.content) for a in parsed.attachments]
    return text_sources(parsed.subject, parsed.text, "", attachments)
