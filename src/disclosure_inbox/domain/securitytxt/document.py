"""Reading a security.txt file (RFC 9116) into lines and fields, without judging it.

A file is a list of lines, each ending in CRLF or LF (section 2.2): blank, a comment starting
with "#" (section 2.1), or a field, ``Name: value`` (section 2). A clearsigned file (section
2.3) is an OpenPGP cleartext signed message (RFC 4880 section 7):

    -----BEGIN PGP SIGNED MESSAGE-----
    Hash: SHA256
                                        <- a blank line ends the armor headers
    Contact: mailto:soc@m.io            <- the signed body, lines starting with "-"
    - -- not a field                       dash-escaped as "- -"
    -----BEGIN PGP SIGNATURE-----
    ...
    -----END PGP SIGNATURE-----

Only the signed body holds fields then: text around the message is not covered by the
signature, so it is kept aside (``outside``) for the lint to report, never read as fields.
Line numbers are those of the file, so a finding points at the line an editor shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BEGIN_SIGNED = "-----BEGIN PGP SIGNED MESSAGE-----"
BEGIN_SIGNATURE = "-----BEGIN PGP SIGNATURE-----"
END_SIGNATURE = "-----END PGP SIGNATURE-----"

# RFC 9116 section 4: eol = *WSP [CR] LF. A lone CR is no line end, so it stays in the line
# (and the lint reports it).
_LINE_END = re.compile(r"\r\n|\n")
# A field name is RFC 5322's field-name: printable ASCII except the colon.
_FIELD = re.compile(r"([\x21-\x39\x3b-\x7e]+):(.*)", re.DOTALL)
_WSP = " \t"


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based, in the file as given
    text: str  # without its line end (and, in a signed body, without dash-escaping)
    ended: bool = True  # False only for a last line without CRLF or LF


@dataclass(frozen=True, slots=True)
class Field:
    name: str  # as written; compare with ``key``
    value: str  # without the leading space and trailing whitespace
    line: int
    spaced: bool  # a space followed the colon, as the grammar asks (``fs SP``)

    @property
    def key(self) -> str:
        """Field names are case-insensitive (RFC 9116 section 2)."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Document:
    lines: tuple[Line, ...]  # every line of the file
    body: tuple[Line, ...]  # the lines that hold fields: the signed body when signed
    signed: bool = False
    hash_headers: tuple[str, ...] = ()  # the values of the "Hash:" armor headers
    # What is wrong with the cleartext signature's frame, one sentence each, and lines with
    # text outside the signed message.
    frame_problems: tuple[str, ...] = ()
    outside: tuple[Line, ...] = ()
    fields: tuple[Field, ...] = field(default=(), init=False)
    # Body lines that are neither blank, nor a comment, nor a field.
    stray: tuple[Line, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        fields: list[Field] = []
        stray: list[Line] = []
        for line in self.body:
            text = line.text.rstrip(_WSP)
            if not text or text.startswith("#"):
                continue
            match = _FIELD.fullmatch(text)
            if match is None:
                stray.append(line)
                continue
            name, rest = match.groups()
            value = rest.lstrip(_WSP)
            fields.append(Field(name, value, line.number, spaced=rest.startswith(" ")))
        object.__setattr__(self, "fields", tuple(fields))
        object.__setattr__(self, "stray", tuple(stray))

    def named(self, name: str) -> tuple[Field, ...]:
        """The fields called ``name``, in any case, in the order of the file."""
        key = name.lower()
        return tuple(f for f in self.fields if f.key == key)


def split_lines(text: str) -> tuple[Line, ...]:
    """The lines of ``text``; a last line without a line end is marked ``ended=False``."""
    lines: list[Line] = []
    start = 0
    for number, match in enumerate(_LINE_END.finditer(text), start=1):
        lines.append(Line(number, text[start : match.start()]))
        start = match.end()
    if start < len(text):
        lines.append(Line(len(lines) + 1, text[start:], ended=False))
    return tuple(lines)


def parse(text: str) -> Document:
    """The lines and fields of ``text``; a clearsigned file yields its signed body."""
    lines = split_lines(text)
    begin = next((i for i, ln in enumerate(lines) if _is(ln, BEGIN_SIGNED)), None)
    if begin is None:
        return Document(lines=lines, body=lines)
    return _clearsigned(lines, begin)


def _is(line: Line, marker: str) -> bool:
    # RFC 4880 section 6.2: trailing whitespace after an armor line is ignored.
    return line.text.rstrip(_WSP) == marker


def _clearsigned(lines: tuple[Line, ...], begin: int) -> Document:
    problems: list[str] = []
    outside = [ln for ln in lines[:begin] if ln.text.strip()]
    at = begin + 1
    hashes: list[str] = []
    # Armor headers (RFC 4880 section 7): "Hash: SHA256, SHA512", up to the blank line.
    while at < len(lines) and lines[at].text.strip():
        name, _, value = lines[at].text.partition(":")
        if name.strip().lower() == "hash":
            hashes.append(value.strip())
        else:
            problems.append(f"line {lines[at].number}: {name.strip()!r} is not a Hash: header")
        at += 1
    if not hashes:
        problems.append('no "Hash:" armor header after the BEGIN PGP SIGNED MESSAGE line')
    at += 1  # the blank line
    body: list[Line] = []
    while at < len(lines) and not _is(lines[at], BEGIN_SIGNATURE):
        line = lines[at]
        if line.text.startswith("- "):  # RFC 4880 section 7.1: dash-escaped
            line = Line(line.number, line.text[2:], line.ended)
        elif line.text.startswith("-"):
            problems.append(f"line {line.number}: starts with '-' but is not dash-escaped")
        body.append(line)
        at += 1
    if at >= len(lines):
        problems.append("no BEGIN PGP SIGNATURE line: the signed message has no signature")
    else:
        end = next((i for i in range(at, len(lines)) if _is(lines[i], END_SIGNATURE)), None)
        if end is None:
            problems.append("no END PGP SIGNATURE line")
        else:
            outside += [ln for ln in lines[end + 1 :] if ln.text.strip()]
    return Document(
        lines=lines,
        body=tuple(body),
        signed=True,
        hash_headers=tuple(hashes),
        frame_problems=tuple(problems),
        outside=tuple(outside),
    )
